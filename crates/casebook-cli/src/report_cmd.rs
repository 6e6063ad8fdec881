//! `casebook report`: the service-quality KPI report of a month or quarter, as a table,
//! JSON, CSV or a self-contained HTML page with inline SVG charts of the trends.

use std::fmt::Write as _;

use casebook::projections::kpi::{AsOf, KpiReport};
use casebook::projections::period::Period;
use casebook_sla::TargetKind;
use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;

use crate::cli::{Cli, ReportArgs};
use crate::desk::{parse_time, Desk};
use crate::error::CliError;

fn kpi_error(e: impl std::fmt::Display) -> CliError {
    CliError::Storage(format!("KPI report: {e}"))
}

/// `2026Q1`, `2026-Q1` and `2026-03` as the period's label.
fn label(text: &str) -> String {
    match text.split_once(['Q', 'q']) {
        Some((year, q)) if !year.ends_with('-') => format!("{year}-Q{q}"),
        _ => text.to_string(),
    }
}

/// Runs `report`.
///
/// # Errors
///
/// Usage errors for a bad period, zone, format or time; storage errors; an output file
/// that cannot be written.
pub fn run(cli: &Cli, args: &ReportArgs) -> Result<String, CliError> {
    let tz: Tz = args
        .time_zone
        .parse()
        .map_err(|_| CliError::Usage(format!("unknown time zone {:?}", args.time_zone)))?;
    let text = match (&args.quarter, &args.month) {
        (Some(q), None) => label(q),
        (None, Some(m)) => m.clone(),
        _ => return Err(CliError::Usage("give --quarter or --month".into())),
    };
    let period = Period::parse(&text, tz).map_err(|e| CliError::Usage(e.to_string()))?;
    let as_of = args
        .as_of
        .as_deref()
        .map(|t| parse_time("--as-of", t))
        .transpose()?
        .unwrap_or_else(Utc::now);
    if as_of < period.start {
        return Err(CliError::Usage(format!(
            "{} starts at {}, after --as-of {}",
            period.label,
            period.start.to_rfc3339(),
            as_of.to_rfc3339()
        )));
    }
    let desk = Desk::open(&cli.store, true)?;
    let result = (|| {
        let store = &**desk.engine.store();
        let report = KpiReport::build(store, &period, AsOf::Instant(as_of)).map_err(kpi_error)?;
        let rendered = match args.format.as_str() {
            "table" => report.to_table(),
            "json" => format!("{}\n", report.to_json().map_err(kpi_error)?),
            "csv" => report.to_csv(),
            _ => {
                let months = trend_months(&period, tz)?;
                let mut trend = Vec::new();
                for month in months.iter().filter(|m| m.start <= as_of) {
                    trend.push(
                        KpiReport::build(store, month, AsOf::Instant(as_of)).map_err(kpi_error)?,
                    );
                }
                html(&report, &trend, as_of)
            }
        };
        Ok::<_, CliError>(rendered)
    })();
    desk.close()?;
    let rendered = result?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, rendered.as_bytes())
                .map_err(|e| CliError::Storage(format!("cannot write {}: {e}", path.display())))?;
            Ok(format!("wrote {}\n", path.display()))
        }
        None => Ok(rendered),
    }
}

/// The months a trend shows: a quarter's three, or the month and the two before it.
fn trend_months(period: &Period, tz: Tz) -> Result<Vec<Period>, CliError> {
    let local = period.start.with_timezone(&tz);
    let (year, month) = (local.year(), local.month());
    let firsts: Vec<(i32, u32)> = if period.label.contains('Q') {
        (0..3).map(|k| (year, month + k)).collect()
    } else {
        (0..3)
            .rev()
            .map(|k| {
                let m = i64::from(year) * 12 + i64::from(month) - 1 - k;
                (
                    i32::try_from(m.div_euclid(12)).unwrap_or(year),
                    u32::try_from(m.rem_euclid(12) + 1).unwrap_or(1),
                )
            })
            .collect()
    };
    firsts
        .into_iter()
        .map(|(y, m)| Period::month(y, m, tz).map_err(|e| CliError::Usage(e.to_string())))
        .collect()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One bar chart: a series of (label, value) with a unit, scaled to its maximum.
fn bar_chart(title: &str, unit: &str, bars: &[(String, Option<f64>)]) -> String {
    let (width, height, pad) = (360.0_f64, 180.0_f64, 30.0_f64);
    let max = bars
        .iter()
        .filter_map(|(_, v)| *v)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let n = bars.len().max(1) as f64;
    let slot = (width - 2.0 * pad) / n;
    let mut svg = format!(
        "<figure><figcaption>{}</figcaption><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{}\">",
        escape(title),
        escape(title)
    );
    let _ = write!(
        svg,
        "<line x1=\"{pad}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#888\"/>",
        height - pad,
        width - pad,
        height - pad
    );
    for (i, (name, value)) in bars.iter().enumerate() {
        let x = pad + slot * i as f64 + slot * 0.2;
        let w = slot * 0.6;
        let v = value.unwrap_or(0.0);
        let h = (height - 2.0 * pad) * (v / max);
        let y = height - pad - h;
        let text = value.map_or_else(|| "-".to_string(), |v| format!("{v:.1}{unit}"));
        let _ = write!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"#3b6ea5\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{}</text>",
            x + w / 2.0,
            (y - 4.0).max(10.0),
            escape(&text),
            x + w / 2.0,
            height - pad + 14.0,
            escape(name)
        );
    }
    svg.push_str("</svg></figure>\n");
    svg
}

fn pct(r: Option<f64>) -> Option<f64> {
    r.map(|r| r * 100.0)
}

/// The report as one HTML page with inline SVG charts: no scripts, no external assets.
fn html(report: &KpiReport, trend: &[KpiReport], as_of: DateTime<Utc>) -> String {
    let names: Vec<String> = trend.iter().map(|r| r.period.label.clone()).collect();
    let series = |f: &dyn Fn(&KpiReport) -> Option<f64>| -> Vec<(String, Option<f64>)> {
        names.iter().cloned().zip(trend.iter().map(f)).collect()
    };
    #[allow(clippy::cast_precision_loss)]
    let charts = [
        bar_chart(
            "Tickets opened per month",
            "",
            &series(&|r| Some(r.desk.resolution.opened as f64)),
        ),
        bar_chart(
            "Tickets resolved per month",
            "",
            &series(&|r| Some(r.desk.resolution.resolved as f64)),
        ),
        bar_chart(
            "First response within target (%)",
            "%",
            &series(&|r| pct(r.desk.response.within_target_share)),
        ),
        bar_chart(
            "Resolution SLA compliance (%)",
            "%",
            &series(&|r| {
                pct(r
                    .desk
                    .sla
                    .get(&TargetKind::Resolution)
                    .and_then(|s| s.compliance))
            }),
        ),
        bar_chart(
            "Mean satisfaction (1–5)",
            "",
            &series(&|r| r.desk.satisfaction.mean_score),
        ),
        bar_chart(
            "Incidents declared per month",
            "",
            &series(&|r| Some(r.incidents.declared as f64)),
        ),
    ];
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Casebook KPI report {label}</title>\
         <style>body{{font-family:sans-serif;margin:2em;color:#222}}\
         figure{{display:inline-block;margin:1em}}figcaption{{font-weight:bold}}\
         pre{{background:#f6f6f6;padding:1em;overflow-x:auto}}</style></head><body>\n\
         <h1>Service quality {label}</h1>\n<p>{tz}; as of {as_of}; cut-off {cut}; log position {pos}.</p>\n\
         <h2>Trends</h2>\n",
        label = escape(&report.period.label),
        tz = escape(&report.period.time_zone),
        as_of = as_of.format("%Y-%m-%dT%H:%M:%SZ"),
        cut = report.cut_off.format("%Y-%m-%dT%H:%M:%SZ"),
        pos = report.position
    );
    for chart in &charts {
        page.push_str(chart);
    }
    let _ = write!(
        page,
        "<h2>Figures</h2>\n<pre>{}</pre>\n</body></html>\n",
        escape(&report.to_table())
    );
    page
}

/// The quarter's report for the simulation's summary: the quarter containing `start`, as
/// of `end` (or the quarter's end), from views at the same log position.
///
/// # Errors
///
/// Storage and decode errors of the KPI view.
pub fn quarter_report(
    store: &dyn casebook_store::EventStore,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    tz: Tz,
) -> Result<KpiReport, CliError> {
    let local = start.with_timezone(&tz);
    let quarter = (local.month() - 1) / 3 + 1;
    let period = Period::quarter(local.year(), quarter, tz).map_err(kpi_error)?;
    let as_of = (end - chrono::TimeDelta::microseconds(1)).min(period.end);
    KpiReport::build(store, &period, AsOf::Instant(as_of)).map_err(kpi_error)
}
