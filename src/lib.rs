//! mtasts: MTA-STS as code.
//!
//! One declarative `domains.toml` becomes everything a mail operator publishes for MTA-STS
//! (RFC 8461) and TLS reporting (RFC 8460): policy files, nginx vhost snippets and DNS zone
//! fragments, with policy ids that change only when a policy changes.
//!
//! Data flows one way: `config` → `model` → `plan` (with `state` and the clock) → `render`
//! → `output`. Everything up to `render` is pure.

pub mod app;
pub mod build;
pub mod check;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod compact_map;
pub mod config;
pub mod context;
pub mod csv_rows;
pub mod dane;
pub mod dashboard;
pub mod diag;
pub mod digest;
pub mod dns;
pub mod error;
pub mod fetch;
pub mod generate;
pub mod imap;
pub mod import;
pub mod lock;
pub mod manifest;
pub mod metrics;
pub mod model;
pub mod names;
pub mod net;
pub mod output;
pub mod parallel;
pub mod plan;
pub mod policy;
pub mod probe;
pub mod project;
pub mod receive;
pub mod records;
pub mod render;
pub mod report;
pub mod targets;
pub mod ui;
