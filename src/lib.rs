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
// Reading logs.
pub mod parser;
pub mod registry;
pub mod tailer;
// Turning events into stored, attributed, priced requests.
pub mod attribution;
pub mod config;
pub mod dedup;
pub mod ingest;
pub mod pricing;
pub mod store;
// Figures for the views.
pub mod status;
// The live process and the views.
pub mod alerts;
pub mod app;
pub mod cli;
pub mod daemon;
pub mod tray;
