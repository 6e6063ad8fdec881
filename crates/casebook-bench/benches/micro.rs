//! Criterion micro-benchmarks: `cargo bench -p casebook-bench --bench micro`.
//!
//! - `decide/*` and `evolve/*`: one ticket command decided (and its event applied) on
//!   `casebook_core::Ticket` with a hand-built `Context`, no engine, no store.
//! - `envelope/*`: an `Envelope` carrying a ticket event encoded to JSON and decoded
//!   back, and its payload decoded into the typed event (`Payload::decode`).
//! - `deadline/*`: `casebook_sla::add_business_time` on the Shanghai 09:00–18:00
//!   calendar with the 2026 holidays.

use std::collections::BTreeSet;
use std::hint::black_box;

use casebook_core::ticket::{Channel, Contact, NewTicket, Urgency};
use casebook_core::{
    Aggregate, Context, CustomerTier, DeskSettings, Directory, DirectoryEvent, MemberId, OrgId,
    Principal, Role, Severity, Ticket, TicketCommand, TicketEvent, TicketId,
};
use casebook_sla::{add_business_time, Calendar, WeeklyHours};
use casebook_store::{Envelope, NewEvent, Payload, StreamId};
use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};
use criterion::{criterion_main, Criterion};
use uuid::Uuid;

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, h, m, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH)
}

/// A directory with one customer organisation, its contact and one engineer, folded
/// from its events (the engine would load it the same way).
fn directory() -> Directory {
    let acme = OrgId::new("acme").expect("valid org id");
    let mut directory = Directory::default();
    let events = [
        DirectoryEvent::CustomerRegistered {
            org: acme.clone(),
            name: "ACME".into(),
            tier: CustomerTier::Premium,
        },
        DirectoryEvent::MemberJoined {
            member: MemberId::new("wang.wei").expect("valid member id"),
            name: "Wang Wei".into(),
            roles: BTreeSet::from([Role::SupportEngineer]),
            org: None,
            team: Some("network".into()),
        },
        DirectoryEvent::MemberJoined {
            member: MemberId::new("bob").expect("valid member id"),
            name: "Bob".into(),
            roles: BTreeSet::from([Role::Customer]),
            org: Some(acme),
            team: None,
        },
    ];
    for event in &events {
        directory.evolve(event, at(1, 0));
    }
    directory
}

fn principal(directory: &Directory, member: &str) -> Principal {
    directory
        .resolve(&casebook_core::Actor::member(member).expect("valid actor"))
        .expect("the member is in the directory")
}

fn new_ticket() -> NewTicket {
    NewTicket {
        org: OrgId::new("acme").expect("valid org id"),
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

fn decide_and_evolve(c: &mut Criterion) {
    let directory = directory();
    let settings = DeskSettings::standard();
    let customer = principal(&directory, "bob");
    let engineer = principal(&directory, "wang.wei");
    let id = TicketId(Uuid::from_u128(42));
    let ctx = |p| Context {
        now: at(2, 0),
        principal: p,
        directory: &directory,
        settings: &settings,
    };
    let open = TicketCommand::Open(new_ticket());
    let triage = TicketCommand::Triage {
        severity: Severity::High,
        urgency: Urgency::Normal,
        complex: false,
        multi_team: false,
    };
    let note = TicketCommand::AddNote {
        text: "Checked the gateway logs again; still no handshakes.".into(),
        customer_visible: true,
    };
    let fresh = Ticket::default();
    let mut opened = Ticket::default();
    for event in fresh
        .decide(&id, &open, &ctx(&customer))
        .expect("open is accepted")
    {
        opened.evolve(&event, at(2, 0));
    }
    let mut triaged = opened.clone();
    for event in opened
        .decide(&id, &triage, &ctx(&engineer))
        .expect("triage is accepted")
    {
        triaged.evolve(&event, at(2, 0));
    }

    let mut group = c.benchmark_group("decide");
    group.bench_function("open", |b| {
        b.iter(|| black_box(fresh.decide(&id, black_box(&open), &ctx(&customer))))
    });
    group.bench_function("triage", |b| {
        b.iter(|| black_box(opened.decide(&id, black_box(&triage), &ctx(&engineer))))
    });
    group.bench_function("add_note", |b| {
        b.iter(|| black_box(triaged.decide(&id, black_box(&note), &ctx(&engineer))))
    });
    group.bench_function("refused_wrong_stage", |b| {
        b.iter(|| {
            black_box(triaged.decide(&id, black_box(&TicketCommand::StartFix), &ctx(&engineer)))
        })
    });
    group.finish();

    let opened_event = fresh
        .decide(&id, &open, &ctx(&customer))
        .expect("open is accepted");
    let note_event = triaged
        .decide(&id, &note, &ctx(&engineer))
        .expect("note is accepted");
    let mut group = c.benchmark_group("evolve");
    group.bench_function("opened", |b| {
        b.iter(|| {
            let mut state = Ticket::default();
            for event in &opened_event {
                state.evolve(black_box(event), at(2, 0));
            }
            black_box(state)
        })
    });
    group.bench_function("note_added_in_place", |b| {
        let mut state = triaged.clone();
        b.iter(|| {
            for event in &note_event {
                state.evolve(black_box(event), at(2, 0));
            }
        })
    });
    group.bench_function("clone_then_note_added", |b| {
        // What the engine does per command: the cached state is shared, so it clones.
        b.iter(|| {
            let mut state = triaged.clone();
            for event in &note_event {
                state.evolve(black_box(event), at(2, 0));
            }
            black_box(state)
        })
    });
    group.finish();
}

fn envelope(c: &mut Criterion) {
    let event = TicketEvent::Opened {
        ticket: TicketId(Uuid::from_u128(42)),
        details: new_ticket(),
        opened_by: "member:bob".into(),
    };
    let stream = StreamId::new("ticket", &Uuid::from_u128(42).to_string()).expect("stream id");
    let new = NewEvent {
        event_id: Uuid::from_u128(1),
        event_type: "TicketOpened".into(),
        schema_version: 1,
        recorded_at: at(2, 0),
        actor: "member:bob".into(),
        tenant: Some("acme".into()),
        correlation_id: Uuid::from_u128(2),
        causation_id: Some(Uuid::from_u128(2)),
        payload: Payload::encode(&event).expect("encodes"),
        personal_data: vec!["/Opened/contact".into()],
    };
    let env = Envelope::from_new(stream, 1, 1, new);
    let bytes = serde_json::to_vec(&env).expect("encodes");
    let mut group = c.benchmark_group("envelope");
    group.bench_function("payload_encode_ticket_opened", |b| {
        b.iter(|| black_box(Payload::encode(black_box(&event))))
    });
    group.bench_function("payload_decode_ticket_opened", |b| {
        b.iter(|| black_box(env.payload.decode::<TicketEvent>()))
    });
    group.bench_function("envelope_to_json", |b| {
        b.iter(|| black_box(serde_json::to_vec(black_box(&env))))
    });
    group.bench_function("envelope_from_json", |b| {
        b.iter(|| black_box(serde_json::from_slice::<Envelope>(black_box(&bytes))))
    });
    group.finish();
}

fn deadline(c: &mut Criterion) {
    let holidays: Vec<NaiveDate> = ["2026-04-06", "2026-05-01", "2026-05-04", "2026-05-05"]
        .iter()
        .filter_map(|d| d.parse().ok())
        .collect();
    let shanghai = Calendar::business(
        "Asia/Shanghai",
        WeeklyHours::weekdays(vec!["09:00-18:00".parse().expect("interval")]),
    )
    .expect("calendar")
    .with_holidays(holidays)
    .expect("holidays");
    // Friday 27 February 2026, 17:30 in Shanghai.
    let friday_evening = Utc
        .with_ymd_and_hms(2026, 2, 27, 9, 30, 0)
        .single()
        .unwrap_or(DateTime::UNIX_EPOCH);
    let mut group = c.benchmark_group("deadline");
    group.bench_function("shanghai_add_30min_same_day", |b| {
        b.iter(|| {
            add_business_time(
                &shanghai,
                black_box(at(2, 0)),
                black_box(TimeDelta::minutes(30)),
            )
        })
    });
    group.bench_function("shanghai_add_4h_over_weekend", |b| {
        b.iter(|| {
            add_business_time(
                &shanghai,
                black_box(friday_evening),
                black_box(TimeDelta::hours(4)),
            )
        })
    });
    group.bench_function("shanghai_add_10_business_days", |b| {
        b.iter(|| {
            add_business_time(
                &shanghai,
                black_box(friday_evening),
                black_box(TimeDelta::hours(90)),
            )
        })
    });
    group.finish();
}

// The macro generates an undocumented function.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(
        benches,
        super::decide_and_evolve,
        super::envelope,
        super::deadline
    );
}
criterion_main!(group::benches);
