//! Qualitative staff assessments (domain.md §7, policy §7.2): a project manager rates a
//! member or a team for a reporting period, 1 to 5 with a comment. The scorecard in
//! `casebook-projections` shows these ratings next to the quantitative score computed
//! from the KPIs.
//!
//! All assessments of a desk live in one stream (`assessment/desk`): they are few (a
//! handful per member and period) and one stream keeps "the latest rating of a subject
//! for a period" a property of a single aggregate. Rating the same subject and period
//! again replaces the earlier rating; both stay in the log.
//!
//! A period is named like the KPI periods: `2026-03` (a month) or `2026-Q1` (a quarter).

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, Context, DomainCommand, DomainEvent};
use crate::directory::DeskId;
use crate::ids::MemberId;
use crate::rejection::{check_text, Rejection, Rule, MAX_LONG_TEXT, MAX_SHORT_TEXT};
use crate::roles::{Permission, Role};

/// Who is rated: a member or a team (a ticket's team name, as assigned).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// A staff member.
    Member(MemberId),
    /// A team.
    Team(String),
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Member(m) => write!(f, "member {m}"),
            Subject::Team(t) => write!(f, "team {t}"),
        }
    }
}

/// Checks a period name: `YYYY-MM` (month 01–12) or `YYYY-Qn` (quarter 1–4), year
/// 2000–9999.
///
/// # Errors
///
/// [`Rejection::InvalidInput`] saying what is wrong.
pub fn check_period(period: &str) -> Result<(), Rejection> {
    let bad = || {
        Rejection::invalid(
            "period",
            format!("{period:?} is not a month (2026-03) or a quarter (2026-Q1)"),
        )
    };
    let (year, rest) = period.split_once('-').ok_or_else(bad)?;
    if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let year: u32 = year.parse().map_err(|_| bad())?;
    if !(2000..=9999).contains(&year) {
        return Err(bad());
    }
    let ok = if let Some(q) = rest.strip_prefix('Q') {
        matches!(q, "1" | "2" | "3" | "4")
    } else {
        rest.len() == 2
            && rest.bytes().all(|b| b.is_ascii_digit())
            && rest.parse::<u32>().is_ok_and(|m| (1..=12).contains(&m))
    };
    if ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Commands on the desk's assessments (all need [`Permission::ManageDesk`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssessmentCommand {
    /// Rates a member or team for a period; replaces an earlier rating of the same
    /// subject and period.
    Rate {
        /// Who is rated.
        subject: Subject,
        /// The period: `2026-03` or `2026-Q1`.
        period: String,
        /// The rating, 1 (poor) to 5 (excellent).
        rating: u8,
        /// Why (required: a rating without a reason is not an assessment).
        comment: String,
    },
}

impl DomainCommand for AssessmentCommand {
    fn name(&self) -> &'static str {
        match self {
            AssessmentCommand::Rate { .. } => "rate a member or team",
        }
    }
}

/// Events of the desk's assessments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AssessmentEvent {
    /// A rating was entered.
    Rated {
        /// Who is rated.
        subject: Subject,
        /// The period.
        period: String,
        /// The rating, 1 to 5.
        rating: u8,
        /// Why.
        comment: String,
        /// Who entered it (`member:<id>` or `system:<component>`).
        by: String,
    },
}

impl DomainEvent for AssessmentEvent {
    fn event_type(&self) -> &'static str {
        match self {
            AssessmentEvent::Rated { .. } => "AssessmentRated",
        }
    }
}

/// One rating in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    /// 1 to 5.
    pub rating: u8,
    /// Why.
    pub comment: String,
    /// Who entered it.
    pub by: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// The desk's assessments: the rating in force per (subject, period).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessments {
    /// The latest rating of each subject for each period.
    #[serde(with = "pairs")]
    pub ratings: BTreeMap<(Subject, String), Rating>,
}

/// JSON maps need string keys; the ratings map is stored as a list of pairs.
mod pairs {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
        map: &BTreeMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Ord,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

impl Assessments {
    /// Applies one event to a ratings map (shared with read models that fold the same
    /// events).
    pub fn apply(
        ratings: &mut BTreeMap<(Subject, String), Rating>,
        event: &AssessmentEvent,
        at: DateTime<Utc>,
    ) {
        match event {
            AssessmentEvent::Rated {
                subject,
                period,
                rating,
                comment,
                by,
            } => {
                ratings.insert(
                    (subject.clone(), period.clone()),
                    Rating {
                        rating: *rating,
                        comment: comment.clone(),
                        by: by.clone(),
                        at,
                    },
                );
            }
        }
    }

    /// The rating in force for a subject and period.
    pub fn rating(&self, subject: &Subject, period: &str) -> Option<&Rating> {
        self.ratings.get(&(subject.clone(), period.to_owned()))
    }
}

impl Aggregate for Assessments {
    const KIND: &'static str = "assessment";
    type Id = DeskId;
    type Command = AssessmentCommand;
    type Event = AssessmentEvent;

    fn decide(
        &self,
        _id: &DeskId,
        command: &AssessmentCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<AssessmentEvent>, Rejection> {
        ctx.principal
            .require(Permission::ManageDesk, command.name())?;
        match command {
            AssessmentCommand::Rate {
                subject,
                period,
                rating,
                comment,
            } => {
                check_period(period)?;
                if !(1..=5).contains(rating) {
                    return Err(Rejection::invalid(
                        "rating",
                        format!("{rating} is not 1 to 5"),
                    ));
                }
                check_text("comment", comment, MAX_LONG_TEXT)?;
                match subject {
                    Subject::Member(m) => {
                        // A member who has left may still be rated for a period they
                        // worked in, so only membership and a staff role are checked.
                        let staff = ctx.directory.members.get(m).is_some_and(|member| {
                            [
                                Role::ProjectManager,
                                Role::SupportEngineer,
                                Role::SecurityEngineer,
                            ]
                            .iter()
                            .any(|r| member.roles.contains(r))
                        });
                        if !staff {
                            return Err(Rejection::rule(
                                Rule::MemberNotEligible,
                                format!(
                                    "{m} is not a staff member of the desk, so cannot be assessed"
                                ),
                            ));
                        }
                    }
                    Subject::Team(t) => check_text("team", t, MAX_SHORT_TEXT)?,
                }
                let subject = match subject {
                    Subject::Team(t) => Subject::Team(t.trim().to_owned()),
                    other => other.clone(),
                };
                if self
                    .rating(&subject, period)
                    .is_some_and(|r| r.rating == *rating && r.comment == *comment)
                {
                    return Err(Rejection::rule(
                        Rule::NoChange,
                        format!("{subject} already has this rating for {period}"),
                    ));
                }
                Ok(vec![AssessmentEvent::Rated {
                    subject,
                    period: period.clone(),
                    rating: *rating,
                    comment: comment.clone(),
                    by: ctx.principal.actor.as_envelope_actor(),
                }])
            }
        }
    }

    fn evolve(&mut self, event: &AssessmentEvent, at: DateTime<Utc>) {
        Assessments::apply(&mut self.ratings, event, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_months_or_quarters() {
        for ok in ["2026-03", "2026-12", "2026-01", "2026-Q1", "2026-Q4"] {
            assert!(check_period(ok).is_ok(), "{ok}");
        }
        for bad in [
            "2026-13",
            "2026-00",
            "2026-3",
            "2026-Q5",
            "2026-Q0",
            "26-03",
            "2026",
            "",
            "abcd-01",
            "1999-01",
            "2026-03-01",
        ] {
            assert!(check_period(bad).is_err(), "{bad}");
        }
    }
}
