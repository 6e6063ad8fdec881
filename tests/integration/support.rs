//! A desk fixture shared by the tests.

use std::sync::Arc;

use casebook::prelude::*;
use casebook::store::EventStore;
use chrono::{DateTime, Duration, TimeZone, Utc};

pub struct Desk {
    pub engine: Engine,
    /// The sled store's directory, removed when the desk is dropped.
    _dir: Option<tempfile::TempDir>,
    pub clock: Arc<ManualClock>,
    pub pm: Actor,
    pub sup: Actor,
    pub sec: Actor,
    pub cust: Actor,
    pub other_cust: Actor,
    pub auditor: Actor,
    pub acme: OrgId,
    pub globex: OrgId,
}

pub fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
        .single()
        .expect("valid date")
}

pub fn actor(id: &str) -> Actor {
    Actor::member(id).expect("valid member id")
}

pub fn member(id: &str) -> MemberId {
    MemberId::new(id).expect("valid member id")
}

impl Desk {
    pub fn new() -> Desk {
        Desk::on(Arc::new(MemoryStore::new()))
    }

    /// A desk on a fresh sled store in a temporary directory, with synced appends.
    pub fn on_sled() -> Desk {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = casebook::SledStore::open(
            dir.path(),
            casebook::SledOptions {
                durability: casebook::Durability::Synced,
            },
        )
        .expect("open sled");
        let mut desk = Desk::on(Arc::new(store));
        desk._dir = Some(dir);
        desk
    }

    pub fn on(store: Arc<dyn EventStore>) -> Desk {
        let clock = Arc::new(ManualClock::new(start()));
        let engine = Engine::builder(store)
            .clock(clock.clone())
            .ids(Arc::new(SeededIds::new(7)))
            .build();
        let system = Actor::system("bootstrap");
        let acme = OrgId::new("acme").expect("org");
        let globex = OrgId::new("globex").expect("org");
        for (org, tier) in [
            (&acme, CustomerTier::Premium),
            (&globex, CustomerTier::Standard),
        ] {
            engine
                .execute(
                    &system,
                    DirectoryCommand::RegisterCustomer {
                        org: org.clone(),
                        name: org.to_string(),
                        tier,
                    },
                )
                .expect("register customer");
        }
        let people: [(&str, Role, Option<&OrgId>); 7] = [
            ("pm", Role::ProjectManager, None),
            ("sup", Role::SupportEngineer, None),
            ("sec", Role::SecurityEngineer, None),
            ("cust", Role::Customer, Some(&acme)),
            ("other", Role::Customer, Some(&globex)),
            ("aud", Role::Auditor, None),
            ("gone", Role::SupportEngineer, None),
        ];
        for (id, role, org) in people {
            engine
                .execute(
                    &system,
                    DirectoryCommand::AddMember {
                        member: member(id),
                        name: format!("{id} name"),
                        roles: [role].into(),
                        org: org.cloned(),
                        team: None,
                    },
                )
                .expect("add member");
        }
        engine
            .execute(
                &actor("pm"),
                DirectoryCommand::Offboard {
                    member: member("gone"),
                    reason: "left the company".into(),
                },
            )
            .expect("offboard");
        Desk {
            engine,
            _dir: None,
            clock,
            pm: actor("pm"),
            sup: actor("sup"),
            sec: actor("sec"),
            cust: actor("cust"),
            other_cust: actor("other"),
            auditor: actor("aud"),
            acme,
            globex,
        }
    }

    pub fn advance(&self, by: Duration) {
        self.clock.advance(by).expect("forward");
    }

    pub fn new_ticket(&self) -> NewTicket {
        NewTicket {
            org: self.acme.clone(),
            channel: Channel::Email,
            title: "邮件服务器无法登录".into(),
            description: "Users cannot log in to the mail server since 08:00".into(),
            contact: Contact {
                name: "Zhang San".into(),
                email: Some("zhang@acme.example".into()),
                phone: Some("+86 10 5555 0101".into()),
            },
            affected_system: "mail-01".into(),
            reported_at: Some(start() - Duration::minutes(30)),
        }
    }

    pub fn run(
        &self,
        who: &Actor,
        t: TicketId,
        c: TicketCommand,
    ) -> Result<Vec<casebook::Envelope>, EngineError> {
        self.engine.execute(who, (t, c))
    }

    pub fn ok(&self, who: &Actor, t: TicketId, c: TicketCommand) {
        let name = format!("{c:?}");
        if let Err(e) = self.run(who, t, c) {
            panic!("{name} by {who} should succeed: {e}");
        }
    }

    pub fn open(&self) -> TicketId {
        let t = TicketId(self.engine.new_id());
        self.ok(&self.sup, t, TicketCommand::Open(self.new_ticket()));
        t
    }

    pub fn stage(&self, t: TicketId) -> Stage {
        self.engine
            .ticket(t)
            .expect("ticket")
            .stage
            .expect("opened")
    }

    /// Opens and moves a ticket to `target` along the happy path.
    pub fn ticket_at(&self, target: Stage) -> TicketId {
        let t = self.open();
        let steps: Vec<(Stage, Actor, TicketCommand)> = vec![
            (
                Stage::Analysis,
                self.sup.clone(),
                triage(Severity::Medium, Urgency::Normal),
            ),
            (Stage::Fix, self.sup.clone(), diagnose()),
            (Stage::Fix, self.sup.clone(), TicketCommand::StartFix),
            (
                Stage::Verify,
                self.sup.clone(),
                TicketCommand::ReportFixDone {
                    summary: "restarted".into(),
                },
            ),
            (
                Stage::Confirm,
                self.sup.clone(),
                TicketCommand::PassVerification {
                    notes: "logins work".into(),
                },
            ),
            (
                Stage::Record,
                self.cust.clone(),
                TicketCommand::Confirm { comment: None },
            ),
            (Stage::Closed, self.sup.clone(), close()),
        ];
        for (_, who, c) in steps {
            if self.stage(t) == target {
                break;
            }
            self.ok(&who, t, c);
        }
        assert_eq!(self.stage(t), target);
        t
    }
}

pub fn triage(severity: Severity, urgency: Urgency) -> TicketCommand {
    TicketCommand::Triage {
        severity,
        urgency,
        complex: false,
        multi_team: false,
    }
}

pub fn diagnose() -> TicketCommand {
    TicketCommand::Diagnose {
        cause: "LDAP certificate expired".into(),
        solution: "renew the certificate".into(),
    }
}

pub fn close() -> TicketCommand {
    TicketCommand::Close {
        category: "authentication".into(),
        summary: "expired LDAP certificate".into(),
        result: "renewed".into(),
        classification: Classification::Internal,
    }
}

pub fn rule_of(err: &EngineError) -> Option<Rule> {
    err.rejection().and_then(Rejection::rule_kind)
}
