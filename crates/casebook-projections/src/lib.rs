//! Read models. Under construction.
