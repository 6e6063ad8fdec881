//! The desk's directory: its members with their roles, and its customer organisations
//! (domain.md §1). One stream, because membership changes are rare and every command
//! checks its actor against the whole of it.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::aggregate::{Aggregate, Context, DomainCommand, DomainEvent};
use crate::ids::{MemberId, OrgId};
use crate::rejection::{check_optional_text, check_text, Rejection, Rule, MAX_SHORT_TEXT};
use crate::roles::{Actor, Permission, Principal, Role};
use crate::CustomerTier;

/// The id of the desk's single directory stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct DeskId;

impl std::fmt::Display for DeskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Directory::STREAM)
    }
}

/// A member of the desk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Id.
    pub id: MemberId,
    /// Display name.
    pub name: String,
    /// Current roles.
    pub roles: BTreeSet<Role>,
    /// For customer contacts, their organisation.
    pub org: Option<OrgId>,
    /// The team they work in, if any.
    pub team: Option<String>,
    /// When they joined.
    pub joined_at: DateTime<Utc>,
    /// When they left; from then on every command in their name is refused.
    pub left_at: Option<DateTime<Utc>>,
}

impl Member {
    /// Whether the member is still on the desk.
    pub fn is_active(&self) -> bool {
        self.left_at.is_none()
    }

    /// Whether the member is active and holds the role.
    pub fn is_active_with(&self, role: Role) -> bool {
        self.is_active() && self.roles.contains(&role)
    }

    /// Whether the member is active staff who can own a ticket.
    pub fn can_own_tickets(&self) -> bool {
        self.is_active()
            && Permission::HandleTickets
                .granted_by()
                .iter()
                .any(|r| self.roles.contains(r))
    }
}

/// A customer organisation served by the desk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerOrg {
    /// Id.
    pub id: OrgId,
    /// Display name.
    pub name: String,
    /// Service tier, which selects its service levels.
    pub tier: CustomerTier,
}

/// The directory's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Directory {
    /// Every member who ever joined, active or not.
    pub members: BTreeMap<MemberId, Member>,
    /// Every customer organisation.
    pub customers: BTreeMap<OrgId, CustomerOrg>,
}

impl Directory {
    /// The id of the directory's single stream.
    pub const STREAM: &'static str = "desk";

    /// Resolves an actor for a command: the system, or an active member.
    ///
    /// # Errors
    ///
    /// [`Rejection::UnknownMember`] or [`Rejection::Offboarded`].
    pub fn resolve(&self, actor: &Actor) -> Result<Principal, Rejection> {
        match actor {
            Actor::System(_) => Ok(Principal {
                actor: actor.clone(),
                roles: BTreeSet::new(),
                org: None,
            }),
            Actor::Member(id) => {
                let member = self
                    .members
                    .get(id)
                    .ok_or_else(|| Rejection::UnknownMember {
                        member: id.to_string(),
                    })?;
                if !member.is_active() {
                    return Err(Rejection::Offboarded {
                        member: id.to_string(),
                    });
                }
                Ok(Principal {
                    actor: actor.clone(),
                    roles: member.roles.clone(),
                    org: member.org.clone(),
                })
            }
        }
    }

    /// The member, if active.
    pub fn active_member(&self, id: &MemberId) -> Option<&Member> {
        self.members.get(id).filter(|m| m.is_active())
    }

    /// Checks that a member is active and satisfies `eligible`, for commands that name
    /// another member (an owner, a project manager to report to).
    ///
    /// # Errors
    ///
    /// [`Rule::MemberNotEligible`] saying what was expected.
    pub fn require_member(
        &self,
        id: &MemberId,
        what: &str,
        eligible: impl Fn(&Member) -> bool,
    ) -> Result<&Member, Rejection> {
        match self.members.get(id) {
            Some(m) if m.is_active() && eligible(m) => Ok(m),
            Some(m) if !m.is_active() => Err(Rejection::rule(
                Rule::MemberNotEligible,
                format!("{id} has been offboarded and cannot be {what}"),
            )),
            Some(_) => Err(Rejection::rule(
                Rule::MemberNotEligible,
                format!("{id} does not have the role to be {what}"),
            )),
            None => Err(Rejection::rule(
                Rule::MemberNotEligible,
                format!("{id} is not a member of the desk, so cannot be {what}"),
            )),
        }
    }

    /// The customer organisation's tier, if registered.
    pub fn tier_of(&self, org: &OrgId) -> Option<CustomerTier> {
        self.customers.get(org).map(|c| c.tier)
    }

    fn active_project_managers(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.is_active_with(Role::ProjectManager))
            .count()
    }
}

/// Commands on the directory. All need [`Permission::ManageDesk`] (or the system).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirectoryCommand {
    /// Registers a customer organisation.
    RegisterCustomer {
        /// Id.
        org: OrgId,
        /// Name.
        name: String,
        /// Tier.
        tier: CustomerTier,
    },
    /// Changes a customer's tier (service levels follow from then on).
    ChangeCustomerTier {
        /// Id.
        org: OrgId,
        /// New tier.
        tier: CustomerTier,
    },
    /// A member joins with roles.
    AddMember {
        /// Id.
        member: MemberId,
        /// Name.
        name: String,
        /// Roles, at least one.
        roles: BTreeSet<Role>,
        /// The organisation, required for (and only for) customer contacts.
        org: Option<OrgId>,
        /// Team.
        team: Option<String>,
    },
    /// Grants a role.
    GrantRole {
        /// Member.
        member: MemberId,
        /// Role.
        role: Role,
    },
    /// Revokes a role.
    RevokeRole {
        /// Member.
        member: MemberId,
        /// Role.
        role: Role,
    },
    /// The member leaves: every permission ends now; their open cases need reassignment.
    Offboard {
        /// Member.
        member: MemberId,
        /// Why.
        reason: String,
    },
}

impl DomainCommand for DirectoryCommand {
    fn name(&self) -> &'static str {
        match self {
            DirectoryCommand::RegisterCustomer { .. } => "register a customer",
            DirectoryCommand::ChangeCustomerTier { .. } => "change a customer's tier",
            DirectoryCommand::AddMember { .. } => "add a member",
            DirectoryCommand::GrantRole { .. } => "grant a role",
            DirectoryCommand::RevokeRole { .. } => "revoke a role",
            DirectoryCommand::Offboard { .. } => "offboard a member",
        }
    }
}

/// Events of the directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DirectoryEvent {
    /// A customer organisation was registered.
    CustomerRegistered {
        /// Id.
        org: OrgId,
        /// Name.
        name: String,
        /// Tier.
        tier: CustomerTier,
    },
    /// A customer's tier changed.
    CustomerTierChanged {
        /// Id.
        org: OrgId,
        /// Old tier.
        from: CustomerTier,
        /// New tier.
        to: CustomerTier,
    },
    /// A member joined.
    MemberJoined {
        /// Id.
        member: MemberId,
        /// Name (personal data).
        name: String,
        /// Roles.
        roles: BTreeSet<Role>,
        /// Organisation, for customer contacts.
        org: Option<OrgId>,
        /// Team.
        team: Option<String>,
    },
    /// A role was granted.
    RoleGranted {
        /// Member.
        member: MemberId,
        /// Role.
        role: Role,
    },
    /// A role was revoked.
    RoleRevoked {
        /// Member.
        member: MemberId,
        /// Role.
        role: Role,
    },
    /// A member left the desk.
    MemberOffboarded {
        /// Member.
        member: MemberId,
        /// Why.
        reason: String,
    },
}

impl DomainEvent for DirectoryEvent {
    fn event_type(&self) -> &'static str {
        match self {
            DirectoryEvent::CustomerRegistered { .. } => "CustomerRegistered",
            DirectoryEvent::CustomerTierChanged { .. } => "CustomerTierChanged",
            DirectoryEvent::MemberJoined { .. } => "MemberJoined",
            DirectoryEvent::RoleGranted { .. } => "RoleGranted",
            DirectoryEvent::RoleRevoked { .. } => "RoleRevoked",
            DirectoryEvent::MemberOffboarded { .. } => "MemberOffboarded",
        }
    }

    fn personal_data(&self) -> &'static [&'static str] {
        match self {
            DirectoryEvent::MemberJoined { .. } => &["/MemberJoined/name"],
            _ => &[],
        }
    }
}

impl Aggregate for Directory {
    const KIND: &'static str = "directory";
    type Id = DeskId;
    type Command = DirectoryCommand;
    type Event = DirectoryEvent;

    fn decide(
        &self,
        _id: &DeskId,
        command: &DirectoryCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<DirectoryEvent>, Rejection> {
        ctx.principal
            .require(Permission::ManageDesk, command.name())?;
        let known_member = |id: &MemberId| {
            self.members.get(id).ok_or_else(|| Rejection::NotFound {
                kind: "member",
                id: id.to_string(),
            })
        };
        let active_member = |id: &MemberId| {
            let m = known_member(id)?;
            if m.is_active() {
                Ok(m)
            } else {
                Err(Rejection::Offboarded {
                    member: id.to_string(),
                })
            }
        };
        match command {
            DirectoryCommand::RegisterCustomer { org, name, tier } => {
                check_text("customer name", name, MAX_SHORT_TEXT)?;
                if self.customers.contains_key(org) {
                    return Err(Rejection::rule(
                        Rule::AlreadyExists,
                        format!("customer {org} is already registered"),
                    ));
                }
                Ok(vec![DirectoryEvent::CustomerRegistered {
                    org: org.clone(),
                    name: name.trim().to_string(),
                    tier: *tier,
                }])
            }
            DirectoryCommand::ChangeCustomerTier { org, tier } => {
                let current = self.customers.get(org).ok_or_else(|| Rejection::NotFound {
                    kind: "customer",
                    id: org.to_string(),
                })?;
                if current.tier == *tier {
                    return Err(Rejection::rule(
                        Rule::NoChange,
                        format!("{org} is already {tier}"),
                    ));
                }
                Ok(vec![DirectoryEvent::CustomerTierChanged {
                    org: org.clone(),
                    from: current.tier,
                    to: *tier,
                }])
            }
            DirectoryCommand::AddMember {
                member,
                name,
                roles,
                org,
                team,
            } => {
                check_text("member name", name, MAX_SHORT_TEXT)?;
                check_optional_text("team", team.as_deref(), MAX_SHORT_TEXT)?;
                if self.members.contains_key(member) {
                    return Err(Rejection::rule(
                        Rule::AlreadyExists,
                        format!("member {member} already exists (a member who left rejoins under a new id)"),
                    ));
                }
                if roles.is_empty() {
                    return Err(Rejection::invalid(
                        "roles",
                        "a member needs at least one role",
                    ));
                }
                let is_customer = roles.contains(&Role::Customer);
                match (is_customer, org) {
                    (true, None) => {
                        return Err(Rejection::invalid(
                            "org",
                            "a customer contact needs its organisation",
                        ))
                    }
                    (false, Some(_)) => {
                        return Err(Rejection::invalid(
                            "org",
                            "only customer contacts belong to a customer organisation",
                        ))
                    }
                    (true, Some(o)) if !self.customers.contains_key(o) => {
                        return Err(Rejection::NotFound {
                            kind: "customer",
                            id: o.to_string(),
                        })
                    }
                    _ => {}
                }
                if is_customer && roles.len() > 1 {
                    return Err(Rejection::invalid(
                        "roles",
                        "a customer contact cannot also hold staff or auditor roles",
                    ));
                }
                Ok(vec![DirectoryEvent::MemberJoined {
                    member: member.clone(),
                    name: name.trim().to_string(),
                    roles: roles.clone(),
                    org: org.clone(),
                    team: team.as_ref().map(|t| t.trim().to_string()),
                }])
            }
            DirectoryCommand::GrantRole { member, role } => {
                let m = active_member(member)?;
                if m.roles.contains(role) {
                    return Err(Rejection::rule(
                        Rule::NoChange,
                        format!("{member} already has role {role}"),
                    ));
                }
                if (*role == Role::Customer) != m.roles.contains(&Role::Customer) {
                    return Err(Rejection::invalid(
                        "role",
                        "customer contacts and staff are separate members",
                    ));
                }
                Ok(vec![DirectoryEvent::RoleGranted {
                    member: member.clone(),
                    role: *role,
                }])
            }
            DirectoryCommand::RevokeRole { member, role } => {
                let m = active_member(member)?;
                if !m.roles.contains(role) {
                    return Err(Rejection::rule(
                        Rule::NoChange,
                        format!("{member} does not have role {role}"),
                    ));
                }
                if *role == Role::ProjectManager && self.active_project_managers() <= 1 {
                    return Err(Rejection::rule(
                        Rule::LastProjectManager,
                        "the desk must keep at least one active project manager",
                    ));
                }
                Ok(vec![DirectoryEvent::RoleRevoked {
                    member: member.clone(),
                    role: *role,
                }])
            }
            DirectoryCommand::Offboard { member, reason } => {
                check_text("reason", reason, MAX_SHORT_TEXT)?;
                let m = active_member(member)?;
                if m.roles.contains(&Role::ProjectManager) && self.active_project_managers() <= 1 {
                    return Err(Rejection::rule(
                        Rule::LastProjectManager,
                        "the desk must keep at least one active project manager",
                    ));
                }
                Ok(vec![DirectoryEvent::MemberOffboarded {
                    member: member.clone(),
                    reason: reason.trim().to_string(),
                }])
            }
        }
    }

    fn evolve(&mut self, event: &DirectoryEvent, at: DateTime<Utc>) {
        match event {
            DirectoryEvent::CustomerRegistered { org, name, tier } => {
                self.customers.insert(
                    org.clone(),
                    CustomerOrg {
                        id: org.clone(),
                        name: name.clone(),
                        tier: *tier,
                    },
                );
            }
            DirectoryEvent::CustomerTierChanged { org, to, .. } => {
                if let Some(c) = self.customers.get_mut(org) {
                    c.tier = *to;
                }
            }
            DirectoryEvent::MemberJoined {
                member,
                name,
                roles,
                org,
                team,
            } => {
                self.members.insert(
                    member.clone(),
                    Member {
                        id: member.clone(),
                        name: name.clone(),
                        roles: roles.clone(),
                        org: org.clone(),
                        team: team.clone(),
                        joined_at: at,
                        left_at: None,
                    },
                );
            }
            DirectoryEvent::RoleGranted { member, role } => {
                if let Some(m) = self.members.get_mut(member) {
                    m.roles.insert(*role);
                }
            }
            DirectoryEvent::RoleRevoked { member, role } => {
                if let Some(m) = self.members.get_mut(member) {
                    m.roles.remove(role);
                }
            }
            DirectoryEvent::MemberOffboarded { member, .. } => {
                if let Some(m) = self.members.get_mut(member) {
                    m.left_at = Some(at);
                }
            }
        }
    }
}
