//! Identifiers. Cases (tickets, incidents, drills, ...) have UUIDs chosen by the caller or
//! the engine's id generator; members and customer organisations have short, readable
//! slugs because people type them at the desk and in the CLI.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::rejection::Rejection;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// The stream kind of this id's aggregate.
            pub const KIND: &'static str = $kind;
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = Rejection;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map($name).map_err(|e| Rejection::InvalidInput {
                    field: $kind,
                    problem: format!("{s:?} is not a UUID: {e}"),
                })
            }
        }

        impl From<Uuid> for $name {
            fn from(value: Uuid) -> Self {
                $name(value)
            }
        }
    };
}

uuid_id!(
    /// A customer ticket.
    TicketId,
    "ticket"
);
uuid_id!(
    /// A security incident.
    IncidentId,
    "incident"
);
uuid_id!(
    /// A contingency plan.
    PlanId,
    "plan"
);
uuid_id!(
    /// A drill against a contingency plan revision.
    DrillId,
    "drill"
);
uuid_id!(
    /// A monitoring rule.
    RuleId,
    "rule"
);

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        ///
        /// A slug: 1 to 64 characters of lowercase ASCII letters, digits, `.`, `_` or `-`,
        /// starting with a letter or digit.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and validates a slug.
            ///
            /// # Errors
            ///
            /// [`Rejection::InvalidInput`] if it is empty, too long or has other characters.
            pub fn new(text: impl Into<String>) -> Result<Self, Rejection> {
                let text = text.into();
                let ok = !text.is_empty()
                    && text.len() <= 64
                    && text.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                    && text.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
                    });
                if ok {
                    Ok($name(text))
                } else {
                    Err(Rejection::InvalidInput {
                        field: $field,
                        problem: format!(
                            "{:?} is not a valid id: use 1-64 lowercase letters, digits, '.', '_' or '-'",
                            text.chars().take(80).collect::<String>()
                        ),
                    })
                }
            }

            /// The slug.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = Rejection;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = Rejection;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }
    };
}

slug_id!(
    /// A member of the desk (staff, customer contact or auditor).
    MemberId,
    "member"
);
slug_id!(
    /// A customer organisation (the tenant of its cases).
    OrgId,
    "org"
);
