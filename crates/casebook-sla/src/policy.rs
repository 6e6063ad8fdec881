//! SLA policies: effective-dated versions, each with a calendar, a target table chosen
//! by ([`CaseKind`], [`CustomerTier`], [`Severity`]), a warning ladder and a reopen
//! window; and the [`PolicyBook`] that says which version was in force when.
//!
//! Everything is validated at configuration time: a policy or book that exists is
//! usable, and a bad one is refused with a [`PolicyError`] that names what was wrong.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::calendar::{Calendar, CalendarError};
use crate::keys::{CaseKind, CustomerTier, Severity, TargetKind};

/// The longest allowed target or reopen window: 365 days (of business time for a
/// target, of elapsed time for the reopen window).
pub const MAX_TARGET: TimeDelta = TimeDelta::days(365);
/// The most warning shares one ladder may have.
pub const MAX_WARNING_SHARES: usize = 8;
/// Warning shares are stored in basis points: 1/10,000 of the target.
pub const BASIS_POINTS_PER_WHOLE: u32 = 10_000;

/// Why a policy, a book of policies or a part of one was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A target is zero or negative.
    #[error("{what} must be positive, got {seconds} s")]
    NonPositiveTarget {
        /// Which target, e.g. `"ticket/premium/critical first_response"`.
        what: String,
        /// The duration given, in seconds.
        seconds: i64,
    },
    /// A target or window longer than [`MAX_TARGET`].
    #[error("{what} of {seconds} s exceeds the limit of 365 days")]
    TooLong {
        /// Which duration.
        what: String,
        /// The duration given, in seconds.
        seconds: i64,
    },
    /// A target or window that is not a whole number of minutes (policies are exact to
    /// the minute).
    #[error("{what} of {seconds} s is not a whole number of minutes")]
    NotWholeMinutes {
        /// Which duration.
        what: String,
        /// The duration given, in seconds.
        seconds: i64,
    },
    /// The reopen window is negative.
    #[error("the reopen window must not be negative, got {seconds} s")]
    NegativeReopenWindow {
        /// The window given, in seconds.
        seconds: i64,
    },
    /// A target rule that sets none of the three targets.
    #[error("the target rule for {kind}/{tier}/{severity} sets no target")]
    EmptyRule {
        /// The case kind.
        kind: CaseKind,
        /// The customer tier.
        tier: CustomerTier,
        /// The severity.
        severity: Severity,
    },
    /// Two target rules for the same key.
    #[error("two target rules for {kind}/{tier}/{severity}")]
    DuplicateRule {
        /// The case kind.
        kind: CaseKind,
        /// The customer tier.
        tier: CustomerTier,
        /// The severity.
        severity: Severity,
    },
    /// A warning share outside the open interval (0, 1), or finer than a basis point.
    #[error("warning share {share} must lie strictly between 0 and 1, in steps of 0.0001")]
    ShareOutOfRange {
        /// The share given.
        share: f64,
    },
    /// Warning shares that do not strictly increase.
    #[error("warning shares must strictly increase: {previous} then {share}")]
    SharesNotIncreasing {
        /// The earlier share.
        previous: f64,
        /// The share that does not exceed it.
        share: f64,
    },
    /// More than [`MAX_WARNING_SHARES`] shares.
    #[error("{count} warning shares, more than the limit of {MAX_WARNING_SHARES}")]
    TooManyShares {
        /// How many were given.
        count: usize,
    },
    /// A policy version that does not take effect strictly after its predecessor.
    #[error(
        "policy version {version} takes effect at {effective_from}, not after version \
         {previous_version} at {previous_effective_from}"
    )]
    NotAfterPredecessor {
        /// The offending version.
        version: u32,
        /// When it takes effect.
        effective_from: DateTime<Utc>,
        /// Its predecessor.
        previous_version: u32,
        /// When the predecessor takes effect.
        previous_effective_from: DateTime<Utc>,
    },
    /// A version number not greater than its predecessor's.
    #[error("policy version {version} does not follow version {previous_version}")]
    VersionNotIncreasing {
        /// The offending version.
        version: u32,
        /// Its predecessor.
        previous_version: u32,
    },
    /// The policy's calendar is invalid.
    #[error("invalid calendar: {0}")]
    Calendar(#[from] CalendarError),
}

/// One rung of a warning ladder: a share of a target, exact to a basis point (0.01 %).
///
/// Serialised as a number such as `0.75`.
///
/// # Example
///
/// ```
/// use casebook_sla::WarningShare;
/// let share = WarningShare::from_fraction(0.75)?;
/// assert_eq!(share.basis_points(), 7_500);
/// assert_eq!(share.to_string(), "75%");
/// assert!(WarningShare::from_fraction(1.0).is_err());
/// # Ok::<(), casebook_sla::PolicyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct WarningShare {
    basis_points: u16,
}

impl WarningShare {
    /// The share `basis_points / 10,000`.
    ///
    /// # Errors
    ///
    /// [`PolicyError::ShareOutOfRange`] unless `0 < basis_points < 10,000`.
    pub fn from_basis_points(basis_points: u16) -> Result<Self, PolicyError> {
        if basis_points == 0 || u32::from(basis_points) >= BASIS_POINTS_PER_WHOLE {
            return Err(PolicyError::ShareOutOfRange {
                share: f64::from(basis_points) / f64::from(BASIS_POINTS_PER_WHOLE),
            });
        }
        Ok(WarningShare { basis_points })
    }

    /// The share `fraction`, e.g. `0.9`.
    ///
    /// # Errors
    ///
    /// [`PolicyError::ShareOutOfRange`] unless `0 < fraction < 1` and `fraction` is a
    /// whole number of basis points.
    pub fn from_fraction(fraction: f64) -> Result<Self, PolicyError> {
        let scaled = fraction * f64::from(BASIS_POINTS_PER_WHOLE);
        let rounded = scaled.round();
        let exact = (scaled - rounded).abs() < 1e-6;
        if !fraction.is_finite() || !exact || rounded <= 0.0 || rounded >= 10_000.0 {
            return Err(PolicyError::ShareOutOfRange { share: fraction });
        }
        // In range 1..=9999 by the check above, so the conversion is exact.
        let basis_points = rounded as u16;
        WarningShare::from_basis_points(basis_points)
    }

    /// The share in basis points (7,500 for 75 %).
    pub const fn basis_points(self) -> u16 {
        self.basis_points
    }

    /// The share as a fraction (0.75 for 75 %).
    pub fn fraction(self) -> f64 {
        f64::from(self.basis_points) / f64::from(BASIS_POINTS_PER_WHOLE)
    }

    /// This share of `target`, rounded up to the whole second so that a warning never
    /// fires before the share is actually reached.
    pub fn of(self, target: TimeDelta) -> TimeDelta {
        let secs = i128::from(target.num_seconds()) * i128::from(self.basis_points);
        let whole = i128::from(BASIS_POINTS_PER_WHOLE);
        let share = (secs + whole - 1).div_euclid(whole);
        TimeDelta::seconds(i64::try_from(share).unwrap_or(i64::MAX))
    }
}

impl TryFrom<f64> for WarningShare {
    type Error = PolicyError;

    fn try_from(value: f64) -> Result<Self, Self::Error> {
        WarningShare::from_fraction(value)
    }
}

impl From<WarningShare> for f64 {
    fn from(value: WarningShare) -> Self {
        value.fraction()
    }
}

impl fmt::Display for WarningShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = self.basis_points / 100;
        let rest = self.basis_points % 100;
        if rest == 0 {
            write!(f, "{whole}%")
        } else {
            write!(f, "{whole}.{rest:02}%")
        }
    }
}

/// Warning shares of a target, strictly increasing, each in (0, 1); possibly empty.
/// Each share fires a warning once per target cycle, before the breach.
///
/// Serialised as a list of numbers, e.g. `[0.75, 0.9]`.
///
/// # Example
///
/// ```
/// use casebook_sla::WarningLadder;
/// let ladder = WarningLadder::from_fractions(&[0.75, 0.9])?;
/// assert_eq!(ladder.shares().len(), 2);
/// assert!(WarningLadder::from_fractions(&[0.9, 0.75]).is_err());
/// # Ok::<(), casebook_sla::PolicyError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<WarningShare>", into = "Vec<WarningShare>")]
pub struct WarningLadder {
    shares: Vec<WarningShare>,
}

impl WarningLadder {
    /// A ladder from shares.
    ///
    /// # Errors
    ///
    /// [`PolicyError::SharesNotIncreasing`] unless the shares strictly increase;
    /// [`PolicyError::TooManyShares`] past [`MAX_WARNING_SHARES`].
    pub fn new(shares: Vec<WarningShare>) -> Result<Self, PolicyError> {
        if shares.len() > MAX_WARNING_SHARES {
            return Err(PolicyError::TooManyShares {
                count: shares.len(),
            });
        }
        for pair in shares.windows(2) {
            if let [previous, share] = pair {
                if share <= previous {
                    return Err(PolicyError::SharesNotIncreasing {
                        previous: previous.fraction(),
                        share: share.fraction(),
                    });
                }
            }
        }
        Ok(WarningLadder { shares })
    }

    /// A ladder from fractions such as `0.75`.
    ///
    /// # Errors
    ///
    /// As [`WarningShare::from_fraction`] and [`WarningLadder::new`].
    pub fn from_fractions(fractions: &[f64]) -> Result<Self, PolicyError> {
        let shares = fractions
            .iter()
            .map(|&f| WarningShare::from_fraction(f))
            .collect::<Result<Vec<_>, _>>()?;
        WarningLadder::new(shares)
    }

    /// The shares, increasing.
    pub fn shares(&self) -> &[WarningShare] {
        &self.shares
    }

    /// The first (lowest) share: past it a target is at risk.
    pub fn first(&self) -> Option<WarningShare> {
        self.shares.first().copied()
    }
}

impl TryFrom<Vec<WarningShare>> for WarningLadder {
    type Error = PolicyError;

    fn try_from(value: Vec<WarningShare>) -> Result<Self, Self::Error> {
        WarningLadder::new(value)
    }
}

impl From<WarningLadder> for Vec<WarningShare> {
    fn from(value: WarningLadder) -> Self {
        value.shares
    }
}

fn check_duration(what: impl Fn() -> String, d: TimeDelta) -> Result<(), PolicyError> {
    let seconds = d.num_seconds();
    if d <= TimeDelta::zero() {
        return Err(PolicyError::NonPositiveTarget {
            what: what(),
            seconds,
        });
    }
    if d > MAX_TARGET {
        return Err(PolicyError::TooLong {
            what: what(),
            seconds,
        });
    }
    if d.subsec_nanos() != 0 || seconds % 60 != 0 {
        return Err(PolicyError::NotWholeMinutes {
            what: what(),
            seconds,
        });
    }
    Ok(())
}

/// The three targets of one (kind, tier, severity), as business durations; any may be
/// absent (no clock runs for it). Each present target is positive, a whole number of
/// minutes and at most [`MAX_TARGET`].
///
/// Serialised as `{"first_response_minutes": 15, "next_update_minutes": 30,
/// "resolution_minutes": 240}`, absent targets left out.
///
/// # Example
///
/// ```
/// use casebook_sla::{TargetKind, TargetSet};
/// use chrono::TimeDelta;
/// let targets = TargetSet::new(Some(TimeDelta::minutes(15)), None, Some(TimeDelta::hours(4)))?;
/// assert_eq!(targets.get(TargetKind::Resolution), Some(TimeDelta::hours(4)));
/// assert_eq!(targets.get(TargetKind::NextUpdate), None);
/// assert!(TargetSet::new(Some(TimeDelta::zero()), None, None).is_err());
/// # Ok::<(), casebook_sla::PolicyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "TargetMinutes", into = "TargetMinutes")]
pub struct TargetSet {
    first_response: Option<TimeDelta>,
    next_update: Option<TimeDelta>,
    resolution: Option<TimeDelta>,
}

impl TargetSet {
    /// Targets from business durations.
    ///
    /// # Errors
    ///
    /// [`PolicyError::NonPositiveTarget`], [`PolicyError::TooLong`] or
    /// [`PolicyError::NotWholeMinutes`] for a bad duration.
    pub fn new(
        first_response: Option<TimeDelta>,
        next_update: Option<TimeDelta>,
        resolution: Option<TimeDelta>,
    ) -> Result<Self, PolicyError> {
        let set = TargetSet {
            first_response,
            next_update,
            resolution,
        };
        for kind in TargetKind::ALL {
            if let Some(d) = set.get(*kind) {
                check_duration(|| kind.to_string(), d)?;
            }
        }
        Ok(set)
    }

    /// The target of `kind`, if any.
    pub fn get(&self, kind: TargetKind) -> Option<TimeDelta> {
        match kind {
            TargetKind::FirstResponse => self.first_response,
            TargetKind::NextUpdate => self.next_update,
            TargetKind::Resolution => self.resolution,
        }
    }

    /// Whether no target is set.
    pub fn is_empty(&self) -> bool {
        self.first_response.is_none() && self.next_update.is_none() && self.resolution.is_none()
    }
}

/// The serde form of [`TargetSet`]: whole minutes, units in the names.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetMinutes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first_response_minutes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next_update_minutes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resolution_minutes: Option<i64>,
}

/// Minutes to a duration, refusing values past the policy limit (which would also
/// overflow `TimeDelta`).
fn minutes(what: &str, m: Option<i64>) -> Result<Option<TimeDelta>, PolicyError> {
    match m {
        None => Ok(None),
        Some(m) if m > MAX_TARGET.num_minutes() => Err(PolicyError::TooLong {
            what: what.to_owned(),
            seconds: m.saturating_mul(60),
        }),
        Some(m) if m <= 0 => Err(PolicyError::NonPositiveTarget {
            what: what.to_owned(),
            seconds: m.saturating_mul(60),
        }),
        Some(m) => Ok(Some(TimeDelta::minutes(m))),
    }
}

impl TryFrom<TargetMinutes> for TargetSet {
    type Error = PolicyError;

    fn try_from(v: TargetMinutes) -> Result<Self, Self::Error> {
        TargetSet::new(
            minutes("first_response", v.first_response_minutes)?,
            minutes("next_update", v.next_update_minutes)?,
            minutes("resolution", v.resolution_minutes)?,
        )
    }
}

impl From<TargetSet> for TargetMinutes {
    fn from(v: TargetSet) -> Self {
        TargetMinutes {
            first_response_minutes: v.first_response.map(|d| d.num_minutes()),
            next_update_minutes: v.next_update.map(|d| d.num_minutes()),
            resolution_minutes: v.resolution.map(|d| d.num_minutes()),
        }
    }
}

/// One row of a policy's target table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRule {
    /// The case kind it applies to.
    pub kind: CaseKind,
    /// The customer tier it applies to.
    pub tier: CustomerTier,
    /// The severity it applies to.
    pub severity: Severity,
    /// The targets.
    #[serde(flatten)]
    pub targets: TargetSet,
}

/// The key of a target table: (case kind, customer tier, severity).
pub type TargetKey = (CaseKind, CustomerTier, Severity);

/// The plain-data form of an [`SlaPolicy`], and its serde form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicySpec {
    /// The version number; versions in a book strictly increase.
    pub version: u32,
    /// When this version takes effect.
    pub effective_from: DateTime<Utc>,
    /// When the clocks run.
    pub calendar: Calendar,
    /// The target table; combinations left out have no targets.
    pub targets: Vec<TargetRule>,
    /// Warning shares, e.g. `[0.75, 0.9]`.
    #[serde(default)]
    pub warnings: WarningLadder,
    /// How long after resolution a reopen resumes the same resolution cycle, in
    /// minutes of elapsed (not business) time.
    pub reopen_window_minutes: i64,
}

/// One effective-dated version of the service-level policy.
///
/// # Example
///
/// ```
/// use casebook_sla::*;
/// use chrono::{TimeDelta, TimeZone, Utc};
///
/// let policy = SlaPolicy::new(
///     1,
///     Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().ok_or("time")?,
///     Calendar::business("Asia/Shanghai", WeeklyHours::weekdays(vec!["09:00-18:00".parse()?]))?,
///     vec![TargetRule {
///         kind: CaseKind::Ticket,
///         tier: CustomerTier::Premium,
///         severity: Severity::Critical,
///         targets: TargetSet::new(Some(TimeDelta::minutes(15)), Some(TimeDelta::minutes(60)), Some(TimeDelta::hours(4)))?,
///     }],
///     WarningLadder::from_fractions(&[0.75, 0.9])?,
///     TimeDelta::days(7),
/// )?;
/// let targets = policy.targets_for(CaseKind::Ticket, CustomerTier::Premium, Severity::Critical).ok_or("no targets")?;
/// assert_eq!(targets.get(TargetKind::FirstResponse), Some(TimeDelta::minutes(15)));
/// assert!(policy.targets_for(CaseKind::Ticket, CustomerTier::Basic, Severity::Low).is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SlaPolicySpec", into = "SlaPolicySpec")]
pub struct SlaPolicy {
    version: u32,
    effective_from: DateTime<Utc>,
    calendar: Calendar,
    targets: BTreeMap<TargetKey, TargetSet>,
    warnings: WarningLadder,
    reopen_window: TimeDelta,
}

impl SlaPolicy {
    /// A policy version.
    ///
    /// # Errors
    ///
    /// [`PolicyError::EmptyRule`] or [`PolicyError::DuplicateRule`] for the target
    /// table; [`PolicyError::NegativeReopenWindow`], [`PolicyError::TooLong`] or
    /// [`PolicyError::NotWholeMinutes`] for the reopen window (zero is allowed: no
    /// reopen resumes the cycle).
    pub fn new(
        version: u32,
        effective_from: DateTime<Utc>,
        calendar: Calendar,
        rules: Vec<TargetRule>,
        warnings: WarningLadder,
        reopen_window: TimeDelta,
    ) -> Result<Self, PolicyError> {
        let mut targets = BTreeMap::new();
        for rule in rules {
            let (kind, tier, severity) = (rule.kind, rule.tier, rule.severity);
            if rule.targets.is_empty() {
                return Err(PolicyError::EmptyRule {
                    kind,
                    tier,
                    severity,
                });
            }
            if targets
                .insert((kind, tier, severity), rule.targets)
                .is_some()
            {
                return Err(PolicyError::DuplicateRule {
                    kind,
                    tier,
                    severity,
                });
            }
        }
        if reopen_window < TimeDelta::zero() {
            return Err(PolicyError::NegativeReopenWindow {
                seconds: reopen_window.num_seconds(),
            });
        }
        if reopen_window > TimeDelta::zero() {
            check_duration(|| "the reopen window".to_owned(), reopen_window)?;
        }
        Ok(SlaPolicy {
            version,
            effective_from,
            calendar,
            targets,
            warnings,
            reopen_window,
        })
    }

    /// The version number.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// When this version takes effect.
    pub fn effective_from(&self) -> DateTime<Utc> {
        self.effective_from
    }

    /// The business calendar its clocks run on.
    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// The warning ladder.
    pub fn warnings(&self) -> &WarningLadder {
        &self.warnings
    }

    /// How long after resolution a reopen resumes the same resolution cycle (elapsed
    /// time).
    pub fn reopen_window(&self) -> TimeDelta {
        self.reopen_window
    }

    /// Whether a case resolved at `resolved_at` and reopened at `reopened_at` is
    /// within the reopen window (inclusive), and so resumes the same resolution cycle
    /// (see [`TargetClock::reopen`](crate::TargetClock::reopen)).
    pub fn within_reopen_window(
        &self,
        resolved_at: DateTime<Utc>,
        reopened_at: DateTime<Utc>,
    ) -> bool {
        reopened_at >= resolved_at && reopened_at - resolved_at <= self.reopen_window
    }

    /// The targets for (kind, tier, severity), or `None` if the table has no row for it.
    pub fn targets_for(
        &self,
        kind: CaseKind,
        tier: CustomerTier,
        severity: Severity,
    ) -> Option<&TargetSet> {
        self.targets.get(&(kind, tier, severity))
    }

    /// The one target of `target` kind for (kind, tier, severity), if set.
    pub fn target(
        &self,
        kind: CaseKind,
        tier: CustomerTier,
        severity: Severity,
        target: TargetKind,
    ) -> Option<TimeDelta> {
        self.targets_for(kind, tier, severity)
            .and_then(|t| t.get(target))
    }

    /// The whole target table, in key order.
    pub fn rules(&self) -> impl Iterator<Item = TargetRule> + '_ {
        self.targets
            .iter()
            .map(|(&(kind, tier, severity), &targets)| TargetRule {
                kind,
                tier,
                severity,
                targets,
            })
    }

    /// The plain-data form; `SlaPolicy::try_from(p.to_spec()) == Ok(p)`.
    pub fn to_spec(&self) -> SlaPolicySpec {
        SlaPolicySpec {
            version: self.version,
            effective_from: self.effective_from,
            calendar: self.calendar.clone(),
            targets: self.rules().collect(),
            warnings: self.warnings.clone(),
            reopen_window_minutes: self.reopen_window.num_minutes(),
        }
    }
}

impl TryFrom<SlaPolicySpec> for SlaPolicy {
    type Error = PolicyError;

    fn try_from(spec: SlaPolicySpec) -> Result<Self, Self::Error> {
        let window = if spec.reopen_window_minutes > MAX_TARGET.num_minutes() {
            return Err(PolicyError::TooLong {
                what: "the reopen window".to_owned(),
                seconds: spec.reopen_window_minutes.saturating_mul(60),
            });
        } else if spec.reopen_window_minutes < 0 {
            return Err(PolicyError::NegativeReopenWindow {
                seconds: spec.reopen_window_minutes.saturating_mul(60),
            });
        } else {
            TimeDelta::minutes(spec.reopen_window_minutes)
        };
        SlaPolicy::new(
            spec.version,
            spec.effective_from,
            spec.calendar,
            spec.targets,
            spec.warnings,
            window,
        )
    }
}

impl From<SlaPolicy> for SlaPolicySpec {
    fn from(policy: SlaPolicy) -> Self {
        policy.to_spec()
    }
}

/// Policy versions in effective order: answers which version was in force at an
/// instant. Serialised as the list of versions.
///
/// A version is in force from its `effective_from` (inclusive) until the next
/// version's. Before the first version no policy is in force.
///
/// # Example
///
/// ```
/// use casebook_sla::*;
/// use chrono::{TimeDelta, TimeZone, Utc};
///
/// let at = |m: u32| Utc.with_ymd_and_hms(2026, m, 1, 0, 0, 0).single().ok_or("time");
/// let version = |n: u32, from, hours: i64| -> Result<SlaPolicy, Box<dyn std::error::Error>> {
///     Ok(SlaPolicy::new(n, from, Calendar::around_the_clock(), vec![TargetRule {
///         kind: CaseKind::Incident, tier: CustomerTier::Standard, severity: Severity::High,
///         targets: TargetSet::new(None, None, Some(TimeDelta::hours(hours)))?,
///     }], WarningLadder::default(), TimeDelta::days(7))?)
/// };
/// let book = PolicyBook::new(vec![version(1, at(1)?, 8)?, version(2, at(4)?, 6)?])?;
/// assert!(book.in_force_at(at(1)? - TimeDelta::seconds(1)).is_none());
/// assert_eq!(book.in_force_at(at(3)?).map(|p| p.version()), Some(1));
/// assert_eq!(book.in_force_at(at(4)?).map(|p| p.version()), Some(2));
/// let t = book.target_at(at(5)?, CaseKind::Incident, CustomerTier::Standard, Severity::High, TargetKind::Resolution);
/// assert_eq!(t, Some(TimeDelta::hours(6)));
/// // A version must take effect after its predecessor.
/// assert!(PolicyBook::new(vec![version(1, at(4)?, 8)?, version(2, at(4)?, 6)?]).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Vec<SlaPolicy>", into = "Vec<SlaPolicy>")]
pub struct PolicyBook {
    versions: Vec<SlaPolicy>,
}

impl PolicyBook {
    /// A book of `versions`, given in order.
    ///
    /// # Errors
    ///
    /// [`PolicyError::NotAfterPredecessor`] if a version takes effect at or before its
    /// predecessor; [`PolicyError::VersionNotIncreasing`] if its number is not greater.
    pub fn new(versions: Vec<SlaPolicy>) -> Result<Self, PolicyError> {
        let mut book = PolicyBook::default();
        for v in versions {
            book.push(v)?;
        }
        Ok(book)
    }

    /// Appends a new version. On error the book is unchanged.
    ///
    /// # Errors
    ///
    /// As [`PolicyBook::new`].
    pub fn push(&mut self, policy: SlaPolicy) -> Result<(), PolicyError> {
        if let Some(last) = self.versions.last() {
            if policy.version <= last.version {
                return Err(PolicyError::VersionNotIncreasing {
                    version: policy.version,
                    previous_version: last.version,
                });
            }
            if policy.effective_from <= last.effective_from {
                return Err(PolicyError::NotAfterPredecessor {
                    version: policy.version,
                    effective_from: policy.effective_from,
                    previous_version: last.version,
                    previous_effective_from: last.effective_from,
                });
            }
        }
        self.versions.push(policy);
        Ok(())
    }

    /// The versions, in effective order.
    pub fn versions(&self) -> &[SlaPolicy] {
        &self.versions
    }

    /// The version with number `version`.
    pub fn version(&self, version: u32) -> Option<&SlaPolicy> {
        self.versions
            .binary_search_by_key(&version, |p| p.version)
            .ok()
            .and_then(|i| self.versions.get(i))
    }

    /// The version in force at `at`: the last one whose `effective_from <= at`.
    /// O(log versions).
    pub fn in_force_at(&self, at: DateTime<Utc>) -> Option<&SlaPolicy> {
        let after = self.versions.partition_point(|p| p.effective_from <= at);
        after.checked_sub(1).and_then(|i| self.versions.get(i))
    }

    /// The targets for (kind, tier, severity) under the version in force at `at`.
    pub fn targets_at(
        &self,
        at: DateTime<Utc>,
        kind: CaseKind,
        tier: CustomerTier,
        severity: Severity,
    ) -> Option<&TargetSet> {
        self.in_force_at(at)
            .and_then(|p| p.targets_for(kind, tier, severity))
    }

    /// The one target of `target` kind for (kind, tier, severity) at `at`.
    pub fn target_at(
        &self,
        at: DateTime<Utc>,
        kind: CaseKind,
        tier: CustomerTier,
        severity: Severity,
        target: TargetKind,
    ) -> Option<TimeDelta> {
        self.targets_at(at, kind, tier, severity)
            .and_then(|t| t.get(target))
    }
}

impl TryFrom<Vec<SlaPolicy>> for PolicyBook {
    type Error = PolicyError;

    fn try_from(value: Vec<SlaPolicy>) -> Result<Self, Self::Error> {
        PolicyBook::new(value)
    }
}

impl From<PolicyBook> for Vec<SlaPolicy> {
    fn from(value: PolicyBook) -> Self {
        value.versions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(severity: Severity, targets: TargetSet) -> TargetRule {
        TargetRule {
            kind: CaseKind::Ticket,
            tier: CustomerTier::Premium,
            severity,
            targets,
        }
    }

    fn hours(h: i64) -> Option<TimeDelta> {
        Some(TimeDelta::hours(h))
    }

    #[test]
    fn targets_are_validated() {
        assert!(matches!(
            TargetSet::new(Some(TimeDelta::zero()), None, None),
            Err(PolicyError::NonPositiveTarget { .. })
        ));
        assert!(matches!(
            TargetSet::new(None, Some(TimeDelta::minutes(-5)), None),
            Err(PolicyError::NonPositiveTarget { .. })
        ));
        assert!(matches!(
            TargetSet::new(None, None, Some(TimeDelta::days(366))),
            Err(PolicyError::TooLong { .. })
        ));
        assert!(matches!(
            TargetSet::new(None, None, Some(TimeDelta::seconds(90))),
            Err(PolicyError::NotWholeMinutes { .. })
        ));
        assert!(TargetSet::new(None, None, Some(TimeDelta::days(365))).is_ok());
        let err: Result<TargetSet, _> =
            serde_json::from_str(r#"{"resolution_minutes": 9223372036854775807}"#);
        assert!(err.is_err());
        let err: Result<TargetSet, _> = serde_json::from_str(r#"{"resolution_minutes": 0}"#);
        assert!(err.is_err());
    }

    #[test]
    fn warning_shares_are_validated() {
        for bad in [0.0, 1.0, -0.5, 1.5, f64::NAN, 0.12345] {
            assert!(WarningShare::from_fraction(bad).is_err(), "{bad}");
        }
        assert_eq!(
            WarningLadder::from_fractions(&[0.9, 0.9]),
            Err(PolicyError::SharesNotIncreasing {
                previous: 0.9,
                share: 0.9
            })
        );
        assert!(WarningLadder::from_fractions(&[0.5, 0.75, 0.9]).is_ok());
        let share = WarningShare::from_fraction(0.9).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(share.basis_points(), 9_000);
        assert_eq!(share.of(TimeDelta::hours(4)), TimeDelta::minutes(216));
        // Rounded up: 1/3 % of 1 minute is 0.2 s → 1 s.
        let tiny = WarningShare::from_basis_points(33).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(tiny.of(TimeDelta::minutes(1)), TimeDelta::seconds(1));
        let json: Result<WarningLadder, _> = serde_json::from_str("[0.75, 0.5]");
        assert!(json.is_err());
    }

    #[test]
    fn policy_rules_and_serde() {
        let cal = Calendar::around_the_clock();
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let ladder = WarningLadder::from_fractions(&[0.75, 0.9]).unwrap_or_default();
        let ok = |rules: Vec<TargetRule>| {
            SlaPolicy::new(
                1,
                t0,
                cal.clone(),
                rules,
                ladder.clone(),
                TimeDelta::days(7),
            )
        };
        let targets = TargetSet::new(hours(1), None, hours(8)).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            ok(vec![
                rule(Severity::High, targets),
                rule(Severity::High, targets)
            ]),
            Err(PolicyError::DuplicateRule { .. })
        ));
        let empty = TargetSet::new(None, None, None).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            ok(vec![rule(Severity::High, empty)]),
            Err(PolicyError::EmptyRule { .. })
        ));
        assert!(matches!(
            SlaPolicy::new(
                1,
                t0,
                cal.clone(),
                vec![],
                ladder.clone(),
                TimeDelta::days(-1)
            ),
            Err(PolicyError::NegativeReopenWindow { .. })
        ));
        let policy = ok(vec![rule(Severity::High, targets)]).unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::to_string(&policy).unwrap_or_default();
        assert!(json.contains(r#""first_response_minutes":60"#), "{json}");
        assert!(json.contains(r#""warnings":[0.75,0.9]"#), "{json}");
        let back: SlaPolicy = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, policy);
        assert!(policy.within_reopen_window(t0, t0 + TimeDelta::days(7)));
        assert!(!policy.within_reopen_window(t0, t0 + TimeDelta::days(7) + TimeDelta::seconds(1)));
    }

    #[test]
    fn book_orders_versions() {
        let cal = Calendar::around_the_clock();
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let make = |v: u32, from: DateTime<Utc>, h: i64| {
            let targets = TargetSet::new(None, None, hours(h)).unwrap_or_else(|e| panic!("{e}"));
            SlaPolicy::new(
                v,
                from,
                cal.clone(),
                vec![rule(Severity::Low, targets)],
                WarningLadder::default(),
                TimeDelta::zero(),
            )
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let day = TimeDelta::days(1);
        let mut book = PolicyBook::new(vec![make(1, t0, 8), make(3, t0 + day, 6)])
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            book.push(make(4, t0 + day, 4)),
            Err(PolicyError::NotAfterPredecessor { version: 4, .. })
        ));
        assert!(matches!(
            book.push(make(2, t0 + day * 2, 4)),
            Err(PolicyError::VersionNotIncreasing { version: 2, .. })
        ));
        assert_eq!(book.versions().len(), 2);
        let key = (CaseKind::Ticket, CustomerTier::Premium, Severity::Low);
        let at = |t| book.target_at(t, key.0, key.1, key.2, TargetKind::Resolution);
        assert_eq!(at(t0 - TimeDelta::seconds(1)), None);
        assert_eq!(at(t0), hours(8));
        assert_eq!(at(t0 + day - TimeDelta::seconds(1)), hours(8));
        assert_eq!(at(t0 + day), hours(6));
        assert_eq!(at(t0 + day * 1000), hours(6));
        assert_eq!(book.version(3).map(|p| p.effective_from()), Some(t0 + day));
        let json = serde_json::to_string(&book).unwrap_or_default();
        let back: PolicyBook = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, book);
        // Deserialising an out-of-order book fails.
        let mut versions: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap_or_default();
        versions.reverse();
        let reversed = serde_json::to_string(&versions).unwrap_or_default();
        assert!(serde_json::from_str::<PolicyBook>(&reversed).is_err());
    }
}
