//! The shared conformance suite, on a fresh store in its own directory for every check,
//! with both durability settings.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};

use casebook_sled::{Durability, SledOptions, SledStore};

fn run(durability: Durability) {
    let parent = tempfile::tempdir().unwrap();
    let next = AtomicUsize::new(0);
    casebook_store::conformance::run_all(|| {
        let n = next.fetch_add(1, Ordering::Relaxed);
        SledStore::open(
            parent.path().join(n.to_string()),
            SledOptions { durability },
        )
        .unwrap()
    });
}

#[test]
fn synced_store_passes_the_conformance_suite() {
    run(Durability::Synced);
}

#[test]
fn buffered_store_passes_the_conformance_suite() {
    run(Durability::Buffered);
}
