//! Drills against a contingency plan revision (domain.md §4). A drill simulates an
//! incident; its events have their own types and stream kind (`drill`), so nothing that
//! counts real incidents ever sees them.
//!
//! | from | to | command |
//! | --- | --- | --- |
//! | (none) | Intake | [`DrillCommand::Schedule`]: plan revision, scenario, participants, date |
//! | Intake | Analysis | [`DrillCommand::Start`] |
//! | Analysis | Analysis | [`DrillCommand::MarkPhase`] occurrence |
//! | Analysis | Fix | [`DrillCommand::MarkPhase`] report |
//! | Fix | Verify | [`DrillCommand::MarkPhase`] handling |
//! | Verify | Confirm | [`DrillCommand::MarkPhase`] recovery |
//! | Confirm | Record | [`DrillCommand::Evaluate`] |
//! | Record | Closed | [`DrillCommand::RecordFindings`] (each finding becomes a requested plan revision) |
//!
//! Phases are marked in order; a phase out of order is refused with
//! [`Rule::OutOfOrder`]. [`Drill::score`] compares each phase's time with the plan
//! revision's target and counts the findings.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, Context, DomainCommand, DomainEvent};
use crate::ids::{DrillId, MemberId};
use crate::plan::{Phase, PlanContent, PlanRef};
use crate::rejection::{check_text, Rejection, Rule, MAX_LONG_TEXT};
use crate::roles::Permission;
use crate::ticket::Stage;

/// Commands on a drill (all need `HandleSecurity`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DrillCommand {
    /// Schedules the drill.
    Schedule {
        /// The plan revision it exercises.
        plan: PlanRef,
        /// The simulated scenario.
        scenario: String,
        /// Who takes part (active members).
        participants: Vec<MemberId>,
        /// When it is planned.
        date: DateTime<Utc>,
    },
    /// Starts it. Intake → Analysis.
    Start,
    /// Marks the end of a phase, in order.
    MarkPhase {
        /// The phase.
        phase: Phase,
    },
    /// The evaluation. Confirm → Record.
    Evaluate {
        /// Notes.
        notes: String,
    },
    /// The findings. Record → Closed.
    RecordFindings {
        /// Findings (may be empty: nothing to improve).
        findings: Vec<String>,
    },
}

impl DrillCommand {
    /// The plan revision the command names, which the engine checks for usability.
    pub fn plan_ref(&self) -> Option<&PlanRef> {
        match self {
            DrillCommand::Schedule { plan, .. } => Some(plan),
            _ => None,
        }
    }
}

impl DomainCommand for DrillCommand {
    fn name(&self) -> &'static str {
        match self {
            DrillCommand::Schedule { .. } => "schedule a drill",
            DrillCommand::Start => "start a drill",
            DrillCommand::MarkPhase { .. } => "mark a drill phase",
            DrillCommand::Evaluate { .. } => "evaluate a drill",
            DrillCommand::RecordFindings { .. } => "record drill findings",
        }
    }
}

/// Events of a drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DrillEvent {
    /// Scheduled.
    DrillScheduled {
        /// The drill.
        drill: DrillId,
        /// Plan revision.
        plan: PlanRef,
        /// Scenario.
        scenario: String,
        /// Participants.
        participants: Vec<MemberId>,
        /// Planned date.
        date: DateTime<Utc>,
    },
    /// Started.
    DrillStarted,
    /// A phase ended.
    DrillPhaseMarked {
        /// The phase.
        phase: Phase,
    },
    /// Evaluated.
    DrillEvaluated {
        /// Notes.
        notes: String,
    },
    /// Findings recorded; closed.
    DrillFindingsRecorded {
        /// Findings.
        findings: Vec<String>,
    },
}

impl DomainEvent for DrillEvent {
    fn event_type(&self) -> &'static str {
        match self {
            DrillEvent::DrillScheduled { .. } => "DrillScheduled",
            DrillEvent::DrillStarted => "DrillStarted",
            DrillEvent::DrillPhaseMarked { .. } => "DrillPhaseMarked",
            DrillEvent::DrillEvaluated { .. } => "DrillEvaluated",
            DrillEvent::DrillFindingsRecorded { .. } => "DrillFindingsRecorded",
        }
    }
}

/// A drill's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drill {
    /// Id, once scheduled.
    pub id: Option<DrillId>,
    /// Stage, once scheduled.
    pub stage: Option<Stage>,
    /// Plan revision.
    pub plan: Option<PlanRef>,
    /// Scenario.
    pub scenario: String,
    /// Participants.
    pub participants: Vec<MemberId>,
    /// Planned date.
    pub date: Option<DateTime<Utc>>,
    /// When started.
    pub started_at: Option<DateTime<Utc>>,
    /// When each phase ended.
    pub phases: BTreeMap<Phase, DateTime<Utc>>,
    /// Evaluation notes.
    pub evaluation: Option<String>,
    /// Findings, once recorded.
    pub findings: Vec<String>,
}

/// How one phase went against its target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseScore {
    /// The phase.
    pub phase: Phase,
    /// How long it took.
    pub actual: Duration,
    /// The plan's target, if it sets one.
    pub target: Option<Duration>,
    /// Points out of 25.
    pub points: u32,
}

/// A drill's score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrillScore {
    /// Per phase.
    pub phases: Vec<PhaseScore>,
    /// Number of findings.
    pub findings: u32,
    /// The score, 0 to 100.
    pub total: u32,
}

/// Points lost per finding.
pub const POINTS_PER_FINDING: u32 = 5;

impl Drill {
    /// How long each marked phase took: occurrence from the start, every later phase
    /// from the end of the one before.
    pub fn phase_durations(&self) -> Vec<(Phase, Duration)> {
        let mut out = Vec::new();
        let mut from = self.started_at;
        for phase in Phase::ALL {
            let (Some(start), Some(end)) = (from, self.phases.get(&phase).copied()) else {
                break;
            };
            out.push((phase, end - start));
            from = Some(end);
        }
        out
    }

    /// The score against the plan revision the drill ran under: each of the four phases
    /// is worth 25 points, all of them when it took no longer than the target (or the
    /// plan sets none), otherwise in proportion target ÷ actual; each finding costs
    /// [`POINTS_PER_FINDING`]. Phases not reached score nothing.
    pub fn score(&self, plan: &PlanContent) -> DrillScore {
        let mut phases = Vec::new();
        for (phase, actual) in self.phase_durations() {
            let target = plan.target(phase);
            let points = match target {
                None => 25,
                Some(t) if actual <= t => 25,
                Some(t) => {
                    let t = t.num_seconds().max(0);
                    let a = actual.num_seconds().max(1);
                    u32::try_from(25 * t / a).unwrap_or(0)
                }
            };
            phases.push(PhaseScore {
                phase,
                actual,
                target,
                points,
            });
        }
        let findings = u32::try_from(self.findings.len()).unwrap_or(u32::MAX);
        let earned: u32 = phases.iter().map(|p| p.points).sum();
        let total = earned.saturating_sub(findings.saturating_mul(POINTS_PER_FINDING));
        DrillScore {
            phases,
            findings,
            total,
        }
    }

    fn expect_stage(
        &self,
        command: &DrillCommand,
        allowed: &[Stage],
        allowed_text: &'static str,
    ) -> Result<(), Rejection> {
        let Some(stage) = self.stage else {
            return Err(Rejection::NotFound {
                kind: "drill",
                id: format!("(cannot {} a drill never scheduled)", command.name()),
            });
        };
        if allowed.contains(&stage) {
            Ok(())
        } else {
            Err(Rejection::WrongStage {
                kind: "drill",
                command: command.name(),
                stage: stage.to_string(),
                allowed: allowed_text,
            })
        }
    }
}

impl Aggregate for Drill {
    const KIND: &'static str = "drill";
    type Id = DrillId;
    type Command = DrillCommand;
    type Event = DrillEvent;

    fn decide(
        &self,
        id: &DrillId,
        command: &DrillCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<DrillEvent>, Rejection> {
        ctx.principal
            .require(Permission::HandleSecurity, command.name())?;
        match command {
            DrillCommand::Schedule {
                plan,
                scenario,
                participants,
                date,
            } => {
                if self.stage.is_some() {
                    return Err(Rejection::rule(Rule::AlreadyExists, "the drill exists"));
                }
                check_text("scenario", scenario, MAX_LONG_TEXT)?;
                if participants.is_empty() || participants.len() > 200 {
                    return Err(Rejection::invalid(
                        "participants",
                        "a drill has 1 to 200 participants",
                    ));
                }
                for p in participants {
                    ctx.directory
                        .require_member(p, "a drill participant", |m| m.is_active())?;
                }
                let mut participants = participants.clone();
                participants.sort();
                participants.dedup();
                Ok(vec![DrillEvent::DrillScheduled {
                    drill: *id,
                    plan: *plan,
                    scenario: scenario.clone(),
                    participants,
                    date: *date,
                }])
            }
            DrillCommand::Start => {
                self.expect_stage(command, &[Stage::Intake], "intake")?;
                Ok(vec![DrillEvent::DrillStarted])
            }
            DrillCommand::MarkPhase { phase } => {
                self.expect_stage(
                    command,
                    &[Stage::Analysis, Stage::Fix, Stage::Verify],
                    "analysis, fix or verify",
                )?;
                let next = Phase::ALL
                    .into_iter()
                    .find(|p| !self.phases.contains_key(p));
                if next != Some(*phase) {
                    return Err(Rejection::rule(
                        Rule::OutOfOrder,
                        match next {
                            Some(n) => format!("the next phase is {n}, not {phase}"),
                            None => "every phase is already marked".into(),
                        },
                    ));
                }
                Ok(vec![DrillEvent::DrillPhaseMarked { phase: *phase }])
            }
            DrillCommand::Evaluate { notes } => {
                self.expect_stage(command, &[Stage::Confirm], "confirm")?;
                check_text("notes", notes, MAX_LONG_TEXT)?;
                Ok(vec![DrillEvent::DrillEvaluated {
                    notes: notes.clone(),
                }])
            }
            DrillCommand::RecordFindings { findings } => {
                self.expect_stage(command, &[Stage::Record], "record")?;
                if findings.len() > 100 {
                    return Err(Rejection::invalid("findings", "at most 100 findings"));
                }
                for f in findings {
                    check_text("finding", f, MAX_LONG_TEXT)?;
                }
                Ok(vec![DrillEvent::DrillFindingsRecorded {
                    findings: findings.clone(),
                }])
            }
        }
    }

    fn evolve(&mut self, event: &DrillEvent, at: DateTime<Utc>) {
        match event {
            DrillEvent::DrillScheduled {
                drill,
                plan,
                scenario,
                participants,
                date,
            } => {
                self.id = Some(*drill);
                self.stage = Some(Stage::Intake);
                self.plan = Some(*plan);
                self.scenario = scenario.clone();
                self.participants = participants.clone();
                self.date = Some(*date);
            }
            DrillEvent::DrillStarted => {
                self.stage = Some(Stage::Analysis);
                self.started_at = Some(at);
            }
            DrillEvent::DrillPhaseMarked { phase } => {
                self.phases.insert(*phase, at);
                self.stage = Some(match phase {
                    Phase::Occurrence => Stage::Analysis,
                    Phase::Report => Stage::Fix,
                    Phase::Handling => Stage::Verify,
                    Phase::Recovery => Stage::Confirm,
                });
            }
            DrillEvent::DrillEvaluated { notes } => {
                self.stage = Some(Stage::Record);
                self.evaluation = Some(notes.clone());
            }
            DrillEvent::DrillFindingsRecorded { findings } => {
                self.stage = Some(Stage::Closed);
                self.findings = findings.clone();
            }
        }
    }
}
