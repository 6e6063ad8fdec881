//! The service-level view (domain.md §6): a pure fold over the event log.
//!
//! # What it folds
//!
//! - `directory` events: each customer organisation's tier.
//! - `service_levels` events: the [`PolicyBook`] of published policy versions.
//! - `ticket` events: one [`CaseSla`] per ticket with a [`TargetClock`] per target.
//! - `incident` events: one [`CaseSla`] per incident, of kind [`CaseKind::Incident`].
//! - `sla` events: the warnings and breaches the deadline scheduler recorded, on each
//!   case's alert stream (keyed by [`CaseId`]).
//!
//! Every other stream kind is ignored; in particular drills (stream kind `drill`) are
//! never SLA cases.
//!
//! # Rules (and the choices this view makes where domain.md is silent)
//!
//! - **Policy**: the version in force at the moment the case was opened (its
//!   `TicketOpened` envelope's recorded time), with the customer's tier at that
//!   moment. The case keeps that version for life, so publishing a new version never
//!   changes a running case. A case opened before any policy has no clocks.
//! - **Severity before triage**: a ticket has no severity until triage. Its clocks run
//!   from opening under the `medium` row; triage retargets from the original start
//!   (like a severity change), so the choice only matters between opening and triage.
//! - **First response** stops at the first customer-visible response by staff:
//!   triage, a customer-visible staff note, an information request. Internal notes do
//!   not count. Its stop starts the next-update clock.
//! - **Next update** restarts (new cycle) at every later customer-visible staff
//!   update and stops at resolution; a reopen starts a new cycle.
//! - **Resolution** runs from opening to `VerificationPassed`. Waiting on the customer
//!   (`InfoRequested` → `CustomerReplied`) pauses it; only resolution pauses.
//!   `CustomerRejected` or `Reopened` within the policy's reopen window resumes the
//!   same cycle (the stopped stretch counts as paused); outside it a new cycle starts.
//! - **Severity change** retargets every clock from its original start, keeping the
//!   pauses. A target the new severity's row does not have is dropped.
//! - **Closing or withdrawal** ends tracking: the case leaves the board; its outcomes
//!   and breaches stay.
//!
//! # Incidents
//!
//! - **Policy**: the version in force at declaration, row (`incident`, tier,
//!   severity) with the severity declared. The tier is the best tier among the
//!   affected customers (their tiers at declaration). An internal incident (no
//!   affected customer, or none the directory knows) runs under [`INTERNAL_TIER`] and
//!   shows [`INTERNAL_ORG`] as its customer.
//! - **Start**: first response and resolution start at the detection time, which is
//!   never after the declaration (the incident aggregate refuses that), so an
//!   incident detected before it was declared has already used part of its targets:
//!   domain.md counts "from opening (or the alert)".
//! - **First response** stops at the responder's acknowledgement, which starts the
//!   next-update clock.
//! - **Next update** is the policy's progress-report cadence: each progress report
//!   ends the cycle and starts the next; it stops at recovery verification.
//! - **Resolution** stops at `RecoveryVerified` (a failed verification changes
//!   nothing: the clock keeps running). Incidents do not wait on customers, so nothing
//!   pauses.
//! - **Closing** ends tracking. Incidents have no severity-change event; the declared
//!   severity holds for life.
//! - **Board filter**: a customer filter matches a case when the customer is any of
//!   its [`CaseSla::customers`].
//!
//! # Breaches and outcomes
//!
//! Each target cycle that ends (stop or restart) leaves an [`Outcome`] (met or
//! breached, at the computed deadline). A [`Breach`] is kept when the scheduler records
//! one or when a cycle ends late; once kept, it is never removed (a later retarget does
//! not silently rewrite what was reported).
//!
//! # The board index
//!
//! Open cases are indexed by a key computed when an event changes their clocks: the
//! nearest deadline and the earliest warning instant among their running clocks, with
//! a clock that is breached for good (stopped after its deadline, or paused after it)
//! counted at the deadline it missed. The deadline index is a `BTreeSet<(deadline,
//! case)>`. At `now`, the cases whose row is at risk or breached are exactly those
//! whose earliest warning is at or before `now`. The board walks the deadline index
//! twice, listing those first and the other running cases second (each by deadline),
//! then the cases with nothing running (paused, or every target met). A page costs
//! the cases walked before it is full, not a scan and sort of every case, and a
//! rebuild computes keys only for the events that move a clock (about half of them).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::str::FromStr;

use casebook_core::{
    CaseId, DirectoryEvent, IncidentEvent, IncidentId, MemberId, OrgId, ServiceLevels,
    ServiceLevelsEvent, SlaAlertEvent, TicketEvent, TicketId,
};
use casebook_sla::{
    AlertKind, Calendar, CaseKind, ClockMark, ClockState, ClockStatus, CustomerTier, PolicyBook,
    Severity, SlaPolicy, TargetClock, TargetKind,
};
use casebook_store::{Checkpoint, Envelope, EventStore, Payload, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The checkpoint name the view saves itself under.
pub const SLA_CHECKPOINT: &str = "sla-view";

/// Version of the checkpointed state's encoding; a checkpoint of another version is
/// ignored and the view rebuilt from zero.
const STATE_VERSION: u32 = 2;

/// The severity a ticket's clocks run under before triage.
const UNTRIAGED: Severity = Severity::Medium;

/// The tier an internal incident (no affected customer the directory knows) runs under:
/// the default tier.
pub const INTERNAL_TIER: CustomerTier = CustomerTier::Standard;

/// The customer shown for an internal incident (its [`CaseSla::customers`] is empty,
/// so no customer filter matches it).
pub const INTERNAL_ORG: &str = "internal";

/// Why the view could not advance. The view is unchanged past the last good event.
#[derive(Debug, thiserror::Error)]
pub enum SlaViewError {
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
}

/// How one target cycle of a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The target.
    pub target: TargetKind,
    /// The cycle.
    pub cycle: u32,
    /// The deadline in force when it ended.
    pub deadline: DateTime<Utc>,
    /// When it ended.
    pub ended_at: DateTime<Utc>,
    /// Whether it ended at or before the deadline.
    pub met: bool,
}

/// A breach, kept for reporting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breach {
    /// The case.
    pub case: CaseId,
    /// The customer (for an incident, the one whose tier chose the policy).
    pub org: OrgId,
    /// The target.
    pub target: TargetKind,
    /// The cycle.
    pub cycle: u32,
    /// The deadline that was missed: the instant the breach is dated at.
    pub due_at: DateTime<Utc>,
}

/// The service-level state of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseSla {
    /// The case.
    pub case: CaseId,
    /// Ticket or incident.
    pub kind: CaseKind,
    /// The customer organisation: a ticket's; for an incident, the affected customer
    /// whose tier chose the policy, or [`INTERNAL_ORG`].
    pub org: OrgId,
    /// Every customer concerned: a ticket's one; an incident's affected customers
    /// (empty for an internal incident).
    pub customers: Vec<OrgId>,
    /// Its tier when the case opened.
    pub tier: CustomerTier,
    /// Current severity (`medium` until a ticket's triage; an incident's declared one).
    pub severity: Severity,
    /// Whether triaged.
    pub triaged: bool,
    /// The policy version in force when it opened, if any.
    pub policy_version: Option<u32>,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// Owner.
    pub owner: Option<MemberId>,
    /// Team.
    pub team: Option<String>,
    /// Tracked: not closed or withdrawn.
    pub open: bool,
    /// Withdrawn (tracking ended without an outcome).
    pub withdrawn: bool,
    /// Whether the first response happened.
    pub responded: bool,
    /// Since when it waits on the customer.
    pub waiting_since: Option<DateTime<Utc>>,
    /// When verification last passed (resolution), until a reopen.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Since when it waits for the customer's confirmation (stage Confirm).
    pub confirm_since: Option<DateTime<Utc>>,
    /// The clocks, one per target the policy sets.
    pub clocks: BTreeMap<TargetKind, TargetClock>,
    /// The alerts the scheduler recorded: (target, cycle, kind).
    pub recorded: BTreeSet<(TargetKind, u32, AlertKind)>,
    /// Ended target cycles.
    pub outcomes: Vec<Outcome>,
    /// Breaches, kept.
    pub breaches: Vec<Breach>,
}

/// One target's answers at a query's `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetStatus {
    /// The target.
    pub target: TargetKind,
    /// Deadline, time left, state.
    pub status: ClockStatus,
}

/// One case on the board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardRow {
    /// The case.
    pub case: CaseId,
    /// Ticket or incident.
    pub kind: CaseKind,
    /// The customer (see [`CaseSla::org`]).
    pub org: OrgId,
    /// Every customer concerned (see [`CaseSla::customers`]).
    pub customers: Vec<OrgId>,
    /// Owner.
    pub owner: Option<MemberId>,
    /// Team.
    pub team: Option<String>,
    /// Severity.
    pub severity: Severity,
    /// Policy version.
    pub policy_version: Option<u32>,
    /// The most urgent state among its targets (breached before at risk before
    /// running before paused before met).
    pub state: Option<ClockState>,
    /// The nearest deadline of a running (or breached) target, if any.
    pub nearest_deadline: Option<DateTime<Utc>>,
    /// Every target's status.
    pub targets: Vec<TargetStatus>,
}

/// Which cases a board query lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoardFilter {
    /// Only the cases concerning this customer (a ticket's customer, or any affected
    /// customer of an incident).
    pub customer: Option<OrgId>,
    /// Only this team's cases.
    pub team: Option<String>,
    /// Only this owner's cases.
    pub owner: Option<MemberId>,
}

impl BoardFilter {
    fn matches(&self, case: &CaseSla) -> bool {
        self.customer
            .as_ref()
            .is_none_or(|c| case.customers.contains(c))
            && self
                .team
                .as_ref()
                .is_none_or(|t| case.team.as_ref() == Some(t))
            && self
                .owner
                .as_ref()
                .is_none_or(|o| case.owner.as_ref() == Some(o))
    }
}

/// A page of a board query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows to skip.
    pub offset: usize,
    /// Most rows to return.
    pub limit: usize,
}

impl Page {
    /// The first `limit` rows.
    pub fn first(limit: usize) -> Page {
        Page { offset: 0, limit }
    }
}

/// A page of the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardPage {
    /// The rows: at risk or breached first (by nearest deadline), then running cases by
    /// nearest deadline, then cases with nothing running.
    pub rows: Vec<BoardRow>,
    /// The next page, if there are more rows.
    pub next: Option<Page>,
    /// The log position the view was computed at.
    pub position: u64,
    /// The instant the board was computed for.
    pub now: DateTime<Utc>,
}

/// Met and breached counts of one target kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetCompliance {
    /// Cycles that ended on time.
    pub met: u64,
    /// Cycles that ended late, or are still open past their deadline.
    pub breached: u64,
}

impl TargetCompliance {
    /// met ÷ (met + breached), or `None` when nothing counted.
    pub fn ratio(&self) -> Option<f64> {
        let total = self.met + self.breached;
        // Counts stay far below 2^53, so the conversion is exact.
        #[allow(clippy::cast_precision_loss)]
        (total > 0).then(|| self.met as f64 / total as f64)
    }
}

/// Compliance per target kind over a period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compliance {
    /// Per target kind, tickets and incidents together (every kind present, possibly
    /// with zero counts).
    pub targets: BTreeMap<TargetKind, TargetCompliance>,
    /// The same counts split by case kind (every case kind and target kind present).
    pub by_case_kind: BTreeMap<CaseKind, BTreeMap<TargetKind, TargetCompliance>>,
}

impl Compliance {
    fn count(&mut self, kind: CaseKind, target: TargetKind, met: bool) {
        for counts in [
            self.targets.entry(target).or_default(),
            self.by_case_kind
                .entry(kind)
                .or_default()
                .entry(target)
                .or_default(),
        ] {
            if met {
                counts.met += 1;
            } else {
                counts.breached += 1;
            }
        }
    }
}

/// The answer of [`what_if`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhatIfReport {
    /// Period start (inclusive).
    pub from: DateTime<Utc>,
    /// Period end (exclusive).
    pub to: DateTime<Utc>,
    /// Under the policies actually in force.
    pub actual: Compliance,
    /// Under the proposed policy.
    pub proposed: Compliance,
}

/// The derived board index; rebuilt from the cases when a checkpoint is restored.
#[derive(Debug, Clone, Default)]
struct BoardIndex {
    by_deadline: BTreeSet<(DateTime<Utc>, CaseId)>,
    /// Open, tracked, nothing running.
    quiet: BTreeSet<CaseId>,
    /// Every open case's key and what it was computed from; absent when not on the
    /// board.
    keys: HashMap<CaseId, Indexed>,
}

/// A case's board key (`None`: quiet) and, per target, the mark of the clock its part
/// was computed from, so that an event recomputes only the clocks it changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Indexed {
    key: Option<IndexKey>,
    parts: [Option<(ClockMark, Option<IndexKey>)>; 3],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IndexKey {
    deadline: DateTime<Utc>,
    warn: DateTime<Utc>,
}

impl IndexKey {
    /// The key of a case with both clocks: the nearer deadline, the earlier warning.
    fn merge(a: Option<IndexKey>, b: Option<IndexKey>) -> Option<IndexKey> {
        match (a, b) {
            (Some(a), Some(b)) => Some(IndexKey {
                deadline: a.deadline.min(b.deadline),
                warn: a.warn.min(b.warn),
            }),
            (a, b) => a.or(b),
        }
    }
}

/// A target's place in [`Indexed::parts`].
fn slot(kind: TargetKind) -> usize {
    match kind {
        TargetKind::FirstResponse => 0,
        TargetKind::NextUpdate => 1,
        TargetKind::Resolution => 2,
    }
}

impl BoardIndex {
    fn key(&self, case: &CaseId) -> Option<IndexKey> {
        self.keys.get(case).and_then(|i| i.key)
    }

    /// Files `case` under `entry`, or takes it off the board with `None`.
    fn set(&mut self, case: CaseId, entry: Option<Indexed>) {
        let old = match entry {
            Some(entry) => self.keys.insert(case, entry),
            None => self.keys.remove(&case),
        };
        let (old_key, new_key) = (old.map(|o| o.key), entry.map(|e| e.key));
        if old_key == new_key {
            return;
        }
        match old_key {
            Some(Some(k)) => {
                self.by_deadline.remove(&(k.deadline, case));
            }
            Some(None) => {
                self.quiet.remove(&case);
            }
            None => {}
        }
        match new_key {
            Some(Some(k)) => {
                self.by_deadline.insert((k.deadline, case));
            }
            Some(None) => {
                self.quiet.insert(case);
            }
            None => {}
        }
    }
}

/// The checkpointed part of the view.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct SlaState {
    position: u64,
    tiers: BTreeMap<OrgId, CustomerTier>,
    policies: PolicyBook,
    cases: BTreeMap<CaseId, CaseSla>,
}

#[derive(Serialize, Deserialize)]
struct Saved {
    version: u32,
    state: SlaState,
}

/// The service-level view: see the [module docs](self).
///
/// # Example
///
/// ```
/// use casebook_projections::{BoardFilter, Page, SlaView};
/// use casebook_store::MemoryStore;
/// use chrono::Utc;
///
/// let store = MemoryStore::new();
/// let mut view = SlaView::build(&store)?;
/// let board = view.board(Utc::now(), &BoardFilter::default(), Page::first(50));
/// assert!(board.rows.is_empty());
/// view.save_checkpoint(&store)?;
/// let resumed = SlaView::resume(&store)?;
/// assert_eq!(resumed.position(), view.position());
/// # Ok::<(), casebook_projections::SlaViewError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct SlaView {
    state: SlaState,
    index: BoardIndex,
    /// For "what if": every case runs under this policy instead of the book's.
    proposed: Option<SlaPolicy>,
}

impl PartialEq for SlaView {
    /// Two views are equal when their folded states are (the index is derived).
    fn eq(&self, other: &Self) -> bool {
        self.state == other.state && self.proposed == other.proposed
    }
}

fn decode_err(envelope: &Envelope, e: &serde_json::Error) -> SlaViewError {
    SlaViewError::Decode {
        position: envelope.global_position,
        stream: envelope.stream_id.to_string(),
        event_type: envelope.event_type.clone(),
        detail: e.to_string(),
    }
}

impl SlaView {
    /// An empty view at position 0.
    pub fn new() -> SlaView {
        SlaView::default()
    }

    /// An empty view in which every case runs under `policy`, whatever the book says
    /// (for [`what_if`]).
    pub fn with_proposed_policy(policy: SlaPolicy) -> SlaView {
        SlaView {
            proposed: Some(policy),
            ..SlaView::default()
        }
    }

    /// Builds the view from the start of the log to its head.
    ///
    /// # Errors
    ///
    /// [`SlaViewError`] on a storage or decode failure.
    pub fn build<S: EventStore + ?Sized>(store: &S) -> Result<SlaView, SlaViewError> {
        let mut view = SlaView::new();
        view.catch_up(store)?;
        Ok(view)
    }

    /// The view from its saved checkpoint (or from zero if there is none, or it was
    /// written by another encoding), caught up to the head of the log.
    ///
    /// # Errors
    ///
    /// [`SlaViewError`] on a storage or decode failure.
    pub fn resume<S: EventStore + ?Sized>(store: &S) -> Result<SlaView, SlaViewError> {
        let mut view = SlaView::from_checkpoint(store)?.unwrap_or_default();
        view.catch_up(store)?;
        Ok(view)
    }

    /// The view as saved in the checkpoint, not caught up; `None` if there is no
    /// usable checkpoint.
    ///
    /// # Errors
    ///
    /// [`SlaViewError::Store`] if the checkpoint cannot be read.
    pub fn from_checkpoint<S: EventStore + ?Sized>(
        store: &S,
    ) -> Result<Option<SlaView>, SlaViewError> {
        let Some(checkpoint) = store.load_checkpoint(SLA_CHECKPOINT)? else {
            return Ok(None);
        };
        // A checkpoint is a cache of the fold: one that does not decode is rebuilt, not
        // trusted.
        let Ok(saved) = checkpoint.state.decode::<Saved>() else {
            return Ok(None);
        };
        if saved.version != STATE_VERSION || saved.state.position != checkpoint.position {
            return Ok(None);
        }
        let mut view = SlaView {
            state: saved.state,
            ..SlaView::default()
        };
        view.reindex_all();
        Ok(Some(view))
    }

    /// Saves the view's state and position as the checkpoint [`SLA_CHECKPOINT`].
    ///
    /// # Errors
    ///
    /// [`SlaViewError::Store`] if encoding or saving fails.
    pub fn save_checkpoint<S: EventStore + ?Sized>(&self, store: &S) -> Result<(), SlaViewError> {
        let state = Payload::encode(&Saved {
            version: STATE_VERSION,
            state: self.state.clone(),
        })?;
        store.save_checkpoint(&Checkpoint {
            name: SLA_CHECKPOINT.to_owned(),
            position: self.state.position,
            state,
        })?;
        Ok(())
    }

    /// Folds every event after the view's position up to the head of the log.
    /// Returns how many events were read.
    ///
    /// # Errors
    ///
    /// [`SlaViewError`] on a storage or decode failure; the view keeps every event
    /// folded before it.
    pub fn catch_up<S: EventStore + ?Sized>(&mut self, store: &S) -> Result<usize, SlaViewError> {
        self.catch_up_while(store, |_| true)
    }

    /// Builds the view of the log up to and including global position `position`.
    ///
    /// # Errors
    ///
    /// As [`SlaView::build`].
    pub fn at_position<S: EventStore + ?Sized>(
        store: &S,
        position: u64,
    ) -> Result<SlaView, SlaViewError> {
        let mut view = SlaView::new();
        view.catch_up_while(store, |e| e.global_position <= position)?;
        Ok(view)
    }

    /// Builds the view of the log as it was at `instant`: every event recorded at or
    /// before it (the prefix of the log up to the first event recorded later).
    ///
    /// # Errors
    ///
    /// As [`SlaView::build`].
    pub fn as_of<S: EventStore + ?Sized>(
        store: &S,
        instant: DateTime<Utc>,
    ) -> Result<SlaView, SlaViewError> {
        let mut view = SlaView::new();
        view.catch_up_while(store, |e| e.recorded_at <= instant)?;
        Ok(view)
    }

    fn catch_up_while<S: EventStore + ?Sized>(
        &mut self,
        store: &S,
        mut take: impl FnMut(&Envelope) -> bool,
    ) -> Result<usize, SlaViewError> {
        let mut read = 0;
        loop {
            let page = store.read_all(self.state.position, casebook_store::limits::MAX_PAGE)?;
            let full = page.len() == casebook_store::limits::MAX_PAGE;
            for envelope in &page {
                if !take(envelope) {
                    return Ok(read);
                }
                self.apply(envelope)?;
                read += 1;
            }
            if !full || page.is_empty() {
                return Ok(read);
            }
        }
    }

    /// The global position of the last event folded.
    pub fn position(&self) -> u64 {
        self.state.position
    }

    /// The policy book folded so far.
    pub fn policies(&self) -> &PolicyBook {
        &self.state.policies
    }

    /// Every case tracked so far (open and closed), by id.
    pub fn cases(&self) -> impl Iterator<Item = &CaseSla> {
        self.state.cases.values()
    }

    /// One case's service-level state (a [`TicketId`], an [`IncidentId`] or a
    /// [`CaseId`]).
    pub fn case(&self, case: impl Into<CaseId>) -> Option<&CaseSla> {
        self.state.cases.get(&case.into())
    }

    /// The policy a case runs under.
    pub fn policy_of(&self, case: &CaseSla) -> Option<&SlaPolicy> {
        policy_for(&self.state.policies, self.proposed.as_ref(), case)
    }

    /// Folds one envelope. Envelopes at or before the view's position are skipped, so
    /// delivering an event twice changes nothing.
    ///
    /// # Errors
    ///
    /// [`SlaViewError::Decode`] if an event of a folded stream kind does not decode;
    /// the view is unchanged.
    pub fn apply(&mut self, envelope: &Envelope) -> Result<(), SlaViewError> {
        if envelope.global_position <= self.state.position {
            return Ok(());
        }
        let at = envelope.recorded_at;
        match envelope.stream_kind() {
            "directory" => {
                let event: DirectoryEvent = envelope
                    .payload
                    .decode()
                    .map_err(|e| decode_err(envelope, &e))?;
                match event {
                    DirectoryEvent::CustomerRegistered { org, tier, .. }
                    | DirectoryEvent::CustomerTierChanged { org, to: tier, .. } => {
                        self.state.tiers.insert(org, tier);
                    }
                    _ => {}
                }
            }
            "service_levels" => {
                let event: ServiceLevelsEvent = envelope
                    .payload
                    .decode()
                    .map_err(|e| decode_err(envelope, &e))?;
                ServiceLevels::apply(&mut self.state.policies, &event);
            }
            "ticket" => {
                let event: TicketEvent = envelope
                    .payload
                    .decode()
                    .map_err(|e| decode_err(envelope, &e))?;
                let case = match &event {
                    TicketEvent::Opened { ticket, .. } => Some(*ticket),
                    _ => TicketId::from_str(envelope.stream_id.local_id()).ok(),
                };
                if let Some(case) = case {
                    self.apply_ticket(case, &event, at);
                    self.reindex(CaseId::Ticket(case));
                }
            }
            "incident" => {
                let event: IncidentEvent = envelope
                    .payload
                    .decode()
                    .map_err(|e| decode_err(envelope, &e))?;
                let case = match &event {
                    IncidentEvent::Declared { incident, .. } => Some(*incident),
                    _ => IncidentId::from_str(envelope.stream_id.local_id()).ok(),
                };
                if let Some(case) = case {
                    self.apply_incident(case, &event, at);
                    self.reindex(CaseId::Incident(case));
                }
            }
            "sla" => {
                let event: SlaAlertEvent = envelope
                    .payload
                    .decode()
                    .map_err(|e| decode_err(envelope, &e))?;
                if let Ok(case) = CaseId::from_str(envelope.stream_id.local_id()) {
                    if let Some(c) = self.state.cases.get_mut(&case) {
                        let alert = event.alert();
                        c.recorded.insert(alert.key());
                        if let SlaAlertEvent::BreachRecorded(a) = &event {
                            c.keep_breach(a.target, a.cycle, a.due_at);
                        }
                    }
                }
            }
            _ => {}
        }
        self.state.position = envelope.global_position;
        Ok(())
    }

    fn apply_ticket(&mut self, case: TicketId, event: &TicketEvent, at: DateTime<Utc>) {
        let SlaState {
            tiers,
            policies,
            cases,
            ..
        } = &mut self.state;
        if let TicketEvent::Opened { details, .. } = event {
            if cases.contains_key(&CaseId::Ticket(case)) {
                return;
            }
            let Some(&tier) = tiers.get(&details.org) else {
                return;
            };
            let policy = self.proposed.as_ref().or_else(|| policies.in_force_at(at));
            let mut c = CaseSla {
                case: CaseId::Ticket(case),
                kind: CaseKind::Ticket,
                org: details.org.clone(),
                customers: vec![details.org.clone()],
                tier,
                severity: UNTRIAGED,
                triaged: false,
                policy_version: policy.map(SlaPolicy::version),
                opened_at: at,
                owner: None,
                team: None,
                open: true,
                withdrawn: false,
                responded: false,
                waiting_since: None,
                resolved_at: None,
                confirm_since: None,
                clocks: BTreeMap::new(),
                recorded: BTreeSet::new(),
                outcomes: Vec::new(),
                breaches: Vec::new(),
            };
            if let Some(p) = policy {
                for kind in [TargetKind::FirstResponse, TargetKind::Resolution] {
                    c.start_clock(p, kind, at);
                }
            }
            cases.insert(CaseId::Ticket(case), c);
            return;
        }
        let Some(c) = cases.get_mut(&CaseId::Ticket(case)) else {
            return;
        };
        let Some(policy) = policy_for(policies, self.proposed.as_ref(), c) else {
            // No policy: only the facts the board filters on.
            c.apply_untimed(event, at);
            return;
        };
        c.apply_timed(policy, event, at);
    }

    fn apply_incident(&mut self, id: IncidentId, event: &IncidentEvent, at: DateTime<Utc>) {
        let case = CaseId::Incident(id);
        let SlaState {
            tiers,
            policies,
            cases,
            ..
        } = &mut self.state;
        if let IncidentEvent::Declared { details, .. } = event {
            if cases.contains_key(&case) {
                return;
            }
            // The best-served affected customer chooses the tier (ties: the first by
            // id, as the declaration sorted them).
            let best = details
                .affected_customers
                .iter()
                .filter_map(|org| tiers.get(org).map(|tier| (*tier, org)))
                .min_by_key(|(tier, _)| *tier);
            let (tier, org) = match best {
                Some((tier, org)) => (tier, org.clone()),
                None => {
                    let Ok(internal) = OrgId::new(INTERNAL_ORG) else {
                        return;
                    };
                    (INTERNAL_TIER, internal)
                }
            };
            let policy = self.proposed.as_ref().or_else(|| policies.in_force_at(at));
            // Detection is never after declaration; `min` guards stored data anyway.
            let start = details.detected_at.min(at);
            let mut c = CaseSla {
                case,
                kind: CaseKind::Incident,
                org,
                customers: details.affected_customers.clone(),
                tier,
                severity: details.severity,
                triaged: true,
                policy_version: policy.map(SlaPolicy::version),
                opened_at: start,
                owner: None,
                team: None,
                open: true,
                withdrawn: false,
                responded: false,
                waiting_since: None,
                resolved_at: None,
                confirm_since: None,
                clocks: BTreeMap::new(),
                recorded: BTreeSet::new(),
                outcomes: Vec::new(),
                breaches: Vec::new(),
            };
            if let Some(p) = policy {
                for kind in [TargetKind::FirstResponse, TargetKind::Resolution] {
                    c.start_clock(p, kind, start);
                }
            }
            cases.insert(case, c);
            return;
        }
        let Some(c) = cases.get_mut(&case) else {
            return;
        };
        match policy_for(policies, self.proposed.as_ref(), c) {
            Some(policy) => c.apply_incident_timed(policy, event, at),
            None => {
                if matches!(event, IncidentEvent::IncidentClosed) {
                    c.open = false;
                }
            }
        }
    }

    /// Refiles `case` after an event. Computing a clock's part of the key costs
    /// calendar arithmetic, and most events (assignments, internal notes, diagnoses,
    /// ratings) change no clock, so a part is recomputed only when its clock's mark
    /// changed: this is what keeps a rebuild near the decode floor.
    fn reindex(&mut self, case: CaseId) {
        let entry = self.state.cases.get(&case).filter(|c| c.open).map(|c| {
            let Some(policy) = policy_for(&self.state.policies, self.proposed.as_ref(), c) else {
                return Indexed {
                    key: None,
                    parts: [None; 3],
                };
            };
            let calendar = policy.calendar();
            let old = self.index.keys.get(&case);
            let mut parts = [None; 3];
            let mut key = None;
            for (&kind, clock) in &c.clocks {
                let mark = clock.mark();
                let part = match old.and_then(|o| o.parts[slot(kind)]) {
                    Some((was, part)) if was == mark => part,
                    _ => clock_key(clock, calendar),
                };
                parts[slot(kind)] = Some((mark, part));
                key = IndexKey::merge(key, part);
            }
            Indexed { key, parts }
        });
        self.index.set(case, entry);
    }

    fn reindex_all(&mut self) {
        self.index = BoardIndex::default();
        let ids: Vec<CaseId> = self.state.cases.keys().copied().collect();
        for id in ids {
            self.reindex(id);
        }
    }

    /// The board at `now`: open cases, at risk or breached first (by nearest
    /// deadline), then the other running cases by nearest deadline, then cases with
    /// nothing running; filtered and paged. Answered from the deadline
    /// index (see the [module docs](self)).
    ///
    /// Ask with `now` at or after the last folded event's time; for an earlier
    /// instant build the view with [`SlaView::as_of`].
    pub fn board(&self, now: DateTime<Utc>, filter: &BoardFilter, page: Page) -> BoardPage {
        let matching = |id: &CaseId| {
            self.state
                .cases
                .get(id)
                .filter(|c| filter.matches(c))
                .map(|c| (*id, c))
        };
        // Both walks go through the deadline index in order, so a page costs the cases
        // before it, not a sort of every at-risk case: breached and at-risk cases
        // (first warning passed) by nearest deadline, then the running ones, then quiet.
        let warned = |id: &CaseId| self.index.key(id).map(|k| k.warn <= now);
        let urgent = self
            .index
            .by_deadline
            .iter()
            .filter(|(_, id)| warned(id) == Some(true));
        let running = self
            .index
            .by_deadline
            .iter()
            .filter(|(_, id)| warned(id) == Some(false));
        let ordered = urgent
            .chain(running)
            .map(|(_, id)| *id)
            .chain(self.index.quiet.iter().copied())
            .filter_map(|id| matching(&id));
        let mut rows = Vec::with_capacity(page.limit.min(1_000));
        let mut more = false;
        for (_, c) in ordered.skip(page.offset) {
            if rows.len() == page.limit {
                more = true;
                break;
            }
            rows.push(self.row(c, now));
        }
        BoardPage {
            next: more.then(|| Page {
                offset: page.offset.saturating_add(page.limit),
                limit: page.limit,
            }),
            rows,
            position: self.state.position,
            now,
        }
    }

    /// Every open case on the board at `now`, computed by scanning every case and
    /// sorting: the reference the indexed [`SlaView::board`] is tested (and
    /// benchmarked) against.
    pub fn board_by_scan(
        &self,
        now: DateTime<Utc>,
        filter: &BoardFilter,
        page: Page,
    ) -> Vec<BoardRow> {
        let mut keyed: Vec<(ScanKey, &CaseSla)> = self
            .state
            .cases
            .values()
            .filter(|c| c.open && filter.matches(c))
            .filter_map(|c| {
                let policy = self.policy_of(c)?;
                let key = c.index_key(policy.calendar());
                let group = match key {
                    Some(k) if k.warn <= now => 0,
                    Some(_) => 1,
                    None => 2,
                };
                // Quiet cases go by id, like the index's quiet set.
                let deadline = key.filter(|_| group < 2).map(|k| k.deadline);
                Some(((group, deadline, c.case), c))
            })
            .collect();
        keyed.sort_unstable_by_key(|(key, _)| *key);
        keyed
            .into_iter()
            .skip(page.offset)
            .take(page.limit)
            .map(|(_, c)| self.row(c, now))
            .collect()
    }

    /// One case's row at `now`, if the view knows the case (a [`TicketId`], an
    /// [`IncidentId`] or a [`CaseId`]).
    pub fn case_status(&self, case: impl Into<CaseId>, now: DateTime<Utc>) -> Option<BoardRow> {
        self.state.cases.get(&case.into()).map(|c| self.row(c, now))
    }

    fn row(&self, c: &CaseSla, now: DateTime<Utc>) -> BoardRow {
        let calendar = self.policy_of(c).map(SlaPolicy::calendar);
        let targets: Vec<TargetStatus> = calendar
            .map(|cal| {
                c.clocks
                    .iter()
                    .filter_map(|(&target, clock)| {
                        clock
                            .status(cal, now)
                            .ok()
                            .map(|status| TargetStatus { target, status })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let state = targets.iter().map(|t| t.status.state).min();
        let nearest_deadline = self.index.key(&c.case).map(|k| k.deadline);
        BoardRow {
            case: c.case,
            kind: c.kind,
            org: c.org.clone(),
            customers: c.customers.clone(),
            owner: c.owner.clone(),
            team: c.team.clone(),
            severity: c.severity,
            policy_version: c.policy_version,
            state,
            nearest_deadline,
            targets,
        }
    }

    /// Every breach kept so far, by due instant then case.
    pub fn breaches(&self) -> Vec<Breach> {
        let mut all: Vec<Breach> = self
            .state
            .cases
            .values()
            .flat_map(|c| c.breaches.iter().cloned())
            .collect();
        all.sort_by(|a, b| {
            (a.due_at, a.case, a.target, a.cycle).cmp(&(b.due_at, b.case, b.target, b.cycle))
        });
        all
    }

    /// Compliance per target kind (and per case kind) over `[from, to)`: each target cycle that ended in
    /// the period counts as met or breached; a cycle still running (or paused) whose
    /// deadline fell in the period and had passed by `to` counts as breached. Build the
    /// view [`as_of`](SlaView::as_of) `to` for a closed period.
    pub fn compliance(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Compliance {
        let mut result = Compliance::default();
        for kind in TargetKind::ALL {
            result.targets.insert(*kind, TargetCompliance::default());
            for case_kind in CaseKind::ALL {
                result
                    .by_case_kind
                    .entry(*case_kind)
                    .or_default()
                    .insert(*kind, TargetCompliance::default());
            }
        }
        for c in self.state.cases.values() {
            for o in &c.outcomes {
                if o.ended_at >= from && o.ended_at < to {
                    result.count(c.kind, o.target, o.met);
                }
            }
            if !c.open {
                continue;
            }
            let Some(policy) = self.policy_of(c) else {
                continue;
            };
            for (&target, clock) in &c.clocks {
                if clock.stopped_at().is_some() {
                    continue;
                }
                if let Ok(Some(deadline)) = clock.missed_deadline(policy.calendar(), to) {
                    if deadline >= from && deadline < to {
                        result.count(c.kind, target, false);
                    }
                }
            }
        }
        result
    }
}

/// The order of a full scan: (group, deadline, case).
type ScanKey = (u8, Option<DateTime<Utc>>, CaseId);

fn policy_for<'a>(
    book: &'a PolicyBook,
    proposed: Option<&'a SlaPolicy>,
    case: &CaseSla,
) -> Option<&'a SlaPolicy> {
    match proposed {
        Some(p) => Some(p),
        None => case.policy_version.and_then(|v| book.version(v)),
    }
}

impl CaseSla {
    fn target_of(&self, policy: &SlaPolicy, kind: TargetKind) -> Option<chrono::TimeDelta> {
        policy.target(self.kind, self.tier, self.severity, kind)
    }

    fn start_clock(&mut self, policy: &SlaPolicy, kind: TargetKind, at: DateTime<Utc>) {
        if let Some(target) = self.target_of(policy, kind) {
            if let Ok(clock) = TargetClock::start(at, target, policy.warnings().clone()) {
                self.clocks.insert(kind, clock);
            }
        }
    }

    fn keep_breach(&mut self, target: TargetKind, cycle: u32, due_at: DateTime<Utc>) {
        if !self
            .breaches
            .iter()
            .any(|b| b.target == target && b.cycle == cycle)
        {
            self.breaches.push(Breach {
                case: self.case,
                org: self.org.clone(),
                target,
                cycle,
                due_at,
            });
        }
    }

    /// Records how the (just stopped) cycle of `target` ended.
    fn record_outcome(&mut self, calendar: &Calendar, target: TargetKind, at: DateTime<Utc>) {
        let Some(clock) = self.clocks.get(&target) else {
            return;
        };
        // Only the deadline is needed (the full status also counts elapsed and paused
        // time): stopped at `at`, the cycle is met when `at` is not past it.
        let Ok(deadline) = clock.deadline(calendar, at) else {
            return;
        };
        let outcome = Outcome {
            target,
            cycle: clock.cycle(),
            deadline,
            ended_at: at,
            met: at <= deadline,
        };
        match self
            .outcomes
            .iter_mut()
            .find(|o| o.target == target && o.cycle == outcome.cycle)
        {
            Some(existing) => *existing = outcome,
            None => self.outcomes.push(outcome),
        }
        if !outcome.met {
            self.keep_breach(target, outcome.cycle, outcome.deadline);
        }
    }

    /// Stops a target's clock at `at` and records the outcome.
    fn stop(&mut self, calendar: &Calendar, target: TargetKind, at: DateTime<Utc>) {
        let stopped = self
            .clocks
            .get_mut(&target)
            .is_some_and(|c| c.stop(at).is_ok());
        if stopped {
            self.record_outcome(calendar, target, at);
        }
    }

    /// A customer-visible response or update by staff.
    fn customer_update(&mut self, policy: &SlaPolicy, at: DateTime<Utc>) {
        let calendar = policy.calendar();
        if !self.responded {
            self.responded = true;
            self.stop(calendar, TargetKind::FirstResponse, at);
            if self.resolved_at.is_none() {
                self.start_clock(policy, TargetKind::NextUpdate, at);
            }
            return;
        }
        let running = self
            .clocks
            .get(&TargetKind::NextUpdate)
            .is_some_and(|c| c.stopped_at().is_none());
        if running {
            self.stop(calendar, TargetKind::NextUpdate, at);
            if let Some(clock) = self.clocks.get_mut(&TargetKind::NextUpdate) {
                let _restart_refused_only_out_of_order = clock.restart(at);
            }
        }
    }

    /// Recomputes every clock under the current severity's row, from its original
    /// start, keeping pauses; starts clocks the new row adds.
    fn retarget(&mut self, policy: &SlaPolicy, at: DateTime<Utc>) {
        for kind in TargetKind::ALL {
            match (self.target_of(policy, *kind), self.clocks.get_mut(kind)) {
                (Some(target), Some(clock)) => {
                    let _target_was_validated_by_the_policy = clock.retarget(target);
                }
                (None, Some(_)) => {
                    self.clocks.remove(kind);
                }
                (Some(_), None) => {
                    let start = match kind {
                        TargetKind::FirstResponse if !self.responded => Some(self.opened_at),
                        TargetKind::Resolution if self.resolved_at.is_none() => {
                            Some(self.opened_at)
                        }
                        TargetKind::NextUpdate if self.responded && self.resolved_at.is_none() => {
                            Some(at)
                        }
                        _ => None,
                    };
                    if let Some(start) = start {
                        self.start_clock(policy, *kind, start);
                        if *kind == TargetKind::Resolution {
                            if let (Some(since), Some(clock)) =
                                (self.waiting_since, self.clocks.get_mut(kind))
                            {
                                let _pause_refused_only_out_of_order = clock.pause(since);
                            }
                        }
                    }
                }
                (None, None) => {}
            }
        }
    }

    fn apply_untimed(&mut self, event: &TicketEvent, at: DateTime<Utc>) {
        match event {
            TicketEvent::Assigned { owner, team } => {
                self.owner = Some(owner.clone());
                self.team = Some(team.clone());
            }
            TicketEvent::Triaged { severity, .. } => {
                self.severity = *severity;
                self.triaged = true;
            }
            TicketEvent::SeverityChanged { to, .. } => self.severity = *to,
            TicketEvent::VerificationPassed { .. } => {
                self.resolved_at = Some(at);
                self.confirm_since = Some(at);
            }
            TicketEvent::CustomerConfirmed { .. }
            | TicketEvent::ConfirmationExpired { .. }
            | TicketEvent::CustomerRejected { .. } => self.confirm_since = None,
            TicketEvent::Closed { .. } | TicketEvent::Withdrawn { .. } => {
                self.open = false;
                self.confirm_since = None;
            }
            TicketEvent::Reopened { .. } => {
                self.open = true;
                self.resolved_at = None;
            }
            _ => {}
        }
    }

    fn apply_timed(&mut self, policy: &SlaPolicy, event: &TicketEvent, at: DateTime<Utc>) {
        let calendar = policy.calendar();
        match event {
            TicketEvent::Opened { .. } => {}
            TicketEvent::Triaged { severity, .. } => {
                self.severity = *severity;
                self.triaged = true;
                self.retarget(policy, at);
                self.customer_update(policy, at);
            }
            TicketEvent::SeverityChanged { to, .. } => {
                self.severity = *to;
                self.retarget(policy, at);
            }
            TicketEvent::NoteAdded {
                customer_visible: true,
                by_staff: true,
                ..
            } => self.customer_update(policy, at),
            TicketEvent::InfoRequested { .. } => {
                self.customer_update(policy, at);
                self.waiting_since = Some(at);
                if let Some(clock) = self.clocks.get_mut(&TargetKind::Resolution) {
                    let _pause_refused_when_stopped_or_paused = clock.pause(at);
                }
            }
            TicketEvent::CustomerReplied { .. } => {
                self.waiting_since = None;
                if let Some(clock) = self.clocks.get_mut(&TargetKind::Resolution) {
                    let _resume_refused_when_not_paused = clock.resume(at);
                }
            }
            TicketEvent::VerificationPassed { .. } => {
                // Delivering the fix answers the customer; it ends (rather than
                // restarts) the next-update cycle.
                if !self.responded {
                    self.responded = true;
                    self.stop(calendar, TargetKind::FirstResponse, at);
                }
                self.waiting_since = None;
                self.stop(calendar, TargetKind::Resolution, at);
                self.stop(calendar, TargetKind::NextUpdate, at);
                self.resolved_at = Some(at);
                self.confirm_since = Some(at);
            }
            TicketEvent::CustomerRejected { .. } | TicketEvent::Reopened { .. } => {
                self.reopen(policy, at);
            }
            TicketEvent::CustomerConfirmed { .. } | TicketEvent::ConfirmationExpired { .. } => {
                self.confirm_since = None;
            }
            TicketEvent::Closed { .. } => {
                self.open = false;
                self.confirm_since = None;
                self.waiting_since = None;
            }
            TicketEvent::Withdrawn { .. } => {
                self.open = false;
                self.withdrawn = true;
                self.waiting_since = None;
                self.clocks.clear();
            }
            TicketEvent::Assigned { owner, team } => {
                self.owner = Some(owner.clone());
                self.team = Some(team.clone());
            }
            _ => {}
        }
    }

    fn apply_incident_timed(
        &mut self,
        policy: &SlaPolicy,
        event: &IncidentEvent,
        at: DateTime<Utc>,
    ) {
        let calendar = policy.calendar();
        match event {
            // The acknowledgement is the first response; each progress report is the
            // next update (the cadence).
            IncidentEvent::Acknowledged { .. } | IncidentEvent::ProgressReported { .. }
                if self.resolved_at.is_none() =>
            {
                self.customer_update(policy, at);
            }
            IncidentEvent::RecoveryVerified { .. } => {
                if !self.responded {
                    self.responded = true;
                    self.stop(calendar, TargetKind::FirstResponse, at);
                }
                self.stop(calendar, TargetKind::Resolution, at);
                self.stop(calendar, TargetKind::NextUpdate, at);
                self.resolved_at = Some(at);
            }
            IncidentEvent::IncidentClosed => self.open = false,
            _ => {}
        }
    }

    fn reopen(&mut self, policy: &SlaPolicy, at: DateTime<Utc>) {
        self.open = true;
        self.confirm_since = None;
        if self.withdrawn {
            // Tracking ended at the withdrawal; a reopened withdrawn ticket starts over.
            self.withdrawn = false;
            self.responded = true;
            self.start_clock(policy, TargetKind::Resolution, at);
            self.start_clock(policy, TargetKind::NextUpdate, at);
            return;
        }
        let resolved_at = self.resolved_at.take();
        if let Some(clock) = self.clocks.get_mut(&TargetKind::Resolution) {
            let within = resolved_at.is_some_and(|r| policy.within_reopen_window(r, at));
            if clock.stopped_at().is_some() {
                let _refused_only_out_of_order = if within {
                    clock.reopen(at)
                } else {
                    clock.restart(at)
                };
            }
        }
        if let Some(clock) = self.clocks.get_mut(&TargetKind::NextUpdate) {
            let _refused_only_out_of_order = clock.restart(at);
        } else if self.responded {
            self.start_clock(policy, TargetKind::NextUpdate, at);
        }
    }

    /// The board key computed from scratch (the indexed board caches it per clock):
    /// see [`clock_key`]. `None` when no clock contributes.
    fn index_key(&self, calendar: &Calendar) -> Option<IndexKey> {
        self.clocks.values().fold(None, |key, clock| {
            IndexKey::merge(key, clock_key(clock, calendar))
        })
    }
}

/// One clock's part of the board key: its deadline and earliest warning while it
/// runs; for a clock stopped after its deadline (a late first response, a missed
/// update) or paused after it, the missed deadline as both, so the case counts as
/// warned; `None` otherwise (met, or paused in time).
fn clock_key(clock: &TargetClock, calendar: &Calendar) -> Option<IndexKey> {
    // Stopped or paused (never both), the deadline is settled as of that instant.
    // Breached before it, the clock stays breached until the cycle restarts or the
    // case closes: its row says so, so the board lists it with the urgent cases.
    if let Some(settled) = clock.stopped_at().or(clock.paused_since()) {
        return match clock.deadline(calendar, settled) {
            Ok(d) if d < settled => Some(IndexKey {
                deadline: d,
                warn: d,
            }),
            _ => None,
        };
    }
    let running = clock.running_instants(calendar).ok()??;
    Some(IndexKey {
        deadline: running.deadline,
        warn: running.first_warning,
    })
}

/// Replays the log up to `to` twice, under the policies actually in force and with
/// every case under `proposed`, and reports compliance over `[from, to)` for each.
/// Writes nothing.
///
/// # Errors
///
/// [`SlaViewError`] on a storage or decode failure.
pub fn what_if<S: EventStore + ?Sized>(
    store: &S,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    proposed: &SlaPolicy,
) -> Result<WhatIfReport, SlaViewError> {
    let actual = SlaView::as_of(store, to)?;
    let mut replay = SlaView::with_proposed_policy(proposed.clone());
    replay.catch_up_while(store, |e| e.recorded_at <= to)?;
    Ok(WhatIfReport {
        from,
        to,
        actual: actual.compliance(from, to),
        proposed: replay.compliance(from, to),
    })
}

#[cfg(test)]
mod tests;
