//! One desk shared by two application instances on PostgreSQL.
//!
//! Two engines, each over its own `PgStore` on the same schema (in two threads here; in
//! production two processes or machines), take commands at once: each opens tickets
//! (some of them urgent), writes on a ticket both work on (version conflicts are
//! retried by the engine), feeds monitoring samples and runs the emergency-response
//! process manager. Then both tick the deadline scheduler and print the SLA board from
//! their own view of the log; the two boards are identical.
//!
//! `CASEBOOK_PG_URL="host=127.0.0.1 port=5432 user=postgres dbname=test" cargo run --example shared_desk`
//!
//! The desk lives in a fresh schema `shared_desk_<pid>`, dropped at the end.

use std::sync::Arc;

use casebook::prelude::*;
use casebook::projections::BoardPage;
use casebook::scheduler;
use casebook::sla::SlaPolicySpec;
use casebook_postgres::{PgOptions, PgStore};
use chrono::{DateTime, Duration, TimeZone, Utc};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// One application instance: its own connection pool, engine and clock.
struct Instance {
    name: &'static str,
    clock: Arc<ManualClock>,
    engine: Engine,
}

impl Instance {
    fn open(name: &'static str, url: &str, schema: &str, seed: u64) -> Result<Self, AnyError> {
        let store = PgStore::open(PgOptions::new(url, schema)?.max_connections(4))?;
        let clock = Arc::new(ManualClock::new(start()?));
        let engine = Engine::builder(Arc::new(store))
            .clock(clock.clone())
            .ids(Arc::new(SeededIds::new(seed)))
            .build();
        Ok(Instance {
            name,
            clock,
            engine,
        })
    }
}

fn start() -> Result<DateTime<Utc>, AnyError> {
    // Monday 2026-03-02, 10:00 in Shanghai.
    Ok(Utc
        .with_ymd_and_hms(2026, 3, 2, 2, 0, 0)
        .single()
        .ok_or("bad start time")?)
}

fn main() -> Result<(), AnyError> {
    let url = match std::env::var("CASEBOOK_PG_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            println!("shared_desk needs a PostgreSQL server. Run it as");
            println!(
                "  CASEBOOK_PG_URL=\"host=127.0.0.1 port=5432 user=postgres dbname=test\" \
                 cargo run --example shared_desk"
            );
            return Ok(());
        }
    };
    let schema = format!("shared_desk_{}", std::process::id());
    let result = run(&url, &schema);
    // The desk is a demonstration: drop it whatever happened.
    let mut admin = postgres::Client::connect(&url, postgres::NoTls)?;
    admin.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))?;
    result
}

fn run(url: &str, schema: &str) -> Result<(), AnyError> {
    let a = Instance::open("instance A", url, schema, 1)?;
    let b = Instance::open("instance B", url, schema, 2)?;
    println!("two instances on schema {schema}");
    let (plan, rule, shared) = set_up(&a)?;

    // Both instances work at once; their clocks show the same instants.
    std::thread::scope(|scope| {
        let workers: Vec<_> = [(&a, "db-a"), (&b, "db-b")]
            .into_iter()
            .map(|(instance, scope_name)| {
                scope.spawn(move || work(instance, plan, rule, shared, scope_name))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().map_err(|_| AnyError::from("a worker panicked"))?)
            .collect::<Result<Vec<()>, AnyError>>()
    })?;

    // Let both managers finish what the other one's commands started.
    for instance in [&a, &b, &a] {
        let mut manager = EmergencyResponse::resume(&instance.engine, EmergencyConfig::new(plan))?;
        manager.run_once(&instance.engine)?;
    }
    let history = a.engine.history(&stream_of::<Ticket>(&shared)?)?;
    let notes: Vec<String> = history
        .iter()
        .filter(|e| e.event_type == "TicketNoteAdded")
        .map(|e| match a.engine.decode::<TicketEvent>(e) {
            Ok(TicketEvent::NoteAdded { text, .. }) => Ok(text),
            Ok(_) => Err(AnyError::from("a note event that is not a note")),
            Err(err) => Err(err.into()),
        })
        .collect::<Result<_, _>>()?;
    let log = casebook::store::read_stream_to_end_global(&**a.engine.store())?;
    let urgent = log
        .iter()
        .filter(|e| e.event_type == "EmergencyResponseRequired")
        .count();
    let alerts = log.iter().filter(|e| e.event_type == "AlertRaised").count();
    let incidents = log
        .iter()
        .filter(|e| e.event_type == "IncidentDeclared")
        .count();
    println!(
        "{urgent} urgent tickets and {alerts} alerts; the two process managers declared \
         {incidents} incidents between them (one per urgent ticket, one per alert scope)"
    );
    let from_a = notes.iter().filter(|t| t.starts_with("instance A")).count();
    println!(
        "shared ticket {shared}: versions 1..={}, {} notes ({from_a} from A, {} from B)",
        history.len(),
        notes.len(),
        notes.len() - from_a
    );

    // An afternoon later both tick the scheduler; each warning or breach lands once.
    let later = start()? + Duration::hours(5);
    for instance in [&a, &b] {
        instance.clock.set(later)?;
        let report = scheduler::tick(&instance.engine, later)?;
        println!(
            "{} ticked at {}: {} warnings, {} breaches recorded",
            instance.name,
            later.format("%H:%M UTC"),
            report.warnings,
            report.breaches
        );
    }

    let boards: Vec<BoardPage> = [&a, &b]
        .into_iter()
        .map(|instance| {
            let mut view = SlaView::resume(&**instance.engine.store())?;
            view.catch_up(&**instance.engine.store())?;
            Ok(view.board(later, &BoardFilter::default(), Page::first(50)))
        })
        .collect::<Result<_, AnyError>>()?;
    for (instance, board) in [&a, &b].into_iter().zip(&boards) {
        print_board(instance.name, board);
    }
    if boards[0] == boards[1] {
        println!("\nthe two boards are identical");
        Ok(())
    } else {
        Err("the two instances show different boards".into())
    }
}

/// The directory, an SLA policy, a plan, a monitoring rule and one ticket both
/// instances will write on.
fn set_up(a: &Instance) -> Result<(PlanId, RuleId, TicketId), AnyError> {
    let engine = &a.engine;
    let system = Actor::system("bootstrap");
    engine.execute(
        &system,
        DirectoryCommand::RegisterCustomer {
            org: OrgId::new("acme")?,
            name: "ACME Corp".into(),
            tier: CustomerTier::Premium,
        },
    )?;
    for (id, name, role) in [
        ("li.na", "Li Na", Role::ProjectManager),
        ("wang.wei", "Wang Wei", Role::SupportEngineer),
        ("zhao.lei", "Zhao Lei", Role::SecurityEngineer),
    ] {
        engine.execute(
            &system,
            DirectoryCommand::AddMember {
                member: MemberId::new(id)?,
                name: name.into(),
                roles: [role].into(),
                org: None,
                team: None,
            },
        )?;
    }
    let hours = serde_json::json!(["09:00-18:00"]);
    let policy: SlaPolicySpec = serde_json::from_value(serde_json::json!({
        "version": 1,
        "effective_from": start()?,
        "calendar": {"kind": "business_hours", "time_zone": "Asia/Shanghai",
            "weekly": {"monday": hours, "tuesday": hours, "wednesday": hours,
                "thursday": hours, "friday": hours}},
        "targets": [
            {"kind": "ticket", "tier": "premium", "severity": "high",
             "first_response_minutes": 60, "resolution_minutes": 480},
            {"kind": "ticket", "tier": "premium", "severity": "critical",
             "first_response_minutes": 15, "next_update_minutes": 60,
             "resolution_minutes": 240}
        ],
        "warnings": [0.75],
        "reopen_window_minutes": 10080
    }))?;
    engine.execute(
        &Actor::member("li.na")?,
        ServiceLevelsCommand::PublishPolicy { policy },
    )?;
    let sec = Actor::member("zhao.lei")?;
    let plan = PlanId(engine.new_id());
    engine.execute(
        &sec,
        (
            plan,
            PlanCommand::Create {
                title: "Intrusion response".into(),
                review_interval_days: 180,
                content: PlanContent {
                    organisation: vec![ResponseRole {
                        role: "incident commander".into(),
                        filled_by: "security on call".into(),
                        duties: "leads the response".into(),
                    }],
                    steps: Phase::ALL
                        .into_iter()
                        .map(|phase| ProcessStep {
                            phase,
                            description: format!("{phase:?} step"),
                            target_minutes: 30,
                        })
                        .collect(),
                    measures: vec!["isolate the host".into()],
                },
            },
        ),
    )?;
    let rule = RuleId(engine.new_id());
    engine.execute(
        &sec,
        (
            rule,
            RuleCommand::Define(RuleDefinition {
                name: "Database CPU".into(),
                metric: Metric::SystemPerformance,
                scope: ScopeKind::InternalSystem,
                comparison: Comparison::Above,
                threshold: 90.0,
                window_seconds: 0,
                severity: Severity::High,
                measures: vec!["look for runaway queries".into()],
            }),
        ),
    )?;
    let shared = open_ticket(engine, "Portal login slow", false)?;
    Ok((plan, rule, shared))
}

fn open_ticket(engine: &Engine, title: &str, urgent: bool) -> Result<TicketId, AnyError> {
    let engineer = Actor::member("wang.wei")?;
    let ticket = TicketId(engine.new_id());
    engine.execute(
        &engineer,
        (
            ticket,
            TicketCommand::Open(NewTicket {
                org: OrgId::new("acme")?,
                channel: Channel::Phone,
                title: title.into(),
                description: format!("{title}; reported by phone"),
                contact: Contact {
                    name: "Bob Smith".into(),
                    email: Some("bob@acme.example".into()),
                    phone: None,
                },
                affected_system: "portal".into(),
                reported_at: None,
            }),
        ),
    )?;
    let (severity, urgency) = if urgent {
        (Severity::Critical, Urgency::Urgent)
    } else {
        (Severity::High, Urgency::Normal)
    };
    engine.execute(
        &engineer,
        (
            ticket,
            TicketCommand::Triage {
                severity,
                urgency,
                complex: false,
                multi_team: false,
            },
        ),
    )?;
    Ok(ticket)
}

/// One instance's share of the morning: tickets, notes on the shared ticket, samples,
/// and its process manager after every step.
fn work(
    instance: &Instance,
    plan: PlanId,
    rule: RuleId,
    shared: TicketId,
    scope: &str,
) -> Result<(), AnyError> {
    let engine = &instance.engine;
    let engineer = Actor::member("wang.wei")?;
    let feed = Actor::system("monitoring-feed");
    let mut manager = EmergencyResponse::resume(engine, EmergencyConfig::new(plan))?;
    for step in 0..10i64 {
        instance
            .clock
            .set(start()? + Duration::minutes(5 * (step + 1)))?;
        if step % 3 == 0 {
            let title = format!("{}: suspicious logins ({step})", instance.name);
            open_ticket(engine, &title, step % 6 == 0)?;
        }
        engine.execute(
            &engineer,
            (
                shared,
                TicketCommand::AddNote {
                    text: format!("{} checked the portal (step {step})", instance.name),
                    customer_visible: false,
                },
            ),
        )?;
        let value = if step % 4 < 2 { 97.0 } else { 20.0 };
        engine.execute(
            &feed,
            (
                rule,
                RuleCommand::Sample {
                    scope: scope.into(),
                    value,
                    at: instance.clock.now(),
                },
            ),
        )?;
        manager.run_once(engine)?;
    }
    Ok(())
}

fn print_board(name: &str, board: &BoardPage) {
    println!(
        "\nSLA board seen by {name} (log position {}, at {}):",
        board.position,
        board.now.format("%Y-%m-%d %H:%M UTC")
    );
    println!(
        "  {:<38} {:<9} {:<9} {:<10} nearest deadline",
        "case", "kind", "severity", "state"
    );
    for row in &board.rows {
        let state = row.state.map_or("-".to_string(), |s| format!("{s:?}"));
        let deadline = row
            .nearest_deadline
            .map_or("-".to_string(), |d| d.format("%m-%d %H:%M").to_string());
        println!(
            "  {:<38} {:<9} {:<9} {:<10} {deadline}",
            row.case.to_string(),
            format!("{:?}", row.kind),
            format!("{:?}", row.severity),
            state
        );
    }
}
