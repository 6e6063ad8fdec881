//! The PostgreSQL storage adapter. Under construction.
