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
        /// A ticket id (UUID) or a stream id such as `directory:desk`.
        id: String,
    },
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
