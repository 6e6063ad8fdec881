//! The keys a policy is chosen by: case kind, customer tier, severity, and the kind of
//! target.
//!
//! Every key serialises in `snake_case`, displays in the same spelling, and parses back
//! from it with [`FromStr`](std::str::FromStr) (the CLI parses them), so
//! `"critical".parse::<Severity>()` and `serde_json::from_str("\"critical\"")` agree.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A key string that names no variant of the key type it was parsed as.
///
/// Returned by the [`FromStr`] implementations of [`Severity`], [`CustomerTier`],
/// [`CaseKind`] and [`TargetKind`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {key} {value:?}: expected one of {expected}")]
pub struct ParseKeyError {
    /// Which key type was being parsed, e.g. `"severity"`.
    pub key: &'static str,
    /// The text that did not parse.
    pub value: String,
    /// The accepted spellings, comma separated.
    pub expected: &'static str,
}

/// Declares a key enum with its snake_case spelling used by serde, `Display` and
/// `FromStr` alike, so the three can never drift apart.
macro_rules! key_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $key:literal, $expected:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// Every variant, in declaration (and `Ord`) order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The snake_case spelling used by serde, `Display` and `FromStr`.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseKeyError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ParseKeyError {
                        key: $key,
                        value: s.to_owned(),
                        expected: $expected,
                    }),
                }
            }
        }
    };
}

key_enum! {
    /// How bad a case is. Ordered from the most to the least severe, so sorting puts
    /// critical cases first.
    ///
    /// # Example
    ///
    /// ```
    /// use casebook_sla::Severity;
    /// assert_eq!("high".parse::<Severity>()?, Severity::High);
    /// assert_eq!(Severity::Critical.to_string(), "critical");
    /// assert!(Severity::Critical < Severity::Low);
    /// assert!("urgent".parse::<Severity>().is_err());
    /// # Ok::<(), casebook_sla::ParseKeyError>(())
    /// ```
    Severity, "severity", "critical, high, medium, low" {
        /// Business stopped or a security breach in progress.
        Critical => "critical",
        /// Serious degradation or exposure.
        High => "high",
        /// Limited impact, a workaround exists.
        Medium => "medium",
        /// Questions, cosmetic problems.
        Low => "low",
    }
}

key_enum! {
    /// The service tier of a customer organisation, from the best served.
    ///
    /// # Example
    ///
    /// ```
    /// use casebook_sla::CustomerTier;
    /// assert_eq!("premium".parse::<CustomerTier>()?, CustomerTier::Premium);
    /// # Ok::<(), casebook_sla::ParseKeyError>(())
    /// ```
    CustomerTier, "customer tier", "premium, standard, basic" {
        /// The best-served tier.
        Premium => "premium",
        /// The default tier.
        Standard => "standard",
        /// The entry tier.
        Basic => "basic",
    }
}

key_enum! {
    /// Whether a case is a customer ticket or a security incident.
    ///
    /// # Example
    ///
    /// ```
    /// use casebook_sla::CaseKind;
    /// assert_eq!(CaseKind::Incident.to_string(), "incident");
    /// ```
    CaseKind, "case kind", "ticket, incident" {
        /// One customer problem.
        Ticket => "ticket",
        /// A security incident under emergency response.
        Incident => "incident",
    }
}

key_enum! {
    /// Which service-level target a clock measures.
    ///
    /// # Example
    ///
    /// ```
    /// use casebook_sla::TargetKind;
    /// assert_eq!("next_update".parse::<TargetKind>()?, TargetKind::NextUpdate);
    /// # Ok::<(), casebook_sla::ParseKeyError>(())
    /// ```
    TargetKind, "target kind", "first_response, next_update, resolution" {
        /// From opening (or the alert) to the first customer-visible response by staff.
        FirstResponse => "first_response",
        /// Restarts at each customer-visible update (for incidents: the progress-report
        /// cadence).
        NextUpdate => "next_update",
        /// From opening to a verified fix delivered to the customer.
        Resolution => "resolution",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_fromstr_and_serde_agree_for_every_variant() {
        fn check<T>(all: &[T])
        where
            T: Copy + fmt::Display + FromStr<Err = ParseKeyError> + Serialize + PartialEq,
            T: for<'de> Deserialize<'de> + fmt::Debug,
        {
            for &v in all {
                let text = v.to_string();
                assert_eq!(text.parse::<T>(), Ok(v));
                let json = serde_json::to_string(&v).unwrap_or_default();
                assert_eq!(json, format!("\"{text}\""));
                let back: Option<T> = serde_json::from_str(&json).ok();
                assert_eq!(back, Some(v));
            }
        }
        check(Severity::ALL);
        check(CustomerTier::ALL);
        check(CaseKind::ALL);
        check(TargetKind::ALL);
    }

    #[test]
    fn unknown_key_names_the_key_and_the_choices() {
        let err = "Critical".parse::<Severity>().err();
        let err = err.map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            err,
            "unknown severity \"Critical\": expected one of critical, high, medium, low"
        );
        assert_eq!(
            "gold".parse::<CustomerTier>().map_err(|e| e.key),
            Err("customer tier")
        );
    }
}
