//! The command line, as clap derive types. Kept apart from what the commands do so the
//! shape of the tool reads in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Casebook: run an information-security after-sales desk on an embedded, event-sourced
/// store.
///
/// Every change is a command checked against the desk's rules and recorded as events;
/// ids go to stdout so the tool can be scripted, errors are one line on stderr.
/// Exit codes: 0 ok, 2 bad usage, 3 refused by a rule (or unknown id), 4 storage
/// (locked, corrupt, I/O), 5 integrity problem found by `verify`, 6 simulation bug.
#[derive(Debug, Parser)]
#[command(name = "casebook", version, max_term_width = 100)]
pub struct Cli {
    /// The store directory (created on first write).
    #[arg(
        long,
        global = true,
        default_value = "./casebook-data",
        value_name = "PATH"
    )]
    pub store: PathBuf,

    /// Act as this member (their roles are checked by every rule).
    #[arg(
        long = "as",
        global = true,
        value_name = "MEMBER",
        conflicts_with = "system"
    )]
    pub as_member: Option<String>,

    /// Act as the system, for bootstrapping a desk (registering the first customers and
    /// members).
    #[arg(long, global = true)]
    pub system: bool,

    /// Machine-readable output (JSON on stdout).
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: TopCommand,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum TopCommand {
    /// Customer organisations.
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// Members of the desk: staff, customer contacts, auditors.
    #[command(subcommand)]
    Member(MemberCommand),
    /// Customer tickets through intake, analysis, fix, verify, confirm and record.
    #[command(subcommand)]
    Ticket(TicketCmd),
    /// A case's timeline: every event of a stream, in order.
    History {
        /// A ticket, incident, drill, plan or rule id (UUID), or a stream id such as
        /// `directory:desk` or `incident:<uuid>`.
        id: String,
    },
    /// Contingency plans and their revisions.
    #[command(subcommand)]
    Plan(PlanCmd),
    /// Security incidents through their six stages to the post-incident review.
    #[command(subcommand)]
    Incident(IncidentCmd),
    /// Monitoring rules on metrics.
    #[command(subcommand)]
    Rule(RuleCmd),
    /// Sends one metric sample to a monitoring rule; prints the alert-state changes it
    /// recorded (usually none).
    Sample {
        /// The rule id.
        rule: String,
        /// The monitored target (system or device name).
        #[arg(long)]
        scope: String,
        /// The value.
        #[arg(long, allow_negative_numbers = true)]
        value: f64,
        /// When it was measured (RFC 3339; default now).
        #[arg(long)]
        at: Option<String>,
    },
    /// Drills against a plan revision, scored.
    #[command(subcommand)]
    Drill(DrillCmd),
    /// Runs the emergency-response process manager once: urgent tickets and monitoring
    /// alerts become incidents under the given plan, review improvements and drill
    /// findings become requested plan revisions. Prints what it handled.
    Respond {
        /// The plan incidents are declared under (its newest usable revision).
        #[arg(long)]
        plan: String,
    },
    /// Service-level policies.
    #[command(subcommand)]
    Sla(SlaCmd),
    /// The SLA board: open cases with their deadlines, at risk and breached first.
    Board(BoardArgs),
    /// Runs the deadline scheduler now: records due SLA warnings and breaches and expires
    /// confirmation windows that ran out. Prints what it recorded.
    Tick {
        /// The instant to run at (RFC 3339; default now).
        #[arg(long)]
        now: Option<String>,
    },
    /// The service-quality KPI report of a month or a quarter.
    Report(ReportArgs),
    /// Rebuilds the read models from the start of the log (progress on stderr), saves
    /// their checkpoints and prints counts.
    Replay,
    /// Checks the whole log: stream versions contiguous, global positions gap-free, every
    /// payload decodes. Exits 5 when it finds a problem.
    Verify,
    /// Simulates a desk from a seed and prints a summary.
    ///
    /// Generates customers, members and a stream of tickets with office-hour and weekday
    /// patterns (Asia/Shanghai), drives every ticket through the engine (every rule is
    /// enforced: a refusal here is a bug and stops the run), and prints a summary of the
    /// desk at the end. The same seed and days give byte-identical output.
    ///
    /// The store is opened with buffered durability: writes are acknowledged once in
    /// memory and synced at the end, so a crash mid-run may lose the latest writes (never
    /// part of one). A simulation can be rerun, so it accepts that window of loss.
    Simulate(SimulateArgs),
}

/// Arguments of `board`.
#[derive(Debug, Args)]
pub struct BoardArgs {
    /// Only this customer's cases.
    #[arg(long)]
    pub customer: Option<String>,
    /// Only this team's cases.
    #[arg(long)]
    pub team: Option<String>,
    /// Only this owner's cases.
    #[arg(long)]
    pub owner: Option<String>,
    /// Most rows.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub limit: u32,
    /// The board as it stood at this instant (RFC 3339; default now).
    #[arg(long)]
    pub as_of: Option<String>,
}

/// Arguments of `report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A quarter: `2026Q1` or `2026-Q1`.
    #[arg(long, conflicts_with = "month", required_unless_present = "month")]
    pub quarter: Option<String>,
    /// A month: `2026-03`.
    #[arg(long)]
    pub month: Option<String>,
    /// table, json, csv or html (a self-contained page with SVG charts of the trends).
    #[arg(long, default_value = "table", value_parser = ["table", "json", "csv", "html"])]
    pub format: String,
    /// Write the report to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// The report as it stood at this instant (RFC 3339; default now).
    #[arg(long)]
    pub as_of: Option<String>,
    /// The time zone months and quarters are reckoned in.
    #[arg(long = "tz", default_value = "Asia/Shanghai")]
    pub time_zone: String,
}

/// `sla ...`
#[derive(Debug, Subcommand)]
pub enum SlaCmd {
    /// Publishes a policy version from a JSON file (project managers). Prints the
    /// recorded event. See `sla example` for the format.
    Publish {
        /// The policy file (JSON).
        #[arg(long)]
        file: PathBuf,
    },
    /// Prints the desk's standard policy as JSON, effective from the given instant: a
    /// starting point for `sla publish`.
    Example {
        /// The version number.
        #[arg(long, default_value_t = 1)]
        version: u32,
        /// When it takes effect (RFC 3339).
        #[arg(long)]
        effective_from: String,
    },
}

/// `plan ...`
#[derive(Debug, Subcommand)]
pub enum PlanCmd {
    /// Creates a plan with its first revision; prints its id.
    Create {
        /// Title.
        #[arg(long)]
        title: String,
        /// Review interval in days.
        #[arg(long, default_value_t = 180)]
        review_days: u32,
        #[command(flatten)]
        content: PlanContentArgs,
    },
    /// Publishes the next revision (the whole content).
    Revise {
        /// Plan id.
        id: String,
        #[command(flatten)]
        content: PlanContentArgs,
        /// What changed and why.
        #[arg(long)]
        summary: String,
        /// A revision request this revision addresses (repeat).
        #[arg(long = "addresses")]
        addresses: Vec<u32>,
    },
    /// Records a review of the plan.
    Review {
        /// Plan id.
        id: String,
        /// Notes.
        #[arg(long)]
        notes: String,
    },
    /// Requests a revision.
    Request {
        /// Plan id.
        id: String,
        /// What should change.
        #[arg(long)]
        text: String,
    },
    /// Retires one revision.
    RetireRevision {
        /// Plan id.
        id: String,
        /// The revision.
        #[arg(long)]
        revision: u32,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Retires the plan.
    Retire {
        /// Plan id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Shows a plan: revisions, requests, review dates.
    Show {
        /// Plan id.
        id: String,
    },
}

/// The content of a plan revision.
#[derive(Debug, Args)]
pub struct PlanContentArgs {
    /// A response role as `ROLE|FILLED BY|DUTIES` (repeat).
    #[arg(long = "role", required = true)]
    pub roles: Vec<String>,
    /// A process step as `PHASE|MINUTES|DESCRIPTION`, phase one of occurrence, report,
    /// handling, recovery, in order (repeat).
    #[arg(long = "step", required = true)]
    pub steps: Vec<String>,
    /// A disposal measure (repeat).
    #[arg(long = "measure", required = true)]
    pub measures: Vec<String>,
}

/// `incident ...`
#[derive(Debug, Subcommand)]
pub enum IncidentCmd {
    /// Declares an incident by hand; prints its id.
    Declare {
        /// One-line title.
        #[arg(long)]
        title: String,
        /// What is known.
        #[arg(long)]
        description: String,
        /// critical, high, medium or low.
        #[arg(long)]
        severity: String,
        /// An affected customer organisation (repeat; none for an internal incident).
        #[arg(long = "customer")]
        customers: Vec<String>,
        /// An affected system (repeat; at least one).
        #[arg(long = "affected-system", required = true)]
        systems: Vec<String>,
        /// The plan it runs under.
        #[arg(long)]
        plan: String,
        /// The plan revision (default: the newest).
        #[arg(long)]
        revision: Option<u32>,
        /// When it was detected (RFC 3339; default now).
        #[arg(long)]
        detected_at: Option<String>,
    },
    /// A responder acknowledges it (intake → analysis).
    Ack {
        /// Incident id.
        id: String,
    },
    /// Scope and impact (analysis → fix).
    Assess {
        /// Incident id.
        id: String,
        /// Scope.
        #[arg(long)]
        scope: String,
        /// Impact.
        #[arg(long)]
        impact: String,
    },
    /// Logs a containment or disposal action (in fix).
    Action {
        /// Incident id.
        id: String,
        /// containment or disposal.
        #[arg(long)]
        kind: String,
        /// What was done.
        #[arg(long)]
        description: String,
    },
    /// A progress report (analysis, fix or verify).
    Progress {
        /// Incident id.
        id: String,
        /// The report.
        #[arg(long)]
        summary: String,
    },
    /// Recovery done (fix → verify).
    Recovered {
        /// Incident id.
        id: String,
        /// What was done.
        #[arg(long)]
        summary: String,
    },
    /// Recovery verification (verify → confirm when passed, → fix when failed).
    Verify {
        /// Incident id.
        id: String,
        /// Verification failed.
        #[arg(long)]
        failed: bool,
        /// Evidence.
        #[arg(long)]
        evidence: String,
    },
    /// An affected customer confirms recovery (or the owner, for an internal incident).
    Confirm {
        /// Incident id.
        id: String,
        /// The confirming organisation (omit for an internal incident).
        #[arg(long)]
        org: Option<String>,
        /// A comment.
        #[arg(long)]
        comment: Option<String>,
    },
    /// The post-incident review, with the loss assessment (in record).
    Review(ReviewArgs),
    /// Closes it (record → closed; needs the review).
    Close {
        /// Incident id.
        id: String,
    },
    /// Shows an incident and its timeline.
    Show {
        /// Incident id.
        id: String,
    },
}

/// Arguments of `incident review`.
#[derive(Debug, Args)]
pub struct ReviewArgs {
    /// Incident id.
    pub id: String,
    /// The root cause.
    #[arg(long)]
    pub root_cause: String,
    /// A lesson learned (repeat; at least one).
    #[arg(long = "lesson", required = true)]
    pub lessons: Vec<String>,
    /// An improvement action (repeat; each becomes a requested plan revision).
    #[arg(long = "improvement")]
    pub improvements: Vec<String>,
    /// Downtime in minutes.
    #[arg(long, default_value_t = 0)]
    pub downtime_minutes: u64,
    /// Systems affected.
    #[arg(long, default_value_t = 1)]
    pub systems_affected: u32,
    /// Records affected.
    #[arg(long, default_value_t = 0)]
    pub records_affected: u64,
    /// Direct cost in cents.
    #[arg(long, default_value_t = 0)]
    pub direct_cost_cents: u64,
    /// Responder effort in minutes.
    #[arg(long, default_value_t = 0)]
    pub responder_minutes: u64,
    /// Cost of one responder hour in cents.
    #[arg(long, default_value_t = 0)]
    pub hourly_rate_cents: u64,
}

/// `rule ...`
#[derive(Debug, Subcommand)]
pub enum RuleCmd {
    /// Defines a monitoring rule; prints its id.
    Define {
        /// Name.
        #[arg(long)]
        name: String,
        /// system_performance, network_traffic, open_vulnerabilities, security_incidents,
        /// or any other name.
        #[arg(long)]
        metric: String,
        /// internal, network, or customer:ORG.
        #[arg(long)]
        scope: String,
        /// above, at_or_above, below or at_or_below.
        #[arg(long, default_value = "above")]
        comparison: String,
        /// The threshold.
        #[arg(long, allow_negative_numbers = true)]
        threshold: f64,
        /// Seconds the metric must stay past the threshold before alerting.
        #[arg(long, default_value_t = 0)]
        window_seconds: u32,
        /// Severity of the alert and the incident it declares.
        #[arg(long)]
        severity: String,
        /// A suggested measure (repeat; at least one).
        #[arg(long = "measure", required = true)]
        measures: Vec<String>,
    },
    /// Retires a rule; its open alerts are cleared.
    Retire {
        /// Rule id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Shows a rule and its targets' alert state.
    Show {
        /// Rule id.
        id: String,
    },
}

/// `drill ...`
#[derive(Debug, Subcommand)]
pub enum DrillCmd {
    /// Schedules a drill against a plan revision; prints its id.
    Schedule {
        /// The plan.
        #[arg(long)]
        plan: String,
        /// The revision (default: the newest).
        #[arg(long)]
        revision: Option<u32>,
        /// The simulated scenario.
        #[arg(long)]
        scenario: String,
        /// A participant (repeat).
        #[arg(long = "participant", required = true)]
        participants: Vec<String>,
        /// When it is planned (RFC 3339).
        #[arg(long)]
        date: String,
    },
    /// Starts it.
    Start {
        /// Drill id.
        id: String,
    },
    /// Marks the end of a phase: occurrence, report, handling, recovery (in order).
    Phase {
        /// Drill id.
        id: String,
        /// The phase.
        phase: String,
    },
    /// The evaluation.
    Evaluate {
        /// Drill id.
        id: String,
        /// Notes.
        #[arg(long)]
        notes: String,
    },
    /// The findings (each becomes a requested plan revision); closes the drill.
    Findings {
        /// Drill id.
        id: String,
        /// A finding (repeat; none: nothing to improve).
        #[arg(long = "finding")]
        findings: Vec<String>,
    },
    /// Shows a drill and its score.
    Show {
        /// Drill id.
        id: String,
    },
}

/// Arguments of `simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The seed; the same seed gives the same desk.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// How many days to simulate (90 is a quarter).
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u32).range(1..=400))]
    pub days: u32,
    /// Replace an existing store in `--store` (only a Casebook store is ever removed).
    #[arg(long)]
    pub force: bool,
}

/// `customer ...`
#[derive(Debug, Subcommand)]
pub enum CustomerCommand {
    /// Registers a customer organisation (project manager or --system).
    Register {
        /// Organisation id (slug, e.g. `acme`).
        org: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Service tier: premium, standard or basic.
        #[arg(long)]
        tier: String,
    },
}

/// `member ...`
#[derive(Debug, Subcommand)]
pub enum MemberCommand {
    /// Adds a member with one or more roles.
    Add {
        /// Member id (slug, e.g. `li.na`).
        member: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// A role: project_manager, support_engineer, security_engineer, customer, auditor.
        /// Repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The organisation, for customer contacts.
        #[arg(long)]
        org: Option<String>,
        /// The team.
        #[arg(long)]
        team: Option<String>,
    },
    /// Grants a role.
    Grant {
        /// Member id.
        member: String,
        /// Role.
        role: String,
    },
    /// Revokes a role.
    Revoke {
        /// Member id.
        member: String,
        /// Role.
        role: String,
    },
    /// The member leaves: every permission ends now.
    Offboard {
        /// Member id.
        member: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// `ticket ...`
#[derive(Debug, Subcommand)]
pub enum TicketCmd {
    /// Opens a ticket; prints its id.
    Open(OpenArgs),
    /// Triage: severity and urgency (intake → analysis).
    Triage {
        /// Ticket id.
        id: String,
        /// critical, high, medium or low.
        #[arg(long)]
        severity: String,
        /// urgent or normal.
        #[arg(long, default_value = "normal")]
        urgency: String,
        /// Complex: needs a plan before the fix.
        #[arg(long)]
        complex: bool,
        /// Several teams: needs a plan before the fix.
        #[arg(long)]
        multi_team: bool,
    },
    /// Records the cause and the chosen solution (in analysis).
    Diagnose {
        /// Ticket id.
        id: String,
        /// The cause.
        #[arg(long)]
        cause: String,
        /// The chosen solution.
        #[arg(long)]
        solution: String,
    },
    /// Records the fix plan (in analysis).
    Plan {
        /// Ticket id.
        id: String,
        /// A step as `DESCRIPTION|OWNER|DUE` (DUE in RFC 3339). Repeat for several.
        #[arg(long = "step", required = true)]
        steps: Vec<String>,
    },
    /// Starts the fix (analysis → fix).
    StartFix {
        /// Ticket id.
        id: String,
    },
    /// Revises the solution on new facts (fix → analysis), reported to a project manager.
    Revise {
        /// Ticket id.
        id: String,
        /// What was learned.
        #[arg(long)]
        new_facts: String,
        /// The revised solution.
        #[arg(long)]
        solution: String,
        /// The project manager it is reported to.
        #[arg(long)]
        reported_to: String,
    },
    /// Reports the fix done (fix → verify).
    FixDone {
        /// Ticket id.
        id: String,
        /// What was done.
        #[arg(long)]
        summary: String,
    },
    /// Verification passed (verify → confirm).
    VerifyPass {
        /// Ticket id.
        id: String,
        /// How it was verified.
        #[arg(long)]
        notes: String,
    },
    /// Verification failed (verify → fix).
    VerifyFail {
        /// Ticket id.
        id: String,
        /// What failed.
        #[arg(long)]
        evidence: String,
    },
    /// The customer confirms the result (confirm → record).
    Confirm {
        /// Ticket id.
        id: String,
        /// A comment.
        #[arg(long)]
        comment: Option<String>,
    },
    /// The customer rejects the result (confirm → analysis).
    Reject {
        /// Ticket id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// The confirmation window ran out: counts as confirmed (confirm → record).
    Expire {
        /// Ticket id.
        id: String,
    },
    /// The customer's satisfaction score, 1 to 5.
    Rate {
        /// Ticket id.
        id: String,
        /// Score 1–5.
        #[arg(long)]
        score: u8,
        /// A comment.
        #[arg(long)]
        comment: Option<String>,
    },
    /// Records an improvement action (required before closing after a score of 1–2).
    Improve {
        /// Ticket id.
        id: String,
        /// The action.
        #[arg(long)]
        action: String,
    },
    /// Completes the record (record → closed).
    Close {
        /// Ticket id.
        id: String,
        /// Knowledge category.
        #[arg(long)]
        category: String,
        /// Knowledge summary.
        #[arg(long)]
        summary: String,
        /// The result.
        #[arg(long)]
        result: String,
        /// public, internal, confidential or secret.
        #[arg(long, default_value = "internal")]
        classification: String,
    },
    /// Withdraws the ticket (intake or analysis → record).
    Withdraw {
        /// Ticket id.
        id: String,
        /// duplicate, not_a_problem or customer_cancelled.
        #[arg(long)]
        reason: String,
        /// For a duplicate: the ticket it duplicates.
        #[arg(long)]
        of: Option<String>,
        /// Details.
        #[arg(long)]
        detail: String,
    },
    /// Reopens a closed ticket within the reopen window.
    Reopen {
        /// Ticket id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Assigns an owner and team.
    Assign {
        /// Ticket id.
        id: String,
        /// The owner.
        #[arg(long)]
        owner: String,
        /// The team.
        #[arg(long)]
        team: String,
    },
    /// Adds a note.
    Note {
        /// Ticket id.
        id: String,
        /// The text.
        text: String,
        /// The customer sees it.
        #[arg(long)]
        customer_visible: bool,
    },
    /// Asks the customer for information (the SLA clock pauses).
    Ask {
        /// Ticket id.
        id: String,
        /// The question.
        question: String,
    },
    /// Records the customer's reply (the SLA clock resumes).
    Reply {
        /// Ticket id.
        id: String,
        /// The reply.
        text: String,
    },
    /// Escalates to a project manager.
    Escalate {
        /// Ticket id.
        id: String,
        /// The project manager.
        #[arg(long)]
        to: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Links an incident.
    Link {
        /// Ticket id.
        id: String,
        /// The incident id.
        #[arg(long)]
        incident: String,
    },
    /// Changes severity after triage.
    Severity {
        /// Ticket id.
        id: String,
        /// critical, high, medium or low.
        severity: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Shows a ticket's current state.
    Show {
        /// Ticket id.
        id: String,
    },
    /// Lists tickets (read from the whole log).
    List {
        /// Only this stage (intake, analysis, fix, verify, confirm, record, closed).
        #[arg(long)]
        stage: Option<String>,
        /// Only open tickets.
        #[arg(long)]
        open: bool,
        /// Only this organisation.
        #[arg(long)]
        org: Option<String>,
    },
}

/// Arguments of `ticket open`.
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// Customer organisation.
    #[arg(long)]
    pub org: String,
    /// phone, email, chat, portal or monitoring.
    #[arg(long, default_value = "portal")]
    pub channel: String,
    /// One-line title.
    #[arg(long)]
    pub title: String,
    /// What the customer reports.
    #[arg(long)]
    pub description: String,
    /// Contact name.
    #[arg(long)]
    pub contact: String,
    /// Contact email.
    #[arg(long)]
    pub email: Option<String>,
    /// Contact phone.
    #[arg(long)]
    pub phone: Option<String>,
    /// The affected system.
    #[arg(long)]
    pub affected_system: String,
    /// When the customer reported it, if earlier (RFC 3339).
    #[arg(long)]
    pub reported_at: Option<String>,
}
