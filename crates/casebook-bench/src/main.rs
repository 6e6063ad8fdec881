//! The Casebook macro benchmark. Under construction.
fn main() {}
