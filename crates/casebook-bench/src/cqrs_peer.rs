//! The same ticket written idiomatically for cqrs-es 0.5, the peer the engine is
//! compared with: a cqrs-es `Aggregate` whose `handle` calls the ticket's own `decide`
//! and whose `apply` calls its `evolve`, so only the framework differs.
//!
//! Two stores: cqrs-es's serializing path (`PersistedEventStore` in event-store mode,
//! over [`MemRepository`], an in-memory [`PersistedEventRepository`] written here, like
//! for like with Casebook's `MemoryStore`, which keeps encoded payloads), and its
//! `MemStore` (typed events in memory, no serialization).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use casebook_core::{
    Actor, Aggregate as _, Context, DeskSettings, Directory, DomainEvent as _, Rejection, Ticket,
    TicketCommand, TicketEvent, TicketId,
};
use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::persist::{
    PersistedEventRepository, PersistenceError, ReplayStream, SerializedEvent, SerializedSnapshot,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The ticket as a cqrs-es aggregate.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CqrsTicket {
    state: Ticket,
}

/// A ticket command with its target and actor (cqrs-es's `handle` gets no id).
#[derive(Debug, Clone)]
pub struct CqrsCommand {
    /// The ticket.
    pub id: TicketId,
    /// Who acts.
    pub actor: Actor,
    /// The command.
    pub command: TicketCommand,
}

/// A ticket event with its time (cqrs-es's `apply` gets no time; Casebook's envelope
/// carries it, so the peer carries it in the event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CqrsEvent {
    at: DateTime<Utc>,
    event: TicketEvent,
}

impl cqrs_es::DomainEvent for CqrsEvent {
    fn event_type(&self) -> String {
        self.event.event_type().to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}

/// What `handle` needs besides the state: the directory and the settings.
#[derive(Debug)]
pub struct CqrsServices {
    /// The desk's directory.
    pub directory: Directory,
    /// Settings.
    pub settings: DeskSettings,
}

impl cqrs_es::Aggregate for CqrsTicket {
    const TYPE: &'static str = "ticket";
    type Command = CqrsCommand;
    type Event = CqrsEvent;
    type Error = Rejection;
    type Services = CqrsServices;

    async fn handle(
        &mut self,
        command: CqrsCommand,
        services: &CqrsServices,
        sink: &EventSink<Self>,
    ) -> Result<(), Rejection> {
        let now = Utc::now();
        let events = {
            let principal = services.directory.resolve(&command.actor)?;
            let ctx = Context {
                now,
                principal: &principal,
                directory: &services.directory,
                settings: &services.settings,
            };
            self.state.decide(&command.id, &command.command, &ctx)?
        };
        for event in events {
            sink.write(CqrsEvent { at: now, event }, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: CqrsEvent) {
        self.state.evolve(&event.event, event.at);
    }
}

/// An in-memory event repository: serialized events per aggregate, with the
/// optimistic check a database's unique (id, sequence) key gives.
#[derive(Debug, Default)]
pub struct MemRepository {
    events: Mutex<HashMap<String, Vec<SerializedEvent>>>,
}

impl MemRepository {
    fn events_of(&self, id: &str, after: usize) -> Vec<SerializedEvent> {
        let events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        events
            .get(id)
            .map(|all| all.iter().skip(after).cloned().collect())
            .unwrap_or_default()
    }
}

impl PersistedEventRepository for MemRepository {
    async fn get_events<A: cqrs_es::Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        Ok(self.events_of(aggregate_id, 0))
    }

    async fn get_last_events<A: cqrs_es::Aggregate>(
        &self,
        aggregate_id: &str,
        last_sequence: usize,
    ) -> Result<Vec<SerializedEvent>, PersistenceError> {
        Ok(self.events_of(aggregate_id, last_sequence))
    }

    async fn get_snapshot<A: cqrs_es::Aggregate>(
        &self,
        _aggregate_id: &str,
    ) -> Result<Option<SerializedSnapshot>, PersistenceError> {
        Ok(None)
    }

    async fn persist<A: cqrs_es::Aggregate>(
        &self,
        events: &[SerializedEvent],
        _snapshot_update: Option<(String, Value, usize)>,
    ) -> Result<(), PersistenceError> {
        let Some(first) = events.first() else {
            return Ok(());
        };
        let mut all = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        let stream = all.entry(first.aggregate_id.clone()).or_default();
        if first.sequence != stream.len() + 1 {
            return Err(PersistenceError::OptimisticLockError);
        }
        stream.extend_from_slice(events);
        Ok(())
    }

    async fn stream_events<A: cqrs_es::Aggregate>(
        &self,
        aggregate_id: &str,
    ) -> Result<ReplayStream, PersistenceError> {
        replay(self.events_of(aggregate_id, 0)).await
    }

    async fn stream_all_events<A: cqrs_es::Aggregate>(
        &self,
    ) -> Result<ReplayStream, PersistenceError> {
        let all: Vec<SerializedEvent> = self
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .flatten()
            .cloned()
            .collect();
        replay(all).await
    }
}

async fn replay(events: Vec<SerializedEvent>) -> Result<ReplayStream, PersistenceError> {
    let (mut feed, stream) = ReplayStream::new(events.len().max(1));
    for event in events {
        feed.push(Ok(event)).await?;
    }
    Ok(stream)
}
