//! tokwatch: live cost of AI coding tools, from their local logs.
//!
//! Data flows one way: sources -> tailer -> parser -> [`event::UsageEvent`] -> dedup ->
//! attribution -> pricing -> store -> views. Modules are listed here from the bottom layer up:
//! each imports only modules listed above it (`docs/design.md` has the rule and the layers;
//! `tests/layers.rs` checks it).

#![warn(missing_docs)]

// Leaves: no tokwatch imports.
pub mod env;
pub mod event;
pub mod format;
// tokwatch's own export format: records of stored requests (the store writes them, the export
// parser reads them, exporters send them).
pub mod export_format;
// Reading logs: file identity and lines, deduplication, one parser per tool, the tool table.
pub mod tailer;
pub mod dedup;
pub mod parser;
pub mod registry;
// Turning events into stored requests: repository, price, the user's config, the database.
pub mod attribution;
pub mod pricing;
pub mod config;
pub mod store;
pub mod composition;
pub mod ingest;
// Figures every view shows.
pub mod status;
// The live process, the views, the wiring, the command line.
pub mod daemon;
pub mod tray;
pub mod alerts;
pub mod export;
pub mod dashboard;
pub mod app;
pub mod cli;
