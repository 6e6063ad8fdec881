//! Workloads shared by the figures: a desk with its directory (for the command
//! figures) and a synthetic, realistic event log (for the view figures).
//!
//! The log is written by hand rather than through the engine so that a million events
//! cost seconds, not minutes; every ticket follows the lifecycle the aggregate allows
//! (open, triage, assign, notes, information request and reply, diagnosis, fix,
//! verification, confirmation, rating, close), so the views fold what a desk records.

use std::error::Error;
use std::sync::Arc;

use casebook::{Engine, SeededIds};
use casebook_core::ticket::{Channel, Classification, Contact, Diagnosis, NewTicket, Urgency};
use casebook_core::{
    Actor, CustomerTier, DeskSettings, Directory, DirectoryCommand, DirectoryEvent, DomainEvent,
    MemberId, OrgId, Role, ServiceLevelsEvent, Severity, TicketCommand, TicketEvent, TicketId,
};
use casebook_sla::SlaPolicy;
use casebook_store::{Envelope, MemoryStore, NewEvent, Payload, StreamId};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use uuid::Uuid;

type BenchResult<T> = Result<T, Box<dyn Error>>;

/// A ticket's events with their recorded times.
pub type TimedEvents = Vec<(DateTime<Utc>, TicketEvent)>;

/// A desk for the command figures: an engine on the in-memory store with one customer
/// organisation, its contact and one support engineer.
pub struct Desk {
    /// The engine.
    pub engine: Engine,
    /// The directory as recorded (for the hand-written references).
    pub directory: Directory,
    /// Settings (the engine's).
    pub settings: DeskSettings,
    /// The customer contact who opens tickets.
    pub customer: Actor,
    /// The engineer who triages and writes notes.
    pub engineer: Actor,
    /// The customer organisation.
    pub org: OrgId,
}

/// A fresh desk on a [`MemoryStore`], system clock, seeded ids.
///
/// # Errors
///
/// If bootstrapping the directory fails (a bug).
pub fn desk() -> BenchResult<Desk> {
    let engine = Engine::builder(Arc::new(MemoryStore::new()))
        .ids(Arc::new(SeededIds::new(7)))
        .build();
    let system = Actor::system("bench");
    let org = OrgId::new("acme")?;
    engine.execute(
        &system,
        DirectoryCommand::RegisterCustomer {
            org: org.clone(),
            name: "ACME Corp".into(),
            tier: CustomerTier::Premium,
        },
    )?;
    for (id, role, member_org) in [
        ("wang.wei", Role::SupportEngineer, None),
        ("bob", Role::Customer, Some(org.clone())),
    ] {
        engine.execute(
            &system,
            DirectoryCommand::AddMember {
                member: MemberId::new(id)?,
                name: id.into(),
                roles: [role].into(),
                org: member_org,
                team: Some("network".into()),
            },
        )?;
    }
    Ok(Desk {
        directory: engine.directory()?,
        settings: engine.settings().clone(),
        customer: Actor::member("bob")?,
        engineer: Actor::member("wang.wei")?,
        org,
        engine,
    })
}

/// The new ticket every command workload opens.
pub fn new_ticket(org: &OrgId) -> NewTicket {
    NewTicket {
        org: org.clone(),
        channel: Channel::Portal,
        title: "VPN gateway unreachable".into(),
        description: "Nobody at the Shanghai office can connect to the VPN since 08:00.".into(),
        contact: Contact {
            name: "Bob".into(),
            email: Some("bob@acme.example".into()),
            phone: None,
        },
        affected_system: "vpn-gw-1".into(),
        reported_at: None,
    }
}

/// The command workload of one ticket with `events` events: opened by the customer,
/// triaged by the engineer, then engineer notes until it has `events` events (each
/// command records exactly one event). Returns `(by_customer, command)` pairs.
pub fn ticket_commands(org: &OrgId, events: usize) -> Vec<(bool, TicketCommand)> {
    let mut commands = vec![
        (true, TicketCommand::Open(new_ticket(org))),
        (
            false,
            TicketCommand::Triage {
                severity: Severity::High,
                urgency: Urgency::Normal,
                complex: false,
                multi_team: false,
            },
        ),
    ];
    for i in 2..events {
        commands.push((
            false,
            TicketCommand::AddNote {
                text: format!("Checked the gateway logs again (round {i}); still no handshakes."),
                customer_visible: i % 3 == 0,
            },
        ));
    }
    commands
}

/// Monday 2 March 2026, 09:00 in Shanghai.
pub fn monday_morning() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 1, 0, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// The desk's standard policy (the simulation's table, Shanghai 09:00–18:00).
///
/// # Errors
///
/// If the built-in table does not parse (a bug).
pub fn standard_policy(from: DateTime<Utc>) -> BenchResult<SlaPolicy> {
    let weekday = serde_json::json!(["09:00-18:00"]);
    let mut targets = Vec::new();
    let day = 9 * 60;
    for (tier, severity, first, next, resolution) in [
        ("premium", "critical", 15, Some(30), 4 * 60),
        ("premium", "high", 30, Some(60), 8 * 60),
        ("premium", "medium", 60, Some(4 * 60), 2 * day),
        ("premium", "low", 4 * 60, Some(day), 5 * day),
        ("standard", "critical", 30, Some(60), 8 * 60),
        ("standard", "high", 60, Some(2 * 60), 2 * day),
        ("standard", "medium", 2 * 60, Some(day), 4 * day),
        ("standard", "low", 8 * 60, None, 8 * day),
        ("basic", "critical", 60, Some(2 * 60), day),
        ("basic", "high", 2 * 60, Some(4 * 60), 3 * day),
        ("basic", "medium", 4 * 60, None, 6 * day),
        ("basic", "low", 8 * 60, None, 10 * day),
    ] {
        let mut row = serde_json::json!({
            "kind": "ticket", "tier": tier, "severity": severity,
            "first_response_minutes": first, "resolution_minutes": resolution,
        });
        if let Some(next) = next {
            row["next_update_minutes"] = serde_json::json!(next);
        }
        targets.push(row);
    }
    Ok(serde_json::from_value(serde_json::json!({
        "version": 1,
        "effective_from": from.to_rfc3339(),
        "calendar": {
            "kind": "business_hours",
            "time_zone": "Asia/Shanghai",
            "weekly": {
                "monday": weekday, "tuesday": weekday, "wednesday": weekday,
                "thursday": weekday, "friday": weekday,
            },
            "holidays": ["2026-04-06", "2026-05-01", "2026-05-04", "2026-05-05", "2026-06-19"],
        },
        "targets": targets,
        "warnings": [0.75, 0.9],
        "reopen_window_minutes": 30 * 24 * 60,
    }))?)
}

/// The customer organisations of the synthetic log, one per tier.
pub const ORGS: [(&str, CustomerTier); 3] = [
    ("acme", CustomerTier::Premium),
    ("globex", CustomerTier::Standard),
    ("initech", CustomerTier::Basic),
];

/// A new event as the engine would record it (fresh ids, the actor, the tenant).
fn recorded<E: DomainEvent>(
    event: &E,
    at: DateTime<Utc>,
    n: u64,
    tenant: Option<&str>,
) -> BenchResult<NewEvent> {
    let id = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | u128::from(n));
    Ok(NewEvent {
        event_id: id,
        event_type: event.event_type().to_string(),
        schema_version: event.schema_version(),
        recorded_at: at,
        actor: "member:wang.wei".into(),
        tenant: tenant.map(str::to_string),
        correlation_id: id,
        causation_id: Some(id),
        payload: Payload::encode(event)?,
        personal_data: event
            .personal_data()
            .iter()
            .map(|p| p.to_string())
            .collect(),
    })
}

/// The first events of every synthetic log: the customers and the policy, at `start`.
///
/// # Errors
///
/// If encoding fails (a bug).
pub fn preamble(start: DateTime<Utc>) -> BenchResult<Vec<(StreamId, NewEvent)>> {
    let directory = StreamId::new("directory", "desk")?;
    let mut out = Vec::new();
    for (i, (org, tier)) in (0u64..).zip(ORGS) {
        let event = DirectoryEvent::CustomerRegistered {
            org: OrgId::new(org)?,
            name: org.to_uppercase(),
            tier,
        };
        out.push((directory.clone(), recorded(&event, start, i, None)?));
    }
    let policy = ServiceLevelsEvent::PolicyPublished {
        policy: standard_policy(start)?,
    };
    out.push((
        StreamId::new("service_levels", "desk")?,
        recorded(&policy, start, 10, None)?,
    ));
    Ok(out)
}

/// The events of one ticket `i`, opened at `opened`: the full lifecycle to closing when
/// `closes`, otherwise opened, triaged, assigned and one customer-visible note.
pub fn ticket_lifecycle(
    i: u64,
    opened: DateTime<Utc>,
    closes: bool,
) -> BenchResult<(TicketId, TimedEvents)> {
    let id = TicketId(Uuid::from_u128(
        0x0190_0000_0000_7000_9000_0000_0000_0000 | u128::from(i),
    ));
    let (org, _) = ORGS[(i % 3) as usize];
    let org = OrgId::new(org)?;
    let minutes = |m: i64| opened + TimeDelta::minutes(m);
    let severity = [Severity::Low, Severity::Medium, Severity::High][(i % 3) as usize];
    let mut events = vec![
        (
            opened,
            TicketEvent::Opened {
                ticket: id,
                details: new_ticket(&org),
                opened_by: "member:bob".into(),
            },
        ),
        (
            minutes(10),
            TicketEvent::Triaged {
                severity,
                urgency: Urgency::Normal,
                complex: false,
                multi_team: false,
            },
        ),
        (
            minutes(12),
            TicketEvent::Assigned {
                owner: MemberId::new("wang.wei")?,
                team: "network".into(),
            },
        ),
        (
            minutes(30),
            TicketEvent::NoteAdded {
                text: "We are looking into the gateway; next update within the hour.".into(),
                customer_visible: true,
                by_staff: true,
            },
        ),
    ];
    if closes {
        events.extend([
            (
                minutes(60),
                TicketEvent::InfoRequested {
                    question: "Which client version do the users run?".into(),
                },
            ),
            (
                minutes(180),
                TicketEvent::CustomerReplied {
                    text: "5.2.1 on every laptop.".into(),
                },
            ),
            (
                minutes(200),
                TicketEvent::Diagnosed(Diagnosis {
                    cause: "expired server certificate".into(),
                    solution: "renew and deploy the certificate".into(),
                }),
            ),
            (minutes(210), TicketEvent::FixStarted),
            (
                minutes(300),
                TicketEvent::FixReported {
                    summary: "certificate renewed and deployed".into(),
                },
            ),
            (
                minutes(320),
                TicketEvent::VerificationPassed {
                    notes: "10 test logins from the office succeeded".into(),
                },
            ),
            (
                minutes(600),
                TicketEvent::CustomerConfirmed {
                    comment: Some("works, thanks".into()),
                },
            ),
            (
                minutes(601),
                TicketEvent::SatisfactionRated {
                    score: 4 + (i % 2) as u8,
                    comment: None,
                },
            ),
            (
                minutes(660),
                TicketEvent::Closed {
                    category: "vpn".into(),
                    summary: "expired certificate on the VPN gateway".into(),
                    result: "renewed; expiry monitoring added".into(),
                    classification: Classification::Internal,
                },
            ),
        ]);
    }
    Ok((id, events))
}

/// A realistic desk log of `tickets` tickets opened two minutes apart from `start`,
/// four in five taken to closing, in recorded-time order (as a desk would write it).
///
/// # Errors
///
/// If encoding fails (a bug).
pub fn realistic_log(tickets: u64, start: DateTime<Utc>) -> BenchResult<Vec<(StreamId, NewEvent)>> {
    let mut timed: Vec<(DateTime<Utc>, u64, StreamId, TicketEvent)> = Vec::new();
    for i in 0..tickets {
        let opened = start + TimeDelta::minutes(2 * i as i64 + 1);
        let (id, events) = ticket_lifecycle(i, opened, i % 5 != 0)?;
        let stream = StreamId::new("ticket", &id.to_string())?;
        for (at, event) in events {
            timed.push((at, i, stream.clone(), event));
        }
    }
    // Stable: a ticket's own events keep their order at equal instants.
    timed.sort_by_key(|(at, ..)| *at);
    let mut out = preamble(start)?;
    for (n, (at, i, stream, event)) in (100u64..).zip(timed) {
        let (org, _) = ORGS[(i % 3) as usize];
        out.push((stream, recorded(&event, at, n, Some(org))?));
    }
    Ok(out)
}

/// Envelopes of `log` as the store would number them (global positions from 1, stream
/// versions per stream), for folding a view without a store.
pub fn number(log: Vec<(StreamId, NewEvent)>) -> Vec<Envelope> {
    let mut versions: std::collections::HashMap<StreamId, u64> = Default::default();
    (1u64..)
        .zip(log)
        .map(|(position, (stream, event))| {
            let version = versions.entry(stream.clone()).or_insert(0);
            *version += 1;
            Envelope::from_new(stream, *version, position, event)
        })
        .collect()
}

/// The teams of [`QuarterLog`]'s engineers (eight engineers each).
const TEAMS: [&str; 5] = ["network", "identity", "endpoint", "cloud", "database"];

/// How long a ticket's lifecycle in [`ticket_lifecycle`] lasts: opened to closed.
const LIFECYCLE: TimeDelta = TimeDelta::minutes(660);

/// One ticket event waiting in [`QuarterLog`]'s merge, ordered by `(at, ticket, seq)`:
/// the order [`realistic_log`]'s stable sort gives (a ticket's own events in order,
/// earlier tickets first at equal instants).
struct Pending {
    at: DateTime<Utc>,
    ticket: u64,
    seq: u64,
    stream: StreamId,
    event: TicketEvent,
}

impl Pending {
    fn key(&self) -> (DateTime<Utc>, u64, u64) {
        (self.at, self.ticket, self.seq)
    }
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Pending {}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Reversed: `BinaryHeap` pops its greatest element, the merge wants the earliest.
        other.key().cmp(&self.key())
    }
}

/// One event of a streamed log: its stream, the version it gets there (so the append
/// can name its exact expected version, `version - 1`) and the event.
pub type Versioned = (StreamId, u64, NewEvent);

/// A realistic desk log of `tickets` tickets opened at even intervals within
/// `[start, end)`, generated lazily in recorded-time order: the [`preamble`] at `start`,
/// then every ticket's [`ticket_lifecycle`] (four in five closed), merged by time.
///
/// [`realistic_log`] holds the whole log in memory and spaces tickets two minutes
/// apart; this one holds only the tickets whose lifecycle is still running (a
/// lifecycle lasts 11 hours, so about `tickets × 11 h / (end − start)` of them), so a
/// million tickets in one quarter stream in bounded memory. Every event, closing
/// included, is recorded before `end`. Tickets are assigned round-robin to 40
/// engineers in five teams (the lifecycle's single owner would make the per-member
/// and per-team figures trivial).
pub struct QuarterLog {
    start: DateTime<Utc>,
    /// Milliseconds between two openings.
    step_ms: i64,
    tickets: u64,
    next_ticket: u64,
    preamble: std::vec::IntoIter<Versioned>,
    pending: std::collections::BinaryHeap<Pending>,
    /// The next event number (event ids).
    n: u64,
}

impl QuarterLog {
    /// The log of `tickets` tickets in `[start, end)`.
    ///
    /// # Errors
    ///
    /// If the window cannot hold one lifecycle, or encoding the preamble fails.
    pub fn new(tickets: u64, start: DateTime<Utc>, end: DateTime<Utc>) -> BenchResult<QuarterLog> {
        // The first ticket opens a minute after the preamble, the last lifecycle closes
        // a minute before `end`.
        let room = end - start - LIFECYCLE - TimeDelta::minutes(2);
        if room <= TimeDelta::zero() {
            return Err("the window is shorter than one ticket lifecycle".into());
        }
        let step_ms = room.num_milliseconds() / i64::try_from(tickets.max(1))?;
        let mut versions: std::collections::HashMap<StreamId, u64> = Default::default();
        let preamble: Vec<Versioned> = preamble(start)?
            .into_iter()
            .map(|(stream, event)| {
                let version = versions.entry(stream.clone()).or_insert(0);
                *version += 1;
                (stream, *version, event)
            })
            .collect();
        Ok(QuarterLog {
            start,
            step_ms,
            tickets,
            next_ticket: 0,
            preamble: preamble.into_iter(),
            pending: std::collections::BinaryHeap::new(),
            n: 100,
        })
    }

    /// When ticket `i` is opened.
    fn opened(&self, i: u64) -> DateTime<Utc> {
        let i = i64::try_from(i).unwrap_or(i64::MAX);
        self.start + TimeDelta::minutes(1) + TimeDelta::milliseconds(i.saturating_mul(self.step_ms))
    }

    /// Generates ticket `i`'s lifecycle into the merge.
    fn push_ticket(&mut self, i: u64) -> BenchResult<()> {
        let (id, events) = ticket_lifecycle(i, self.opened(i), i % 5 != 0)?;
        let stream = StreamId::new("ticket", &id.to_string())?;
        let engineer = i % 40;
        for (seq, (at, event)) in (0u64..).zip(events) {
            let event = match event {
                TicketEvent::Assigned { .. } => TicketEvent::Assigned {
                    owner: MemberId::new(format!("engineer.{engineer:02}"))?,
                    team: TEAMS[(engineer / 8) as usize].into(),
                },
                other => other,
            };
            self.pending.push(Pending {
                at,
                ticket: i,
                seq,
                stream: stream.clone(),
                event,
            });
        }
        Ok(())
    }

    fn next_event(&mut self) -> BenchResult<Option<Versioned>> {
        if let Some(event) = self.preamble.next() {
            return Ok(Some(event));
        }
        loop {
            let due = self.pending.peek().map(|p| p.at);
            // A ticket opened strictly before the earliest pending event comes first; at
            // an equal instant the pending one (an earlier ticket) does.
            if self.next_ticket < self.tickets
                && due.is_none_or(|at| self.opened(self.next_ticket) < at)
            {
                self.push_ticket(self.next_ticket)?;
                self.next_ticket += 1;
                continue;
            }
            let Some(p) = self.pending.pop() else {
                return Ok(None);
            };
            let (org, _) = ORGS[(p.ticket % 3) as usize];
            let event = recorded(&p.event, p.at, self.n, Some(org))?;
            self.n += 1;
            return Ok(Some((p.stream, p.seq + 1, event)));
        }
    }
}

impl Iterator for QuarterLog {
    type Item = BenchResult<Versioned>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_event().transpose()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn quarter_log_is_in_time_order_with_contiguous_versions_inside_its_window() {
        let start = monday_morning();
        let end = start + TimeDelta::days(2);
        let tickets = 300;
        let log: Vec<Versioned> = QuarterLog::new(tickets, start, end)
            .unwrap()
            .collect::<BenchResult<_>>()
            .unwrap();
        // 4 preamble events; 13 events per closed ticket (4 in 5), 4 per open one.
        assert_eq!(log.len() as u64, 4 + tickets / 5 * (4 * 13 + 4));
        let mut versions: std::collections::HashMap<StreamId, u64> = Default::default();
        let mut last = start;
        let mut ids = std::collections::HashSet::new();
        for (stream, version, event) in &log {
            assert!(event.recorded_at >= last, "out of time order");
            assert!(event.recorded_at < end);
            last = event.recorded_at;
            let seen = versions.entry(stream.clone()).or_insert(0);
            assert_eq!(*version, *seen + 1, "{stream}");
            *seen = *version;
            assert!(ids.insert(event.event_id));
        }
        assert_eq!(versions.len() as u64, 2 + tickets);
        // Owners and teams vary.
        let owners: std::collections::HashSet<String> = log
            .iter()
            .filter(|(_, _, e)| e.event_type == "TicketAssigned")
            .map(|(_, _, e)| e.payload.decode::<TicketEvent>().unwrap())
            .filter_map(|e| match e {
                TicketEvent::Assigned { owner, .. } => Some(owner.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(owners.len(), 40);
    }

    #[test]
    fn a_window_shorter_than_a_lifecycle_is_refused() {
        let start = monday_morning();
        assert!(QuarterLog::new(10, start, start + TimeDelta::hours(5)).is_err());
    }
}
