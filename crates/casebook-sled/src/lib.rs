//! The embedded default storage adapter (sled). Under construction.
