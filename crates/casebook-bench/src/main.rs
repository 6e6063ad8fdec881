//! The Casebook macro benchmark: every figure beside its reference, measured in one run.
//!
//! ```text
//! cargo run --release -p casebook-bench -- [--quick] [--json] [--only NAME]
//! ```
//!
//! Each measurement in [`MEASUREMENTS`] produces named figures: a value, its unit, the
//! reference it is compared with (measured in the same run, in the same unit) and the
//! ratio value / reference. With `--json` each figure is one JSON line
//! `{"name","value","unit","reference","ratio"}`; otherwise a table. Every value is the
//! median of several runs. Timings belong here, never in tests.

mod cqrs_peer;
mod engine_figures;
mod kpi_figures;
mod sled_figures;
mod view_figures;
mod workload;

use std::error::Error;
use std::path::{Path, PathBuf};

use clap::Parser;

/// Command-line options.
#[derive(Parser, Debug)]
#[command(about = "The Casebook macro benchmark")]
struct Args {
    /// Smaller sizes and fewer runs, for a check in well under a minute.
    #[arg(long)]
    quick: bool,
    /// One JSON object per figure and line instead of a table.
    #[arg(long)]
    json: bool,
    /// Run only the measurements whose name contains this text.
    #[arg(long)]
    only: Option<String>,
    /// Where to create scratch stores (default: the system's temporary directory). Put
    /// it on the disk you want to measure.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Internal: run one child-process part (memory figures, MemStore) and write its
    /// numbers as a JSON array to `--child-out`.
    #[arg(long, hide = true)]
    child: Option<String>,
    /// Internal: where a child writes its numbers.
    #[arg(long, hide = true)]
    child_out: Option<PathBuf>,
}

/// One measured figure beside its reference.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Stable name, e.g. `append_durable_4`.
    pub name: String,
    /// The measured value (a median).
    pub value: f64,
    /// Unit of `value` and `reference`, e.g. `events/s`.
    pub unit: &'static str,
    /// The reference measured in the same run, in the same unit.
    pub reference: f64,
    /// What the reference is, for the table.
    pub reference_label: &'static str,
}

impl Figure {
    /// `value / reference`.
    pub fn ratio(&self) -> f64 {
        if self.reference == 0.0 {
            f64::NAN
        } else {
            self.value / self.reference
        }
    }
}

/// What every measurement gets: the size setting and a place for scratch files.
pub struct Ctx {
    /// Smaller sizes and fewer runs.
    pub quick: bool,
    /// The scratch root given with `--dir`, passed on to children.
    dir: Option<PathBuf>,
    scratch: tempfile::TempDir,
    next: std::cell::Cell<usize>,
}

impl Ctx {
    /// A fresh, empty directory for one store.
    pub fn fresh_dir(&self, label: &str) -> PathBuf {
        let n = self.next.get();
        self.next.set(n + 1);
        self.scratch.path().join(format!("{label}-{n}"))
    }

    /// How many times each figure is measured (the median is reported).
    pub fn runs(&self) -> usize {
        if self.quick {
            3
        } else {
            5
        }
    }
}

/// A measurement: a name and the function producing its figures.
pub type Measure = fn(&Ctx) -> Result<Vec<Figure>, Box<dyn Error>>;

/// Every measurement, in the order they run. Add new ones here.
pub const MEASUREMENTS: &[(&str, Measure)] = &[
    ("append_durable", sled_figures::append_durable),
    ("engine_commands", engine_figures::engine_commands),
    ("rebuild", view_figures::rebuild),
    ("kpi_quarter", kpi_figures::kpi_quarter),
    ("board_top50", view_figures::board_top50),
    ("replay_rss", view_figures::replay_rss),
    ("load_snapshot", sled_figures::load_snapshot),
    ("bytes_per_event", sled_figures::bytes_per_event),
];

/// Runs a part of a measurement in a fresh child process of this binary (own memory,
/// stdout discarded) and returns the numbers it reports.
///
/// # Errors
///
/// If the child cannot start, fails, or reports nothing readable.
pub fn run_child(ctx: &Ctx, part: &str) -> Result<Vec<f64>, Box<dyn Error>> {
    let out = ctx.fresh_dir("child").with_extension("json");
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command.args(["--child", part, "--child-out"]).arg(&out);
    if ctx.quick {
        command.arg("--quick");
    }
    if let Some(dir) = &ctx.dir {
        command.arg("--dir").arg(dir);
    }
    let status = command
        .stdout(std::process::Stdio::null())
        .stdin(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        return Err(format!("the {part} child process failed: {status}").into());
    }
    Ok(serde_json::from_slice(&std::fs::read(&out)?)?)
}

fn child_main(ctx: &Ctx, part: &str, out: &Path) -> Result<(), Box<dyn Error>> {
    let numbers = match part {
        "memstore_8" => engine_figures::memstore_samples(ctx, 8)?,
        "memstore_1000" => engine_figures::memstore_samples(ctx, 1_000)?,
        "replay_rss" => view_figures::replay_rss_child(ctx)?,
        "open_rss" => view_figures::open_rss_child(ctx)?,
        other => return Err(format!("no child part named {other}").into()),
    };
    std::fs::write(out, serde_json::to_vec(&numbers)?)?;
    Ok(())
}

/// The median of some samples (the mean of the middle two for an even count).
pub fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => samples[n / 2],
        _ => (samples[n / 2 - 1] + samples[n / 2]) / 2.0,
    }
}

fn scratch_root(dir: Option<&Path>) -> std::io::Result<tempfile::TempDir> {
    match dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            tempfile::tempdir_in(dir)
        }
        None => tempfile::tempdir(),
    }
}

fn print(figure: &Figure, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({
                "name": figure.name,
                "value": figure.value,
                "unit": figure.unit,
                "reference": figure.reference,
                "ratio": figure.ratio(),
            })
        );
    } else {
        println!(
            "{:<32} {:>14.1} {:<9} {:>14.1}  {:<34} {:>8.3}",
            figure.name,
            figure.value,
            figure.unit,
            figure.reference,
            figure.reference_label,
            figure.ratio()
        );
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = Args::parse();
    let ctx = Ctx {
        quick: args.quick,
        dir: args.dir.clone(),
        scratch: scratch_root(args.dir.as_deref())?,
        next: std::cell::Cell::new(0),
    };
    if let Some(part) = &args.child {
        let out = args
            .child_out
            .as_deref()
            .ok_or("--child needs --child-out")?;
        return child_main(&ctx, part, out);
    }
    if !args.json {
        println!(
            "{:<32} {:>14} {:<9} {:>14}  {:<34} {:>8}",
            "figure", "value", "unit", "reference", "reference is", "ratio"
        );
    }
    for (name, measure) in MEASUREMENTS {
        if args
            .only
            .as_deref()
            .is_some_and(|only| !name.contains(only))
        {
            continue;
        }
        for figure in measure(&ctx)? {
            print(&figure, args.json);
        }
    }
    Ok(())
}
