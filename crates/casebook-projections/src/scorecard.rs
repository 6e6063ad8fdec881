//! The scorecard (domain.md §7, policy §7.2): a quantitative score per member and team
//! from the period's KPIs against configured weights and targets, next to the
//! qualitative rating a project manager entered for the same period
//! ([`casebook_core::assessment`]).
//!
//! # The quantitative score
//!
//! Each configured metric is read from the group's [`TicketKpis`] and scored 0–100
//! against its target:
//!
//! - a metric where **higher is better** (shares, satisfaction): `100 · min(1, value ÷
//!   target)`;
//! - a metric where **lower is better** (response time, reopen rate, backlog past a
//!   deadline): 100 when `value ≤ target`, else `100 · target ÷ value` (with target 0:
//!   100 only for value 0, else 0).
//!
//! The score is the weighted mean `Σ wᵢ·sᵢ ÷ Σ wᵢ` over the metrics that have a value
//! in the period (a member who resolved nothing has no first-time-resolution rate;
//! that metric's weight is left out rather than scored 0). With no metric valued the
//! score is `None`.

use std::collections::BTreeSet;

use casebook_core::assessment::{Assessments, Rating, Subject};
use casebook_core::MemberId;
use casebook_sla::TargetKind;
use serde::{Deserialize, Serialize};

use crate::kpi::{Dimension, KpiReport, TicketKpis};

/// A metric the scorecard can weigh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Share of first responses within target (0–1, higher is better).
    ResponseWithinTarget,
    /// Median opened → first response, minutes (lower is better).
    MedianResponseMinutes,
    /// Resolution rate (0–1, higher is better).
    ResolutionRate,
    /// First-time resolution rate (0–1, higher is better).
    FirstTimeResolution,
    /// Reopen rate (0–1, lower is better).
    ReopenRate,
    /// Mean satisfaction score (1–5, higher is better).
    Satisfaction,
    /// Resolution-target compliance (0–1, higher is better).
    ResolutionCompliance,
    /// Backlog cases past a deadline at the cut-off (count, lower is better).
    BacklogPastDeadline,
}

impl Metric {
    /// Whether a higher value is better.
    pub fn higher_is_better(self) -> bool {
        !matches!(
            self,
            Metric::MedianResponseMinutes | Metric::ReopenRate | Metric::BacklogPastDeadline
        )
    }

    /// The metric's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::ResponseWithinTarget => "response_within_target",
            Metric::MedianResponseMinutes => "median_response_minutes",
            Metric::ResolutionRate => "resolution_rate",
            Metric::FirstTimeResolution => "first_time_resolution",
            Metric::ReopenRate => "reopen_rate",
            Metric::Satisfaction => "satisfaction",
            Metric::ResolutionCompliance => "resolution_compliance",
            Metric::BacklogPastDeadline => "backlog_past_deadline",
        }
    }

    /// The metric's value in a group's figures, if it has one.
    pub fn value(self, k: &TicketKpis) -> Option<f64> {
        match self {
            Metric::ResponseWithinTarget => k.response.within_target_share,
            Metric::MedianResponseMinutes => {
                k.response.time.median_seconds.map(|s| f64::from(s) / 60.0)
            }
            Metric::ResolutionRate => k.resolution.resolution_rate,
            Metric::FirstTimeResolution => k.resolution.first_time_rate,
            Metric::ReopenRate => k.resolution.reopen_rate,
            Metric::Satisfaction => k.satisfaction.mean_score,
            Metric::ResolutionCompliance => k
                .sla
                .get(&TargetKind::Resolution)
                .and_then(|s| s.compliance),
            // Counts stay far below 2^53.
            #[allow(clippy::cast_precision_loss)]
            Metric::BacklogPastDeadline => {
                (k.backlog.age.count > 0).then_some(k.backlog.past_deadline as f64)
            }
        }
    }

    fn check_target(self, target: f64) -> Result<(), String> {
        let ok = match self {
            Metric::ResponseWithinTarget
            | Metric::ResolutionRate
            | Metric::FirstTimeResolution
            | Metric::ResolutionCompliance => target > 0.0 && target <= 1.0,
            Metric::ReopenRate => (0.0..=1.0).contains(&target),
            Metric::Satisfaction => (1.0..=5.0).contains(&target),
            Metric::MedianResponseMinutes => target > 0.0,
            Metric::BacklogPastDeadline => target >= 0.0,
        };
        if ok && target.is_finite() {
            Ok(())
        } else {
            let range = match self {
                Metric::ResponseWithinTarget
                | Metric::ResolutionRate
                | Metric::FirstTimeResolution
                | Metric::ResolutionCompliance => "a share in (0, 1]",
                Metric::ReopenRate => "a share in [0, 1]",
                Metric::Satisfaction => "a score in [1, 5]",
                Metric::MedianResponseMinutes => "minutes above 0",
                Metric::BacklogPastDeadline => "a count of 0 or more",
            };
            Err(format!(
                "target {target} of {} is not {range}",
                self.as_str()
            ))
        }
    }

    /// The 0–100 score of `value` against `target`.
    pub fn score(self, value: f64, target: f64) -> f64 {
        let s = if self.higher_is_better() {
            if target <= 0.0 {
                1.0
            } else {
                (value / target).min(1.0)
            }
        } else if value <= target {
            1.0
        } else if target <= 0.0 || value <= 0.0 {
            0.0
        } else {
            target / value
        };
        100.0 * s.clamp(0.0, 1.0)
    }
}

/// One metric's weight and target.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricWeight {
    /// The metric.
    pub metric: Metric,
    /// Its weight (non-negative).
    pub weight: f64,
    /// Its target.
    pub target: f64,
}

/// Why a scorecard configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScorecardError {
    /// A weight is negative or not finite.
    #[error("the weight of {metric} is {weight}: weights are finite and not negative")]
    BadWeight {
        /// The metric.
        metric: &'static str,
        /// The weight as given.
        weight: String,
    },
    /// Every weight is zero (or there are no metrics).
    #[error("every weight is zero: at least one metric must count")]
    AllZero,
    /// A target outside the metric's range.
    #[error("{0}")]
    BadTarget(String),
    /// A metric listed twice.
    #[error("{0} is listed twice")]
    Duplicate(&'static str),
}

/// The scorecard's weights and targets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScorecardConfig {
    /// The metrics, each at most once.
    pub metrics: Vec<MetricWeight>,
}

impl ScorecardConfig {
    /// A reasonable default: response within target (0.9) ×2, resolution rate (0.8),
    /// first-time resolution (0.85), reopen rate (≤ 0.05), satisfaction (4.5) ×2,
    /// resolution compliance (0.95) ×2.
    pub fn standard() -> ScorecardConfig {
        let m = |metric, weight, target| MetricWeight {
            metric,
            weight,
            target,
        };
        ScorecardConfig {
            metrics: vec![
                m(Metric::ResponseWithinTarget, 2.0, 0.9),
                m(Metric::ResolutionRate, 1.0, 0.8),
                m(Metric::FirstTimeResolution, 1.0, 0.85),
                m(Metric::ReopenRate, 1.0, 0.05),
                m(Metric::Satisfaction, 2.0, 4.5),
                m(Metric::ResolutionCompliance, 2.0, 0.95),
            ],
        }
    }

    /// Checks the configuration.
    ///
    /// # Errors
    ///
    /// [`ScorecardError`] naming the first problem: a negative or non-finite weight,
    /// all weights zero, a target outside its metric's range, a metric listed twice.
    pub fn validate(&self) -> Result<(), ScorecardError> {
        let mut seen = BTreeSet::new();
        for m in &self.metrics {
            if !m.weight.is_finite() || m.weight < 0.0 {
                return Err(ScorecardError::BadWeight {
                    metric: m.metric.as_str(),
                    weight: m.weight.to_string(),
                });
            }
            m.metric
                .check_target(m.target)
                .map_err(ScorecardError::BadTarget)?;
            if !seen.insert(m.metric) {
                return Err(ScorecardError::Duplicate(m.metric.as_str()));
            }
        }
        if self.metrics.iter().all(|m| m.weight == 0.0) {
            return Err(ScorecardError::AllZero);
        }
        Ok(())
    }
}

/// One metric's part in a score.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricScore {
    /// The metric.
    pub metric: Metric,
    /// Its value in the period, if any.
    pub value: Option<f64>,
    /// Its target.
    pub target: f64,
    /// Its weight.
    pub weight: f64,
    /// Its score 0–100, when valued.
    pub score: Option<f64>,
}

/// One member's or team's line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScorecardRow {
    /// Who.
    pub subject: Subject,
    /// The quantitative score 0–100 (`None` when no metric had a value).
    pub score: Option<f64>,
    /// Per metric.
    pub metrics: Vec<MetricScore>,
    /// The qualitative rating for the period, if one was entered.
    pub rating: Option<Rating>,
}

/// The scorecard of one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scorecard {
    /// The period's label.
    pub period: String,
    /// The log position the KPIs were computed at.
    pub position: u64,
    /// The configuration used.
    pub config: ScorecardConfig,
    /// Members (by id), then teams (by name).
    pub rows: Vec<ScorecardRow>,
}

/// Scores one group's figures.
pub fn score(config: &ScorecardConfig, kpis: &TicketKpis) -> (Option<f64>, Vec<MetricScore>) {
    let mut weighted = 0.0;
    let mut weights = 0.0;
    let metrics: Vec<MetricScore> = config
        .metrics
        .iter()
        .map(|m| {
            let value = m.metric.value(kpis);
            let score = value.map(|v| m.metric.score(v, m.target));
            if let Some(s) = score {
                weighted += m.weight * s;
                weights += m.weight;
            }
            MetricScore {
                metric: m.metric,
                value,
                target: m.target,
                weight: m.weight,
                score,
            }
        })
        .collect();
    let total = (weights > 0.0).then(|| weighted / weights);
    (total, metrics)
}

impl Scorecard {
    /// The scorecard of a report: one row per member and per team that has figures in
    /// it (or a rating for the period), each with its quantitative score and its
    /// qualitative rating. Unassigned tickets get no row.
    ///
    /// # Errors
    ///
    /// [`ScorecardError`] if `config` is invalid.
    pub fn compute(
        report: &KpiReport,
        assessments: &Assessments,
        config: &ScorecardConfig,
    ) -> Result<Scorecard, ScorecardError> {
        config.validate()?;
        let label = &report.period.label;
        let mut subjects: BTreeSet<Subject> = BTreeSet::new();
        for g in &report.groups {
            if g.key.starts_with('(') {
                continue;
            }
            match g.dimension {
                Dimension::Member => {
                    if let Ok(m) = MemberId::new(&g.key) {
                        subjects.insert(Subject::Member(m));
                    }
                }
                Dimension::Team => {
                    subjects.insert(Subject::Team(g.key.clone()));
                }
                _ => {}
            }
        }
        for (subject, period) in assessments.ratings.keys() {
            if period == label {
                subjects.insert(subject.clone());
            }
        }
        let rows = subjects
            .into_iter()
            .map(|subject| {
                let group = match &subject {
                    Subject::Member(m) => report.group(Dimension::Member, m.as_str()),
                    Subject::Team(t) => report.group(Dimension::Team, t),
                };
                let (score, metrics) = match group {
                    Some(k) => score(config, k),
                    None => (None, Vec::new()),
                };
                ScorecardRow {
                    rating: assessments.rating(&subject, label).cloned(),
                    subject,
                    score,
                    metrics,
                }
            })
            .collect();
        Ok(Scorecard {
            period: label.clone(),
            position: report.position,
            config: config.clone(),
            rows,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn metric_scores() {
        assert!(close(Metric::ResolutionRate.score(0.4, 0.8), 50.0));
        assert!(close(Metric::ResolutionRate.score(0.9, 0.8), 100.0));
        assert!(close(Metric::ReopenRate.score(0.1, 0.05), 50.0));
        assert!(close(Metric::ReopenRate.score(0.01, 0.05), 100.0));
        assert!(close(Metric::BacklogPastDeadline.score(0.0, 0.0), 100.0));
        assert!(close(Metric::BacklogPastDeadline.score(2.0, 0.0), 0.0));
        assert!(close(Metric::MedianResponseMinutes.score(60.0, 30.0), 50.0));
    }

    #[test]
    fn validation() {
        assert!(ScorecardConfig::standard().validate().is_ok());
        let one = |metric, weight, target| ScorecardConfig {
            metrics: vec![MetricWeight {
                metric,
                weight,
                target,
            }],
        };
        assert_eq!(
            one(Metric::ResolutionRate, 0.0, 0.8).validate(),
            Err(ScorecardError::AllZero)
        );
        assert!(matches!(
            one(Metric::ResolutionRate, -1.0, 0.8).validate(),
            Err(ScorecardError::BadWeight { .. })
        ));
        assert!(matches!(
            one(Metric::ResolutionRate, f64::NAN, 0.8).validate(),
            Err(ScorecardError::BadWeight { .. })
        ));
        assert!(matches!(
            one(Metric::ResolutionRate, 1.0, 1.5).validate(),
            Err(ScorecardError::BadTarget(_))
        ));
        assert!(matches!(
            one(Metric::Satisfaction, 1.0, 6.0).validate(),
            Err(ScorecardError::BadTarget(_))
        ));
        assert!(matches!(
            one(Metric::MedianResponseMinutes, 1.0, 0.0).validate(),
            Err(ScorecardError::BadTarget(_))
        ));
        assert_eq!(
            ScorecardConfig { metrics: vec![] }.validate(),
            Err(ScorecardError::AllZero)
        );
        let mut dup = ScorecardConfig::standard();
        dup.metrics.push(dup.metrics[0]);
        assert!(matches!(dup.validate(), Err(ScorecardError::Duplicate(_))));
    }
}
