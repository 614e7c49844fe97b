//! mtasts: MTA-STS as code.
//!
//! One declarative `domains.toml` becomes everything a mail operator publishes for MTA-STS
//! (RFC 8461) and TLS reporting (RFC 8460): policy files, nginx vhost snippets and DNS zone
//! fragments, with policy ids that change only when a policy changes.
//!
//! Data flows one way: `config` → `model` → `plan` (with `lock` and the clock) → `render`
//! → `output`. Everything up to `render` is pure. Exported are the modules a library user
//! calls and those whose types their signatures name; the rest is `pub(crate)`
//! (docs/architecture.md, "The library's API boundary").

pub mod app;
pub(crate) mod build;
pub mod check;
pub mod cli;
pub mod clock;
pub(crate) mod commands;
pub mod compact_map;
pub mod config;
pub(crate) mod csv_rows;
pub mod dane;
pub(crate) mod dashboard;
pub mod diag;
pub mod digest;
pub mod dns;
pub mod error;
pub mod fetch;
pub mod generate;
pub mod imap;
pub(crate) mod import;
pub mod lock;
pub mod manifest;
pub(crate) mod metrics;
pub mod model;
pub mod names;
pub mod net;
pub mod output;
pub(crate) mod parallel;
pub(crate) mod paths;
pub mod plan;
pub mod policy;
pub mod probe;
pub(crate) mod project;
pub mod receive;
pub mod records;
pub mod render;
pub mod report;
pub(crate) mod targets;
pub(crate) mod ui;
