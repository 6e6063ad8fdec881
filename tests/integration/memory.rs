//! The lifecycle and role tests on the in-memory store.

pub fn desk() -> crate::support::Desk {
    crate::support::Desk::new()
}

#[path = "roles.rs"]
mod roles;
#[path = "ticket_lifecycle.rs"]
mod ticket_lifecycle;
