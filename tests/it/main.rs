//! Integration tests: the real `mtasts` binary on fixture projects, plus real nginx and DNS tools.

mod acme;
mod aliases;
mod batches;
mod bounded;
mod build;
mod check;
mod cli;
mod dnsout;
mod docs;
mod e2e;
mod harness;
mod hostile;
mod imap;
mod lifecycle;
mod monitoring;
mod nginx;
mod parsedmarc;
mod probe;
mod properties;
mod report;
mod smtp;
mod snapshots;
mod system;
mod targets;
mod watch;
mod zone;
