//! The shape every aggregate has: pure `decide` and `evolve`, and the context time and
//! identity come in through.

use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::directory::Directory;
use crate::ids::OrgId;
use crate::rejection::Rejection;
use crate::roles::Principal;

/// Desk-wide settings the rules depend on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct DeskSettings {
    /// How long a customer has to confirm a fix before silence counts as confirmation.
    pub confirmation_window: Duration,
    /// How long after closing a ticket may be reopened.
    pub reopen_window: Duration,
}

impl DeskSettings {
    /// The policy's example values: 7 days to confirm, 30 days to reopen.
    pub fn standard() -> Self {
        DeskSettings {
            confirmation_window: Duration::days(7),
            reopen_window: Duration::days(30),
        }
    }
}

/// Everything a decision may depend on besides the aggregate's own state. Built by the
/// engine for each command; the core never reads a clock.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The command's time, from the engine's replaceable clock.
    pub now: DateTime<Utc>,
    /// Who is acting, already checked to be an active member or the system.
    pub principal: &'a Principal,
    /// The desk's members and customers as of now.
    pub directory: &'a Directory,
    /// Desk-wide settings.
    pub settings: &'a DeskSettings,
}

/// A domain event type: serializable, with a stable name and schema version.
pub trait DomainEvent:
    Serialize + DeserializeOwned + Clone + std::fmt::Debug + Send + Sync
{
    /// The event's type name as recorded in the envelope.
    fn event_type(&self) -> &'static str;

    /// The schema version of the payload this build writes.
    fn schema_version(&self) -> u32 {
        1
    }

    /// JSON pointers to personal-data fields within this event's payload.
    fn personal_data(&self) -> &'static [&'static str] {
        &[]
    }
}

/// A command type: it knows its own name, for error messages and permission checks.
pub trait DomainCommand: Clone + std::fmt::Debug + Send + Sync {
    /// The command's name (`open`, `triage`, ...).
    fn name(&self) -> &'static str;
}

/// An event-sourced aggregate: the state is the fold of its events.
pub trait Aggregate:
    Default + Clone + Serialize + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static
{
    /// The stream kind (`ticket`, `directory`, ...).
    const KIND: &'static str;
    /// Version of the state's own encoding, for snapshots. Bump it when the state changes
    /// shape so that old snapshots are ignored.
    const SNAPSHOT_VERSION: u32 = 1;
    /// The id of one aggregate instance; its `Display` is the stream's local id.
    type Id: Clone + std::fmt::Display + std::fmt::Debug + Send + Sync;
    /// The commands it takes.
    type Command: DomainCommand;
    /// The events it records.
    type Event: DomainEvent;

    /// Decides what happens: the events to record, or why not. Pure.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] naming the rule that refused the command.
    fn decide(
        &self,
        id: &Self::Id,
        command: &Self::Command,
        ctx: &Context<'_>,
    ) -> Result<Vec<Self::Event>, Rejection>;

    /// Applies one recorded event. Pure and total: recorded events are facts.
    /// `at` is the event's recorded time.
    fn evolve(&mut self, event: &Self::Event, at: DateTime<Utc>);

    /// The customer organisation the aggregate belongs to, recorded as the envelope's tenant.
    fn tenant(&self) -> Option<&OrgId> {
        None
    }
}

/// Folds events into a fresh state: the reference definition of an aggregate's state.
pub fn fold<'a, A: Aggregate>(
    events: impl IntoIterator<Item = (&'a A::Event, DateTime<Utc>)>,
) -> A {
    let mut state = A::default();
    for (event, at) in events {
        state.evolve(event, at);
    }
    state
}
