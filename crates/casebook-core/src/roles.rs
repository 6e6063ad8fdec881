//! Roles and who may do what (domain.md §1).

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::{MemberId, OrgId};
use crate::rejection::Rejection;

/// A role on the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything on the desk: assign, escalate, plan, complaints, assessment, members.
    ProjectManager,
    /// Intake, triage, analysis, fixes and verification of customer tickets.
    SupportEngineer,
    /// All a support engineer may, plus incidents, monitoring, plans, drills.
    SecurityEngineer,
    /// Opens tickets for its own organisation, replies, confirms or rejects, rates.
    Customer,
    /// Reads everything, changes nothing.
    Auditor,
}

impl Role {
    /// Every role, in order of authority.
    pub const ALL: [Role; 5] = [
        Role::ProjectManager,
        Role::SecurityEngineer,
        Role::SupportEngineer,
        Role::Customer,
        Role::Auditor,
    ];

    /// The role's name as used in commands and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ProjectManager => "project_manager",
            Role::SupportEngineer => "support_engineer",
            Role::SecurityEngineer => "security_engineer",
            Role::Customer => "customer",
            Role::Auditor => "auditor",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Rejection;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| Rejection::InvalidInput {
                field: "role",
                problem: format!(
                    "unknown role {s:?}; expected one of project_manager, security_engineer, support_engineer, customer, auditor"
                ),
            })
    }
}

/// Who issues a command.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Actor {
    /// A member of the desk; the engine checks their roles.
    Member(MemberId),
    /// A component of the engine itself (process managers, the deadline scheduler) or the
    /// embedding product's bootstrap. Trusted: it may do everything but is recorded as
    /// itself in every event.
    System(String),
}

impl Actor {
    /// A member actor from a slug.
    ///
    /// # Errors
    ///
    /// [`Rejection::InvalidInput`] for an invalid slug.
    pub fn member(id: &str) -> Result<Actor, Rejection> {
        MemberId::new(id).map(Actor::Member)
    }

    /// A system actor for a component.
    pub fn system(component: &str) -> Actor {
        Actor::System(component.to_string())
    }

    /// The text recorded in the envelope: `member:<id>` or `system:<component>`.
    pub fn as_envelope_actor(&self) -> String {
        match self {
            Actor::Member(m) => format!("member:{m}"),
            Actor::System(c) => format!("system:{c}"),
        }
    }

    /// Parses what [`Actor::as_envelope_actor`] wrote.
    pub fn from_envelope_actor(text: &str) -> Option<Actor> {
        match text.split_once(':')? {
            ("member", id) => MemberId::new(id).ok().map(Actor::Member),
            ("system", c) => Some(Actor::System(c.to_string())),
            _ => None,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_envelope_actor())
    }
}

/// An actor resolved against the directory at the moment of the command: an active
/// member with their roles (and organisation, for customers), or the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who.
    pub actor: Actor,
    /// Their roles now. Empty for the system, which is trusted instead.
    pub roles: BTreeSet<Role>,
    /// For customer contacts, the organisation they belong to.
    pub org: Option<OrgId>,
}

/// What a command needs from its actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Project manager work: members, customers, assigning others, complaints.
    ManageDesk,
    /// Ticket work: intake, triage, analysis, fixes, verification, notes, escalation.
    HandleTickets,
    /// Security work: incidents, monitoring rules, plans, drills, assessments.
    HandleSecurity,
    /// A customer's own actions on its organisation's tickets.
    ActAsCustomer,
}

impl Permission {
    /// The roles that grant it.
    pub fn granted_by(self) -> &'static [Role] {
        match self {
            Permission::ManageDesk => &[Role::ProjectManager],
            Permission::HandleTickets => &[
                Role::ProjectManager,
                Role::SupportEngineer,
                Role::SecurityEngineer,
            ],
            Permission::HandleSecurity => &[Role::ProjectManager, Role::SecurityEngineer],
            Permission::ActAsCustomer => &[Role::Customer],
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Permission::ManageDesk => "project_manager",
            Permission::HandleTickets => "project_manager, support_engineer or security_engineer",
            Permission::HandleSecurity => "project_manager or security_engineer",
            Permission::ActAsCustomer => "customer",
        }
    }
}

impl Principal {
    /// Whether this is the trusted system actor.
    pub fn is_system(&self) -> bool {
        matches!(self.actor, Actor::System(_))
    }

    /// Whether the principal holds the permission (the system holds every one).
    pub fn has(&self, permission: Permission) -> bool {
        self.is_system()
            || permission
                .granted_by()
                .iter()
                .any(|role| self.roles.contains(role))
    }

    /// Requires a permission for a command.
    ///
    /// # Errors
    ///
    /// [`Rejection::NotPermitted`] naming the command and the roles that would allow it.
    pub fn require(&self, permission: Permission, command: &'static str) -> Result<(), Rejection> {
        if self.has(permission) {
            Ok(())
        } else {
            Err(self.refuse(command, permission.describe()))
        }
    }

    /// Requires any of several permissions.
    ///
    /// # Errors
    ///
    /// [`Rejection::NotPermitted`].
    pub fn require_any(
        &self,
        permissions: &[Permission],
        command: &'static str,
        needs: &'static str,
    ) -> Result<(), Rejection> {
        if permissions.iter().any(|p| self.has(*p)) {
            Ok(())
        } else {
            Err(self.refuse(command, needs))
        }
    }

    /// Whether this principal is a customer contact acting (only) as a customer: staff
    /// roles win when a member holds both.
    pub fn is_customer_only(&self) -> bool {
        !self.is_system()
            && self.roles.contains(&Role::Customer)
            && !self.has(Permission::HandleTickets)
    }

    /// For customers: requires the case to belong to their own organisation.
    ///
    /// # Errors
    ///
    /// [`Rejection::OtherOrganisation`].
    pub fn require_own_org(&self, org: &OrgId) -> Result<(), Rejection> {
        if self.is_customer_only() && self.org.as_ref() != Some(org) {
            return Err(Rejection::OtherOrganisation {
                actor: self.actor.to_string(),
                org: org.to_string(),
            });
        }
        Ok(())
    }

    /// The rejection for a command this principal may not issue.
    pub fn refuse(&self, command: &'static str, needs: &'static str) -> Rejection {
        Rejection::NotPermitted {
            actor: self.actor.to_string(),
            command,
            needs,
        }
    }

    /// The member id, if the principal is a member.
    pub fn member(&self) -> Option<&MemberId> {
        match &self.actor {
            Actor::Member(m) => Some(m),
            Actor::System(_) => None,
        }
    }
}
