//! tokwatch: live cost of AI coding tools, from their local logs.
//!
//! Data flows one way: sources -> tailer -> parser -> [`event::UsageEvent`] -> dedup ->
//! attribution -> pricing -> store -> views.

pub mod attribution;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod event;
pub mod format;
pub mod ingest;
pub mod parser;
pub mod pricing;
pub mod sources;
pub mod store;
pub mod tailer;
pub mod tray;
