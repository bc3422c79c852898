//! Hubs sharing Redis.
