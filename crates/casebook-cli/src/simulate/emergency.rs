//! The emergency-response side of the simulated desk: contingency plans and their
//! revisions, monitoring rules fed with synthetic samples, the process manager that turns
//! alerts and urgent tickets into incidents, incidents handled by security engineers
//! through their six stages to a post-incident review, and a scored drill each quarter.
//!
//! Everything goes through the engine like the tickets do; a refusal stops the run.

use std::collections::BTreeSet;

use casebook::process::{EmergencyConfig, EmergencyResponse};
use casebook_core::drill::DrillCommand;
use casebook_core::incident::{
    ActionKind, IncidentCommand, IncidentSource, LossAssessment, PostIncidentReview,
};
use casebook_core::monitoring::{Comparison, Metric, RuleCommand, RuleDefinition, ScopeKind};
use casebook_core::plan::{Phase, PlanCommand, PlanContent, PlanRef, ProcessStep, ResponseRole};
use casebook_core::{
    Actor, CustomerTier, DrillId, IncidentEvent, IncidentId, MemberId, OrgId, PlanId, RuleId,
    Severity,
};
use casebook_store::limits::MAX_PAGE;
use chrono::{DateTime, Duration, Utc};

use super::{Action, Sim};
use crate::error::CliError;

/// How often the monitoring feed sends a sample per target.
pub(super) const FEED_EVERY_MINUTES: i64 = 10;

/// One contingency plan of the desk.
pub(super) struct SimPlan {
    pub id: PlanId,
    pub title: &'static str,
    pub content: PlanContent,
    /// The newest published revision.
    pub revision: u32,
}

/// One monitored target of a rule, and its synthetic metric.
struct SimScope {
    name: String,
    /// The usual value.
    baseline: i64,
    /// Spread of the noise around the baseline.
    noise: i64,
    /// While set, the metric is past the threshold until then.
    spike_until: Option<DateTime<Utc>>,
}

/// A monitoring rule and the targets the feed samples for it.
pub(super) struct SimRule {
    id: RuleId,
    /// How far past the threshold a spike goes.
    spike: i64,
    threshold: i64,
    scopes: Vec<SimScope>,
}

/// Where an incident's handling is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum IStep {
    Acknowledge,
    Assess,
    Contain,
    Progress,
    Dispose,
    Recovered,
    VerifyFail,
    Verify,
    Confirm,
    Review,
    Close,
}

/// An incident the simulation handles.
pub(super) struct SimIncident {
    id: IncidentId,
    severity: Severity,
    orgs: Vec<OrgId>,
    owner: MemberId,
    fail_verification: bool,
    progress_done: u32,
    confirmed: usize,
}

/// Where a drill is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum DStep {
    Start,
    Phase(u8),
    Evaluate,
    Findings,
}

/// A drill the simulation runs.
pub(super) struct SimDrill {
    id: DrillId,
    plan: usize,
    revision: u32,
    /// The score once findings are recorded, out of 100.
    pub score: Option<u32>,
}

/// The emergency-response state of the simulation.
#[derive(Default)]
pub(super) struct Emergency {
    pub plans: Vec<SimPlan>,
    rules: Vec<SimRule>,
    pub incidents: Vec<SimIncident>,
    known: BTreeSet<IncidentId>,
    /// Log position up to which declarations were looked for.
    seen: u64,
    pub drills: Vec<SimDrill>,
    manager: Option<EmergencyResponse>,
    pub samples: u64,
    pub state_changes: u64,
    pub alerts: u64,
    pub from_tickets: u64,
    pub from_alerts: u64,
    pub closed: u64,
    pub revisions_published: u64,
    pub requests_addressed: u64,
}

fn role(role: &str, filled_by: &str, duties: &str) -> ResponseRole {
    ResponseRole {
        role: role.into(),
        filled_by: filled_by.into(),
        duties: duties.into(),
    }
}

fn step(phase: Phase, description: &str, target_minutes: u32) -> ProcessStep {
    ProcessStep {
        phase,
        description: description.into(),
        target_minutes,
    }
}

/// The desk's plans: a general one the process manager declares incidents under, and
/// three for specific threats, exercised by the drills.
fn plan_contents() -> Vec<(&'static str, PlanContent)> {
    let organisation = vec![
        role(
            "应急指挥 / incident commander",
            "security on call",
            "leads the response and reports to the project manager",
        ),
        role(
            "通报联络 / communications",
            "project manager on duty",
            "informs affected customers at the agreed cadence",
        ),
    ];
    vec![
        (
            "综合安全事件应急预案 / General security incident response",
            PlanContent {
                organisation: organisation.clone(),
                steps: vec![
                    step(
                        Phase::Occurrence,
                        "确认告警 / confirm the alert or report",
                        15,
                    ),
                    step(
                        Phase::Report,
                        "上报项目经理 / report to the project manager",
                        15,
                    ),
                    step(Phase::Handling, "遏制与处置 / contain and dispose", 120),
                    step(Phase::Recovery, "恢复并验证 / restore and verify", 60),
                ],
                measures: vec![
                    "隔离受影响主机 / isolate affected hosts".into(),
                    "保全日志与证据 / preserve logs and evidence".into(),
                ],
            },
        ),
        (
            "勒索软件应急预案 / Ransomware response",
            PlanContent {
                organisation: organisation.clone(),
                steps: vec![
                    step(
                        Phase::Occurrence,
                        "识别加密行为 / detect encryption activity",
                        10,
                    ),
                    step(
                        Phase::Report,
                        "启动应急小组 / convene the response team",
                        20,
                    ),
                    step(
                        Phase::Handling,
                        "断网隔离并清除 / cut off and eradicate",
                        180,
                    ),
                    step(
                        Phase::Recovery,
                        "从离线备份恢复 / restore from offline backups",
                        240,
                    ),
                ],
                measures: vec![
                    "断开受感染主机网络 / disconnect infected hosts".into(),
                    "重置域管理员凭据 / reset domain admin credentials".into(),
                ],
            },
        ),
        (
            "DDoS 攻击应急预案 / DDoS response",
            PlanContent {
                organisation: organisation.clone(),
                steps: vec![
                    step(
                        Phase::Occurrence,
                        "流量异常确认 / confirm the traffic anomaly",
                        5,
                    ),
                    step(Phase::Report, "通知运营商 / notify the carrier", 10),
                    step(Phase::Handling, "引流清洗 / divert to scrubbing", 30),
                    step(Phase::Recovery, "回切并观察 / switch back and watch", 60),
                ],
                measures: vec![
                    "启用云清洗 / enable cloud scrubbing".into(),
                    "限速与黑洞路由 / rate limits and blackhole routes".into(),
                ],
            },
        ),
        (
            "数据泄露应急预案 / Data leak response",
            PlanContent {
                organisation,
                steps: vec![
                    step(Phase::Occurrence, "确认泄露范围 / confirm what leaked", 30),
                    step(
                        Phase::Report,
                        "上报并评估通报义务 / report, assess notification duties",
                        60,
                    ),
                    step(Phase::Handling, "封堵泄露途径 / close the leak", 120),
                    step(
                        Phase::Recovery,
                        "轮换凭据并复核 / rotate credentials and review",
                        240,
                    ),
                ],
                measures: vec![
                    "吊销泄露的密钥 / revoke leaked keys".into(),
                    "通知受影响客户 / notify affected customers".into(),
                ],
            },
        ),
    ]
}

const LESSONS: &[&str] = &[
    "告警阈值过高，发现偏晚 / the threshold alerted late",
    "值班交接信息不完整 / the on-call handover lacked context",
    "备份恢复演练不足 / restores were not rehearsed enough",
    "客户联系人信息过期 / the customer's contact list was outdated",
];

const IMPROVEMENTS: &[&str] = &[
    "在处置步骤中加入凭据轮换检查 / add a credential rotation check to handling",
    "为应急指挥设置副手 / name a deputy incident commander",
    "每月核对客户应急联系人 / verify customer emergency contacts monthly",
    "将告警窗口缩短到 5 分钟 / shorten the alert window to 5 minutes",
];

const FINDINGS: &[&str] = &[
    "上报环节超时 / reporting took longer than planned",
    "备份介质位置不清楚 / nobody knew where the backup media were",
    "通报模板缺失 / no notification template",
];

impl Sim {
    fn lead(&self) -> Result<MemberId, CliError> {
        self.security
            .first()
            .cloned()
            .ok_or_else(|| self.sim_error("no security engineer"))
    }

    fn run_command(
        &mut self,
        actor: &Actor,
        what: &str,
        command: impl Into<casebook::Command>,
    ) -> Result<usize, CliError> {
        self.commands += 1;
        self.engine
            .execute(actor, command)
            .map(|recorded| recorded.len())
            .map_err(|e| self.sim_error(format!("{actor} could not {what}: {e}")))
    }

    /// Plans, rules and the process manager, at the start of the period.
    pub(super) fn bootstrap_emergency(&mut self) -> Result<(), CliError> {
        let lead = Actor::Member(self.lead()?);
        for (title, content) in plan_contents() {
            let id = PlanId(self.engine.new_id());
            self.run_command(
                &lead,
                "create a plan",
                (
                    id,
                    PlanCommand::Create {
                        title: title.into(),
                        review_interval_days: 90,
                        content: content.clone(),
                    },
                ),
            )?;
            self.em.plans.push(SimPlan {
                id,
                title,
                content,
                revision: 1,
            });
        }
        // Rules: database CPU of the premium customers, core network traffic, and open
        // vulnerabilities of the desk's own portal.
        let premium: Vec<OrgId> = self
            .orgs
            .iter()
            .filter(|(_, tier, _)| *tier == CustomerTier::Premium)
            .map(|(org, _, _)| org.clone())
            .take(2)
            .collect();
        let mut rules: Vec<(RuleDefinition, i64, i64, Vec<SimScope>)> = Vec::new();
        for org in premium {
            rules.push((
                RuleDefinition {
                    name: format!("{org} 数据库 CPU / database CPU"),
                    metric: Metric::SystemPerformance,
                    scope: ScopeKind::CustomerSystem { org: org.clone() },
                    comparison: Comparison::Above,
                    threshold: 90.0,
                    window_seconds: 15 * 60,
                    severity: Severity::High,
                    measures: vec![
                        "排查异常进程与挖矿程序 / look for runaway or mining processes".into(),
                    ],
                },
                90,
                8,
                vec![SimScope {
                    name: format!("{org}-db-01"),
                    baseline: 45,
                    noise: 15,
                    spike_until: None,
                }],
            ));
        }
        rules.push((
            RuleDefinition {
                name: "核心链路流量 / core link traffic".into(),
                metric: Metric::NetworkTraffic,
                scope: ScopeKind::NetworkDevice,
                comparison: Comparison::Above,
                threshold: 800_000_000.0,
                window_seconds: 10 * 60,
                severity: Severity::Critical,
                measures: vec!["启用流量清洗 / enable scrubbing".into()],
            },
            800_000_000,
            400_000_000,
            vec![
                SimScope {
                    name: "core-sw-01".into(),
                    baseline: 300_000_000,
                    noise: 150_000_000,
                    spike_until: None,
                },
                SimScope {
                    name: "edge-fw-01".into(),
                    baseline: 250_000_000,
                    noise: 100_000_000,
                    spike_until: None,
                },
            ],
        ));
        rules.push((
            RuleDefinition {
                name: "门户高危漏洞数 / portal open vulnerabilities".into(),
                metric: Metric::OpenVulnerabilities,
                scope: ScopeKind::InternalSystem,
                comparison: Comparison::AtOrAbove,
                threshold: 25.0,
                window_seconds: 0,
                severity: Severity::Medium,
                measures: vec!["安排紧急补丁窗口 / schedule an emergency patch window".into()],
            },
            25,
            10,
            vec![SimScope {
                name: "desk-portal".into(),
                baseline: 8,
                noise: 5,
                spike_until: None,
            }],
        ));
        for (definition, threshold, spike, scopes) in rules {
            let id = RuleId(self.engine.new_id());
            self.run_command(
                &lead,
                "define a rule",
                (id, RuleCommand::Define(definition)),
            )?;
            self.em.rules.push(SimRule {
                id,
                spike,
                threshold,
                scopes,
            });
        }
        let general = self
            .em
            .plans
            .first()
            .map(|p| p.id)
            .ok_or_else(|| self.sim_error("no plan"))?;
        let manager = EmergencyResponse::resume(&self.engine, EmergencyConfig::new(general))
            .map_err(|e| self.sim_error(format!("process manager: {e}")))?;
        self.em.manager = Some(manager);
        Ok(())
    }

    /// One round of the monitoring feed: a sample per target, then the process manager
    /// catches up and the new incidents are picked up by security engineers.
    pub(super) fn feed(&mut self, at: DateTime<Utc>) -> Result<(), CliError> {
        let feed = Actor::system("monitoring-feed");
        for r in 0..self.em.rules.len() {
            for s in 0..self.em.rules[r].scopes.len() {
                let value = self.next_value(r, s, at);
                let rule = &self.em.rules[r];
                let command = RuleCommand::Sample {
                    scope: rule.scopes[s].name.clone(),
                    // Whole numbers only: the values are the same on every platform.
                    value: value as f64,
                    at,
                };
                let id = rule.id;
                let recorded = self.run_command(&feed, "send a sample", (id, command))?;
                self.em.samples += 1;
                self.em.state_changes += u64::try_from(recorded).unwrap_or(0);
            }
        }
        self.respond()?;
        let next = at + Duration::minutes(FEED_EVERY_MINUTES);
        if next < self.end {
            self.schedule(next, Action::Feed(next));
        }
        Ok(())
    }

    /// The next synthetic value of a target: noise around the baseline, and now and then
    /// a spike past the threshold for 10 minutes to 2 hours.
    fn next_value(&mut self, r: usize, s: usize, at: DateTime<Utc>) -> i64 {
        // About two spikes per target per month.
        let spike_starts = self.rng.below(100_000) < 46;
        let length = self.rng.range(10, 120);
        let jitter = self.rng.range(-100, 100);
        let rule = &mut self.em.rules[r];
        let (threshold, spike) = (rule.threshold, rule.spike);
        let scope = &mut rule.scopes[s];
        if scope.spike_until.is_some_and(|until| until <= at) {
            scope.spike_until = None;
        }
        if scope.spike_until.is_none() && spike_starts {
            scope.spike_until = Some(at + Duration::minutes(length));
        }
        if scope.spike_until.is_some() {
            threshold + 1 + (spike * (jitter + 100)) / 200
        } else {
            (scope.baseline + scope.noise * jitter / 100).max(0)
        }
    }

    /// Runs the process manager and schedules the handling of every incident it (or
    /// anyone) declared since the last look.
    pub(super) fn respond(&mut self) -> Result<(), CliError> {
        if let Some(mut manager) = self.em.manager.take() {
            let result = manager.run_once(&self.engine);
            self.em.manager = Some(manager);
            result.map_err(|e| self.sim_error(format!("process manager: {e}")))?;
        }
        let now = self.clock_now();
        loop {
            let page = self
                .engine
                .store()
                .read_all(self.em.seen, MAX_PAGE)
                .map_err(|e| self.sim_error(e))?;
            let Some(last) = page.last() else { break };
            self.em.seen = last.global_position;
            for envelope in &page {
                if envelope.event_type == "AlertRaised" {
                    self.em.alerts += 1;
                }
                if envelope.stream_id.kind() != "incident"
                    || envelope.event_type != "IncidentDeclared"
                {
                    continue;
                }
                let event: IncidentEvent = self
                    .engine
                    .decode(envelope)
                    .map_err(|e| self.sim_error(e))?;
                let IncidentEvent::Declared {
                    incident, details, ..
                } = event
                else {
                    continue;
                };
                if !self.em.known.insert(incident) {
                    continue;
                }
                match details.source {
                    IncidentSource::UrgentTicket { .. } => {
                        self.em.from_tickets += 1;
                    }
                    IncidentSource::Alert { .. } => self.em.from_alerts += 1,
                    IncidentSource::Manual => {}
                }
                let owner = self
                    .pick_owner(true)
                    .ok_or_else(|| self.sim_error("no security engineer to respond"))?;
                *self.load.entry(owner.clone()).or_default() += 1;
                let fail_verification = self.rng.chance(150);
                self.em.incidents.push(SimIncident {
                    id: incident,
                    severity: details.severity,
                    orgs: details.affected_customers.clone(),
                    owner,
                    fail_verification,
                    progress_done: 0,
                    confirmed: 0,
                });
                let i = self.em.incidents.len() - 1;
                let at = self.incident_delay(i, 3, 20);
                self.schedule(at.max(now), Action::Incident(i, IStep::Acknowledge));
            }
        }
        Ok(())
    }

    /// When a responder acts `lo..=hi` minutes of work after now: critical and high
    /// incidents around the clock, the rest in office hours.
    fn incident_delay(&mut self, i: usize, lo: i64, hi: i64) -> DateTime<Utc> {
        let now = self.clock_now();
        let minutes = self.rng.range(lo, hi);
        match self.em.incidents.get(i).map(|x| x.severity) {
            Some(Severity::Critical | Severity::High) => now + Duration::minutes(minutes),
            _ => self.working_time(now, minutes),
        }
    }

    fn incident_command(&mut self, i: usize, command: IncidentCommand) -> Result<(), CliError> {
        let Some(x) = self.em.incidents.get(i) else {
            return Err(self.sim_error(format!("no simulated incident {i}")));
        };
        let (id, owner) = (x.id, x.owner.clone());
        let what = format!(
            "incident {id}: {}",
            casebook_core::DomainCommand::name(&command)
        );
        self.run_command(&Actor::Member(owner), &what, (id, command))?;
        Ok(())
    }

    /// One step of an incident's handling.
    #[allow(clippy::too_many_lines)]
    pub(super) fn incident_step(&mut self, i: usize, step: IStep) -> Result<(), CliError> {
        let Some(x) = self.em.incidents.get(i) else {
            return Err(self.sim_error(format!("no simulated incident {i}")));
        };
        let (id, orgs, fail) = (x.id, x.orgs.clone(), x.fail_verification);
        let next: Option<(IStep, DateTime<Utc>)> = match step {
            IStep::Acknowledge => {
                self.incident_command(i, IncidentCommand::Acknowledge)?;
                Some((IStep::Assess, self.incident_delay(i, 10, 40)))
            }
            IStep::Assess => {
                self.incident_command(
                    i,
                    IncidentCommand::Assess {
                        scope: "受影响主机及其所在网段 / the affected hosts and their segment"
                            .into(),
                        impact: "部分业务响应变慢 / some services slowed down".into(),
                    },
                )?;
                Some((IStep::Contain, self.incident_delay(i, 10, 60)))
            }
            IStep::Contain => {
                self.incident_command(
                    i,
                    IncidentCommand::LogAction {
                        kind: ActionKind::Containment,
                        description: "隔离受影响主机 / isolated the affected hosts".into(),
                    },
                )?;
                Some((IStep::Progress, self.incident_delay(i, 10, 30)))
            }
            IStep::Progress => {
                self.incident_command(
                    i,
                    IncidentCommand::ReportProgress {
                        summary: "已遏制，正在处置 / contained, disposal under way".into(),
                    },
                )?;
                let done = {
                    let x = &mut self.em.incidents[i];
                    x.progress_done += 1;
                    x.progress_done
                };
                if done == 1 {
                    Some((IStep::Dispose, self.incident_delay(i, 20, 120)))
                } else {
                    Some((IStep::Recovered, self.incident_delay(i, 10, 60)))
                }
            }
            IStep::Dispose => {
                self.incident_command(
                    i,
                    IncidentCommand::LogAction {
                        kind: ActionKind::Disposal,
                        description: "清除恶意程序并修补漏洞 / removed the cause and patched"
                            .into(),
                    },
                )?;
                Some((IStep::Progress, self.incident_delay(i, 10, 30)))
            }
            IStep::Recovered => {
                self.incident_command(
                    i,
                    IncidentCommand::ReportRecovered {
                        summary: "业务已恢复 / service restored".into(),
                    },
                )?;
                let next = if fail {
                    IStep::VerifyFail
                } else {
                    IStep::Verify
                };
                Some((next, self.incident_delay(i, 10, 60)))
            }
            IStep::VerifyFail => {
                self.incident_command(
                    i,
                    IncidentCommand::VerifyRecovery {
                        passed: false,
                        evidence: "仍发现异常外联 / outbound connections persist".into(),
                    },
                )?;
                self.em.incidents[i].fail_verification = false;
                self.em.incidents[i].progress_done = 1;
                Some((IStep::Dispose, self.incident_delay(i, 20, 90)))
            }
            IStep::Verify => {
                self.incident_command(
                    i,
                    IncidentCommand::VerifyRecovery {
                        passed: true,
                        evidence: "监控平稳 24 小时 / monitoring quiet, checks pass".into(),
                    },
                )?;
                Some((IStep::Confirm, self.customer_delay(30, 600)))
            }
            IStep::Confirm => {
                let k = self.em.incidents[i].confirmed;
                match orgs.get(k) {
                    Some(org) => {
                        // A contact of the affected customer confirms for it.
                        let contact = self
                            .orgs
                            .iter()
                            .find(|(o, _, _)| o == org)
                            .and_then(|(_, _, contacts)| contacts.first().cloned())
                            .ok_or_else(|| self.sim_error(format!("no contact for {org}")))?;
                        self.run_command(
                            &Actor::Member(contact),
                            &format!("incident {id}: confirm recovery"),
                            (
                                id,
                                IncidentCommand::ConfirmRecovery {
                                    org: Some(org.clone()),
                                    comment: Some("业务已恢复正常 / we are back to normal".into()),
                                },
                            ),
                        )?;
                    }
                    None => {
                        self.incident_command(
                            i,
                            IncidentCommand::ConfirmRecovery {
                                org: None,
                                comment: Some("内部系统已恢复 / internal systems restored".into()),
                            },
                        )?;
                    }
                }
                self.em.incidents[i].confirmed += 1;
                if k + 1 < orgs.len() {
                    Some((IStep::Confirm, self.customer_delay(10, 300)))
                } else {
                    {
                        let minutes = self.rng.range(60, 1080);
                        Some((IStep::Review, self.working_time(self.clock_now(), minutes)))
                    }
                }
            }
            IStep::Review => {
                let lesson = (*self.rng.pick(LESSONS)).to_string();
                let improvements: Vec<String> = match self.rng.below(3) {
                    0 => Vec::new(),
                    1 => vec![(*self.rng.pick(IMPROVEMENTS)).to_string()],
                    _ => vec![
                        IMPROVEMENTS[0].to_string(),
                        (*self.rng.pick(&IMPROVEMENTS[1..])).to_string(),
                    ],
                };
                let loss = LossAssessment {
                    downtime_minutes: u64::try_from(self.rng.range(0, 240)).unwrap_or(0),
                    systems_affected: u32::try_from(self.rng.range(1, 6)).unwrap_or(1),
                    records_affected: u64::try_from(self.rng.range(0, 2_000)).unwrap_or(0),
                    direct_cost_cents: u64::try_from(self.rng.range(0, 500_000)).unwrap_or(0),
                    responder_minutes: u64::try_from(self.rng.range(60, 900)).unwrap_or(60),
                    hourly_rate_cents: 30_000,
                };
                self.incident_command(
                    i,
                    IncidentCommand::SubmitReview(PostIncidentReview {
                        loss: Some(loss),
                        root_cause: "弱口令暴露在公网 / a weak password exposed to the internet"
                            .into(),
                        lessons: vec![lesson],
                        improvements,
                    }),
                )?;
                let minutes = self.rng.range(10, 120);
                Some((IStep::Close, self.working_time(self.clock_now(), minutes)))
            }
            IStep::Close => {
                self.incident_command(i, IncidentCommand::Close)?;
                self.em.closed += 1;
                let owner = self.em.incidents[i].owner.clone();
                if let Some(n) = self.load.get_mut(&owner) {
                    *n = n.saturating_sub(1);
                }
                None
            }
        };
        if let Some((step, at)) = next {
            let at = at.max(self.clock_now());
            self.schedule(at, Action::Incident(i, step));
        }
        Ok(())
    }

    /// Schedules the quarter's drill (and one more per further 90 days), each against a
    /// specific plan's revision in force when it is scheduled.
    pub(super) fn schedule_drills(&mut self, start: DateTime<Utc>, days: u32) {
        let mut quarter = 0;
        while i64::from(quarter) * 90 < i64::from(days) {
            let announce =
                self.working_time(start + Duration::days(i64::from(quarter) * 90 + 3), 60);
            if announce < self.end {
                self.schedule(announce, Action::ScheduleDrill(quarter));
            }
            quarter += 1;
        }
    }

    /// Schedules drill number `quarter` two weeks ahead.
    pub(super) fn schedule_drill(&mut self, quarter: u32) -> Result<(), CliError> {
        let specific = self.em.plans.len().saturating_sub(1).max(1);
        let plan = 1 + usize::try_from(quarter).unwrap_or(0) % specific;
        let Some(p) = self.em.plans.get(plan) else {
            return Ok(());
        };
        let (plan_id, revision, title) = (p.id, p.revision, p.title);
        let now = self.clock_now();
        let date = self.working_time(now + Duration::days(14), 60);
        let mut participants: Vec<MemberId> = self.security.clone();
        if let Some(pm) = self.pms.first() {
            participants.push(pm.clone());
        }
        let id = DrillId(self.engine.new_id());
        let lead = Actor::Member(self.lead()?);
        self.run_command(
            &lead,
            "schedule a drill",
            (
                id,
                DrillCommand::Schedule {
                    plan: PlanRef {
                        plan: plan_id,
                        revision,
                    },
                    scenario: format!("桌面推演 / tabletop exercise: {title}"),
                    participants,
                    date,
                },
            ),
        )?;
        self.em.drills.push(SimDrill {
            id,
            plan,
            revision,
            score: None,
        });
        let d = self.em.drills.len() - 1;
        if date < self.end {
            self.schedule(date, Action::Drill(d, DStep::Start));
        }
        Ok(())
    }

    /// One step of a drill: start, the four phases timed around the plan's targets, the
    /// evaluation and the findings.
    pub(super) fn drill_step(&mut self, d: usize, step: DStep) -> Result<(), CliError> {
        let Some(x) = self.em.drills.get(d) else {
            return Err(self.sim_error(format!("no simulated drill {d}")));
        };
        let (id, plan) = (x.id, x.plan);
        let lead = Actor::Member(self.lead()?);
        let now = self.clock_now();
        let (command, next) = match step {
            DStep::Start => (DrillCommand::Start, Some(DStep::Phase(0))),
            DStep::Phase(n) => {
                let phase = Phase::ALL
                    .get(usize::from(n))
                    .copied()
                    .ok_or_else(|| self.sim_error("no such drill phase"))?;
                let next = if usize::from(n) + 1 < Phase::ALL.len() {
                    DStep::Phase(n + 1)
                } else {
                    DStep::Evaluate
                };
                (DrillCommand::MarkPhase { phase }, Some(next))
            }
            DStep::Evaluate => (
                DrillCommand::Evaluate {
                    notes: "流程基本顺畅，上报偏慢 / the flow held, reporting was slow".into(),
                },
                Some(DStep::Findings),
            ),
            DStep::Findings => {
                let n = usize::try_from(self.rng.below(3)).unwrap_or(0);
                let findings = FINDINGS.iter().take(n).map(|f| (*f).to_string()).collect();
                (DrillCommand::RecordFindings { findings }, None)
            }
        };
        let what = format!(
            "drill {id}: {}",
            casebook_core::DomainCommand::name(&command)
        );
        self.run_command(&lead, &what, (id, command))?;
        let Some(next) = next else {
            let score = self
                .engine
                .drill_score(id)
                .map_err(|e| self.sim_error(format!("drill {id} score: {e}")))?;
            self.em.drills[d].score = Some(score.total);
            return Ok(());
        };
        // Each phase takes 70 % to 160 % of the plan's target for it.
        let minutes = match next {
            DStep::Phase(n) => {
                let target = Phase::ALL
                    .get(usize::from(n))
                    .and_then(|p| self.em.plans.get(plan).and_then(|x| x.content.target(*p)))
                    .map_or(30, |t| t.num_minutes());
                (target * self.rng.range(70, 160) / 100).max(1)
            }
            _ => self.rng.range(30, 120),
        };
        self.schedule(now + Duration::minutes(minutes), Action::Drill(d, next));
        Ok(())
    }

    /// Every 45 days the plans are looked after: a plan with requested revisions gets a
    /// new revision that addresses them (its measures gain the requested changes); the
    /// others are reviewed as they stand.
    pub(super) fn plan_upkeep(&mut self) -> Result<(), CliError> {
        let lead = Actor::Member(self.lead()?);
        for p in 0..self.em.plans.len() {
            let id = self.em.plans[p].id;
            let state = self
                .engine
                .plan(id)
                .map_err(|e| self.sim_error(format!("plan {id}: {e}")))?;
            let open: Vec<(u32, String)> = state
                .open_requests()
                .map(|r| (r.number, r.text.clone()))
                .collect();
            if open.is_empty() {
                self.run_command(
                    &lead,
                    "review a plan",
                    (
                        id,
                        PlanCommand::RecordReview {
                            notes: "定期评审，无需修订 / periodic review, no change needed".into(),
                        },
                    ),
                )?;
                continue;
            }
            let mut content = self.em.plans[p].content.clone();
            for (_, text) in &open {
                let measure: String = text.chars().take(200).collect();
                if !content.measures.contains(&measure) && content.measures.len() < 100 {
                    content.measures.push(measure);
                }
            }
            if content == self.em.plans[p].content {
                content.measures.push(format!(
                    "第 {} 次修订复核 / revision review",
                    self.em.plans[p].revision + 1
                ));
            }
            self.run_command(
                &lead,
                "publish a plan revision",
                (
                    id,
                    PlanCommand::PublishRevision {
                        content: content.clone(),
                        summary: format!(
                            "处理 {} 项修订请求 / addresses {} requests",
                            open.len(),
                            open.len()
                        ),
                        addresses: open.iter().map(|(n, _)| *n).collect(),
                    },
                ),
            )?;
            self.em.revisions_published += 1;
            self.em.requests_addressed += u64::try_from(open.len()).unwrap_or(0);
            let x = &mut self.em.plans[p];
            x.content = content;
            x.revision += 1;
        }
        let next = self.clock_now() + Duration::days(45);
        if next < self.end {
            let at = self.working_time(next, 30);
            self.schedule(at, Action::PlanUpkeep);
        }
        Ok(())
    }

    /// The emergency-response part of the summary.
    pub(super) fn emergency_summary(&self) -> String {
        use std::fmt::Write as _;
        let em = &self.em;
        let mut out = String::new();
        let _ = writeln!(out, "emergency response");
        let _ = writeln!(
            out,
            "  plans              {} ({} revisions published, {} requests addressed)",
            em.plans.len(),
            em.revisions_published,
            em.requests_addressed
        );
        let _ = writeln!(
            out,
            "  monitoring rules   {} ({} samples, {} alert-state changes, {} alerts raised)",
            em.rules.len(),
            em.samples,
            em.state_changes,
            em.alerts
        );
        let _ = writeln!(
            out,
            "  incidents          {} declared ({} from urgent tickets, {} from alerts), {} closed after review",
            em.known.len(),
            em.from_tickets,
            em.from_alerts,
            em.closed
        );
        for d in &em.drills {
            let title = em.plans.get(d.plan).map_or("-", |p| p.title);
            let score = d
                .score
                .map_or_else(|| "not finished".to_string(), |s| format!("{s}/100"));
            let _ = writeln!(
                out,
                "  drill              {} rev {}: {score} ({})",
                title, d.revision, d.id
            );
        }
        out
    }
}
