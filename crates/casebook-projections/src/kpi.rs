//! Service-quality KPIs (domain.md §7): a pure fold over the event log ([`KpiView`])
//! and the figures of one period computed from it ([`KpiReport`]).
//!
//! # What the view folds
//!
//! - `ticket` events: per ticket the facts the figures need (customer, owner, team,
//!   severity, opening, first response, resolutions, reopens, failed verifications,
//!   confirmations, satisfaction rating, withdrawal), each with its recorded time.
//! - `incident` events: detection, declaration, acknowledgement, recovery, severity
//!   and affected customers of each **real** incident. Drills have their own stream
//!   kind (`drill`), so no drill ever counts as an incident.
//! - `drill` events (the core [`Drill`] state plus when its findings were recorded) and
//!   `plan` events (each plan revision's content, to score drills against it).
//! - `assessment` events: the qualitative ratings project managers entered.
//!
//! Service-level facts (first response within target, deadlines, compliance) come from
//! the [`SlaView`], folded to the same log position; the report refuses views at
//! different positions.
//!
//! # The window and the cut-off
//!
//! A report covers a [`Period`] `[start, end)` as of an instant `as_of`. Its **cut-off**
//! is `c = min(end, as_of + 1 µs)` and its **window** is `W = [start, c)`: a report on
//! the current month counts what happened so far, including what was recorded at the
//! `as_of` instant itself (one microsecond is the store's time resolution). Every figure counts events by their
//! recorded time (the envelope's `recorded_at`), never by the time of the query.
//! [`KpiReport::build`] folds both views exactly up to the cut-off, so a report on a
//! past period is the same whenever it is computed; [`KpiReport::compute`] takes views
//! the caller keeps current (for a live dashboard) and is equally exact for the
//! current period. With views folded past `c`, attribution (owner, team, severity) is
//! the latest known and a running SLA deadline reflects pauses recorded after `c`.
//!
//! # Definitions
//!
//! A ticket's state at an instant `t` is decided by its events recorded strictly
//! before `t`: **unresolved** from opening, **resolved** at `TicketVerificationPassed`,
//! unresolved again at `TicketCustomerRejected` or `TicketReopened`, **withdrawn** at
//! `TicketWithdrawn` (and unresolved again if a withdrawn ticket is reopened).
//!
//! - **Response time** (per ticket whose first response is recorded in `W`): first
//!   response − opening, wall-clock seconds. The first response is the first
//!   customer-visible response by staff: `TicketTriaged`, a `TicketNoteAdded` that is
//!   customer-visible and by staff, `TicketInfoRequested`, or (if none came before)
//!   `TicketVerificationPassed` — the SLA view's rule. Mean, nearest-rank median and 90th
//!   percentile (see [`crate::period`]). **Within target**: of those tickets, the share
//!   whose first-response SLA outcome was met; tickets without a first-response
//!   outcome (no policy in force when opened) are left out of that share
//!   (`with_target` says how many were counted).
//! - **Resolution rate**: tickets with a `TicketVerificationPassed` in `W` (each ticket
//!   once) ÷ (tickets unresolved at `start` + tickets opened in `W`). Tickets withdrawn
//!   before `c` count in neither: a duplicate or a cancelled request is not a case to
//!   resolve.
//! - **First-time resolution**: of the tickets resolved in `W`, the share with no
//!   `TicketVerificationFailed`, `TicketCustomerRejected` or `TicketReopened` recorded
//!   before `c`.
//! - **Reopen rate**: of the tickets resolved in `W`, the share with a
//!   `TicketCustomerRejected` or `TicketReopened` recorded after a resolution in `W` and
//!   before `c`. (A closed ticket can only be reopened within the desk's reopen window,
//!   the engine enforces it.)
//! - **Backlog at the cut-off**: tickets unresolved at `c` (opened before `c`). Age =
//!   `c` − opening: nearest-rank median and 90th percentile. **Past a deadline**: those
//!   with an SLA target cycle that had not ended by `c` and whose deadline was before
//!   `c` (a running clock breached at `c`, or an outcome that ended at or after `c`
//!   with a deadline before `c`).
//! - **Customer satisfaction**: `TicketSatisfactionRated` events recorded in `W`: mean
//!   score (1–5) and the share of scores 4–5. **Survey response rate**: of the tickets
//!   whose confirmation (`TicketCustomerConfirmed`, or `TicketConfirmationExpired`, which
//!   counts as confirmed) is recorded in `W`, the share rated before `c`.
//! - **Security-incident rate**: `IncidentDeclared` events recorded in `W`. Per
//!   customer, an incident counts once for each affected customer; an incident with
//!   none counts under `(internal)`. Drills never count.
//! - **Time to acknowledge**: incidents with `IncidentAcknowledged` in `W`:
//!   acknowledgement − detection time (as declared). **Time to recover**: incidents
//!   whose first `IncidentRecoveryVerified` is in `W`: verification − detection.
//!   Mean and nearest-rank median.
//! - **Drills**: planned = drills whose scheduled date lies in `W` (as known at `c`);
//!   held = drills with `DrillStarted` in `W`; mean score = mean [`Drill::score`]
//!   against the plan revision it ran under, over drills whose findings were recorded
//!   in `W` (a drill whose plan revision is unknown to the view is counted in
//!   `unscored`).
//! - **SLA compliance** per target kind: target cycles that ended in `W` count met or
//!   breached; a cycle not ended by `c` whose deadline lies in `W` and had passed by `c`
//!   counts as breached. Met ÷ (met + breached). Desk-wide this equals
//!   [`SlaView::compliance`]`(start, c)` on a view holding no event recorded at or
//!   after `c`.
//!
//! # Groups
//!
//! Ticket figures are given desk-wide and per team, member (owner), customer and
//! severity. A ticket counts under the team, owner and severity it has at the view's
//! position (`(unassigned)`, `(untriaged)` when it has none) and under its customer.
//! Incident figures are desk-wide with counts per customer and severity; drills are
//! desk-wide.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use casebook_core::assessment::Assessments;
use casebook_core::plan::PlanContent;
use casebook_core::Aggregate;
use casebook_core::{
    AssessmentEvent, Drill, DrillEvent, DrillId, IncidentEvent, IncidentId, MemberId, OrgId,
    PlanEvent, PlanId, Severity, TicketEvent, TicketId,
};
use casebook_sla::TargetKind;
use casebook_store::{Checkpoint, Envelope, EventStore, Payload, StoreError};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::period::{ratio, seconds, Distribution, Period};
use crate::sla::{SlaView, SlaViewError, TargetCompliance};

/// The checkpoint name the KPI view saves itself under.
pub const KPI_CHECKPOINT: &str = "kpi-view";

/// Version of the checkpointed state's encoding; another version is rebuilt.
const STATE_VERSION: u32 = 1;

/// Why a view or report could not be produced. Nothing is written on error.
#[derive(Debug, thiserror::Error)]
pub enum KpiError {
    /// Reading the log or saving the checkpoint failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// A recorded event of a stream kind the view folds does not decode.
    #[error("event at position {position} ({stream} {event_type}) does not decode: {detail}")]
    Decode {
        /// Its global position.
        position: u64,
        /// Its stream.
        stream: String,
        /// Its type.
        event_type: String,
        /// What serde said.
        detail: String,
    },
    /// The SLA view failed.
    #[error("service-level view: {0}")]
    Sla(#[from] SlaViewError),
    /// The KPI and SLA views were folded to different log positions.
    #[error("the KPI view is at position {kpi} but the SLA view at {sla}: fold both to the same position")]
    PositionMismatch {
        /// The KPI view's position.
        kpi: u64,
        /// The SLA view's position.
        sla: u64,
    },
    /// The requested cut-off lies before the period starts.
    #[error("as of {as_of} is before the period {period} starts ({start})")]
    BeforePeriod {
        /// The period.
        period: String,
        /// Its start.
        start: DateTime<Utc>,
        /// The requested instant.
        as_of: DateTime<Utc>,
    },
    /// Encoding the report failed.
    #[error("encoding the report: {0}")]
    Encode(String),
}

pub(crate) fn decode_event<E: DeserializeOwned>(envelope: &Envelope) -> Result<E, KpiError> {
    envelope.payload.decode().map_err(|e| KpiError::Decode {
        position: envelope.global_position,
        stream: envelope.stream_id.to_string(),
        event_type: envelope.event_type.clone(),
        detail: e.to_string(),
    })
}

/// A fold over envelopes in global order: the shared catch-up loop of the views.
pub(crate) trait Fold {
    fn position(&self) -> u64;
    fn apply(&mut self, envelope: &Envelope) -> Result<(), KpiError>;
}

/// Folds every envelope after `view`'s position while `take` accepts it.
pub(crate) fn catch_up_while<F: Fold, S: EventStore + ?Sized>(
    view: &mut F,
    store: &S,
    mut take: impl FnMut(&Envelope) -> bool,
) -> Result<usize, KpiError> {
    let mut read = 0;
    loop {
        let page = store.read_all(view.position(), casebook_store::limits::MAX_PAGE)?;
        let full = page.len() == casebook_store::limits::MAX_PAGE;
        for envelope in &page {
            if !take(envelope) {
                return Ok(read);
            }
            view.apply(envelope)?;
            read += 1;
        }
        if !full || page.is_empty() {
            return Ok(read);
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Saved<T> {
    version: u32,
    state: T,
}

/// Saves `state` (at `position`) as checkpoint `name`.
pub(crate) fn save_state<T: Serialize, S: EventStore + ?Sized>(
    store: &S,
    name: &str,
    version: u32,
    position: u64,
    state: &T,
) -> Result<(), KpiError> {
    let state = Payload::encode(&Saved { version, state })?;
    store.save_checkpoint(&Checkpoint {
        name: name.to_owned(),
        position,
        state,
    })?;
    Ok(())
}

/// Loads checkpoint `name`; `None` when missing, undecodable or of another version (a
/// checkpoint is a cache of the fold: rebuilt, not trusted).
pub(crate) fn load_state<T: DeserializeOwned, S: EventStore + ?Sized>(
    store: &S,
    name: &str,
    version: u32,
    position_of: impl Fn(&T) -> u64,
) -> Result<Option<T>, KpiError> {
    let Some(checkpoint) = store.load_checkpoint(name)? else {
        return Ok(None);
    };
    let Ok(saved) = checkpoint.state.decode::<Saved<T>>() else {
        return Ok(None);
    };
    if saved.version != version || position_of(&saved.state) != checkpoint.position {
        return Ok(None);
    }
    Ok(Some(saved.state))
}

/// A ticket state change that matters to the figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Change {
    Resolved,
    Reopened,
    Withdrawn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Unresolved,
    Resolved,
    Withdrawn,
}

/// What the view keeps per ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TicketFacts {
    org: OrgId,
    opened_at: DateTime<Utc>,
    owner: Option<MemberId>,
    team: Option<String>,
    severity: Option<Severity>,
    first_response_at: Option<DateTime<Utc>>,
    changes: Vec<(DateTime<Utc>, Change)>,
    failed_verifications: Vec<DateTime<Utc>>,
    confirmations: Vec<DateTime<Utc>>,
    rating: Option<(DateTime<Utc>, u8)>,
}

impl TicketFacts {
    /// The state at `t`, from the changes recorded strictly before it.
    fn status_at(&self, t: DateTime<Utc>) -> Status {
        let mut status = Status::Unresolved;
        for (at, change) in &self.changes {
            if *at >= t {
                break;
            }
            status = match change {
                Change::Resolved => Status::Resolved,
                Change::Reopened => Status::Unresolved,
                Change::Withdrawn => Status::Withdrawn,
            };
        }
        status
    }

    fn apply(&mut self, event: &TicketEvent, at: DateTime<Utc>) {
        let mut respond = || {
            if self.first_response_at.is_none() {
                self.first_response_at = Some(at);
            }
        };
        match event {
            TicketEvent::Triaged { severity, .. } => {
                respond();
                self.severity = Some(*severity);
            }
            TicketEvent::SeverityChanged { to, .. } => self.severity = Some(*to),
            TicketEvent::NoteAdded {
                customer_visible: true,
                by_staff: true,
                ..
            }
            | TicketEvent::InfoRequested { .. } => respond(),
            TicketEvent::VerificationPassed { .. } => {
                respond();
                self.changes.push((at, Change::Resolved));
            }
            TicketEvent::VerificationFailed { .. } => self.failed_verifications.push(at),
            TicketEvent::CustomerRejected { .. } | TicketEvent::Reopened { .. } => {
                self.changes.push((at, Change::Reopened));
            }
            TicketEvent::Withdrawn { .. } => self.changes.push((at, Change::Withdrawn)),
            TicketEvent::CustomerConfirmed { .. } | TicketEvent::ConfirmationExpired { .. } => {
                self.confirmations.push(at);
            }
            TicketEvent::SatisfactionRated { score, .. } => {
                // The core allows one rating per ticket; keep the first if ever two.
                self.rating.get_or_insert((at, *score));
            }
            TicketEvent::Assigned { owner, team } => {
                self.owner = Some(owner.clone());
                self.team = Some(team.clone());
            }
            _ => {}
        }
    }
}

/// What the view keeps per real incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct IncidentFacts {
    declared_at: DateTime<Utc>,
    detected_at: DateTime<Utc>,
    severity: Severity,
    customers: Vec<OrgId>,
    acknowledged_at: Option<DateTime<Utc>>,
    recovered_at: Option<DateTime<Utc>>,
}

/// What the view keeps per drill.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DrillFacts {
    drill: Drill,
    findings_at: Option<DateTime<Utc>>,
}

/// The checkpointed state of the KPI view.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct KpiState {
    position: u64,
    last_recorded_at: Option<DateTime<Utc>>,
    tickets: BTreeMap<TicketId, TicketFacts>,
    incidents: BTreeMap<IncidentId, IncidentFacts>,
    drills: BTreeMap<DrillId, DrillFacts>,
    plans: BTreeMap<PlanId, BTreeMap<u32, PlanContent>>,
    assessments: Assessments,
}

/// The KPI view: see the [module docs](self).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KpiView {
    state: KpiState,
}

impl Fold for KpiView {
    fn position(&self) -> u64 {
        self.state.position
    }

    fn apply(&mut self, envelope: &Envelope) -> Result<(), KpiError> {
        KpiView::apply(self, envelope)
    }
}

impl KpiView {
    /// An empty view at position 0.
    pub fn new() -> KpiView {
        KpiView::default()
    }

    /// Builds the view from the start of the log to its head.
    ///
    /// # Errors
    ///
    /// [`KpiError`] on a storage or decode failure.
    pub fn build<S: EventStore + ?Sized>(store: &S) -> Result<KpiView, KpiError> {
        let mut view = KpiView::new();
        view.catch_up(store)?;
        Ok(view)
    }

    /// The view from its checkpoint (or from zero), caught up to the head of the log.
    ///
    /// # Errors
    ///
    /// [`KpiError`] on a storage or decode failure.
    pub fn resume<S: EventStore + ?Sized>(store: &S) -> Result<KpiView, KpiError> {
        let mut view = KpiView::from_checkpoint(store)?.unwrap_or_default();
        view.catch_up(store)?;
        Ok(view)
    }

    /// The view as saved in checkpoint [`KPI_CHECKPOINT`], not caught up; `None` if
    /// there is no usable checkpoint.
    ///
    /// # Errors
    ///
    /// [`KpiError::Store`] if the checkpoint cannot be read.
    pub fn from_checkpoint<S: EventStore + ?Sized>(store: &S) -> Result<Option<KpiView>, KpiError> {
        Ok(
            load_state::<KpiState, S>(store, KPI_CHECKPOINT, STATE_VERSION, |s| s.position)?
                .map(|state| KpiView { state }),
        )
    }

    /// Saves the view as checkpoint [`KPI_CHECKPOINT`].
    ///
    /// # Errors
    ///
    /// [`KpiError::Store`] if encoding or saving fails.
    pub fn save_checkpoint<S: EventStore + ?Sized>(&self, store: &S) -> Result<(), KpiError> {
        save_state(
            store,
            KPI_CHECKPOINT,
            STATE_VERSION,
            self.state.position,
            &self.state,
        )
    }

    /// Folds every event after the view's position up to the head of the log; returns
    /// how many were read.
    ///
    /// # Errors
    ///
    /// [`KpiError`] on a storage or decode failure; events folded before it stay.
    pub fn catch_up<S: EventStore + ?Sized>(&mut self, store: &S) -> Result<usize, KpiError> {
        catch_up_while(self, store, |_| true)
    }

    /// Folds events after the view's position up to and including global position
    /// `position`.
    ///
    /// # Errors
    ///
    /// As [`KpiView::catch_up`].
    pub fn catch_up_to<S: EventStore + ?Sized>(
        &mut self,
        store: &S,
        position: u64,
    ) -> Result<usize, KpiError> {
        catch_up_while(self, store, |e| e.global_position <= position)
    }

    /// The view of the log up to and including global position `position`.
    ///
    /// # Errors
    ///
    /// As [`KpiView::build`].
    pub fn at_position<S: EventStore + ?Sized>(
        store: &S,
        position: u64,
    ) -> Result<KpiView, KpiError> {
        let mut view = KpiView::new();
        view.catch_up_to(store, position)?;
        Ok(view)
    }

    /// The view of the log as it was at `instant`: every event recorded at or before
    /// it (the prefix up to the first event recorded later).
    ///
    /// # Errors
    ///
    /// As [`KpiView::build`].
    pub fn as_of<S: EventStore + ?Sized>(
        store: &S,
        instant: DateTime<Utc>,
    ) -> Result<KpiView, KpiError> {
        let mut view = KpiView::new();
        catch_up_while(&mut view, store, |e| e.recorded_at <= instant)?;
        Ok(view)
    }

    /// The global position of the last event folded.
    pub fn position(&self) -> u64 {
        self.state.position
    }

    /// The recorded time of the last event folded.
    pub fn last_recorded_at(&self) -> Option<DateTime<Utc>> {
        self.state.last_recorded_at
    }

    /// The qualitative ratings folded so far.
    pub fn assessments(&self) -> &Assessments {
        &self.state.assessments
    }

    /// How many tickets the view knows.
    pub fn ticket_count(&self) -> usize {
        self.state.tickets.len()
    }

    /// Folds one envelope. Envelopes at or before the view's position are skipped.
    ///
    /// # Errors
    ///
    /// [`KpiError::Decode`] if an event of a folded stream kind does not decode; the
    /// view is unchanged.
    pub fn apply(&mut self, envelope: &Envelope) -> Result<(), KpiError> {
        if envelope.global_position <= self.state.position {
            return Ok(());
        }
        let at = envelope.recorded_at;
        let local = envelope.stream_id.local_id();
        match envelope.stream_kind() {
            "ticket" => {
                let event: TicketEvent = decode_event(envelope)?;
                if let TicketEvent::Opened {
                    ticket, details, ..
                } = &event
                {
                    self.state
                        .tickets
                        .entry(*ticket)
                        .or_insert_with(|| TicketFacts {
                            org: details.org.clone(),
                            opened_at: at,
                            owner: None,
                            team: None,
                            severity: None,
                            first_response_at: None,
                            changes: Vec::new(),
                            failed_verifications: Vec::new(),
                            confirmations: Vec::new(),
                            rating: None,
                        });
                } else if let Ok(id) = TicketId::from_str(local) {
                    if let Some(facts) = self.state.tickets.get_mut(&id) {
                        facts.apply(&event, at);
                    }
                }
            }
            "incident" => {
                let event: IncidentEvent = decode_event(envelope)?;
                match &event {
                    IncidentEvent::Declared {
                        incident, details, ..
                    } => {
                        self.state
                            .incidents
                            .entry(*incident)
                            .or_insert_with(|| IncidentFacts {
                                declared_at: at,
                                detected_at: details.detected_at,
                                severity: details.severity,
                                customers: details.affected_customers.clone(),
                                acknowledged_at: None,
                                recovered_at: None,
                            });
                    }
                    IncidentEvent::Acknowledged { .. } | IncidentEvent::RecoveryVerified { .. } => {
                        if let Some(facts) = IncidentId::from_str(local)
                            .ok()
                            .and_then(|id| self.state.incidents.get_mut(&id))
                        {
                            let slot = if matches!(event, IncidentEvent::Acknowledged { .. }) {
                                &mut facts.acknowledged_at
                            } else {
                                &mut facts.recovered_at
                            };
                            slot.get_or_insert(at);
                        }
                    }
                    _ => {}
                }
            }
            "drill" => {
                let event: DrillEvent = decode_event(envelope)?;
                let id = match &event {
                    DrillEvent::DrillScheduled { drill, .. } => Some(*drill),
                    _ => DrillId::from_str(local).ok(),
                };
                if let Some(id) = id {
                    let facts = self.state.drills.entry(id).or_insert_with(|| DrillFacts {
                        drill: Drill::default(),
                        findings_at: None,
                    });
                    if matches!(event, DrillEvent::DrillFindingsRecorded { .. }) {
                        facts.findings_at = Some(at);
                    }
                    facts.drill.evolve(&event, at);
                }
            }
            "plan" => {
                let event: PlanEvent = decode_event(envelope)?;
                if let PlanEvent::RevisionPublished {
                    revision, content, ..
                } = event
                {
                    if let Ok(plan) = PlanId::from_str(local) {
                        self.state
                            .plans
                            .entry(plan)
                            .or_default()
                            .insert(revision, content);
                    }
                }
            }
            "assessment" => {
                let event: AssessmentEvent = decode_event(envelope)?;
                Assessments::apply(&mut self.state.assessments.ratings, &event, at);
            }
            _ => {}
        }
        self.state.position = envelope.global_position;
        self.state.last_recorded_at = Some(at);
        Ok(())
    }
}

/// Which grouping a row of figures belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// The whole desk.
    Desk,
    /// A team (the ticket's assigned team).
    Team,
    /// A member (the ticket's owner).
    Member,
    /// A customer organisation.
    Customer,
    /// A severity.
    Severity,
}

impl Dimension {
    /// The dimension's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Desk => "desk",
            Dimension::Team => "team",
            Dimension::Member => "member",
            Dimension::Customer => "customer",
            Dimension::Severity => "severity",
        }
    }
}

/// Response-time figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseKpis {
    /// Opened → first response, over tickets first responded to in the window.
    pub time: Distribution,
    /// Of those, how many had a first-response SLA outcome.
    pub with_target: u64,
    /// Of those, how many met it.
    pub within_target: u64,
    /// `within_target ÷ with_target`.
    pub within_target_share: Option<f64>,
}

/// Resolution figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResolutionKpis {
    /// Tickets unresolved at the period's start.
    pub open_at_start: u64,
    /// Tickets opened in the window.
    pub opened: u64,
    /// Tickets resolved in the window.
    pub resolved: u64,
    /// `resolved ÷ (open_at_start + opened)`.
    pub resolution_rate: Option<f64>,
    /// Resolved tickets with no failed verification and no reopen.
    pub first_time: u64,
    /// `first_time ÷ resolved`.
    pub first_time_rate: Option<f64>,
    /// Resolved tickets reopened after their resolution in the window.
    pub reopened: u64,
    /// `reopened ÷ resolved`.
    pub reopen_rate: Option<f64>,
}

/// Backlog at the cut-off.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BacklogKpis {
    /// Unresolved tickets at the cut-off, and their ages.
    pub age: Distribution,
    /// Of them, how many were past a deadline.
    pub past_deadline: u64,
}

/// Customer satisfaction.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SatisfactionKpis {
    /// Ratings recorded in the window.
    pub ratings: u64,
    /// Their mean score (1–5).
    pub mean_score: Option<f64>,
    /// Ratings of 4 or 5.
    pub satisfied: u64,
    /// `satisfied ÷ ratings`.
    pub satisfied_share: Option<f64>,
    /// Tickets confirmed (or confirmed by silence) in the window.
    pub eligible: u64,
    /// Of them, rated before the cut-off.
    pub responded: u64,
    /// `responded ÷ eligible`.
    pub response_rate: Option<f64>,
}

/// Met and breached target cycles of one target kind, with the ratio.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct SlaKpi {
    /// Cycles met.
    pub met: u64,
    /// Cycles breached.
    pub breached: u64,
    /// `met ÷ (met + breached)`.
    pub compliance: Option<f64>,
}

impl From<TargetCompliance> for SlaKpi {
    fn from(c: TargetCompliance) -> Self {
        SlaKpi {
            met: c.met,
            breached: c.breached,
            compliance: c.ratio(),
        }
    }
}

/// The ticket figures of one group.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TicketKpis {
    /// Response time.
    pub response: ResponseKpis,
    /// Resolution.
    pub resolution: ResolutionKpis,
    /// Backlog at the cut-off.
    pub backlog: BacklogKpis,
    /// Satisfaction.
    pub satisfaction: SatisfactionKpis,
    /// SLA compliance per target kind (every kind present).
    pub sla: BTreeMap<TargetKind, SlaKpi>,
}

/// One group's row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupKpis {
    /// The grouping.
    pub dimension: Dimension,
    /// The group's key: team name, member id, customer id, severity, or `desk`.
    pub key: String,
    /// Its figures.
    pub kpis: TicketKpis,
}

/// Security-incident figures (real incidents only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IncidentKpis {
    /// Incidents declared in the window.
    pub declared: u64,
    /// Per affected customer (`(internal)` for none).
    pub per_customer: BTreeMap<String, u64>,
    /// Per severity.
    pub per_severity: BTreeMap<String, u64>,
    /// Detection → acknowledgement, over incidents acknowledged in the window.
    pub time_to_acknowledge: Distribution,
    /// Detection → verified recovery, over incidents recovered in the window.
    pub time_to_recover: Distribution,
}

/// Drill figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DrillKpis {
    /// Drills whose planned date lies in the window.
    pub planned: u64,
    /// Drills started in the window.
    pub held: u64,
    /// Drills whose findings were recorded in the window and could be scored.
    pub scored: u64,
    /// Drills whose findings were recorded in the window but whose plan revision is
    /// unknown.
    pub unscored: u64,
    /// Mean score (0–100) of the scored drills.
    pub mean_score: Option<f64>,
}

/// When a report is computed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// Everything recorded at or before this instant.
    Instant(DateTime<Utc>),
    /// Everything up to and including this global log position, as of the recorded
    /// time of the last event folded.
    Position(u64),
}

/// The KPIs of one period: see the [module docs](self) for every definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KpiReport {
    /// The period.
    pub period: Period,
    /// `min(period end, as of + 1 µs)`: the window is `[period start, cut_off)`.
    pub cut_off: DateTime<Utc>,
    /// The log position the report was computed at.
    pub position: u64,
    /// Desk-wide ticket figures.
    pub desk: TicketKpis,
    /// Per team, member, customer and severity (in that order, keys ascending).
    pub groups: Vec<GroupKpis>,
    /// Real incidents.
    pub incidents: IncidentKpis,
    /// Drills.
    pub drills: DrillKpis,
}

/// Accumulates one group's samples before the figures are finalised.
#[derive(Debug, Default)]
struct Acc {
    response: Vec<u32>,
    with_target: u64,
    within_target: u64,
    open_at_start: u64,
    opened: u64,
    resolved: u64,
    first_time: u64,
    reopened: u64,
    backlog: Vec<u32>,
    past_deadline: u64,
    ratings: u64,
    score_sum: u64,
    satisfied: u64,
    eligible: u64,
    responded: u64,
    sla: BTreeMap<TargetKind, TargetCompliance>,
}

/// One ticket's contribution.
#[derive(Debug, Default)]
struct Contribution {
    response: Option<u32>,
    first_response_met: Option<bool>,
    open_at_start: bool,
    opened: bool,
    resolved: bool,
    first_time: bool,
    reopened: bool,
    backlog_age: Option<u32>,
    past_deadline: bool,
    rating: Option<u8>,
    eligible: bool,
    responded: bool,
    sla: Vec<(TargetKind, bool)>,
}

impl Acc {
    fn add(&mut self, c: &Contribution) {
        if let Some(r) = c.response {
            self.response.push(r);
            if let Some(met) = c.first_response_met {
                self.with_target += 1;
                self.within_target += u64::from(met);
            }
        }
        self.open_at_start += u64::from(c.open_at_start);
        self.opened += u64::from(c.opened);
        self.resolved += u64::from(c.resolved);
        self.first_time += u64::from(c.first_time);
        self.reopened += u64::from(c.reopened);
        if let Some(age) = c.backlog_age {
            self.backlog.push(age);
            self.past_deadline += u64::from(c.past_deadline);
        }
        if let Some(score) = c.rating {
            self.ratings += 1;
            self.score_sum += u64::from(score);
            self.satisfied += u64::from(score >= 4);
        }
        self.eligible += u64::from(c.eligible);
        self.responded += u64::from(c.responded);
        for (target, met) in &c.sla {
            let t = self.sla.entry(*target).or_default();
            if *met {
                t.met += 1;
            } else {
                t.breached += 1;
            }
        }
    }

    fn finish(mut self) -> TicketKpis {
        let mut sla = BTreeMap::new();
        for kind in TargetKind::ALL {
            sla.insert(
                *kind,
                SlaKpi::from(self.sla.get(kind).copied().unwrap_or_default()),
            );
        }
        // Score sums are at most 5 per rating, far below 2^53.
        #[allow(clippy::cast_precision_loss)]
        let mean_score = (self.ratings > 0).then(|| self.score_sum as f64 / self.ratings as f64);
        TicketKpis {
            response: ResponseKpis {
                time: Distribution::of(&mut self.response),
                with_target: self.with_target,
                within_target: self.within_target,
                within_target_share: ratio(self.within_target, self.with_target),
            },
            resolution: ResolutionKpis {
                open_at_start: self.open_at_start,
                opened: self.opened,
                resolved: self.resolved,
                resolution_rate: ratio(self.resolved, self.open_at_start + self.opened),
                first_time: self.first_time,
                first_time_rate: ratio(self.first_time, self.resolved),
                reopened: self.reopened,
                reopen_rate: ratio(self.reopened, self.resolved),
            },
            backlog: BacklogKpis {
                age: Distribution::of(&mut self.backlog),
                past_deadline: self.past_deadline,
            },
            satisfaction: SatisfactionKpis {
                ratings: self.ratings,
                mean_score,
                satisfied: self.satisfied,
                satisfied_share: ratio(self.satisfied, self.ratings),
                eligible: self.eligible,
                responded: self.responded,
                response_rate: ratio(self.responded, self.eligible),
            },
            sla,
        }
    }
}

fn in_window(t: DateTime<Utc>, start: DateTime<Utc>, cut: DateTime<Utc>) -> bool {
    start <= t && t < cut
}

/// The SLA side of one ticket's contribution.
fn sla_contribution(
    sla: &SlaView,
    case: TicketId,
    start: DateTime<Utc>,
    cut: DateTime<Utc>,
    c: &mut Contribution,
) {
    let Some(case) = sla.case(case) else {
        return;
    };
    if c.response.is_some() {
        c.first_response_met = case
            .outcomes
            .iter()
            .filter(|o| o.target == TargetKind::FirstResponse)
            .min_by_key(|o| o.cycle)
            .map(|o| o.met);
    }
    let mut past = false;
    for o in &case.outcomes {
        if in_window(o.ended_at, start, cut) {
            c.sla.push((o.target, o.met));
        } else if o.ended_at >= cut && o.deadline < cut {
            past = true;
            if o.deadline >= start {
                c.sla.push((o.target, false));
            }
        }
    }
    if let Some(policy) = sla.policy_of(case) {
        for (&target, clock) in &case.clocks {
            if clock.stopped_at().is_some() {
                continue;
            }
            if let Ok(Some(deadline)) = clock.missed_deadline(policy.calendar(), cut) {
                if deadline < cut {
                    past = true;
                    if case.open && deadline >= start {
                        c.sla.push((target, false));
                    }
                }
            }
        }
    }
    c.past_deadline = past && c.backlog_age.is_some();
}

fn ticket_contribution(
    facts: &TicketFacts,
    start: DateTime<Utc>,
    cut: DateTime<Utc>,
) -> Contribution {
    let mut c = Contribution::default();
    let withdrawn = facts.status_at(cut) == Status::Withdrawn;
    if let Some(first) = facts.first_response_at {
        if in_window(first, start, cut) {
            c.response = Some(seconds(first - facts.opened_at));
        }
    }
    if !withdrawn {
        c.open_at_start = facts.opened_at < start && facts.status_at(start) == Status::Unresolved;
        c.opened = in_window(facts.opened_at, start, cut);
        let first_resolution_in_window = facts
            .changes
            .iter()
            .find(|(at, ch)| *ch == Change::Resolved && in_window(*at, start, cut))
            .map(|(at, _)| *at);
        if let Some(resolved_at) = first_resolution_in_window {
            c.resolved = true;
            let reopened_ever = facts
                .changes
                .iter()
                .any(|(at, ch)| *ch == Change::Reopened && *at < cut);
            let failed = facts.failed_verifications.iter().any(|at| *at < cut);
            c.first_time = !reopened_ever && !failed;
            c.reopened = facts
                .changes
                .iter()
                .any(|(at, ch)| *ch == Change::Reopened && *at > resolved_at && *at < cut);
        }
        if facts.opened_at < cut && facts.status_at(cut) == Status::Unresolved {
            c.backlog_age = Some(seconds(cut - facts.opened_at));
        }
    }
    if let Some((at, score)) = facts.rating {
        if in_window(at, start, cut) {
            c.rating = Some(score);
        }
    }
    if facts
        .confirmations
        .iter()
        .any(|at| in_window(*at, start, cut))
    {
        c.eligible = true;
        c.responded = facts.rating.is_some_and(|(at, _)| at < cut);
    }
    c
}

/// The store's time resolution: `as_of + TICK` is the first instant after `as_of`.
const TICK: chrono::TimeDelta = chrono::TimeDelta::microseconds(1);

const UNASSIGNED: &str = "(unassigned)";
const UNTRIAGED: &str = "(untriaged)";
const INTERNAL: &str = "(internal)";

impl KpiReport {
    /// Builds the KPI and SLA views exactly up to the cut-off and computes the report.
    /// The result does not depend on when it is computed.
    ///
    /// # Errors
    ///
    /// [`KpiError`] on a storage or decode failure, or
    /// [`KpiError::BeforePeriod`] when the instant precedes the period.
    pub fn build<S: EventStore + ?Sized>(
        store: &S,
        period: &Period,
        as_of: AsOf,
    ) -> Result<KpiReport, KpiError> {
        match as_of {
            AsOf::Instant(instant) => {
                // Events recorded at the period's end belong to the next period.
                let last = instant.min(period.end - TICK);
                let kpi = KpiView::as_of(store, last)?;
                let sla = SlaView::as_of(store, last)?;
                KpiReport::compute(&kpi, &sla, period, instant)
            }
            AsOf::Position(position) => {
                let kpi = KpiView::at_position(store, position)?;
                let sla = SlaView::at_position(store, position)?;
                let last = kpi.last_recorded_at().unwrap_or(period.start);
                KpiReport::compute(&kpi, &sla, period, last.max(period.start))
            }
        }
    }

    /// Computes the report of `period` from views folded to the same position, as of
    /// `as_of` (inclusive: the cut-off is `min(period end, as_of + 1 µs)`). Pure: reads
    /// nothing, writes nothing.
    ///
    /// # Errors
    ///
    /// [`KpiError::PositionMismatch`] when the views are at different positions;
    /// [`KpiError::BeforePeriod`] when `as_of` precedes the period's start.
    pub fn compute(
        kpi: &KpiView,
        sla: &SlaView,
        period: &Period,
        as_of: DateTime<Utc>,
    ) -> Result<KpiReport, KpiError> {
        if kpi.position() != sla.position() {
            return Err(KpiError::PositionMismatch {
                kpi: kpi.position(),
                sla: sla.position(),
            });
        }
        if as_of < period.start {
            return Err(KpiError::BeforePeriod {
                period: period.label.clone(),
                start: period.start,
                as_of,
            });
        }
        let start = period.start;
        let cut = (as_of + TICK).min(period.end);
        let mut desk = Acc::default();
        let mut groups: BTreeMap<(Dimension, String), Acc> = BTreeMap::new();
        for (&id, facts) in &kpi.state.tickets {
            if facts.opened_at >= cut {
                continue;
            }
            let mut c = ticket_contribution(facts, start, cut);
            sla_contribution(sla, id, start, cut, &mut c);
            desk.add(&c);
            let keys = [
                (
                    Dimension::Team,
                    facts.team.clone().unwrap_or_else(|| UNASSIGNED.to_owned()),
                ),
                (
                    Dimension::Member,
                    facts
                        .owner
                        .as_ref()
                        .map_or_else(|| UNASSIGNED.to_owned(), ToString::to_string),
                ),
                (Dimension::Customer, facts.org.to_string()),
                (
                    Dimension::Severity,
                    facts
                        .severity
                        .map_or_else(|| UNTRIAGED.to_owned(), |s| s.as_str().to_owned()),
                ),
            ];
            for key in keys {
                groups.entry(key).or_default().add(&c);
            }
        }
        let groups = groups
            .into_iter()
            .map(|((dimension, key), acc)| GroupKpis {
                dimension,
                key,
                kpis: acc.finish(),
            })
            .collect();
        Ok(KpiReport {
            period: period.clone(),
            cut_off: cut,
            position: kpi.position(),
            desk: desk.finish(),
            groups,
            incidents: incident_kpis(kpi, start, cut),
            drills: drill_kpis(kpi, start, cut),
        })
    }

    /// The figures of one group, if it has any tickets in the report.
    pub fn group(&self, dimension: Dimension, key: &str) -> Option<&TicketKpis> {
        if dimension == Dimension::Desk {
            return Some(&self.desk);
        }
        self.groups
            .iter()
            .find(|g| g.dimension == dimension && g.key == key)
            .map(|g| &g.kpis)
    }
}

fn incident_kpis(kpi: &KpiView, start: DateTime<Utc>, cut: DateTime<Utc>) -> IncidentKpis {
    let mut out = IncidentKpis::default();
    let mut ack = Vec::new();
    let mut recover = Vec::new();
    for facts in kpi.state.incidents.values() {
        if in_window(facts.declared_at, start, cut) {
            out.declared += 1;
            if facts.customers.is_empty() {
                *out.per_customer.entry(INTERNAL.to_owned()).or_default() += 1;
            }
            let distinct: BTreeSet<&OrgId> = facts.customers.iter().collect();
            for org in distinct {
                *out.per_customer.entry(org.to_string()).or_default() += 1;
            }
            *out.per_severity
                .entry(facts.severity.as_str().to_owned())
                .or_default() += 1;
        }
        if let Some(at) = facts.acknowledged_at.filter(|t| in_window(*t, start, cut)) {
            ack.push(seconds(at - facts.detected_at));
        }
        if let Some(at) = facts.recovered_at.filter(|t| in_window(*t, start, cut)) {
            recover.push(seconds(at - facts.detected_at));
        }
    }
    out.time_to_acknowledge = Distribution::of(&mut ack);
    out.time_to_recover = Distribution::of(&mut recover);
    out
}

fn drill_kpis(kpi: &KpiView, start: DateTime<Utc>, cut: DateTime<Utc>) -> DrillKpis {
    let mut out = DrillKpis::default();
    let mut total: u64 = 0;
    for facts in kpi.state.drills.values() {
        let d = &facts.drill;
        if d.date.is_some_and(|t| in_window(t, start, cut)) {
            out.planned += 1;
        }
        if d.started_at.is_some_and(|t| in_window(t, start, cut)) {
            out.held += 1;
        }
        if facts.findings_at.is_some_and(|t| in_window(t, start, cut)) {
            let content = d.plan.and_then(|p| {
                kpi.state
                    .plans
                    .get(&p.plan)
                    .and_then(|revs| revs.get(&p.revision))
            });
            match content {
                Some(content) => {
                    out.scored += 1;
                    total += u64::from(d.score(content).total);
                }
                None => out.unscored += 1,
            }
        }
    }
    // Scores are at most 100 each, far below 2^53 in sum.
    #[allow(clippy::cast_precision_loss)]
    {
        out.mean_score = (out.scored > 0).then(|| total as f64 / out.scored as f64);
    }
    out
}

#[cfg(test)]
mod tests;
