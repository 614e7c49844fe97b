//! The options of `report` and `receive`, the two commands of the report store.

use std::path::PathBuf;

use clap::ValueEnum;

use super::{ResultFile, parse_date, parse_nameserver};

/// Options of `report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// Report files (.json, .json.gz), emails (.eml), Maildirs or directories of them.
    #[arg(required_unless_present_any = ["imap", "store"])]
    pub paths: Vec<PathBuf>,
    /// Keep every report read in a store and judge from all it holds: a SQLite file (alone:
    /// reports.sqlite beside the config) or a postgres:// URL. With --imap, only messages not
    /// read before are fetched.
    #[arg(long, value_name = "PATH|URL", num_args = 0..=1, default_missing_value = "reports.sqlite")]
    pub store: Option<String>,
    /// With --store: delete stored reports whose range ended more than N days ago.
    #[arg(long, value_name = "N", requires = "store")]
    pub keep_days: Option<u32>,
    /// Count report mails without a valid DKIM signature (for a mailbox that checks DKIM
    /// upstream and drops what fails).
    #[arg(long)]
    pub no_dkim: bool,
    /// Look DKIM keys up at this DNS server (IP, IP:PORT or [IPv6]:PORT) instead of the system resolver.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_nameserver)]
    pub nameserver: Option<std::net::SocketAddr>,
    /// Also read the report emails of a mailbox: imaps://USER@HOST[:PORT]/MAILBOX (the password
    /// from MTASTS_IMAP_PASSWORD or --imap-password-file); repeatable.
    #[arg(long, value_name = "URL")]
    pub imap: Vec<crate::imap::Mailbox>,
    /// A file holding the IMAP password (its first line).
    #[arg(long, value_name = "FILE")]
    pub imap_password_file: Option<PathBuf>,
    /// What to do with each message whose reports were read: keep, seen, or move:FOLDER.
    #[arg(long, value_name = "ACTION", default_value = "keep")]
    pub imap_done: crate::imap::Done,
    /// Trust the CA certificates in this PEM file for IMAP instead of Mozilla's roots.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Seconds an IMAP connection and each of its reads may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub timeout: u64,
    /// Seconds reading one mailbox may take in all; past it the mailbox is skipped by name.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub imap_deadline: u64,
    /// Only reports whose range ends on or after this day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE", value_parser = parse_date)]
    pub since: Option<chrono::NaiveDate>,
    /// Days of reports a testing domain needs before it is ready for enforce.
    #[arg(long, value_name = "N", default_value_t = 14)]
    pub days: usize,
    /// How to print the summary (csv: one row per domain, result and MX; prometheus: for
    /// node_exporter's textfile collector).
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Where the result goes.
    #[command(flatten)]
    pub output: ResultFile,
}

/// Options of `receive`.
#[derive(Debug, clap::Args)]
pub struct ReceiveArgs {
    /// Address and port to listen on (IP:PORT or [IPv6]:PORT).
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: std::net::SocketAddr,
    /// The store the reports go to: a SQLite file (relative to the config's directory) or a
    /// postgres:// URL.
    #[arg(long, value_name = "PATH|URL", default_value = "reports.sqlite")]
    pub store: String,
    /// Serve TLS with this certificate chain (PEM); without it, plain HTTP for a proxy in front.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_certificate: Option<PathBuf>,
    /// The private key of --tls-certificate (PEM).
    #[arg(long, value_name = "PEM", requires = "tls_certificate")]
    pub tls_key: Option<PathBuf>,
    /// Answer GET on this path with the counters in Prometheus's text format (mtasts_receive_reports).
    #[arg(long, value_name = "PATH")]
    pub metrics_path: Option<String>,
    /// Connections open at once; further clients wait to be accepted.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_connections: usize,
    /// Seconds a client may take for the TLS handshake, then for its headers, then for its
    /// body; a slower one is dropped (a slowloris holds a slot this long at most).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub client_timeout: u64,
}

/// Output formats of `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Lines for people.
    Text,
    /// One JSON document for scripts.
    Json,
    /// `domain,result,mx,sessions` rows.
    Csv,
    /// The Prometheus text exposition format.
    Prometheus,
}

/// Options of `dashboard`.
#[derive(Debug, clap::Args)]
pub struct DashboardArgs {
    /// The report store to read: a SQLite file (relative to the config's directory) or a
    /// postgres:// URL.
    #[arg(long, value_name = "PATH|URL", default_value = "reports.sqlite")]
    pub store: String,
    /// The JSON `check --format json --output FILE` wrote, for each domain's last verdict.
    #[arg(long, value_name = "FILE")]
    pub check: Option<PathBuf>,
    /// Where the site goes (default: output/dashboard beside the config).
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Days of reports a testing domain needs before it is ready for enforce.
    #[arg(long, value_name = "N", default_value_t = 14)]
    pub days: usize,
}
