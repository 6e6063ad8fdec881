//! Migration between stores: a whole desk copied from sled to PostgreSQL and back, with
//! the log and every state identical afterwards. Needs `CASEBOOK_PG_URL`; without it the
//! test says it was skipped.

use std::sync::Arc;

use casebook::prelude::*;
use casebook::store::{copy_all, EventStore};
use casebook_postgres::{PgOptions, PgStore};

use crate::support::{member, Desk};

fn sled_at(dir: &std::path::Path) -> Arc<dyn EventStore> {
    Arc::new(
        casebook::SledStore::open(
            dir,
            casebook::SledOptions {
                durability: casebook::Durability::Synced,
            },
        )
        .unwrap(),
    )
}

#[test]
fn a_desk_moves_from_sled_to_postgres_and_back_unchanged() {
    let Ok(url) = std::env::var("CASEBOOK_PG_URL") else {
        eprintln!("skipped: CASEBOOK_PG_URL not set");
        return;
    };
    let first = tempfile::tempdir().unwrap();
    let sled: Arc<dyn EventStore> = sled_at(first.path());
    let desk = Desk::on(sled.clone());
    let mut tickets = vec![
        desk.ticket_at(Stage::Closed),
        desk.ticket_at(Stage::Fix),
        desk.open(),
    ];
    let t = desk.ticket_at(Stage::Analysis);
    desk.ok(
        &desk.pm,
        t,
        TicketCommand::Assign {
            owner: member("sec"),
            team: "security".into(),
        },
    );
    tickets.push(t);

    let schema = format!("migration_{}", std::process::id());
    let pg = Arc::new(PgStore::open(PgOptions::new(&url, &schema).unwrap()).unwrap());
    let report = copy_all(&*sled, &*pg, &[]).unwrap();
    assert_eq!(report.events, sled.head_position().unwrap());
    let second = tempfile::tempdir().unwrap();
    let back = sled_at(second.path());
    copy_all(&*pg, &*back, &[]).unwrap();

    let original = casebook::store::read_stream_to_end_global(&*sled).unwrap();
    assert_eq!(
        original,
        casebook::store::read_stream_to_end_global(&*pg).unwrap()
    );
    assert_eq!(
        original,
        casebook::store::read_stream_to_end_global(&*back).unwrap()
    );
    for store in [pg.clone() as Arc<dyn EventStore>, back] {
        let engine = Engine::builder(store).build();
        assert_eq!(
            engine.directory().unwrap(),
            desk.engine.directory().unwrap()
        );
        for t in &tickets {
            assert_eq!(engine.ticket(*t).unwrap(), desk.engine.ticket(*t).unwrap());
        }
    }
    drop(pg);
    let mut admin = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .unwrap();
}
