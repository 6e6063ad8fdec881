//! The casebook CLI. Under construction.
fn main() {}
