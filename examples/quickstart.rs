//! Quickstart: set up a desk on the in-memory store, take one ticket from intake to
//! record, and print its full history.
//!
//! Run with `cargo run --example quickstart`.

use std::sync::Arc;

use casebook::prelude::*;
use chrono::{Duration, TimeZone, Utc};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let start = Utc
        .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .ok_or("invalid start time")?;
    let clock = Arc::new(ManualClock::new(start));
    let engine = Engine::builder(Arc::new(MemoryStore::new()))
        .clock(clock.clone())
        .build();

    // The embedding product bootstraps the desk as the system.
    let system = Actor::system("bootstrap");
    let acme = OrgId::new("acme")?;
    engine.execute(
        &system,
        DirectoryCommand::RegisterCustomer {
            org: acme.clone(),
            name: "ACME 科技有限公司".into(),
            tier: CustomerTier::Premium,
        },
    )?;
    for (id, name, role, org) in [
        ("li.na", "李娜", Role::ProjectManager, None),
        ("wang.wei", "王伟", Role::SupportEngineer, None),
        ("bob", "Bob Smith", Role::Customer, Some(acme.clone())),
    ] {
        engine.execute(
            &system,
            DirectoryCommand::AddMember {
                member: MemberId::new(id)?,
                name: name.into(),
                roles: [role].into(),
                org,
                team: None,
            },
        )?;
    }
    let pm = Actor::member("li.na")?;
    let engineer = Actor::member("wang.wei")?;
    let customer = Actor::member("bob")?;

    let ticket = TicketId(engine.new_id());
    let step = |who: &Actor, minutes: i64, command: TicketCommand| {
        clock.advance(Duration::minutes(minutes))?;
        engine.execute(who, (ticket, command))?;
        Ok::<(), Box<dyn std::error::Error>>(())
    };
    step(
        &customer,
        0,
        TicketCommand::Open(NewTicket {
            org: acme.clone(),
            channel: Channel::Portal,
            title: "VPN 无法连接".into(),
            description: "Since 08:00 nobody in the Shanghai office can connect to the VPN.".into(),
            contact: Contact {
                name: "Bob Smith".into(),
                email: Some("bob@acme.example".into()),
                phone: None,
            },
            affected_system: "vpn-gw-1".into(),
            reported_at: Some(start - Duration::minutes(60)),
        }),
    )?;
    step(
        &pm,
        5,
        TicketCommand::Assign {
            owner: MemberId::new("wang.wei")?,
            team: "network".into(),
        },
    )?;
    step(
        &engineer,
        10,
        TicketCommand::Triage {
            severity: Severity::High,
            urgency: Urgency::Normal,
            complex: false,
            multi_team: false,
        },
    )?;
    step(
        &engineer,
        20,
        TicketCommand::RequestInfo {
            question: "Which client version do you use?".into(),
        },
    )?;
    step(
        &customer,
        15,
        TicketCommand::CustomerReply {
            text: "AnyConnect 4.10".into(),
        },
    )?;
    step(
        &engineer,
        30,
        TicketCommand::Diagnose {
            cause: "the gateway's TLS certificate expired at 08:00".into(),
            solution: "renew the certificate and reload the gateway".into(),
        },
    )?;
    step(&engineer, 5, TicketCommand::StartFix)?;
    step(
        &engineer,
        40,
        TicketCommand::ReportFixDone {
            summary: "certificate renewed, gateway reloaded".into(),
        },
    )?;
    step(
        &engineer,
        15,
        TicketCommand::PassVerification {
            notes: "10 test logins from 3 sites succeeded".into(),
        },
    )?;
    step(
        &customer,
        60,
        TicketCommand::Confirm {
            comment: Some("works again, thanks".into()),
        },
    )?;
    step(
        &customer,
        5,
        TicketCommand::RateSatisfaction {
            score: 5,
            comment: None,
        },
    )?;
    step(
        &engineer,
        10,
        TicketCommand::Close {
            category: "vpn".into(),
            summary: "expired gateway certificate".into(),
            result: "renewed; expiry monitoring added".into(),
            classification: Classification::Internal,
        },
    )?;

    println!("Ticket {ticket}: {:?}\n", engine.ticket(ticket)?.stage);
    for e in engine.history(&stream_of::<Ticket>(&ticket)?)? {
        let event: TicketEvent = engine.decode(&e)?;
        println!(
            "v{:<2} {}  {:<28} {:<16} {}",
            e.stream_version,
            e.recorded_at.format("%Y-%m-%d %H:%M"),
            e.event_type,
            e.actor,
            summarize(&event)
        );
    }
    Ok(())
}

fn summarize(event: &TicketEvent) -> String {
    match event {
        TicketEvent::Opened { details, .. } => {
            format!("{} ({})", details.title, details.affected_system)
        }
        TicketEvent::Assigned { owner, team } => format!("{owner} / {team}"),
        TicketEvent::Triaged {
            severity, urgency, ..
        } => format!("{severity:?}, {urgency:?}"),
        TicketEvent::InfoRequested { question } => question.clone(),
        TicketEvent::CustomerReplied { text } => text.clone(),
        TicketEvent::Diagnosed(d) => format!("cause: {}; solution: {}", d.cause, d.solution),
        TicketEvent::FixReported { summary } => summary.clone(),
        TicketEvent::VerificationPassed { notes } => notes.clone(),
        TicketEvent::CustomerConfirmed { comment } => comment.clone().unwrap_or_default(),
        TicketEvent::SatisfactionRated { score, .. } => format!("{score}/5"),
        TicketEvent::Closed {
            category, summary, ..
        } => format!("[{category}] {summary}"),
        other => format!("{other:?}"),
    }
}
