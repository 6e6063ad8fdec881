//! Service-level arithmetic. Under construction.
