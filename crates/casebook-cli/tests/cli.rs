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

/// The states of a board's rows, from `board --json`.
fn board_states(v: &Value) -> Vec<String> {
    v["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["state"].as_str().expect("a state").to_string())
        .collect()
}

#[test]
fn the_board_lists_breached_and_at_risk_cases_first_and_a_second_tick_records_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("desk");
    let summary = ok(&store, &["simulate", "--seed", "5", "--days", "6"]);
    assert!(
        summary.contains("SLA board at the end of the period"),
        "{summary}"
    );
    assert!(summary.contains("scheduler ticks"), "{summary}");
    assert!(summary.contains("incidents"), "{summary}");

    // Mid-period, some cases are urgent and others are not yet: urgent ones come first.
    let as_of = "2026-04-03T15:00:00+08:00";
    let v: Value = serde_json::from_str(&ok(
        &store,
        &["board", "--as-of", as_of, "--limit", "200", "--json"],
    ))
    .expect("board --json parses");
    let states = board_states(&v);
    let urgent = |s: &String| s == "breached" || s == "at_risk";
    assert!(states.iter().any(urgent), "{states:?}");
    assert!(states.iter().any(|s| !urgent(s)), "{states:?}");
    let first_calm = states.iter().position(|s| !urgent(s)).expect("a calm row");
    assert!(
        states[first_calm..].iter().all(|s| !urgent(s)),
        "breached and at-risk rows come first: {states:?}"
    );
    assert!(v["position"].as_u64().expect("a position") > 0);

    // The table says the same, and filters work.
    let table = ok(&store, &["board", "--as-of", as_of, "--limit", "5"]);
    let first_row = table.lines().nth(1).expect("a row");
    assert!(
        first_row.starts_with("breached") || first_row.starts_with("at_risk"),
        "{table}"
    );
    assert!(table.contains("computed at log position"), "{table}");
    let some_org = v["rows"][0]["customer"].as_str().expect("a customer");
    let filtered: Value = serde_json::from_str(&ok(
        &store,
        &["board", "--as-of", as_of, "--customer", some_org, "--json"],
    ))
    .expect("json");
    assert!(filtered["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .all(|r| r["customer"] == some_org));

    // The scheduler, well after the period: the first tick records, the second does not.
    let later = "2026-04-20T10:00:00+08:00";
    let first: Value =
        serde_json::from_str(&ok(&store, &["tick", "--now", later, "--json"])).expect("json");
    let recorded = first["warnings"].as_u64().expect("n")
        + first["breaches"].as_u64().expect("n")
        + first["expired"].as_array().expect("list").len() as u64;
    assert!(recorded > 0, "{first}");
    let events = events_in(&store);
    let second: Value =
        serde_json::from_str(&ok(&store, &["tick", "--now", later, "--json"])).expect("json");
    assert_eq!(second["warnings"], 0, "{second}");
    assert_eq!(second["breaches"], 0, "{second}");
    assert_eq!(second["expired"].as_array().map(Vec::len), Some(0));
    assert_eq!(events_in(&store), events, "the second tick wrote nothing");

    // The quarter's KPI report, in every format.
    let report: Value = serde_json::from_str(&ok(
        &store,
        &["report", "--quarter", "2026Q2", "--format", "json"],
    ))
    .expect("report json");
    assert_eq!(report["period"]["label"], "2026-Q2", "{report}");
    assert!(report["desk"]["resolution"]["opened"].as_u64().expect("n") > 0);
    let csv = ok(&store, &["report", "--month", "2026-04", "--format", "csv"]);
    assert!(csv.lines().count() > 2, "{csv}");
    let page = dir.path().join("q2.html");
    ok(
        &store,
        &[
            "report",
            "--quarter",
            "2026-Q2",
            "--format",
            "html",
            "--out",
            page.to_str().expect("utf-8"),
        ],
    );
    let html = std::fs::read_to_string(&page).expect("the page was written");
    assert!(html.contains("<svg"), "inline charts");
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="));
    fails(&store, &["report", "--month", "2026-13"], 2);

    // Replay rebuilds the view from zero and agrees with the log's head.
    let replay: Value = serde_json::from_str(&ok(&store, &["replay", "--json"])).expect("json");
    assert_eq!(replay["events"].as_u64(), Some(events), "{replay}");
    assert_eq!(replay["position"].as_u64(), Some(events), "{replay}");
}

#[test]
fn an_incident_goes_through_its_lifecycle_and_alerts_declare_incidents() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path();
    bootstrap(store);
    ok(
        store,
        &[
            "--system",
            "member",
            "add",
            "zhao.lei",
            "--name",
            "赵磊",
            "--role",
            "security_engineer",
        ],
    );
    let sec = ["--as", "zhao.lei"];
    let with =
        |args: &[&str]| -> Vec<String> { sec.iter().chain(args).map(|s| s.to_string()).collect() };
    let run_ok = |args: &[&str]| -> String {
        let all = with(args);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        ok(store, &refs)
    };
    let plan = run_ok(&[
        "plan",
        "create",
        "--title",
        "勒索软件应急预案 / Ransomware response",
        "--role",
        "incident commander|security on call|leads the response",
        "--step",
        "occurrence|10|confirm",
        "--step",
        "report|15|report to the PM",
        "--step",
        "handling|60|isolate and clean",
        "--step",
        "recovery|30|restore",
        "--measure",
        "isolate the host",
    ])
    .trim()
    .to_string();
    assert!(uuid::Uuid::parse_str(&plan).is_ok(), "{plan}");

    let incident = run_ok(&[
        "incident",
        "declare",
        "--title",
        "Encrypted file shares",
        "--description",
        "files renamed *.locked",
        "--severity",
        "critical",
        "--customer",
        "acme",
        "--affected-system",
        "fs-01",
        "--plan",
        &plan,
    ])
    .trim()
    .to_string();
    assert!(uuid::Uuid::parse_str(&incident).is_ok(), "{incident}");
    run_ok(&["incident", "ack", &incident]);
    run_ok(&[
        "incident",
        "assess",
        &incident,
        "--scope",
        "fs-01",
        "--impact",
        "shares offline",
    ]);
    // Recovery before any logged action is refused: one line, exit 3, nothing written.
    let before = events_in(store);
    let refused: Vec<String> = with(&["incident", "recovered", &incident, "--summary", "done"]);
    let refs: Vec<&str> = refused.iter().map(String::as_str).collect();
    fails(store, &refs, 3);
    assert_eq!(events_in(store), before);
    run_ok(&[
        "incident",
        "action",
        &incident,
        "--kind",
        "containment",
        "--description",
        "isolated fs-01",
    ]);
    run_ok(&["incident", "progress", &incident, "--summary", "contained"]);
    run_ok(&[
        "incident",
        "recovered",
        &incident,
        "--summary",
        "restored from backup",
    ]);
    run_ok(&[
        "incident",
        "verify",
        &incident,
        "--evidence",
        "checksums match",
    ]);
    // The affected customer's contact confirms for its organisation.
    ok(
        store,
        &[
            "--as", "bob", "incident", "confirm", &incident, "--org", "acme",
        ],
    );
    run_ok(&[
        "incident",
        "review",
        &incident,
        "--root-cause",
        "phished admin",
        "--lesson",
        "MFA was missing",
        "--improvement",
        "require MFA for admins",
        "--downtime-minutes",
        "90",
        "--responder-minutes",
        "240",
        "--hourly-rate-cents",
        "30000",
    ]);
    run_ok(&["incident", "close", &incident]);
    let state: Value =
        serde_json::from_str(&run_ok(&["incident", "show", &incident, "--json"])).expect("json");
    assert!(state["closed_at"].is_string(), "{state}");
    let history = ok(store, &["history", &incident]);
    assert!(
        history
            .lines()
            .next()
            .is_some_and(|l| l.contains("IncidentDeclared")),
        "{history}"
    );
    assert!(history.contains("IncidentClosed"), "{history}");

    // A monitoring rule: a sample past a zero-window threshold raises an alert, and the
    // process manager declares an incident for it under the plan.
    let rule = run_ok(&[
        "rule",
        "define",
        "--name",
        "DB CPU",
        "--metric",
        "system_performance",
        "--scope",
        "customer:acme",
        "--threshold",
        "90",
        "--severity",
        "high",
        "--measure",
        "look for miners",
    ])
    .trim()
    .to_string();
    let quiet = run_ok(&["sample", &rule, "--scope", "acme-db", "--value", "40"]);
    assert_eq!(quiet.trim(), "nothing to record");
    let alert = run_ok(&["sample", &rule, "--scope", "acme-db", "--value", "97"]);
    assert!(alert.contains("AlertRaised"), "{alert}");
    let responded: Value =
        serde_json::from_str(&ok(store, &["respond", "--plan", &plan, "--json"])).expect("json");
    assert!(responded["handled"].as_u64().expect("n") > 0, "{responded}");
    let rule_state = run_ok(&["rule", "show", &rule]);
    assert!(rule_state.contains("ALERT #1"), "{rule_state}");
    // The review's improvement became a requested revision of the plan.
    let plan_state = run_ok(&["plan", "show", &plan]);
    assert!(
        plan_state.contains("require MFA for admins"),
        "{plan_state}"
    );

    // A drill against the plan, scored.
    let drill = run_ok(&[
        "drill",
        "schedule",
        "--plan",
        &plan,
        "--scenario",
        "tabletop",
        "--participant",
        "zhao.lei",
        "--date",
        "2026-03-02T10:00:00+08:00",
    ])
    .trim()
    .to_string();
    run_ok(&["drill", "start", &drill]);
    fails(
        store,
        &["--as", "zhao.lei", "drill", "phase", &drill, "handling"],
        3,
    );
    for phase in ["occurrence", "report", "handling", "recovery"] {
        run_ok(&["drill", "phase", &drill, phase]);
    }
    run_ok(&["drill", "evaluate", &drill, "--notes", "fine"]);
    run_ok(&["drill", "findings", &drill, "--finding", "no deputy"]);
    let scored: Value =
        serde_json::from_str(&run_ok(&["drill", "show", &drill, "--json"])).expect("json");
    assert!(scored["score"]["total"].as_u64().is_some(), "{scored}");
}

#[test]
fn a_bad_policy_file_is_one_line_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("desk");
    bootstrap(&store);
    let before = events_in(&store);
    let file = dir.path().join("policy.json");
    let pm = ["--as", "li.na", "sla", "publish", "--file"];
    let publish = |path: &Path, code: Option<i32>| {
        let mut args: Vec<&str> = pm.to_vec();
        let p = path.to_str().expect("utf-8 path");
        args.push(p);
        match code {
            Some(code) => {
                fails(&store, &args, code);
            }
            None => {
                ok(&store, &args);
            }
        }
    };

    publish(&dir.path().join("missing.json"), Some(2));
    std::fs::write(&file, "{ not json").expect("write");
    publish(&file, Some(2));
    std::fs::write(&file, r#"{"version": 1, "targets": []}"#).expect("write");
    publish(&file, Some(2));
    // Well-formed, but a warning share past 1 does not make a policy.
    let mut spec: Value = serde_json::from_str(&ok(
        &store,
        &["sla", "example", "--effective-from", "2030-01-01T00:00:00Z"],
    ))
    .expect("the example is JSON");
    spec["warnings"] = serde_json::json!([0.75, 1.5]);
    std::fs::write(&file, spec.to_string()).expect("write");
    publish(&file, Some(2));
    // A valid policy that would take effect in the past is refused by the desk's rule.
    spec["warnings"] = serde_json::json!([0.75, 0.9]);
    spec["effective_from"] = serde_json::json!("2020-01-01T00:00:00Z");
    std::fs::write(&file, spec.to_string()).expect("write");
    publish(&file, Some(3));
    // A support engineer may not publish one.
    spec["effective_from"] = serde_json::json!("2030-01-01T00:00:00Z");
    std::fs::write(&file, spec.to_string()).expect("write");
    fails(
        &store,
        &[
            "--as",
            "wang.wei",
            "sla",
            "publish",
            "--file",
            file.to_str().expect("utf-8"),
        ],
        3,
    );
    assert_eq!(events_in(&store), before, "nothing was written");

    publish(&file, None);
    assert_eq!(events_in(&store), before + 1);
}
