//! `casebook`: the command-line tool over the embedded sled store.
//!
//! - `customer`, `member`, `ticket`: commands through the engine, acting `--as` a member
//!   (or `--system` to bootstrap);
//! - `plan`, `incident`, `rule`, `sample`, `drill`, `respond`: emergency response;
//! - `sla publish`, `board`, `tick`, `replay`: service levels, the deadline scheduler and
//!   the read models; `report`: the KPI report of a month or quarter;
//! - `history`: a case's timeline; `verify`: an integrity pass over the whole log;
//! - `simulate`: a seeded, reproducible desk written through the engine.
//!
//! Errors are one line on stderr (`error: ...`) with an exit code that tells what kind
//! of failure it was (see [`error::CliError::exit_code`]).

mod board;
mod cli;
mod desk;
mod emergency_cmd;
mod error;
mod policy;
mod report_cmd;
mod simulate;
mod sla_cmd;
mod summary;
mod text;
mod verify;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, TopCommand};
use crate::error::CliError;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            // Help and version are successes printed on stdout; everything else is a
            // usage error: clap's first line (what was wrong), exit code 2.
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
            }
            let rendered = e.render().to_string();
            // Everything before clap's usage block, folded into one line.
            let what: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more"))
                .collect();
            eprintln!("{} (see --help)", one_line(&what.join(" ")));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(out) => {
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`casebook ... | head`) is not an error worth reporting.
            let _ = stdout.write_all(out.as_bytes());
            let _ = stdout.flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}", one_line(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}

/// Errors are promised as one line: fold any line breaks a message carries.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn run(cli: Cli) -> Result<String, CliError> {
    match &cli.command {
        TopCommand::Simulate(args) => simulate::run(&cli.store, args),
        TopCommand::Verify => verify::run(&cli.store, cli.json),
        TopCommand::Report(args) => report_cmd::run(&cli, args),
        TopCommand::Plan(_)
        | TopCommand::Incident(_)
        | TopCommand::Rule(_)
        | TopCommand::Sample { .. }
        | TopCommand::Drill(_)
        | TopCommand::Respond { .. } => emergency_cmd::run(&cli),
        TopCommand::Sla(_)
        | TopCommand::Board(_)
        | TopCommand::Tick { .. }
        | TopCommand::Replay => sla_cmd::run(&cli),
        _ => desk::run(&cli),
    }
}
