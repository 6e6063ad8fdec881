//! Rejections: a command refused by a business rule. Never a storage failure.

use std::fmt;

/// A named business rule, so callers and tests can tell refusals apart without parsing
/// messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// A complex or multi-team ticket needs a plan with owned, dated steps before the fix.
    PlanRequired,
    /// The fix cannot start before a diagnosis (cause and solution) is recorded.
    DiagnosisRequired,
    /// A satisfaction score of 1 or 2 needs an improvement action before closing.
    ImprovementActionRequired,
    /// The customer's confirmation window has not run out yet.
    ConfirmationWindowOpen,
    /// A closed case can be reopened only within the reopen window.
    ReopenWindowExpired,
    /// The case is not waiting on the customer.
    NotWaitingOnCustomer,
    /// The case already waits on the customer.
    AlreadyWaitingOnCustomer,
    /// Satisfaction was already rated.
    AlreadyRated,
    /// The named member must be an active member with the needed role.
    MemberNotEligible,
    /// The desk must keep at least one active project manager.
    LastProjectManager,
    /// The thing already exists.
    AlreadyExists,
    /// The case is already linked to that incident.
    AlreadyLinked,
    /// A customer may withdraw only by cancelling.
    CustomerMayOnlyCancel,
    /// The change would change nothing.
    NoChange,
    /// A referenced plan, revision, rule or case is unknown, retired or unusable.
    UnusableReference,
    /// A post-incident review or drill record lacks a required part.
    IncompleteRecord,
    /// Steps or phases out of their required order.
    OutOfOrder,
}

impl Rule {
    /// The rule's stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::PlanRequired => "plan_required",
            Rule::DiagnosisRequired => "diagnosis_required",
            Rule::ImprovementActionRequired => "improvement_action_required",
            Rule::ConfirmationWindowOpen => "confirmation_window_open",
            Rule::ReopenWindowExpired => "reopen_window_expired",
            Rule::NotWaitingOnCustomer => "not_waiting_on_customer",
            Rule::AlreadyWaitingOnCustomer => "already_waiting_on_customer",
            Rule::AlreadyRated => "already_rated",
            Rule::MemberNotEligible => "member_not_eligible",
            Rule::LastProjectManager => "last_project_manager",
            Rule::AlreadyExists => "already_exists",
            Rule::AlreadyLinked => "already_linked",
            Rule::CustomerMayOnlyCancel => "customer_may_only_cancel",
            Rule::NoChange => "no_change",
            Rule::UnusableReference => "unusable_reference",
            Rule::IncompleteRecord => "incomplete_record",
            Rule::OutOfOrder => "out_of_order",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a command was refused. The aggregate is left exactly as it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The acting member is not in the directory.
    #[error("unknown member {member}: not in the desk's directory")]
    UnknownMember {
        /// The member id given.
        member: String,
    },
    /// The acting member has left the desk; every permission ended when they left.
    #[error("member {member} has been offboarded: every permission was revoked when they left")]
    Offboarded {
        /// The member id given.
        member: String,
    },
    /// The actor's roles do not allow the command.
    #[error("{actor} may not {command}: needs {needs}")]
    NotPermitted {
        /// Who tried.
        actor: String,
        /// The command.
        command: &'static str,
        /// The roles that would allow it.
        needs: &'static str,
    },
    /// A customer acted on another organisation's case.
    #[error("{actor} may act only on its own organisation's cases, not on {org}'s")]
    OtherOrganisation {
        /// Who tried.
        actor: String,
        /// The case's organisation.
        org: String,
    },
    /// The command is not allowed in the case's current stage.
    #[error("cannot {command} a {kind} in stage {stage}: allowed in {allowed}")]
    WrongStage {
        /// The aggregate kind.
        kind: &'static str,
        /// The command.
        command: &'static str,
        /// The current stage.
        stage: String,
        /// Where the command is allowed.
        allowed: &'static str,
    },
    /// The command needs an existing aggregate, and there is none.
    #[error("no {kind} {id}")]
    NotFound {
        /// The aggregate kind.
        kind: &'static str,
        /// The id.
        id: String,
    },
    /// A field of the command is invalid.
    #[error("invalid {field}: {problem}")]
    InvalidInput {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A business rule refused the command.
    #[error("rule {rule}: {detail}")]
    Rule {
        /// The rule.
        rule: Rule,
        /// The specifics.
        detail: String,
    },
}

impl Rejection {
    /// A rule rejection.
    pub fn rule(rule: Rule, detail: impl Into<String>) -> Self {
        Rejection::Rule {
            rule,
            detail: detail.into(),
        }
    }

    /// An invalid-input rejection.
    pub fn invalid(field: &'static str, problem: impl Into<String>) -> Self {
        Rejection::InvalidInput {
            field,
            problem: problem.into(),
        }
    }

    /// The rule, when this is a rule rejection.
    pub fn rule_kind(&self) -> Option<Rule> {
        match self {
            Rejection::Rule { rule, .. } => Some(*rule),
            _ => None,
        }
    }
}

/// Most characters in a short text field (a name, a category, a system).
pub const MAX_SHORT_TEXT: usize = 200;
/// Most characters in a long text field (a description, a note, a diagnosis).
pub const MAX_LONG_TEXT: usize = 20_000;

/// Checks a required text field: not blank, at most `max` characters, no control
/// characters other than line breaks and tabs.
///
/// # Errors
///
/// [`Rejection::InvalidInput`] naming the field.
pub fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), Rejection> {
    if value.trim().is_empty() {
        return Err(Rejection::invalid(field, "must not be empty"));
    }
    let chars = value.chars().count();
    if chars > max {
        return Err(Rejection::invalid(
            field,
            format!("is {chars} characters; at most {max} allowed"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(Rejection::invalid(field, "contains control characters"));
    }
    Ok(())
}

/// Checks an optional text field: when present, as [`check_text`].
///
/// # Errors
///
/// [`Rejection::InvalidInput`] naming the field.
pub fn check_optional_text(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<(), Rejection> {
    value.map_or(Ok(()), |v| check_text(field, v, max))
}
