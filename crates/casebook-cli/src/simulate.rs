//! `casebook simulate`: a desk generated from a seed, written through the engine.
//!
//! A discrete-event simulation: a queue of timed actions (ticket arrivals per hour, the
//! next step of each ticket, a member leaving mid-period), processed in time order with a
//! [`ManualClock`] set to each action's time. Every random choice comes from one seeded
//! SplitMix64 stream and every collection is ordered, so the same seed writes the same
//! log and prints the same summary. Every command goes through the engine: a refusal is
//! a bug in the simulation (or the engine) and stops the run.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::IsTerminal;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use casebook::{Engine, ManualClock, SeededIds};
use casebook_core::ticket::{
    Channel, Classification, Contact, NewTicket, PlanStep, Urgency, WithdrawalReason,
};
use casebook_core::{
    Actor, CustomerTier, DirectoryCommand, MemberId, OrgId, Role, Severity, TicketCommand, TicketId,
};
use casebook_sled::{Durability, SledOptions, SledStore};
use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::Asia::Shanghai;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

mod emergency;

use casebook::projections::{BoardFilter, Page, SlaView};
use casebook::scheduler;
use casebook_core::ServiceLevelsCommand;

use self::emergency::{DStep, Emergency, IStep};
use crate::board;
use crate::cli::SimulateArgs;
use crate::desk::{channel_name, looks_like_store};
use crate::error::CliError;
use crate::summary;
use crate::text::{self, Category, CATEGORIES};

/// A small seeded generator (SplitMix64): fast, well distributed, and the same on every
/// platform (integers only, no floating point anywhere in the simulation).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`); the tiny modulo bias is irrelevant here.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = u64::try_from(hi - lo + 1).unwrap_or(1);
        lo + i64::try_from(self.below(span)).unwrap_or(0)
    }

    /// True with probability `per_mille / 1000`.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let n = u64::try_from(items.len()).unwrap_or(1);
        let i = usize::try_from(self.below(n)).unwrap_or(0);
        &items[i.min(items.len().saturating_sub(1))]
    }

    /// An index drawn by integer weights.
    fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
        let mut x = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            if x < u64::from(*w) {
                return i;
            }
            x -= u64::from(*w);
        }
        weights.len().saturating_sub(1)
    }
}

/// The steps a ticket goes through; which ones is decided by its scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Open,
    Assign,
    Triage,
    Escalate,
    Ask,
    Reply,
    Withdraw,
    CloseWithdrawn,
    Diagnose,
    ChangeSeverity,
    Note,
    Plan,
    StartFix,
    Revise,
    FixDone,
    VerifyFail,
    VerifyPass,
    CustomerConfirm,
    CustomerReject,
    Expire,
    Rate,
    Improve,
    Close,
    Reopen,
}

/// How a ticket's confirmation goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Confirm,
    Silence,
}

/// How a withdrawn ticket goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Withdrawal {
    Cancelled,
    NotAProblem,
    Duplicate,
}

/// One simulated ticket: its identity and the scenario drawn when it arrived.
struct SimTicket {
    id: TicketId,
    org: usize,
    contact: MemberId,
    category: &'static Category,
    severity: Severity,
    channel: Channel,
    owner: Option<MemberId>,
    escalate: bool,
    ask: bool,
    withdraw: Option<Withdrawal>,
    change_severity: bool,
    note: bool,
    complex: bool,
    planned: bool,
    revise: bool,
    failures: u32,
    reject: bool,
    outcome: Outcome,
    score: Option<u8>,
    rated: bool,
    reopen: bool,
    /// Still open on the desk (for workload and reassignment).
    open: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    /// Tickets arriving in the hour starting at this time.
    Arrivals(DateTime<Utc>),
    /// The given ticket's next step.
    Step(usize, Step),
    /// A member leaves the desk.
    Offboard,
    /// The deadline scheduler runs.
    Tick,
    /// The monitoring feed sends a round of samples (and the process manager catches up).
    Feed(DateTime<Utc>),
    /// An incident's next handling step.
    Incident(usize, IStep),
    /// The quarter's drill is scheduled.
    ScheduleDrill(u32),
    /// A drill's next step.
    Drill(usize, DStep),
    /// The plans are reviewed and revised.
    PlanUpkeep,
}

/// What the deadline scheduler recorded over the run.
#[derive(Default)]
struct TickStats {
    ticks: u64,
    warnings: u64,
    breaches: u64,
    expired: u64,
}

struct Sim {
    engine: Engine,
    clock: Arc<ManualClock>,
    rng: Rng,
    end: DateTime<Utc>,
    queue: BinaryHeap<Reverse<(DateTime<Utc>, u64, Action)>>,
    seq: u64,
    tickets: Vec<SimTicket>,
    orgs: Vec<(OrgId, CustomerTier, Vec<MemberId>)>,
    pms: Vec<MemberId>,
    support: Vec<MemberId>,
    security: Vec<MemberId>,
    /// Open tickets per active owner: assignment goes to the least loaded.
    load: BTreeMap<MemberId, usize>,
    /// The last ticket of each organisation, for duplicates.
    last_of_org: BTreeMap<usize, TicketId>,
    pm_turn: usize,
    commands: u64,
    /// The SLA view the scheduler works from, kept between ticks.
    view: SlaView,
    ticks: TickStats,
    em: Emergency,
    holidays: Vec<chrono::NaiveDate>,
}

/// Runs the simulation and returns the summary to print.
///
/// # Errors
///
/// Usage errors for a non-empty store without `--force`; storage errors; and
/// [`CliError::Simulation`] if the engine refuses a command the simulation issued.
pub fn run(path: &Path, args: &SimulateArgs) -> Result<String, CliError> {
    prepare_directory(path, args.force)?;
    let store = Arc::new(SledStore::open(
        path,
        SledOptions {
            // Explicit: a simulation can be rerun, so it accepts losing the latest writes
            // in a crash in exchange for not waiting on the disk for each command.
            durability: Durability::Buffered,
        },
    )?);
    // The quarter starts at midnight in Shanghai, on 1 April 2026.
    let start = Shanghai
        .with_ymd_and_hms(2026, 4, 1, 0, 0, 0)
        .single()
        .ok_or_else(|| CliError::Simulation("the start date is not a valid local time".into()))?
        .to_utc();
    let clock = Arc::new(ManualClock::new(start));
    let engine = Engine::builder(store.clone())
        .clock(clock.clone())
        .ids(Arc::new(SeededIds::new(args.seed)))
        .build();
    let end = start + Duration::days(i64::from(args.days));
    let mut sim = Sim {
        engine,
        clock,
        rng: Rng(args.seed ^ 0x5EED_CA5E_B00C),
        end,
        queue: BinaryHeap::new(),
        seq: 0,
        tickets: Vec::new(),
        orgs: Vec::new(),
        pms: Vec::new(),
        support: Vec::new(),
        security: Vec::new(),
        load: BTreeMap::new(),
        last_of_org: BTreeMap::new(),
        pm_turn: 0,
        commands: 0,
        view: SlaView::new(),
        ticks: TickStats::default(),
        em: Emergency::default(),
        holidays: crate::policy::HOLIDAYS
            .iter()
            .filter_map(|d| chrono::NaiveDate::from_str(d).ok())
            .collect(),
    };
    sim.bootstrap()?;
    sim.publish_policy(start)?;
    sim.bootstrap_emergency()?;
    sim.schedule(start, Action::Arrivals(start));
    sim.schedule(start, Action::Tick);
    sim.schedule(start, Action::Feed(start));
    sim.schedule_drills(start, args.days);
    let upkeep = sim.working_time(start + Duration::days(45), 30);
    if upkeep < end {
        sim.schedule(upkeep, Action::PlanUpkeep);
    }
    // The member leaves mid-period, on a working morning.
    let leave = sim.working_time(start + Duration::days(i64::from(args.days) / 2), 60);
    if leave < end {
        sim.schedule(leave, Action::Offboard);
    }
    let progress = progress_bar(u64::from(args.days));
    sim.run_queue(start, &progress)?;
    progress.finish_and_clear();
    // The period ends: the clock stands at its end, the scheduler and the process manager
    // have a last look, and the board is computed there.
    sim.clock.set(end).map_err(|e| sim.sim_error(e))?;
    sim.tick()?;
    sim.respond()?;
    sim.tick()?;
    sim.view
        .save_checkpoint(&**sim.engine.store())
        .map_err(|e| sim.sim_error(format!("SLA checkpoint: {e}")))?;
    let board_page = sim
        .view
        .board(end, &BoardFilter::default(), Page::first(20));
    let emergency = sim.emergency_summary();
    let sla = sim.sla_summary(end);
    let kpi = crate::report_cmd::quarter_report(&**sim.engine.store(), start, end, Shanghai)?;
    let Sim { engine, .. } = sim;
    let (tickets, position) = summary::fold_tickets(&engine)?;
    drop(engine);
    let mut out = format!(
        "simulated desk: seed {}, {} days from {} (Asia/Shanghai)\n",
        args.seed,
        args.days,
        start.with_timezone(&Shanghai).format("%Y-%m-%d %H:%M")
    );
    out.push_str(&summary::render(&tickets, position));
    out.push_str(&sla);
    out.push_str(&emergency);
    out.push_str(
        "
SLA board at the end of the period (at risk and breached first, top 20):
",
    );
    out.push_str(&board::render_table(&board_page));
    out.push_str(&format!(
        "\nKPI report {} as of {} (log position {}):\n",
        kpi.period.label,
        kpi.cut_off.format("%Y-%m-%dT%H:%M:%SZ"),
        kpi.position
    ));
    out.push_str(&kpi.to_table());
    match Arc::try_unwrap(store) {
        Ok(store) => store.close()?,
        Err(store) => store.sync()?,
    }
    Ok(out)
}

fn progress_bar(days: u64) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(days * 24), target);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} simulating [{bar:40}] {pos}/{len} hours {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Refuses a non-empty directory unless `force`, and then only removes a Casebook store
/// that nobody holds open.
fn prepare_directory(path: &Path, force: bool) -> Result<(), CliError> {
    let non_empty = match std::fs::read_dir(path) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(e.into()),
    };
    if !non_empty {
        return Ok(());
    }
    if !force {
        return Err(CliError::Usage(format!(
            "{} is not empty; a simulation needs a fresh store (pass --force to replace a store there)",
            path.display()
        )));
    }
    if !looks_like_store(path) {
        return Err(CliError::Usage(format!(
            "{} is not a Casebook store; refusing to delete it even with --force",
            path.display()
        )));
    }
    // Opening takes the lock: a store in use elsewhere is reported, not deleted.
    let held = SledStore::open(
        path,
        SledOptions {
            durability: Durability::Synced,
        },
    )?;
    drop(held);
    std::fs::remove_dir_all(path)?;
    Ok(())
}

fn member(id: &str) -> Result<MemberId, CliError> {
    MemberId::new(id).map_err(|e| CliError::Simulation(e.to_string()))
}

impl Sim {
    fn schedule(&mut self, at: DateTime<Utc>, action: Action) {
        self.seq += 1;
        self.queue.push(Reverse((at, self.seq, action)));
    }

    fn sim_error(&self, what: impl std::fmt::Display) -> CliError {
        CliError::Simulation(format!("at {}: {what}", self.clock_now().to_rfc3339()))
    }

    fn clock_now(&self) -> DateTime<Utc> {
        casebook::Clock::now(&*self.clock)
    }

    fn system(&mut self, command: DirectoryCommand) -> Result<(), CliError> {
        self.commands += 1;
        self.engine
            .execute(&Actor::system("simulation"), command.clone())
            .map_err(|e| self.sim_error(format!("bootstrap {command:?}: {e}")))?;
        Ok(())
    }

    fn bootstrap(&mut self) -> Result<(), CliError> {
        for (id, name, tier) in text::CUSTOMERS {
            let org = OrgId::new(*id).map_err(|e| self.sim_error(e))?;
            let tier = CustomerTier::from_str(tier).map_err(|e| self.sim_error(e))?;
            self.system(DirectoryCommand::RegisterCustomer {
                org: org.clone(),
                name: (*name).to_string(),
                tier,
            })?;
            // Premium customers have more people who talk to the desk.
            let contacts = match tier {
                CustomerTier::Premium => 3,
                CustomerTier::Standard => 2,
                CustomerTier::Basic => 1,
            };
            let mut ids = Vec::new();
            for n in 1..=contacts {
                let m = member(&format!("{id}.c{n}"))?;
                let name = (*self.rng.pick(text::CONTACT_NAMES)).to_string();
                self.system(DirectoryCommand::AddMember {
                    member: m.clone(),
                    name,
                    roles: [Role::Customer].into(),
                    org: Some(org.clone()),
                    team: None,
                })?;
                ids.push(m);
            }
            self.orgs.push((org, tier, ids));
        }
        let staff: Vec<(&str, &str, Role, &str)> = text::PROJECT_MANAGERS
            .iter()
            .map(|(id, name)| (*id, *name, Role::ProjectManager, "desk"))
            .chain(
                text::SUPPORT_ENGINEERS
                    .iter()
                    .map(|(id, name, team)| (*id, *name, Role::SupportEngineer, *team)),
            )
            .chain(
                text::SECURITY_ENGINEERS
                    .iter()
                    .map(|(id, name)| (*id, *name, Role::SecurityEngineer, "soc")),
            )
            .chain(std::iter::once((
                text::AUDITOR.0,
                text::AUDITOR.1,
                Role::Auditor,
                "audit",
            )))
            .collect();
        for (id, name, role, team) in staff {
            let m = member(id)?;
            self.system(DirectoryCommand::AddMember {
                member: m.clone(),
                name: name.to_string(),
                roles: [role].into(),
                org: None,
                team: Some(team.to_string()),
            })?;
            match role {
                Role::ProjectManager => self.pms.push(m),
                Role::SupportEngineer => {
                    self.load.insert(m.clone(), 0);
                    self.support.push(m);
                }
                Role::SecurityEngineer => {
                    self.load.insert(m.clone(), 0);
                    self.security.push(m);
                }
                Role::Customer | Role::Auditor => {}
            }
        }
        // One security engineer also leads: granted project-manager rights.
        if let Some(lead) = self.security.first().cloned() {
            self.system(DirectoryCommand::GrantRole {
                member: lead,
                role: Role::ProjectManager,
            })?;
        }
        Ok(())
    }

    /// A project manager publishes the desk's SLA policy, in force from the start.
    fn publish_policy(&mut self, start: DateTime<Utc>) -> Result<(), CliError> {
        let policy = crate::policy::standard_policy(1, start)?;
        let pm = self
            .pms
            .first()
            .cloned()
            .ok_or_else(|| self.sim_error("no project manager"))?;
        self.commands += 1;
        self.engine
            .execute(
                &Actor::Member(pm),
                ServiceLevelsCommand::PublishPolicy { policy },
            )
            .map_err(|e| self.sim_error(format!("publishing the SLA policy: {e}")))?;
        Ok(())
    }

    /// One run of the deadline scheduler at the simulated now.
    fn tick(&mut self) -> Result<(), CliError> {
        let now = self.clock_now();
        let report = scheduler::tick_with(&self.engine, &mut self.view, now)
            .map_err(|e| self.sim_error(format!("deadline scheduler: {e}")))?;
        self.ticks.ticks += 1;
        self.ticks.warnings += u64::try_from(report.warnings).unwrap_or(0);
        self.ticks.breaches += u64::try_from(report.breaches).unwrap_or(0);
        self.ticks.expired += u64::try_from(report.expired.len()).unwrap_or(0);
        Ok(())
    }

    /// The scheduler runs every hour from 09:00 to 18:00 on working days, when business
    /// time passes and warnings and breaches fall due, and once at midnight every day for
    /// the confirmation windows (counted in wall time). Outside office hours the business
    /// calendar stands still, so more ticks there would find nothing new; a tick costs
    /// one pass over every case the view knows, so the quarter's run time follows the
    /// number of ticks.
    fn next_tick(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let mut next = at;
        // Bounded: within four days there is always a midnight.
        for _ in 0..96 {
            next += Duration::hours(1);
            let local = next.with_timezone(&Shanghai);
            let working = !matches!(local.weekday(), Weekday::Sat | Weekday::Sun)
                && !self.holidays.contains(&local.date_naive());
            if local.hour() == 0 || (working && (9..=18).contains(&local.hour())) {
                break;
            }
        }
        next
    }

    /// What the scheduler recorded, and the compliance of the period.
    fn sla_summary(&self, end: DateTime<Utc>) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let t = &self.ticks;
        let _ = writeln!(out, "service levels");
        let _ = writeln!(
            out,
            "  scheduler ticks    {} ({} warnings, {} breaches recorded, {} confirmations expired)",
            t.ticks, t.warnings, t.breaches, t.expired
        );
        let start = end - Duration::days(400);
        let compliance = self.view.compliance(start, end);
        for (target, c) in &compliance.targets {
            let total = c.met + c.breached;
            // Per mille from integers: the text never depends on float formatting.
            let per_mille = (c.met * 1000 + total / 2).checked_div(total);
            let _ = writeln!(
                out,
                "  {:<18} {} met, {} breached ({})",
                target.as_str(),
                c.met,
                c.breached,
                per_mille.map_or_else(
                    || "-".to_string(),
                    |p| format!("{}.{}% met", p / 10, p % 10)
                )
            );
        }
        out
    }

    fn run_queue(&mut self, start: DateTime<Utc>, progress: &ProgressBar) -> Result<(), CliError> {
        while let Some(Reverse((at, _, action))) = self.queue.pop() {
            if at >= self.end {
                break;
            }
            self.clock.set(at).map_err(|e| self.sim_error(e))?;
            let hours = u64::try_from((at - start).num_hours()).unwrap_or(0);
            if hours != progress.position() {
                progress.set_position(hours);
            }
            match action {
                Action::Arrivals(hour) => self.arrivals(hour)?,
                Action::Step(t, step) => self.step(t, step)?,
                Action::Offboard => self.offboard()?,
                Action::Tick => {
                    self.tick()?;
                    let next = self.next_tick(at);
                    if next < self.end {
                        self.schedule(next, Action::Tick);
                    }
                }
                Action::Feed(at) => self.feed(at)?,
                Action::Incident(i, step) => self.incident_step(i, step)?,
                Action::ScheduleDrill(q) => self.schedule_drill(q)?,
                Action::Drill(d, step) => self.drill_step(d, step)?,
                Action::PlanUpkeep => self.plan_upkeep()?,
            }
        }
        Ok(())
    }

    /// How many tickets arrive per hour, in thousandths, by local hour and weekday:
    /// office hours busiest, evenings quieter, nights and weekends few.
    fn arrival_rate(local_hour: u32, weekday: Weekday) -> u64 {
        let base: u64 = match local_hour {
            9..=11 | 14..=17 => 6_200,
            12..=13 => 3_800,
            8 | 18 => 2_400,
            19..=21 => 1_300,
            _ => 300,
        };
        match weekday {
            Weekday::Sat | Weekday::Sun => base / 5,
            _ => base,
        }
    }

    fn arrivals(&mut self, hour: DateTime<Utc>) -> Result<(), CliError> {
        let local = hour.with_timezone(&Shanghai);
        let rate = Self::arrival_rate(local.hour(), local.weekday());
        // Bernoulli trials per minute: a Poisson-like count with integers only.
        for minute in 0..60 {
            if self.rng.below(60_000) < rate {
                let at =
                    hour + Duration::minutes(minute) + Duration::seconds(self.rng.range(0, 59));
                let t = self.new_ticket(at);
                self.schedule(at, Action::Step(t, Step::Open));
            }
        }
        let next = hour + Duration::hours(1);
        if next < self.end {
            self.schedule(next, Action::Arrivals(next));
        }
        Ok(())
    }

    fn new_ticket(&mut self, at: DateTime<Utc>) -> usize {
        let rng = &mut self.rng;
        let weights: Vec<u32> = CATEGORIES.iter().map(|c| c.weight).collect();
        let category = &CATEGORIES[rng.weighted(&weights).min(CATEGORIES.len() - 1)];
        // Premium customers report more.
        let org_weights: Vec<u32> = self
            .orgs
            .iter()
            .map(|(_, tier, _)| match tier {
                CustomerTier::Premium => 5,
                CustomerTier::Standard => 3,
                CustomerTier::Basic => 2,
            })
            .collect();
        let org = rng
            .weighted(&org_weights)
            .min(self.orgs.len().saturating_sub(1));
        let contact = self
            .orgs
            .get(org)
            .map(|(_, _, c)| rng.pick(c).clone())
            .unwrap_or_else(|| MemberId::new("nobody").unwrap_or_else(|_| unreachable!()));
        let night = {
            let h = at.with_timezone(&Shanghai).hour();
            !(8..19).contains(&h)
        };
        let severity = match rng.weighted(&[if night { 120 } else { 40 }, 200, 450, 310]) {
            0 => Severity::Critical,
            1 => Severity::High,
            2 => Severity::Medium,
            _ => Severity::Low,
        };
        let channel = if night && rng.chance(500) {
            Channel::Monitoring
        } else {
            match rng.weighted(&[300, 250, 150, 200, 100]) {
                0 => Channel::Portal,
                1 => Channel::Email,
                2 => Channel::Chat,
                3 => Channel::Phone,
                _ => Channel::Monitoring,
            }
        };
        let withdraw = if rng.chance(60) {
            Some(match rng.weighted(&[40, 35, 25]) {
                0 => Withdrawal::Cancelled,
                1 => Withdrawal::NotAProblem,
                _ => Withdrawal::Duplicate,
            })
        } else {
            None
        };
        let score = if rng.chance(750) {
            Some(match rng.weighted(&[45, 30, 13, 7, 5]) {
                0 => 5,
                1 => 4,
                2 => 3,
                3 => 2,
                _ => 1,
            })
        } else {
            None
        };
        let t = SimTicket {
            id: TicketId(self.engine.new_id()),
            org,
            contact,
            category,
            severity,
            channel,
            owner: None,
            escalate: matches!(severity, Severity::Critical | Severity::High) && rng.chance(150),
            ask: rng.chance(200),
            withdraw,
            change_severity: rng.chance(40),
            note: rng.chance(300),
            complex: rng.chance(100),
            planned: false,
            revise: rng.chance(30),
            failures: match rng.below(1000) {
                0..=79 => 1,
                80..=89 => 2,
                _ => 0,
            },
            reject: rng.chance(60),
            outcome: if rng.chance(110) {
                Outcome::Silence
            } else {
                Outcome::Confirm
            },
            score,
            rated: false,
            reopen: rng.chance(25),
            open: true,
        };
        self.tickets.push(t);
        self.tickets.len() - 1
    }

    /// The next moment staff work, `minutes` of working time after `from`: 09:00–18:00
    /// Monday to Friday in Shanghai.
    fn working_time(&self, from: DateTime<Utc>, minutes: i64) -> DateTime<Utc> {
        let mut now = from.with_timezone(&Shanghai);
        let mut left = minutes;
        let open = NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default();
        let close = NaiveTime::from_hms_opt(18, 0, 0).unwrap_or_default();
        // Bounded: a few hundred days of working time is far past any step's delay.
        for _ in 0..2000 {
            let weekend = matches!(now.weekday(), Weekday::Sat | Weekday::Sun)
                || self.holidays.contains(&now.date_naive());
            let t = now.time();
            if weekend || t >= close {
                now = next_day_at(now, open);
                continue;
            }
            if t < open {
                now = now.with_time(open).single().unwrap_or(now);
                continue;
            }
            let until_close = (now.with_time(close).single().unwrap_or(now) - now).num_minutes();
            if left <= until_close {
                return (now + Duration::minutes(left)).to_utc();
            }
            left -= until_close;
            now = next_day_at(now, open);
        }
        now.to_utc()
    }

    /// When a staff step happens `minutes` of work after now: critical tickets are
    /// handled around the clock, the rest in office hours.
    fn staff_delay(&mut self, t: usize, lo: i64, hi: i64) -> DateTime<Utc> {
        let now = self.clock_now();
        let severity = self.tickets.get(t).map_or(Severity::Medium, |x| x.severity);
        let factor = match severity {
            Severity::Critical => 25,
            Severity::High => 60,
            Severity::Medium => 100,
            Severity::Low => 160,
        };
        let minutes = (self.rng.range(lo, hi) * factor / 100).max(1);
        if severity == Severity::Critical {
            now + Duration::minutes(minutes)
        } else {
            self.working_time(now, minutes)
        }
    }

    /// When a customer acts `lo..=hi` minutes of wall time after now, nudged into the
    /// day: customers rarely answer at night.
    fn customer_delay(&mut self, lo: i64, hi: i64) -> DateTime<Utc> {
        let at = self.clock_now() + Duration::minutes(self.rng.range(lo, hi));
        let local = at.with_timezone(&Shanghai);
        if local.hour() < 8 && !self.rng.chance(150) {
            let eight = NaiveTime::from_hms_opt(8, 0, 0).unwrap_or_default();
            return (local.with_time(eight).single().unwrap_or(local)
                + Duration::minutes(self.rng.range(0, 180)))
            .to_utc();
        }
        at
    }

    fn next_pm(&mut self) -> MemberId {
        self.pm_turn += 1;
        let i = self.pm_turn % self.pms.len().max(1);
        self.pms
            .get(i)
            .cloned()
            .unwrap_or_else(|| MemberId::new("li.na").unwrap_or_else(|_| unreachable!()))
    }

    /// The least-loaded active engineer of the right kind (ties by id).
    fn pick_owner(&self, security: bool) -> Option<MemberId> {
        let pool = if security {
            &self.security
        } else {
            &self.support
        };
        pool.iter()
            .filter_map(|m| self.load.get(m).map(|n| (*n, m)))
            .min()
            .map(|(_, m)| m.clone())
    }

    fn exec(&mut self, t: usize, actor: &MemberId, command: TicketCommand) -> Result<(), CliError> {
        let id = self.tickets.get(t).map(|x| x.id);
        let Some(id) = id else {
            return Err(self.sim_error(format!("no simulated ticket {t}")));
        };
        self.commands += 1;
        let name = casebook_core::DomainCommand::name(&command);
        self.engine
            .execute(&Actor::Member(actor.clone()), (id, command))
            .map(drop)
            .map_err(|e| self.sim_error(format!("ticket {id}: {actor} could not {name}: {e}")))
    }

    /// The owner for a staff step; a PM reassigns first if the owner has left.
    fn owner(&mut self, t: usize) -> Result<MemberId, CliError> {
        let current = self.tickets.get(t).and_then(|x| x.owner.clone());
        if let Some(o) = &current {
            if self.load.contains_key(o) {
                return Ok(o.clone());
            }
        }
        self.assign(t)
    }

    fn assign(&mut self, t: usize) -> Result<MemberId, CliError> {
        let (security, previous) = match self.tickets.get(t) {
            Some(x) => (x.category.security, x.owner.clone()),
            None => return Err(self.sim_error(format!("no simulated ticket {t}"))),
        };
        let owner = self
            .pick_owner(security)
            .ok_or_else(|| self.sim_error("no engineer left to own tickets"))?;
        let team = match self.tickets.get(t) {
            Some(x) if x.category.security => "soc",
            Some(x) => x.category.team,
            None => "desk",
        };
        let pm = self.next_pm();
        self.exec(
            t,
            &pm,
            TicketCommand::Assign {
                owner: owner.clone(),
                team: team.to_string(),
            },
        )?;
        if let Some(p) = previous {
            if let Some(n) = self.load.get_mut(&p) {
                *n = n.saturating_sub(1);
            }
        }
        *self.load.entry(owner.clone()).or_default() += 1;
        if let Some(x) = self.tickets.get_mut(t) {
            x.owner = Some(owner.clone());
        }
        Ok(owner)
    }

    fn contact(&self, t: usize) -> MemberId {
        self.tickets
            .get(t)
            .map(|x| x.contact.clone())
            .unwrap_or_else(|| MemberId::new("nobody").unwrap_or_else(|_| unreachable!()))
    }

    /// What comes after the analysis-stage extras: severity change, a note, a plan, the fix.
    fn analysis_next(&self, t: usize) -> Step {
        match self.tickets.get(t) {
            Some(x) if x.change_severity => Step::ChangeSeverity,
            Some(x) if x.note => Step::Note,
            Some(x) if x.complex && !x.planned => Step::Plan,
            _ => Step::StartFix,
        }
    }

    #[allow(clippy::too_many_lines)]
    fn step(&mut self, t: usize, step: Step) -> Result<(), CliError> {
        let Some(x) = self.tickets.get(t) else {
            return Err(self.sim_error(format!("no simulated ticket {t}")));
        };
        let category = x.category;
        let severity = x.severity;
        let now = self.clock_now();
        let (next, at): (Option<Step>, DateTime<Utc>) = match step {
            Step::Open => {
                let x = &self.tickets[t];
                let (org_id, _, _) = &self.orgs[x.org];
                let org = org_id.clone();
                let by_staff = matches!(x.channel, Channel::Phone | Channel::Monitoring);
                let channel = x.channel;
                let contact = x.contact.clone();
                let rng = &mut self.rng;
                let title = (*rng.pick(category.titles)).to_string();
                let description = format!(
                    "{} [{}]",
                    rng.pick(category.descriptions),
                    channel_name(channel)
                );
                let affected = (*rng.pick(category.systems)).to_string();
                let contact_name = (*rng.pick(text::CONTACT_NAMES)).to_string();
                let reported_at = if by_staff {
                    Some(now - Duration::minutes(rng.range(1, 20)))
                } else {
                    None
                };
                let phone = format!("+86 21 5555 {:04}", rng.below(10_000));
                let actor = if by_staff {
                    // The engineer on the phone or watching monitoring records it.
                    rng.pick(&self.support).clone()
                } else {
                    contact.clone()
                };
                self.exec(
                    t,
                    &actor,
                    TicketCommand::Open(NewTicket {
                        org,
                        channel,
                        title,
                        description,
                        contact: Contact {
                            name: contact_name,
                            email: Some(format!("{contact}@customer.example")),
                            phone: Some(phone),
                        },
                        affected_system: affected,
                        reported_at,
                    }),
                )?;
                (Some(Step::Assign), self.staff_delay(t, 5, 90))
            }
            Step::Assign => {
                self.assign(t)?;
                (Some(Step::Triage), self.staff_delay(t, 5, 40))
            }
            Step::Triage => {
                let owner = self.owner(t)?;
                let urgent = severity == Severity::Critical && self.rng.chance(600);
                let complex = self.tickets[t].complex;
                let multi_team = complex && self.rng.chance(400);
                self.exec(
                    t,
                    &owner,
                    TicketCommand::Triage {
                        severity,
                        urgency: if urgent {
                            Urgency::Urgent
                        } else {
                            Urgency::Normal
                        },
                        complex: complex && !multi_team,
                        multi_team,
                    },
                )?;
                let x = &self.tickets[t];
                let next = if x.escalate {
                    Step::Escalate
                } else if x.ask {
                    Step::Ask
                } else if x.withdraw.is_some() {
                    Step::Withdraw
                } else {
                    Step::Diagnose
                };
                (Some(next), self.staff_delay(t, 10, 120))
            }
            Step::Escalate => {
                let owner = self.owner(t)?;
                let pm = self.next_pm();
                self.exec(
                    t,
                    &owner,
                    TicketCommand::Escalate {
                        to: pm,
                        reason:
                            "客户业务受影响，需项目经理协调 / business impact, needs coordination"
                                .into(),
                    },
                )?;
                let x = &mut self.tickets[t];
                x.escalate = false;
                let next = if x.ask {
                    Step::Ask
                } else if x.withdraw.is_some() {
                    Step::Withdraw
                } else {
                    Step::Diagnose
                };
                (Some(next), self.staff_delay(t, 10, 60))
            }
            Step::Ask => {
                let owner = self.owner(t)?;
                let question = (*self.rng.pick(text::QUESTIONS)).to_string();
                self.exec(t, &owner, TicketCommand::RequestInfo { question })?;
                self.tickets[t].ask = false;
                (Some(Step::Reply), self.customer_delay(30, 2 * 24 * 60))
            }
            Step::Reply => {
                let contact = self.contact(t);
                let text = (*self.rng.pick(text::REPLIES)).to_string();
                self.exec(t, &contact, TicketCommand::CustomerReply { text })?;
                let next = if self.tickets[t].withdraw.is_some() {
                    Step::Withdraw
                } else {
                    Step::Diagnose
                };
                (Some(next), self.staff_delay(t, 15, 120))
            }
            Step::Withdraw => {
                let kind = self.tickets[t].withdraw.unwrap_or(Withdrawal::NotAProblem);
                let org = self.tickets[t].org;
                let duplicate_of = self
                    .last_of_org
                    .get(&org)
                    .copied()
                    .filter(|d| *d != self.tickets[t].id);
                let (actor, reason, detail) = match (kind, duplicate_of) {
                    (Withdrawal::Cancelled, _) => (
                        self.contact(t),
                        WithdrawalReason::CustomerCancelled,
                        "问题已自行解决 / resolved on our side",
                    ),
                    (Withdrawal::Duplicate, Some(of)) => (
                        self.owner(t)?,
                        WithdrawalReason::Duplicate { of },
                        "同一问题已有工单 / already reported",
                    ),
                    (Withdrawal::Duplicate | Withdrawal::NotAProblem, _) => (
                        self.owner(t)?,
                        WithdrawalReason::NotAProblem,
                        "经核实为预期行为 / expected behaviour",
                    ),
                };
                self.exec(
                    t,
                    &actor,
                    TicketCommand::Withdraw {
                        reason,
                        detail: detail.into(),
                    },
                )?;
                (Some(Step::CloseWithdrawn), self.staff_delay(t, 5, 60))
            }
            Step::CloseWithdrawn => {
                let owner = self.owner(t)?;
                self.exec(
                    t,
                    &owner,
                    TicketCommand::Close {
                        category: category.key.into(),
                        summary: "已撤销 / withdrawn".into(),
                        result: "no action needed".into(),
                        classification: Classification::Internal,
                    },
                )?;
                self.finish(t);
                (None, now)
            }
            Step::Diagnose => {
                let owner = self.owner(t)?;
                let (cause, solution) = *self.rng.pick(category.diagnoses);
                self.exec(
                    t,
                    &owner,
                    TicketCommand::Diagnose {
                        cause: cause.into(),
                        solution: solution.into(),
                    },
                )?;
                (Some(self.analysis_next(t)), self.staff_delay(t, 10, 90))
            }
            Step::ChangeSeverity => {
                let owner = self.owner(t)?;
                let to = match severity {
                    Severity::Critical => Severity::High,
                    Severity::High => Severity::Critical,
                    Severity::Medium => Severity::High,
                    Severity::Low => Severity::Medium,
                };
                self.exec(
                    t,
                    &owner,
                    TicketCommand::ChangeSeverity {
                        severity: to,
                        reason: "影响范围重新评估 / impact reassessed".into(),
                    },
                )?;
                let x = &mut self.tickets[t];
                x.change_severity = false;
                x.severity = to;
                (Some(self.analysis_next(t)), self.staff_delay(t, 5, 30))
            }
            Step::Note => {
                let owner = self.owner(t)?;
                let visible = self.rng.chance(500);
                self.exec(
                    t,
                    &owner,
                    TicketCommand::AddNote {
                        text: if visible {
                            "已定位原因，正在准备修复 / cause found, preparing the fix".into()
                        } else {
                            "内部：需与网络组确认变更窗口 / internal: check the change window"
                                .into()
                        },
                        customer_visible: visible,
                    },
                )?;
                self.tickets[t].note = false;
                (Some(self.analysis_next(t)), self.staff_delay(t, 5, 30))
            }
            Step::Plan => {
                let owner = self.owner(t)?;
                let helper = self.pick_owner(!category.security).unwrap_or(owner.clone());
                let d1 = now + Duration::days(self.rng.range(1, 3));
                let d2 = d1 + Duration::days(self.rng.range(1, 3));
                self.exec(
                    t,
                    &owner,
                    TicketCommand::PlanFix {
                        steps: vec![
                            PlanStep {
                                description: "准备变更并评审 / prepare and review the change"
                                    .into(),
                                owner: owner.clone(),
                                due: d1,
                            },
                            PlanStep {
                                description: "实施并观察 / apply and watch".into(),
                                owner: helper,
                                due: d2,
                            },
                        ],
                    },
                )?;
                self.tickets[t].planned = true;
                (Some(Step::StartFix), self.staff_delay(t, 30, 240))
            }
            Step::StartFix => {
                let owner = self.owner(t)?;
                self.exec(t, &owner, TicketCommand::StartFix)?;
                let next = if self.tickets[t].revise {
                    Step::Revise
                } else {
                    Step::FixDone
                };
                (Some(next), self.staff_delay(t, 30, 600))
            }
            Step::Revise => {
                let owner = self.owner(t)?;
                let pm = self.next_pm();
                let (_, solution) = *self.rng.pick(category.diagnoses);
                self.exec(
                    t,
                    &owner,
                    TicketCommand::ReviseSolution {
                        new_facts: "修复中发现新的依赖 / a dependency surfaced during the fix"
                            .into(),
                        solution: format!("{solution} (revised)"),
                        reported_to: pm,
                    },
                )?;
                self.tickets[t].revise = false;
                (Some(Step::StartFix), self.staff_delay(t, 30, 240))
            }
            Step::FixDone => {
                let owner = self.owner(t)?;
                self.exec(
                    t,
                    &owner,
                    TicketCommand::ReportFixDone {
                        summary: "已按方案实施 / applied as planned".into(),
                    },
                )?;
                let next = if self.tickets[t].failures > 0 {
                    Step::VerifyFail
                } else {
                    Step::VerifyPass
                };
                (Some(next), self.staff_delay(t, 15, 240))
            }
            Step::VerifyFail => {
                let owner = self.owner(t)?;
                self.exec(
                    t,
                    &owner,
                    TicketCommand::FailVerification {
                        evidence: "复测仍有 5% 请求失败 / 5% of requests still fail".into(),
                    },
                )?;
                let x = &mut self.tickets[t];
                x.failures = x.failures.saturating_sub(1);
                (Some(Step::FixDone), self.staff_delay(t, 30, 480))
            }
            Step::VerifyPass => {
                let owner = self.owner(t)?;
                self.exec(
                    t,
                    &owner,
                    TicketCommand::PassVerification {
                        notes: "业务恢复正常，监控无告警 / back to normal, monitoring quiet".into(),
                    },
                )?;
                let x = &self.tickets[t];
                if x.reject {
                    (
                        Some(Step::CustomerReject),
                        self.customer_delay(60, 3 * 24 * 60),
                    )
                } else if x.outcome == Outcome::Silence {
                    // The window is 7 days; staff notice some hours after it ran out.
                    let after = now + Duration::days(7) + Duration::hours(self.rng.range(1, 30));
                    (Some(Step::Expire), self.working_time(after, 0))
                } else {
                    (
                        Some(Step::CustomerConfirm),
                        self.customer_delay(30, 4 * 24 * 60),
                    )
                }
            }
            Step::CustomerReject => {
                let contact = self.contact(t);
                let reason = (*self.rng.pick(text::REJECTIONS)).to_string();
                self.exec(t, &contact, TicketCommand::Reject { reason })?;
                self.tickets[t].reject = false;
                (Some(Step::Diagnose), self.staff_delay(t, 15, 120))
            }
            Step::CustomerConfirm => {
                let contact = self.contact(t);
                self.exec(
                    t,
                    &contact,
                    TicketCommand::Confirm {
                        comment: Some("确认恢复 / confirmed".into()),
                    },
                )?;
                let x = &self.tickets[t];
                if x.score.is_some() && !x.rated {
                    (Some(Step::Rate), self.customer_delay(1, 120))
                } else {
                    (Some(Step::Close), self.staff_delay(t, 10, 120))
                }
            }
            Step::Expire => {
                // The deadline scheduler usually expires the window first; staff only
                // record it when it has not.
                let id = self.tickets[t].id;
                let stage = self
                    .engine
                    .ticket(id)
                    .map_err(|e| self.sim_error(format!("ticket {id}: {e}")))?
                    .stage;
                if stage == Some(casebook_core::ticket::Stage::Confirm) {
                    let owner = self.owner(t)?;
                    self.exec(t, &owner, TicketCommand::ExpireConfirmation)?;
                }
                (Some(Step::Close), self.staff_delay(t, 10, 120))
            }
            Step::Rate => {
                let contact = self.contact(t);
                let score = self.tickets[t].score.unwrap_or(5);
                let comment = (*self.rng.pick(text::COMMENTS)).to_string();
                self.exec(
                    t,
                    &contact,
                    TicketCommand::RateSatisfaction {
                        score,
                        comment: (!comment.is_empty()).then_some(comment),
                    },
                )?;
                self.tickets[t].rated = true;
                let next = if score <= 2 {
                    Step::Improve
                } else {
                    Step::Close
                };
                (Some(next), self.staff_delay(t, 10, 240))
            }
            Step::Improve => {
                let owner = self.owner(t)?;
                let action = (*self.rng.pick(text::IMPROVEMENTS)).to_string();
                self.exec(t, &owner, TicketCommand::RecordImprovementAction { action })?;
                (Some(Step::Close), self.staff_delay(t, 10, 120))
            }
            Step::Close => {
                let owner = self.owner(t)?;
                let classification = if category.security {
                    Classification::Confidential
                } else {
                    Classification::Internal
                };
                self.exec(
                    t,
                    &owner,
                    TicketCommand::Close {
                        category: category.key.into(),
                        summary: format!("{} — {}", category.titles[0], category.key),
                        result: "已解决并经客户确认 / resolved and confirmed".into(),
                        classification,
                    },
                )?;
                self.finish(t);
                if self.tickets[t].reopen {
                    (
                        Some(Step::Reopen),
                        self.customer_delay(24 * 60, 10 * 24 * 60),
                    )
                } else {
                    (None, now)
                }
            }
            Step::Reopen => {
                let contact = self.contact(t);
                self.exec(
                    t,
                    &contact,
                    TicketCommand::Reopen {
                        reason: "问题再次出现 / the problem is back".into(),
                    },
                )?;
                let x = &mut self.tickets[t];
                x.reopen = false;
                x.open = true;
                if let Some(o) = x.owner.clone() {
                    if let Some(n) = self.load.get_mut(&o) {
                        *n += 1;
                    }
                }
                (Some(Step::Diagnose), self.staff_delay(t, 15, 120))
            }
        };
        if step == Step::Open {
            let x = &self.tickets[t];
            self.last_of_org.insert(x.org, x.id);
        }
        if let Some(next) = next {
            self.schedule(at.max(now), Action::Step(t, next));
        }
        Ok(())
    }

    fn finish(&mut self, t: usize) {
        if let Some(x) = self.tickets.get_mut(t) {
            x.open = false;
            if let Some(o) = &x.owner {
                if let Some(n) = self.load.get_mut(o) {
                    *n = n.saturating_sub(1);
                }
            }
        }
    }

    /// The support engineer with the most open tickets leaves; a project manager
    /// reassigns every open ticket they owned.
    fn offboard(&mut self) -> Result<(), CliError> {
        let leaving = self
            .support
            .iter()
            .filter_map(|m| self.load.get(m).map(|n| (*n, m)))
            .max()
            .map(|(_, m)| m.clone());
        let Some(leaving) = leaving else {
            return Ok(());
        };
        let pm = self.next_pm();
        self.commands += 1;
        self.engine
            .execute(
                &Actor::Member(pm),
                DirectoryCommand::Offboard {
                    member: leaving.clone(),
                    reason: "离职 / left the company".into(),
                },
            )
            .map_err(|e| self.sim_error(format!("offboarding {leaving}: {e}")))?;
        self.load.remove(&leaving);
        self.support.retain(|m| *m != leaving);
        let theirs: Vec<usize> = (0..self.tickets.len())
            .filter(|i| {
                let x = &self.tickets[*i];
                x.open && x.owner.as_ref() == Some(&leaving)
            })
            .collect();
        for t in theirs {
            self.assign(t)?;
        }
        Ok(())
    }
}

fn next_day_at(now: DateTime<chrono_tz::Tz>, at: NaiveTime) -> DateTime<chrono_tz::Tz> {
    let date = now.date_naive() + Duration::days(1);
    Shanghai
        .from_local_datetime(&date.and_time(at))
        .single()
        .unwrap_or(now + Duration::days(1))
}
