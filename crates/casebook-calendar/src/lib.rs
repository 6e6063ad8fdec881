//! Business calendars and deadline arithmetic. Under construction.
