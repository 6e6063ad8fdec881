//! The lifecycle and role tests, unchanged, on the embedded sled store with synced
//! appends: the engine behaves the same on every adapter.

pub fn desk() -> crate::support::Desk {
    crate::support::Desk::on_sled()
}

#[path = "roles.rs"]
mod roles;
#[path = "ticket_lifecycle.rs"]
mod ticket_lifecycle;
