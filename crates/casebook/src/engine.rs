//! The engine: load → decide → append → cache, with bounded retries on conflict.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use casebook_core::{
    Actor, Aggregate, Context, DeskId, DeskSettings, Directory, DirectoryCommand, DomainEvent,
    Rejection, ServiceLevels, ServiceLevelsCommand, SlaAlertCommand, SlaAlerts, Ticket,
    TicketCommand, TicketId,
};
use casebook_store::{
    EventStore, ExpectedVersion, NewEvent, Payload, Snapshot, StoreError, StreamId,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::clock::{Clock, SystemClock};
use crate::idgen::{IdGenerator, RandomIds};
use crate::upcast::Upcasters;
pub use casebook_store::Envelope;

/// Why a command did not produce events.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A business rule refused the command. Nothing was recorded.
    #[error("rejected: {0}")]
    Rejected(#[from] Rejection),
    /// Storage failed. Nothing was recorded (an append is all or nothing).
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// A stored event's payload does not decode into its type, even after upcasting.
    #[error("stored event {stream} version {version} ({event_type} schema {schema_version}) does not decode: {detail}")]
    Decode {
        /// Stream.
        stream: String,
        /// Version in the stream.
        version: u64,
        /// Event type.
        event_type: String,
        /// Schema version.
        schema_version: u32,
        /// What serde said.
        detail: String,
    },
    /// Other writers kept changing the stream; gave up after the retry budget.
    #[error("gave up on {stream} after {attempts} version conflicts in a row")]
    Contention {
        /// Stream.
        stream: String,
        /// Attempts made.
        attempts: u32,
    },
}

impl EngineError {
    /// The rejection, if a business rule refused the command.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            EngineError::Rejected(r) => Some(r),
            _ => None,
        }
    }
}

/// A command addressed to one aggregate.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// To the desk's directory.
    Directory(DirectoryCommand),
    /// To a ticket.
    Ticket(TicketId, TicketCommand),
    /// To a contingency plan.
    Plan(casebook_core::PlanId, casebook_core::PlanCommand),
    /// To an incident (a named plan revision is checked first, see [`crate::process`]).
    Incident(casebook_core::IncidentId, casebook_core::IncidentCommand),
    /// To a monitoring rule.
    Rule(casebook_core::RuleId, casebook_core::RuleCommand),
    /// To a drill (a named plan revision is checked first, see [`crate::process`]).
    Drill(casebook_core::DrillId, casebook_core::DrillCommand),
    /// To the desk's service-level configuration.
    ServiceLevels(ServiceLevelsCommand),
    /// To a case's SLA alert stream (the deadline scheduler): a ticket's or an
    /// incident's (`CaseId::from(ticket)`, `CaseId::from(incident)`).
    SlaAlerts(casebook_core::CaseId, SlaAlertCommand),
    /// To the desk's qualitative staff assessments (project managers).
    Assessment(casebook_core::AssessmentCommand),
}

impl From<ServiceLevelsCommand> for Command {
    fn from(value: ServiceLevelsCommand) -> Self {
        Command::ServiceLevels(value)
    }
}

impl From<DirectoryCommand> for Command {
    fn from(value: DirectoryCommand) -> Self {
        Command::Directory(value)
    }
}

impl From<(TicketId, TicketCommand)> for Command {
    fn from((id, command): (TicketId, TicketCommand)) -> Self {
        Command::Ticket(id, command)
    }
}

/// Correlation and causation for a command, when it continues earlier work (a process
/// manager reacting to an event passes that event's ids).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommandMeta {
    /// Correlation id to carry on; a fresh one when `None`.
    pub correlation_id: Option<Uuid>,
    /// The event or command that caused this one; the command's own id when `None`.
    pub causation_id: Option<Uuid>,
}

/// Tuning of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// How many times to reload and decide again after a version conflict.
    pub max_conflict_retries: u32,
    /// Save a snapshot when this many events have been added since the last one.
    pub snapshot_every: u64,
    /// Most aggregate states kept in memory; the cache is cleared when it grows past it.
    pub cache_capacity: usize,
}

impl EngineOptions {
    /// Values suited to a desk: 8 retries, a snapshot every 100 events, 100,000 states.
    pub fn standard() -> Self {
        EngineOptions {
            max_conflict_retries: 8,
            snapshot_every: 100,
            cache_capacity: 100_000,
        }
    }
}

struct Cached {
    version: u64,
    snapshot_version: u64,
    state: Arc<dyn Any + Send + Sync>,
}

/// The engine. Shareable across threads (`&Engine` is enough to execute commands).
pub struct Engine {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    settings: DeskSettings,
    options: EngineOptions,
    upcasters: Upcasters,
    cache: Mutex<HashMap<StreamId, Cached>>,
    /// The directory's stream, read before every command.
    desk: StreamId,
}

/// Builds an [`Engine`]. The store is required; the rest have sensible defaults
/// (system clock, random ids, [`DeskSettings::standard`], [`EngineOptions::standard`]).
pub struct EngineBuilder {
    store: Arc<dyn EventStore>,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    settings: DeskSettings,
    options: EngineOptions,
    upcasters: Upcasters,
}

impl EngineBuilder {
    /// Replaces the clock (a [`crate::ManualClock`] in tests and simulations).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the id generator ([`crate::SeededIds`] for reproducible runs).
    pub fn ids(mut self, ids: Arc<dyn IdGenerator>) -> Self {
        self.ids = ids;
        self
    }

    /// Sets the desk settings.
    pub fn settings(mut self, settings: DeskSettings) -> Self {
        self.settings = settings;
        self
    }

    /// Sets the engine options.
    pub fn options(mut self, options: EngineOptions) -> Self {
        self.options = options;
        self
    }

    /// Sets the upcasters for old event schemas.
    pub fn upcasters(mut self, upcasters: Upcasters) -> Self {
        self.upcasters = upcasters;
        self
    }

    /// Builds the engine.
    pub fn build(self) -> Engine {
        Engine {
            // A constant that the stream-id rules accept; a failure is a bug here.
            desk: stream_of::<Directory>(&DeskId).expect("the directory's stream id is valid"),
            store: self.store,
            clock: self.clock,
            ids: self.ids,
            settings: self.settings,
            options: self.options,
            upcasters: self.upcasters,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

/// The stream id of an aggregate instance.
///
/// # Errors
///
/// [`StoreError::InvalidStreamId`] if the id does not make a valid stream id.
pub fn stream_of<A: Aggregate>(id: &A::Id) -> Result<StreamId, StoreError> {
    // Written in one go (no intermediate string of the id): every command does this.
    StreamId::parse(format!("{}:{id}", A::KIND))
}

impl Engine {
    /// Starts building an engine over a store.
    pub fn builder(store: Arc<dyn EventStore>) -> EngineBuilder {
        EngineBuilder {
            store,
            clock: Arc::new(SystemClock),
            ids: Arc::new(RandomIds),
            settings: DeskSettings::standard(),
            options: EngineOptions::standard(),
            upcasters: Upcasters::default(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The desk settings.
    pub fn settings(&self) -> &DeskSettings {
        &self.settings
    }

    /// A fresh id (UUID v7) from the engine's generator, at the clock's time. Use it for
    /// new tickets and other cases.
    pub fn new_id(&self) -> Uuid {
        self.ids.next_id(self.clock.now())
    }

    /// Executes a command: checks the actor against the directory, decides on the current
    /// state, appends with the expected version (retrying on conflict), and returns the
    /// recorded envelopes. An empty result means the command changed nothing.
    ///
    /// # Errors
    ///
    /// [`EngineError::Rejected`] when a rule refuses it; storage, decode and contention
    /// errors otherwise. On every error nothing was recorded.
    pub fn execute(
        &self,
        actor: &Actor,
        command: impl Into<Command>,
    ) -> Result<Vec<Envelope>, EngineError> {
        self.execute_with(actor, command, CommandMeta::default())
    }

    /// [`Engine::execute`] with explicit correlation and causation.
    ///
    /// # Errors
    ///
    /// As [`Engine::execute`].
    pub fn execute_with(
        &self,
        actor: &Actor,
        command: impl Into<Command>,
        meta: CommandMeta,
    ) -> Result<Vec<Envelope>, EngineError> {
        match command.into() {
            Command::Directory(c) => self.run::<Directory>(&DeskId, &c, actor, meta),
            Command::Ticket(id, c) => self.run::<Ticket>(&id, &c, actor, meta),
            Command::Plan(id, c) => {
                self.run::<casebook_core::ContingencyPlan>(&id, &c, actor, meta)
            }
            Command::Incident(id, c) => {
                crate::process::require_usable_plan(self, c.plan_ref())?;
                self.run::<casebook_core::Incident>(&id, &c, actor, meta)
            }
            Command::Rule(id, c) => self.run::<casebook_core::MonitoringRule>(&id, &c, actor, meta),
            Command::Drill(id, c) => {
                crate::process::require_usable_plan(self, c.plan_ref())?;
                self.run::<casebook_core::Drill>(&id, &c, actor, meta)
            }
            Command::ServiceLevels(c) => self.run::<ServiceLevels>(&DeskId, &c, actor, meta),
            Command::SlaAlerts(id, c) => self.run::<SlaAlerts>(&id, &c, actor, meta),
            Command::Assessment(c) => {
                self.run::<casebook_core::Assessments>(&DeskId, &c, actor, meta)
            }
        }
    }

    /// Runs one command against aggregate `A`.
    ///
    /// # Errors
    ///
    /// As [`Engine::execute`].
    pub fn run<A: Aggregate>(
        &self,
        id: &A::Id,
        command: &A::Command,
        actor: &Actor,
        meta: CommandMeta,
    ) -> Result<Vec<Envelope>, EngineError> {
        let stream = stream_of::<A>(id)?;
        let mut attempts = 0;
        // A cached state is decided on without asking the store for newer events: if
        // another writer appended meanwhile, the append's expected version fails and
        // the retry reads them. Only a refusal or a no-op, which append nothing and so
        // check nothing, make the engine ask the store before answering.
        let mut ask_store = false;
        loop {
            attempts += 1;
            let now = self.clock.now();
            // The directory is always brought up to date: authorising against a stale
            // one could let an offboarded member act, and no append would notice.
            let directory = self.load_cached::<Directory>(&self.desk)?;
            let principal = directory.0.resolve(actor)?;
            let (state, version, asked) = match self.cached::<A>(&stream) {
                Some((state, version)) if !ask_store => (state, version, false),
                _ => {
                    let (state, version) = self.load_cached::<A>(&stream)?;
                    (state, version, true)
                }
            };
            let ctx = Context {
                now,
                principal: &principal,
                directory: &directory.0,
                settings: &self.settings,
            };
            let decided = state.decide(id, command, &ctx);
            let events = match decided {
                Ok(events) if !events.is_empty() => events,
                _ if !asked => {
                    ask_store = true;
                    attempts -= 1;
                    continue;
                }
                Ok(_) => return Ok(Vec::new()),
                Err(rejection) => return Err(rejection.into()),
            };
            drop(directory);
            let (mut next, entry) = self.check_out(&stream, state);
            let state_mut = Arc::make_mut(&mut next);
            for event in &events {
                state_mut.evolve(event, now);
            }
            let new_events = self.envelopes(&events, &*next, actor, now, meta)?;
            match self
                .store
                .append(&stream, ExpectedVersion::Exact(version), new_events)
            {
                Ok(outcome) => {
                    self.check_in(entry, &stream, outcome.stream_version, next);
                    return Ok(outcome.recorded);
                }
                Err(e) if e.is_conflict() => {
                    self.forget(&stream);
                    if attempts > self.options.max_conflict_retries {
                        return Err(EngineError::Contention {
                            stream: stream.to_string(),
                            attempts,
                        });
                    }
                }
                Err(e) => {
                    self.forget(&stream);
                    return Err(e.into());
                }
            }
        }
    }

    fn envelopes<A: Aggregate>(
        &self,
        events: &[A::Event],
        next: &A,
        actor: &Actor,
        now: DateTime<Utc>,
        meta: CommandMeta,
    ) -> Result<Vec<NewEvent>, EngineError> {
        let command_id = self.ids.next_id(now);
        let correlation_id = meta.correlation_id.unwrap_or(command_id);
        let causation_id = Some(meta.causation_id.unwrap_or(command_id));
        let tenant = next.tenant().map(ToString::to_string);
        let actor = actor.as_envelope_actor();
        events
            .iter()
            .map(|event| {
                Ok(NewEvent {
                    event_id: self.ids.next_id(now),
                    event_type: event.event_type().to_string(),
                    schema_version: event.schema_version(),
                    recorded_at: now,
                    actor: actor.clone(),
                    tenant: tenant.clone(),
                    correlation_id,
                    causation_id,
                    payload: Payload::encode(event)?,
                    personal_data: event
                        .personal_data()
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                })
            })
            .collect()
    }

    /// The current state of an aggregate and its version (`0` if it has no events).
    ///
    /// # Errors
    ///
    /// Storage and decode errors.
    pub fn load<A: Aggregate>(&self, id: &A::Id) -> Result<(A, u64), EngineError> {
        let stream = stream_of::<A>(id)?;
        let (state, version) = self.load_cached::<A>(&stream)?;
        Ok(((*state).clone(), version))
    }

    /// The desk's directory as of now.
    ///
    /// # Errors
    ///
    /// Storage and decode errors.
    pub fn directory(&self) -> Result<Directory, EngineError> {
        Ok(self.load::<Directory>(&DeskId)?.0)
    }

    /// A ticket's current state.
    ///
    /// # Errors
    ///
    /// [`Rejection::NotFound`] if it was never opened; storage and decode errors.
    pub fn ticket(&self, id: TicketId) -> Result<Ticket, EngineError> {
        let (ticket, version) = self.load::<Ticket>(&id)?;
        if version == 0 {
            return Err(Rejection::NotFound {
                kind: "ticket",
                id: id.to_string(),
            }
            .into());
        }
        Ok(ticket)
    }

    /// Every event of a stream, in order.
    ///
    /// # Errors
    ///
    /// Storage errors.
    pub fn history(&self, stream: &StreamId) -> Result<Vec<Envelope>, EngineError> {
        Ok(casebook_store::read_stream_to_end(&*self.store, stream, 0)?)
    }

    /// Decodes a recorded event into its domain type, upcasting old schemas first.
    ///
    /// # Errors
    ///
    /// [`EngineError::Decode`] naming the stream, version and type.
    pub fn decode<E: DomainEvent>(&self, envelope: &Envelope) -> Result<E, EngineError> {
        self.upcasters.decode(envelope)
    }

    /// Clears the in-memory state cache (the next command reloads from the store).
    pub fn clear_cache(&self) {
        self.cache_lock().clear();
    }

    fn cache_lock(&self) -> std::sync::MutexGuard<'_, HashMap<StreamId, Cached>> {
        // The cache holds only finished values; a poisoned lock still holds valid entries.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn forget(&self, stream: &StreamId) {
        self.cache_lock().remove(stream);
    }

    /// The cached state of `stream` as the cache has it, without asking the store.
    fn cached<A: Aggregate>(&self, stream: &StreamId) -> Option<(Arc<A>, u64)> {
        let cache = self.cache_lock();
        let c = cache.get(stream)?;
        let state = c.state.clone().downcast::<A>().ok()?;
        Some((state, c.version))
    }

    /// Takes `state` out of the cache to change it: the cache entry is removed (a
    /// failed append must not leave a state the store does not have), and with it the
    /// cache's reference, so `Arc::make_mut` then changes the state in place (no copy,
    /// no new allocation) unless a reader still holds it. Returns the state and the
    /// entry's key and snapshot version, for [`Engine::check_in`].
    fn check_out<A: Aggregate>(
        &self,
        stream: &StreamId,
        state: Arc<A>,
    ) -> (Arc<A>, Option<(StreamId, u64)>) {
        let entry = self
            .cache_lock()
            .remove_entry(stream)
            .map(|(key, c)| (key, c.snapshot_version));
        (state, entry)
    }

    /// Caches the state an append produced, and saves a snapshot when due.
    fn check_in<A: Aggregate>(
        &self,
        entry: Option<(StreamId, u64)>,
        stream: &StreamId,
        version: u64,
        state: Arc<A>,
    ) {
        let (key, snapshot_version) = entry.unwrap_or_else(|| (stream.clone(), 0));
        {
            let mut cache = self.cache_lock();
            if cache.len() >= self.options.cache_capacity {
                cache.clear();
            }
            let cached = cache.get(stream);
            // Another command of this engine may have appended after this one and cached
            // a newer state meanwhile: never move the cache back (it would only cost a
            // conflict and a reload later).
            if cached.is_some_and(|c| c.version > version) {
                return;
            }
            let snapshot_version = cached.map_or(snapshot_version, |c| {
                c.snapshot_version.max(snapshot_version)
            });
            cache.insert(
                key,
                Cached {
                    version,
                    snapshot_version,
                    state: state.clone(),
                },
            );
            if version < snapshot_version + self.options.snapshot_every {
                return;
            }
        }
        self.snapshot(stream, version, &*state);
    }

    fn snapshot<A: Aggregate>(&self, stream: &StreamId, version: u64, state: &A) {
        let Ok(encoded) = Payload::encode(state) else {
            return;
        };
        let snapshot = Snapshot {
            stream_id: stream.clone(),
            version,
            schema_version: A::SNAPSHOT_VERSION,
            state: encoded,
        };
        // A snapshot is only a cache: the events are committed, so a failed save costs
        // nothing but a longer load later. The command has succeeded either way.
        if self.store.save_snapshot(&snapshot).is_ok() {
            if let Some(c) = self.cache_lock().get_mut(stream) {
                c.snapshot_version = c.snapshot_version.max(version);
            }
        }
    }

    fn load_cached<A: Aggregate>(&self, stream: &StreamId) -> Result<(Arc<A>, u64), EngineError> {
        let cached = self.cache_lock().get(stream).and_then(|c| {
            c.state
                .clone()
                .downcast::<A>()
                .ok()
                .map(|s| (s, c.version, c.snapshot_version))
        });
        let from_cache = cached.is_some();
        let (mut state, mut version, mut snapshot_version) = match cached {
            Some(hit) => hit,
            None => self.load_snapshot_or_empty::<A>(stream)?,
        };
        let mut owned: Option<A> = None;
        loop {
            let page = self
                .store
                .read_stream(stream, version, casebook_store::limits::MAX_PAGE)?;
            let Some(last) = page.last() else { break };
            let full = page.len() == casebook_store::limits::MAX_PAGE;
            let target = owned.get_or_insert_with(|| (*state).clone());
            for envelope in &page {
                let event: A::Event = self.upcasters.decode(envelope)?;
                target.evolve(&event, envelope.recorded_at);
            }
            version = last.stream_version;
            if !full {
                break;
            }
        }
        let changed = owned.is_some();
        if let Some(updated) = owned {
            state = Arc::new(updated);
        }
        // Cached whenever it did not come from the cache unchanged, also when loaded from
        // a snapshot with nothing after it: the entry carries the snapshot's version, so
        // the next snapshot is not saved early.
        if changed || !from_cache {
            let mut cache = self.cache_lock();
            if cache.len() >= self.options.cache_capacity {
                cache.clear();
            }
            let newer = cache.get(stream).is_some_and(|c| c.version > version);
            if !newer {
                snapshot_version = cache.get(stream).map_or(snapshot_version, |c| {
                    c.snapshot_version.max(snapshot_version)
                });
                cache.insert(
                    stream.clone(),
                    Cached {
                        version,
                        snapshot_version,
                        state: state.clone(),
                    },
                );
            }
        }
        if version >= snapshot_version + self.options.snapshot_every {
            self.snapshot(stream, version, &*state);
        }
        Ok((state, version))
    }

    fn load_snapshot_or_empty<A: Aggregate>(
        &self,
        stream: &StreamId,
    ) -> Result<(Arc<A>, u64, u64), EngineError> {
        if let Some(snapshot) = self.store.load_snapshot(stream)? {
            // A snapshot written by another build of the state is ignored, not trusted:
            // folding from the start is always correct.
            if snapshot.schema_version == A::SNAPSHOT_VERSION {
                if let Ok(state) = snapshot.state.decode::<A>() {
                    return Ok((Arc::new(state), snapshot.version, snapshot.version));
                }
            }
        }
        Ok((Arc::new(A::default()), 0, 0))
    }
}
