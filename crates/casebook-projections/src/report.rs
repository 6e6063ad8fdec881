//! Report output for the CLI: JSON, CSV and a plain-text terminal table of a
//! [`KpiReport`], a [`Scorecard`] and the knowledge [`CategorySummary`] list.
//!
//! - JSON is the serde form of the value (pretty-printed). A ratio without data is
//!   `null`.
//! - CSV has a header line and one line per group (desk first), RFC 4180 quoting
//!   (fields containing a comma, quote or line break are quoted, quotes doubled).
//!   Empty fields mean "no data". Durations are seconds, ratios are 0–1 with four
//!   decimals.
//! - The table is plain text with columns padded to their widest cell (in terminal
//!   columns: CJK characters take two), numbers right-aligned, durations in a short human form (`1h05m`), ratios
//!   as percentages; `-` means no data.

use std::fmt::Write as _;

use casebook_core::assessment::Subject;
use casebook_sla::TargetKind;
use serde::Serialize;

use crate::knowledge::CategorySummary;
use crate::kpi::{KpiError, KpiReport, TicketKpis};
use crate::scorecard::Scorecard;

fn json<T: Serialize>(value: &T) -> Result<String, KpiError> {
    serde_json::to_string_pretty(value).map_err(|e| KpiError::Encode(e.to_string()))
}

/// Quotes a CSV field when needed.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn csv(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .map(|c| csv_field(c))
            .collect::<Vec<_>>()
            .join(",")
    };
    out.push_str(&line(headers.iter().map(|h| (*h).to_owned()).collect()));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r.clone()));
        out.push('\n');
    }
    out
}

/// Terminal columns a character takes: two for East Asian wide characters (CJK,
/// Hangul, full-width forms), one otherwise.
fn char_width(c: char) -> usize {
    match c as u32 {
        0x1100..=0x115F
        | 0x2E80..=0x303E
        | 0x3041..=0x33FF
        | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xA000..=0xA4CF
        | 0xAC00..=0xD7A3
        | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F
        | 0xFF00..=0xFF60
        | 0xFFE0..=0xFFE6
        | 0x20000..=0x3FFFD => 2,
        _ => 1,
    }
}

/// The terminal width of a cell.
fn width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

/// Aligns `rows` under `headers`: text columns left, columns whose first `numeric`
/// flags are set right.
fn table(headers: &[&str], numeric: &[bool], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(width(c));
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let mut text = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            let pad = " ".repeat(w.saturating_sub(width(c)));
            if i > 0 {
                text.push_str("  ");
            }
            if numeric.get(i).copied().unwrap_or(false) {
                text.push_str(&pad);
                text.push_str(c);
            } else {
                text.push_str(c);
                text.push_str(&pad);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&headers.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(&rule);
    for r in rows {
        line(r);
    }
    out
}

fn opt_u32(v: Option<u32>) -> String {
    v.map(|s| s.to_string()).unwrap_or_default()
}

fn opt_ratio(v: Option<f64>) -> String {
    v.map(|r| format!("{r:.4}")).unwrap_or_default()
}

fn opt_mean(v: Option<f64>) -> String {
    v.map(|r| format!("{r:.1}")).unwrap_or_default()
}

/// `1h05m`, `3d02h`, `45s`; `-` for none.
fn human(seconds: Option<u32>) -> String {
    let Some(s) = seconds else {
        return "-".to_owned();
    };
    let (d, h, m) = (s / 86_400, (s / 3_600) % 24, (s / 60) % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{:02}s", s % 60)
    } else {
        format!("{s}s")
    }
}

/// A mean duration as whole seconds for display (rounded; means are never negative).
fn mean_secs(v: Option<f64>) -> Option<u32> {
    // A mean of u32 samples fits in u32 after rounding.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    v.map(|m| m.round().clamp(0.0, f64::from(u32::MAX)) as u32)
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

const KPI_HEADERS: [&str; 27] = [
    "dimension",
    "key",
    "responses",
    "response_mean_s",
    "response_median_s",
    "response_p90_s",
    "within_target",
    "with_target",
    "within_target_share",
    "open_at_start",
    "opened",
    "resolved",
    "resolution_rate",
    "first_time_rate",
    "reopen_rate",
    "backlog",
    "backlog_median_age_s",
    "backlog_p90_age_s",
    "backlog_past_deadline",
    "ratings",
    "mean_score",
    "satisfied_share",
    "survey_response_rate",
    "first_response_compliance",
    "next_update_compliance",
    "resolution_compliance",
    "sla_breached",
];

fn kpi_csv_row(dimension: &str, key: &str, k: &TicketKpis) -> Vec<String> {
    let sla = |t: TargetKind| opt_ratio(k.sla.get(&t).and_then(|s| s.compliance));
    let breached: u64 = k.sla.values().map(|s| s.breached).sum();
    vec![
        dimension.to_owned(),
        key.to_owned(),
        k.response.time.count.to_string(),
        k.response
            .time
            .mean_seconds
            .map(|m| format!("{m:.1}"))
            .unwrap_or_default(),
        opt_u32(k.response.time.median_seconds),
        opt_u32(k.response.time.p90_seconds),
        k.response.within_target.to_string(),
        k.response.with_target.to_string(),
        opt_ratio(k.response.within_target_share),
        k.resolution.open_at_start.to_string(),
        k.resolution.opened.to_string(),
        k.resolution.resolved.to_string(),
        opt_ratio(k.resolution.resolution_rate),
        opt_ratio(k.resolution.first_time_rate),
        opt_ratio(k.resolution.reopen_rate),
        k.backlog.age.count.to_string(),
        opt_u32(k.backlog.age.median_seconds),
        opt_u32(k.backlog.age.p90_seconds),
        k.backlog.past_deadline.to_string(),
        k.satisfaction.ratings.to_string(),
        opt_ratio(k.satisfaction.mean_score),
        opt_ratio(k.satisfaction.satisfied_share),
        opt_ratio(k.satisfaction.response_rate),
        sla(TargetKind::FirstResponse),
        sla(TargetKind::NextUpdate),
        sla(TargetKind::Resolution),
        breached.to_string(),
    ]
}

impl KpiReport {
    fn rows(&self) -> impl Iterator<Item = (&str, &str, &TicketKpis)> {
        std::iter::once(("desk", "desk", &self.desk)).chain(
            self.groups
                .iter()
                .map(|g| (g.dimension.as_str(), g.key.as_str(), &g.kpis)),
        )
    }

    /// The report as pretty-printed JSON.
    ///
    /// # Errors
    ///
    /// [`KpiError::Encode`] if serde fails (it does not for these types).
    pub fn to_json(&self) -> Result<String, KpiError> {
        json(self)
    }

    /// The ticket figures as CSV: one line per group, desk first (see the
    /// [module docs](self)). Incident and drill figures are in [`KpiReport::to_json`]
    /// and [`KpiReport::to_table`].
    pub fn to_csv(&self) -> String {
        let rows: Vec<Vec<String>> = self
            .rows()
            .map(|(d, k, kpis)| kpi_csv_row(d, k, kpis))
            .collect();
        csv(&KPI_HEADERS, &rows)
    }

    /// The report as a terminal table (plain text, aligned columns).
    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "KPIs {} ({}), window {} .. {}, log position {}",
            self.period.label,
            self.period.time_zone,
            self.period.start.to_rfc3339(),
            self.cut_off.to_rfc3339(),
            self.position
        );
        out.push('\n');
        let headers = [
            "group",
            "key",
            "resp",
            "mean",
            "median",
            "p90",
            "in target",
            "resolved",
            "res rate",
            "1st time",
            "reopen",
            "backlog",
            "age med",
            "age p90",
            "overdue",
            "csat",
            "satisfied",
            "survey",
            "SLA resol.",
        ];
        let mut numeric = [true; 19];
        numeric[0] = false;
        numeric[1] = false;
        let rows: Vec<Vec<String>> = self
            .rows()
            .map(|(d, key, k)| {
                vec![
                    d.to_owned(),
                    key.to_owned(),
                    k.response.time.count.to_string(),
                    human(mean_secs(k.response.time.mean_seconds)),
                    human(k.response.time.median_seconds),
                    human(k.response.time.p90_seconds),
                    pct(k.response.within_target_share),
                    k.resolution.resolved.to_string(),
                    pct(k.resolution.resolution_rate),
                    pct(k.resolution.first_time_rate),
                    pct(k.resolution.reopen_rate),
                    k.backlog.age.count.to_string(),
                    human(k.backlog.age.median_seconds),
                    human(k.backlog.age.p90_seconds),
                    k.backlog.past_deadline.to_string(),
                    k.satisfaction
                        .mean_score
                        .map_or_else(|| "-".to_owned(), |m| format!("{m:.2}")),
                    pct(k.satisfaction.satisfied_share),
                    pct(k.satisfaction.response_rate),
                    pct(k
                        .sla
                        .get(&TargetKind::Resolution)
                        .and_then(|s| s.compliance)),
                ]
            })
            .collect();
        out.push_str(&table(&headers, &numeric, &rows));
        out.push('\n');
        let i = &self.incidents;
        let per_customer = i
            .per_customer
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "Security incidents: {} declared{}; acknowledge mean {} median {} ({}); recover mean {} median {} ({})",
            i.declared,
            if per_customer.is_empty() {
                String::new()
            } else {
                format!(" ({per_customer})")
            },
            human(mean_secs(i.time_to_acknowledge.mean_seconds)),
            human(i.time_to_acknowledge.median_seconds),
            i.time_to_acknowledge.count,
            human(mean_secs(i.time_to_recover.mean_seconds)),
            human(i.time_to_recover.median_seconds),
            i.time_to_recover.count,
        );
        let d = &self.drills;
        let _ = writeln!(
            out,
            "Drills: {} held of {} planned; mean score {} over {} scored{}",
            d.held,
            d.planned,
            d.mean_score
                .map_or_else(|| "-".to_owned(), |m| format!("{m:.1}")),
            d.scored,
            if d.unscored > 0 {
                format!(" ({} unscored)", d.unscored)
            } else {
                String::new()
            }
        );
        out
    }
}

fn subject_cells(s: &Subject) -> (String, String) {
    match s {
        Subject::Member(m) => ("member".to_owned(), m.to_string()),
        Subject::Team(t) => ("team".to_owned(), t.clone()),
    }
}

impl Scorecard {
    /// The scorecard as pretty-printed JSON.
    ///
    /// # Errors
    ///
    /// [`KpiError::Encode`] if serde fails (it does not for these types).
    pub fn to_json(&self) -> Result<String, KpiError> {
        json(self)
    }

    /// One line per subject: kind, key, score, each metric's value and score, the
    /// rating and its comment.
    pub fn to_csv(&self) -> String {
        let mut headers: Vec<String> = vec!["kind".into(), "key".into(), "score".into()];
        for m in &self.config.metrics {
            headers.push(format!("{}_value", m.metric.as_str()));
            headers.push(format!("{}_score", m.metric.as_str()));
        }
        headers.extend(["rating".to_owned(), "rating_comment".to_owned()]);
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                let (kind, key) = subject_cells(&r.subject);
                let mut cells = vec![kind, key, opt_mean(r.score)];
                for m in &self.config.metrics {
                    let s = r.metrics.iter().find(|s| s.metric == m.metric);
                    cells.push(opt_ratio(s.and_then(|s| s.value)));
                    cells.push(opt_mean(s.and_then(|s| s.score)));
                }
                cells.push(
                    r.rating
                        .as_ref()
                        .map(|x| x.rating.to_string())
                        .unwrap_or_default(),
                );
                cells.push(
                    r.rating
                        .as_ref()
                        .map(|x| x.comment.clone())
                        .unwrap_or_default(),
                );
                cells
            })
            .collect();
        let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
        csv(&headers, &rows)
    }

    /// The scorecard as a terminal table: subject, quantitative score, rating.
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "Scorecard {} (log position {})\n\n",
            self.period, self.position
        );
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                let (kind, key) = subject_cells(&r.subject);
                vec![
                    kind,
                    key,
                    r.score
                        .map_or_else(|| "-".to_owned(), |s| format!("{s:.1}")),
                    r.rating
                        .as_ref()
                        .map_or_else(|| "-".to_owned(), |x| format!("{}/5", x.rating)),
                    r.rating
                        .as_ref()
                        .map(|x| x.comment.clone())
                        .unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str(&table(
            &["kind", "subject", "score", "rating", "comment"],
            &[false, false, true, true, false],
            &rows,
        ));
        out
    }
}

/// Knowledge category summaries as a terminal table.
pub fn categories_table(categories: &[CategorySummary]) -> String {
    let rows: Vec<Vec<String>> = categories
        .iter()
        .map(|c| {
            vec![
                c.category.clone(),
                c.count.to_string(),
                human(c.median_time_to_resolve_seconds),
                c.common_causes
                    .first()
                    .map(|t| format!("{} ({})", t.text, t.count))
                    .unwrap_or_default(),
                c.solutions_that_worked
                    .first()
                    .map(|t| format!("{} ({})", t.text, t.count))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "category",
            "cases",
            "median resolve",
            "top cause",
            "top working solution",
        ],
        &[false, true, true, false, false],
        &rows,
    )
}

/// Knowledge category summaries as CSV (top cause and solution only).
pub fn categories_csv(categories: &[CategorySummary]) -> String {
    let rows: Vec<Vec<String>> = categories
        .iter()
        .map(|c| {
            vec![
                c.category.clone(),
                c.count.to_string(),
                opt_u32(c.median_time_to_resolve_seconds),
                c.common_causes
                    .first()
                    .map(|t| t.text.clone())
                    .unwrap_or_default(),
                c.solutions_that_worked
                    .first()
                    .map(|t| t.text.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    csv(
        &[
            "category",
            "cases",
            "median_time_to_resolve_s",
            "top_cause",
            "top_working_solution",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting_and_table_alignment() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
        let t = table(
            &["name", "n"],
            &[false, true],
            &[
                vec!["邮件".into(), "5".into()],
                vec!["network".into(), "120".into()],
            ],
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "name       n");
        assert_eq!(lines[1], "-------  ---");
        assert_eq!(lines[2], "邮件       5");
        assert_eq!(lines[3], "network  120");
        assert_eq!(human(Some(3_900)), "1h05m");
        assert_eq!(human(Some(45)), "45s");
        assert_eq!(human(Some(2 * 86_400 + 7_200)), "2d02h");
        assert_eq!(human(None), "-");
    }
}
