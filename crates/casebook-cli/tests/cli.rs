//! End-to-end tests of the `casebook` binary on temporary stores.

use std::path::Path;
use std::process::{Command, Output};

use casebook_sled::{Durability, SledOptions, SledStore};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_casebook");

fn run(store: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must succeed and returns its stdout.
fn ok(store: &Path, args: &[&str]) -> String {
    let o = run(store, args);
    assert!(
        o.status.success(),
        "{args:?} failed: {}{}",
        stderr(&o),
        stdout(&o)
    );
    stdout(&o)
}

/// Asserts a failure with the exit code and exactly one `error: ` line on stderr.
fn fails(store: &Path, args: &[&str], code: i32) -> String {
    let o = run(store, args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "one line on stderr, got {err:?}");
    assert!(err.starts_with("error: "), "{err:?}");
    err
}

fn events_in(store: &Path) -> u64 {
    let v: Value = serde_json::from_str(&ok(store, &["verify", "--json"])).expect("json");
    assert_eq!(v["problems"], 0, "{v}");
    v["events"].as_u64().expect("a count")
}

fn bootstrap(store: &Path) {
    ok(
        store,
        &[
            "--system",
            "customer",
            "register",
            "acme",
            "--name",
            "ACME 科技",
            "--tier",
            "premium",
        ],
    );
    for (id, role, org) in [
        ("li.na", "project_manager", None),
        ("wang.wei", "support_engineer", None),
        ("bob", "customer", Some("acme")),
    ] {
        let mut args = vec![
            "--system", "member", "add", id, "--name", id, "--role", role,
        ];
        if let Some(org) = org {
            args.extend(["--org", org]);
        }
        ok(store, &args);
    }
}

fn open_ticket(store: &Path) -> String {
    let out = ok(
        store,
        &[
            "--as",
            "bob",
            "ticket",
            "open",
            "--org",
            "acme",
            "--title",
            "VPN 无法连接",
            "--description",
            "Nobody can connect since 08:00",
            "--contact",
            "Bob",
            "--email",
            "bob@acme.example",
            "--affected-system",
            "vpn-gw-1",
        ],
    );
    let id = out.trim().to_string();
    assert!(
        uuid::Uuid::parse_str(&id).is_ok(),
        "stdout is the id: {out:?}"
    );
    id
}

#[test]
fn a_ticket_goes_through_its_lifecycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path();
    bootstrap(store);
    let t = open_ticket(store);
    let eng = ["--as", "wang.wei", "ticket"];
    let step = |args: &[&str]| {
        let mut all: Vec<&str> = eng.to_vec();
        all.extend_from_slice(args);
        ok(store, &all)
    };
    step(&["assign", &t, "--owner", "wang.wei", "--team", "network"]);
    step(&["triage", &t, "--severity", "high"]);
    step(&["ask", &t, "Which client version?"]);
    ok(
        store,
        &["--as", "bob", "ticket", "reply", &t, "AnyConnect 4.10"],
    );
    step(&[
        "diagnose",
        &t,
        "--cause",
        "expired certificate",
        "--solution",
        "renew it",
    ]);
    step(&["start-fix", &t]);
    step(&["fix-done", &t, "--summary", "renewed"]);
    step(&["verify-fail", &t, "--evidence", "one site still fails"]);
    step(&[
        "fix-done",
        &t,
        "--summary",
        "renewed on the second gateway too",
    ]);
    step(&["verify-pass", &t, "--notes", "10 logins ok"]);
    ok(
        store,
        &["--as", "bob", "ticket", "confirm", &t, "--comment", "works"],
    );
    ok(
        store,
        &["--as", "bob", "ticket", "rate", &t, "--score", "2"],
    );
    // A score of 2 needs an improvement action before closing: refused, then done right.
    let close = [
        "--as",
        "wang.wei",
        "ticket",
        "close",
        &t,
        "--category",
        "vpn",
        "--summary",
        "expired certificate",
        "--result",
        "renewed",
    ];
    let err = fails(store, &close, 3);
    assert!(err.contains("improvement_action_required"), "{err}");
    step(&["improve", &t, "--action", "monitor certificate expiry"]);
    ok(store, &close);

    let shown: Value =
        serde_json::from_str(&ok(store, &["--json", "ticket", "show", &t])).expect("json");
    assert_eq!(shown["stage"], "closed");
    assert_eq!(shown["satisfaction"], 2);
    assert_eq!(shown["failed_verifications"], 1);
    assert_eq!(shown["owner"], "wang.wei");

    let history = ok(store, &["history", &t]);
    for event in [
        "TicketOpened",
        "TicketAssigned",
        "TicketTriaged",
        "TicketInfoRequested",
        "TicketCustomerReplied",
        "TicketVerificationFailed",
        "TicketSatisfactionRated",
        "TicketImprovementActionRecorded",
        "TicketClosed",
    ] {
        assert!(history.contains(event), "{event} missing from\n{history}");
    }
    assert_eq!(history.lines().count(), 15, "{history}");

    let json: Value = serde_json::from_str(&ok(store, &["--json", "history", &t])).expect("json");
    let rows = json.as_array().expect("an array");
    assert_eq!(rows.len(), 15);
    assert_eq!(rows[0]["event_type"], "TicketOpened");
    // The operator sees the contact; the customer's own view redacts personal data.
    assert_eq!(rows[0]["payload"]["Opened"]["contact"]["name"], "Bob");
    let as_bob: Value =
        serde_json::from_str(&ok(store, &["--as", "bob", "--json", "history", &t])).expect("json");
    assert_eq!(as_bob[0]["payload"]["Opened"]["contact"], "[redacted]");

    let list: Value =
        serde_json::from_str(&ok(store, &["--json", "ticket", "list"])).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    assert_eq!(list[0]["id"], t.as_str());

    let recorded: Value = serde_json::from_str(&ok(
        store,
        &[
            "--as",
            "bob",
            "--json",
            "ticket",
            "reopen",
            &t,
            "--reason",
            "back again",
        ],
    ))
    .expect("json");
    assert_eq!(recorded["events"][0]["event_type"], "TicketReopened");
    assert_eq!(recorded["events"][0]["version"], 16);

    let directory = ok(store, &["history", "directory:desk"]);
    assert_eq!(directory.lines().count(), 4, "{directory}");
}

#[test]
fn errors_are_one_line_with_an_exit_code_and_write_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path();
    bootstrap(store);
    let t = open_ticket(store);
    let before = events_in(store);

    // Usage: clap errors and arguments that do not parse.
    fails(store, &["ticket", "frobnicate"], 2);
    fails(store, &["--as", "wang.wei", "ticket", "triage", &t], 2);
    fails(
        store,
        &[
            "--as",
            "wang.wei",
            "ticket",
            "triage",
            &t,
            "--severity",
            "huge",
        ],
        2,
    );
    fails(
        store,
        &[
            "--as",
            "wang.wei",
            "ticket",
            "triage",
            "not-a-uuid",
            "--severity",
            "high",
        ],
        2,
    );
    fails(store, &["ticket", "triage", &t, "--severity", "high"], 2);

    // Unknown ids and refusals by a rule.
    let unknown = "0190d2f0-0000-7000-8000-000000000000";
    let err = fails(store, &["ticket", "show", unknown], 3);
    assert!(err.contains(unknown), "{err}");
    fails(
        store,
        &[
            "--as",
            "wang.wei",
            "ticket",
            "triage",
            unknown,
            "--severity",
            "high",
        ],
        3,
    );
    fails(
        store,
        &[
            "--as",
            "nobody",
            "ticket",
            "triage",
            &t,
            "--severity",
            "high",
        ],
        3,
    );
    let err = fails(store, &["--as", "wang.wei", "ticket", "start-fix", &t], 3);
    assert!(err.contains("stage intake"), "{err}");
    let err = fails(
        store,
        &["--as", "bob", "ticket", "triage", &t, "--severity", "high"],
        3,
    );
    assert!(err.contains("may not"), "{err}");
    ok(
        store,
        &[
            "--system", "member", "offboard", "wang.wei", "--reason", "left",
        ],
    );
    let after_offboard = events_in(store);
    assert_eq!(after_offboard, before + 1);
    let err = fails(
        store,
        &[
            "--as",
            "wang.wei",
            "ticket",
            "triage",
            &t,
            "--severity",
            "high",
        ],
        3,
    );
    assert!(err.contains("offboarded"), "{err}");

    assert_eq!(
        events_in(store),
        after_offboard,
        "refused commands wrote nothing"
    );
}

#[test]
fn a_store_held_by_another_process_is_reported_as_locked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path();
    bootstrap(store);
    let before = events_in(store);
    // This test process holds the store; the binary is another process.
    let held = SledStore::open(
        store,
        SledOptions {
            durability: Durability::Synced,
        },
    )
    .expect("open");
    let err = fails(
        store,
        &[
            "--system", "member", "add", "x", "--name", "X", "--role", "auditor",
        ],
        4,
    );
    assert!(err.contains("locked"), "{err}");
    fails(store, &["verify"], 4);
    held.close().expect("close");
    assert_eq!(events_in(store), before);
}

#[test]
fn a_corrupt_store_is_reported_and_not_touched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path();
    bootstrap(store);
    let db = store.join("db");
    let mut bytes = std::fs::read(&db).expect("read db");
    for b in bytes.iter_mut().take(4096) {
        *b = 0xAB;
    }
    std::fs::write(&db, &bytes).expect("damage db");
    let err = fails(store, &["verify"], 4);
    assert!(err.contains("corrupt"), "{err}");
    fails(
        store,
        &[
            "--system", "member", "add", "x", "--name", "X", "--role", "auditor",
        ],
        4,
    );
    assert_eq!(
        std::fs::read(&db).expect("read db"),
        bytes,
        "left as it was"
    );

    let missing = dir.path().join("nothing-here");
    let err = fails(&missing, &["verify"], 4);
    assert!(err.contains("no store"), "{err}");
    assert!(!missing.exists(), "a read never creates a store");
}

#[test]
fn the_same_seed_simulates_the_same_desk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let args = ["simulate", "--seed", "11", "--days", "5"];
    let first = ok(&a, &args);
    let second = ok(&b, &args);
    assert_eq!(first, second);
    assert!(first.contains("tickets opened"), "{first}");
    assert!(first.contains("log position"), "{first}");
    let opened: u64 = first
        .lines()
        .find_map(|l| l.strip_prefix("tickets opened"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a count");
    assert!(
        opened > 50,
        "five days of a desk open more than 50 tickets: {first}"
    );
    assert!(events_in(&a) > opened * 3);

    // A non-empty store is refused without --force, and replaced with it.
    fails(&a, &args, 2);
    assert_eq!(
        ok(&a, &["simulate", "--seed", "11", "--days", "5", "--force"]),
        first
    );
    let other = ok(&b, &["simulate", "--seed", "12", "--days", "5", "--force"]);
    assert_ne!(other, first);
}
