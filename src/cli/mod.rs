//! Command-line types (clap derive only; no behaviour here).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

mod reports;
pub use reports::{DashboardArgs, ReceiveArgs, ReportArgs, ReportFormat};

/// MTA-STS as code: turn domains.toml into policy files, nginx vhosts and DNS zone fragments.
#[derive(Debug, Parser)]
#[command(
    name = "mtasts",
    version,
    about,
    propagate_version = true,
    after_help = "Examples:\n  mtasts init && $EDITOR domains.toml\n  mtasts build\n  mtasts records --format zone\n  mtasts check --output /var/lib/node_exporter/mtasts.prom --format prometheus\n\nExit codes (every command): 0 done, nothing wrong found; 1 invalid input, a refusal or a finding (a check FAIL, a report ALARM, an unreadable input); 2 usage error, or the run could not be done (resolver silent, no report readable, result not written). A closed pipe (| head) ends with 0."
)]
pub struct Cli {
    /// The configuration file.
    #[arg(
        short,
        long,
        global = true,
        default_value = "domains.toml",
        value_name = "PATH"
    )]
    pub config: PathBuf,

    /// Directory of template overrides (default: `templates/` beside the config, if present).
    #[arg(long, global = true, value_name = "DIR")]
    pub templates: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented sample configuration (refuses to overwrite).
    #[command(
        after_help = "Examples:\n  mtasts init && $EDITOR domains.toml\n  mtasts init --ci github\n  mtasts -c /etc/mtasts/domains.toml init\n\nExit codes: 0 written; 1 the file exists or cannot be written; 2 usage error."
    )]
    Init(InitArgs),
    /// Parse and validate the configuration; report every problem at once.
    #[command(
        after_help = "Examples:\n  mtasts validate\n  mtasts -c site/domains.toml validate\n\nExit codes: 0 valid (warnings allowed); 1 an error or a refusal build would make; 2 usage error."
    )]
    Validate,
    /// Generate the output tree and update the lock file.
    #[command(
        after_help = "Examples:\n  mtasts build\n  mtasts build --dry-run\n  mtasts build --locked --format json   # in CI: fail if domains.lock is stale\n\nExit codes: 0 built; 1 invalid config, refused removal, --locked would change the lock, busy; 2 usage error."
    )]
    Build(BuildArgs),
    /// One line per domain: mode, id, lifecycle stage, the next date that matters, warnings.
    #[command(
        after_help = "Examples:\n  mtasts status\n  mtasts status --format json | jq '.domains[] | select(.stage != \"active\")'\n\nExit codes: 0 printed; 1 invalid config or lock; 2 usage error, or the result could not be written."
    )]
    Status(StatusArgs),
    /// Build, then rebuild whenever the config or a template changes (Ctrl-C to stop).
    #[command(
        after_help = "Examples:\n  mtasts watch\n  mtasts watch --poll   # network filesystems\n\nExit codes: 0 stopped by Ctrl-C or SIGTERM; 1 the first build failed or busy; 2 usage error."
    )]
    Watch(WatchArgs),
    /// Compare the live DNS, HTTPS and MX hosts (STARTTLS) with what was built; exit 1 on any failure.
    #[command(
        after_help = "Examples:\n  mtasts check\n  mtasts check example.com --nameserver 192.0.2.53\n  mtasts check --format json > check.json\n  mtasts check --no-smtp   # where outbound port 25 is blocked\n  mtasts check --format prometheus --output /var/lib/node_exporter/textfile/mtasts.prom\n\nExit codes: 0 every check passed (or a deployment is pending); 1 a FAIL, invalid config; 2 usage error, the resolver answered nothing, or the result could not be written. --output FILE is replaced whole whatever the exit code."
    )]
    Check(CheckArgs),
    /// Summarise TLS-RPT reports and say which testing domains are ready for enforce.
    #[command(
        after_help = "Examples:\n  mtasts report ~/Maildir/.tlsrpt\n  mtasts report reports/ --since 2025-11-01 --format json\n  mtasts report --store --imap imaps://tlsrpt%40example.com@imap.example.com/INBOX   # daily: only new mail, judged on the stored history\n  mtasts report --store=postgres://mtasts@db.example.com/reports --keep-days 400\n  mtasts report reports/ --format prometheus --output /var/lib/node_exporter/textfile/tlsrpt.prom\n\nReport mails count only with a valid DKIM signature by the From domain or a parent of it (RFC 8460 §3); --no-dkim where the mailbox is filtered upstream.\n\nExit codes: 0 summarised, no alarm; 1 an ALARM, an input or mailbox that could not be read (a mail failing DKIM among them), invalid config; 2 usage error, no report could be read from any input, the store could not be opened or written, or the result could not be written."
    )]
    Report(ReportArgs),
    /// Receive TLS reports over HTTPS (the rua=https: endpoint) into the report store.
    #[command(
        after_help = "Examples:\n  mtasts receive --listen 127.0.0.1:8425 --store /var/lib/mtasts/reports.sqlite   # behind nginx\n  mtasts receive --listen [::]:443 --tls-certificate fullchain.pem --tls-key privkey.pem --store postgres://mtasts@db/reports\n\nAnswers: 201 stored, 200 already stored, 400 not a report, 405 not POST, 413 over 1 MiB (10 MiB inflated), 415 not application/tlsrpt+gzip or +json, 503 the store could not commit it. One JSON access log line per request on stdout. SIGTERM stops accepting and finishes the requests in flight.\n\nExit codes: 0 stopped by SIGTERM or SIGINT; 1 the certificate or key could not be read; 2 the address could not be bound, or the store could not be opened."
    )]
    Receive(ReceiveArgs),
    /// Write a static dashboard: every domain's state, reports per day, failures and records.
    #[command(
        after_help = "Examples:\n  mtasts dashboard\n  mtasts dashboard --store postgres://mtasts@db/reports --check check.json -o /var/www/dashboard\n  mtasts check --format json --output check.json; mtasts dashboard --check check.json\n\nExit codes: 0 written; 1 invalid config, or --check not check's JSON; 2 usage error, or the store could not be opened."
    )]
    Dashboard(DashboardArgs),
    /// Print the DNS records to publish, from the same plan as `build`; writes nothing.
    #[command(
        after_help = "Examples:\n  mtasts records example.com\n  mtasts records --format octodns\n  mtasts records --format csv > records.csv\n  mtasts records --locked --format json   # in CI: every id printed is in domains.lock\n\nExit codes: 0 printed; 1 invalid config, a domain not configured, or with --locked a pending or never-built domain; 2 usage error, or the result could not be written."
    )]
    Records(RecordsArgs),
    /// Read live domains (id, policy, policy host, MX, TLS-RPT) as config tables that pin the live id.
    #[command(
        after_help = "Examples:\n  mtasts import example.com example.org\n  mtasts import example.com --write   # append its table to domains.toml\n  mtasts import example.com --nameserver 192.0.2.53\n\nExit codes: 0 a table for every domain (printed, or with --write appended); 1 a domain already configured, or the config invalid (with --write nothing is written); 2 usage error, the resolver answered nothing, or the result could not be written."
    )]
    Import(ImportArgs),
    /// Plan an MX move by date: what to build now, when the DNS MX may switch, when the old hosts may go.
    #[command(
        name = "plan-mx",
        after_help = "Examples:\n  mtasts plan-mx example.com --add contoso-com.o-v1.mx.microsoft --remove contoso-com.mail.protection.outlook.com\n  mtasts plan-mx example.com --add mx2.example.net --remove mx1.example.net   # run again after each step\n\nExit codes: 0 printed; 1 invalid config, a domain not configured, or an invalid or unknown host; 2 usage error, or the result could not be written."
    )]
    PlanMx(PlanMxArgs),
    /// Work with the built-in templates.
    #[command(
        subcommand,
        after_help = "Examples:\n  mtasts templates eject\n  mtasts templates eject site/templates\n\nExit codes: 0 done; 1 a file exists or cannot be written; 2 usage error."
    )]
    Templates(TemplatesCommand),
    /// Per certificate the policy hosts it covers and the ACME command (argv) that obtains it.
    #[command(
        after_help = "Examples:\n  mtasts certificates\n  mtasts certificates --client lego --email ops@example.com --format json | jq -c '.certificates[].command'\n  mtasts certificates --server https://acme-staging-v02.api.letsencrypt.org/directory\n\nExit codes: 0 printed; 1 invalid config or no [nginx] acme_webroot; 2 usage error, or the result could not be written."
    )]
    Certificates(CertificatesArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    #[command(
        after_help = "Examples:\n  mkdir -p ~/.local/share/bash-completion/completions && mtasts completions bash > ~/.local/share/bash-completion/completions/mtasts\n  mtasts completions zsh > ~/.zfunc/_mtasts\n  mtasts completions fish > ~/.config/fish/completions/mtasts.fish\n\nExit codes: 0 printed; 2 usage error, or the script could not be written."
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout.
    #[command(
        after_help = "Examples:\n  mtasts man --dir ~/.local/share/man/man1 && man mtasts-check\n  mtasts man > mtasts.1\n\nExit codes: 0 written; 1 DIR cannot be written; 2 usage error, or stdout could not be written."
    )]
    Man(ManArgs),
}

/// Options of `man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write `mtasts.1` and one `mtasts-<command>.1` per subcommand into DIR instead of printing
    /// the main page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Options of `build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Output directory (default: `output/` beside the config).
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Fail instead of changing the lock file (for CI).
    #[arg(long)]
    pub locked: bool,
    /// Print no summary and no progress (warnings and errors still go to stderr).
    #[arg(short, long)]
    pub quiet: bool,
    /// Say what would change; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Compare every file on disk with the plan instead of trusting manifest.json, and repair
    /// what was edited or deleted by hand.
    #[arg(long)]
    pub verify: bool,
    /// How to print the summary.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Drop DOMAIN from the lock although senders may still hold its policy (repeatable).
    #[arg(long, value_name = "DOMAIN")]
    pub forget: Vec<String>,
    /// Seconds to wait for another mtasts working on the same config before giving up.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub wait: u64,
}

/// Options of `watch`.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// Output directory (default: `output/` beside the config).
    #[arg(short, long, value_name = "DIR")]
    pub output: Option<PathBuf>,
    /// Poll for changes instead of using inotify (network filesystems, some containers).
    #[arg(long)]
    pub poll: bool,
    /// Seconds to wait for another mtasts working on the same config before giving up.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub wait: u64,
}

/// Options of `plan-mx`.
#[derive(Debug, clap::Args)]
pub struct PlanMxArgs {
    /// The domain whose MX hosts move.
    pub domain: String,
    /// MX hosts (or patterns) the domain moves to.
    #[arg(long, value_name = "HOST", num_args = 1.., required = true)]
    pub add: Vec<String>,
    /// MX hosts (or patterns) that leave once the move is done.
    #[arg(long, value_name = "HOST", num_args = 1..)]
    pub remove: Vec<String>,
}

/// Options of `import`.
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The domains to read from DNS and HTTPS.
    #[arg(required = true)]
    pub domains: Vec<String>,
    /// Ask this DNS server (IP, IP:PORT or [IPv6]:PORT; port 53 by default) instead of the system resolver.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_nameserver)]
    pub nameserver: Option<std::net::SocketAddr>,
    /// Trust the CA certificates in this PEM file instead of Mozilla's roots.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Connect to ADDR:PORT whenever HOST:PORT is meant (like curl); repeatable.
    #[arg(long, value_name = "HOST:PORT:ADDR:PORT")]
    pub connect_to: Vec<crate::net::ConnectTo>,
    /// Seconds each DNS query and the HTTPS request may take.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,
    /// Append the tables to the config (created if missing) instead of printing them.
    #[arg(long)]
    pub write: bool,
}

/// Options of `check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Domains to check (default: every domain in the config).
    pub domains: Vec<String>,
    /// Ask this DNS server (IP, IP:PORT or [IPv6]:PORT; port 53 by default) instead of the system resolver.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_nameserver)]
    pub nameserver: Option<std::net::SocketAddr>,
    /// Trust the CA certificates in this PEM file instead of Mozilla's roots.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Connect to ADDR:PORT whenever HOST:PORT is meant (like curl); repeatable.
    #[arg(long, value_name = "HOST:PORT:ADDR:PORT")]
    pub connect_to: Vec<crate::net::ConnectTo>,
    /// Seconds each DNS query, HTTPS request and SMTP step may take (a whole SMTP probe: 3x).
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,
    /// Do not connect to the MX hosts (where outbound port 25 is blocked, as on many CI runners).
    #[arg(long)]
    pub no_smtp: bool,
    /// DNSKEY records (zone-file lines) to validate DANE's TLSA records from, instead of the
    /// root's keys (for a private test root).
    #[arg(long, value_name = "FILE")]
    pub trust_anchor: Option<PathBuf>,
    /// The port the MX hosts are probed on.
    #[arg(long, value_name = "PORT", default_value_t = 25)]
    pub smtp_port: u16,
    /// Probe ADDR:PORT whenever MX HOST:PORT is meant (like --connect-to); repeatable.
    #[arg(long, value_name = "HOST:PORT:ADDR:PORT")]
    pub smtp_connect: Vec<crate::net::ConnectTo>,
    /// Warn when a certificate (MX or policy host) has fewer days left than this.
    #[arg(long, value_name = "DAYS", default_value_t = 14)]
    pub expiry_days: u32,
    /// How to print the results (prometheus: for node_exporter's textfile collector).
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// Where the result goes.
    #[command(flatten)]
    pub output: ResultFile,
}

/// Output formats of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// Lines for people.
    Text,
    /// One JSON document for scripts.
    Json,
    /// The Prometheus text exposition format.
    Prometheus,
}

/// A command-line value clap's own types do not check; clap prints it after the flag's name.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    /// `--email`.
    #[error("{0:?} is not an e-mail address like ops@example.com")]
    Email(String),
    /// `--server` of `certificates`.
    #[error(
        "{0:?} is not an https:// ACME directory URL (such as https://acme-staging-v02.api.letsencrypt.org/directory)"
    )]
    AcmeServer(String),
    /// `--nameserver`.
    #[error("{0:?} is not IP, IP:PORT or [IPv6]:PORT")]
    Nameserver(String),
    /// `--since`.
    #[error("{0:?} is not a date as YYYY-MM-DD (such as 2025-11-01)")]
    Date(String),
}

fn parse_date(s: &str) -> Result<chrono::NaiveDate, ValueError> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| ValueError::Date(s.to_string()))
}

fn parse_email(s: &str) -> Result<String, ValueError> {
    // Conservative on purpose: the address goes into an ACME account and into printed commands.
    let ok = s.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && local
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._%+-".contains(&b))
            && domain.contains('.')
            && !domain.starts_with(['.', '-'])
            && domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    });
    if ok {
        Ok(s.to_string())
    } else {
        Err(ValueError::Email(s.to_string()))
    }
}

fn parse_acme_server(s: &str) -> Result<String, ValueError> {
    if s.starts_with("https://") && s.len() > 8 && s.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(s.to_string())
    } else {
        Err(ValueError::AcmeServer(s.to_string()))
    }
}

fn parse_nameserver(s: &str) -> Result<std::net::SocketAddr, ValueError> {
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Ok(std::net::SocketAddr::new(ip, 53));
    }
    s.parse().map_err(|_| ValueError::Nameserver(s.to_string()))
}

/// Options of `init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Also write a CI workflow that builds with --locked and deploys policies before DNS.
    #[arg(long, value_enum, value_name = "SYSTEM")]
    pub ci: Option<Ci>,
}

/// CI systems `init --ci` writes a workflow for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Ci {
    /// `.github/workflows/mtasts.yml` for GitHub Actions.
    Github,
}

/// Options of `certificates`.
#[derive(Debug, clap::Args)]
pub struct CertificatesArgs {
    /// The ACME client the commands are for.
    #[arg(long, value_enum, default_value_t = AcmeClient::Certbot)]
    pub client: AcmeClient,
    /// The ACME account's e-mail address (lego needs one; certbot registers without one).
    #[arg(long, value_name = "ADDRESS", value_parser = parse_email)]
    pub email: Option<String>,
    /// The ACME directory URL (default: the client's own, Let's Encrypt's production).
    #[arg(long, value_name = "URL", value_parser = parse_acme_server)]
    pub server: Option<String>,
    /// How to print them.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Where the result goes.
    #[command(flatten)]
    pub output: ResultFile,
}

/// ACME clients `certificates` writes commands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AcmeClient {
    /// certbot, `--webroot`.
    Certbot,
    /// lego, `--http --http.webroot`.
    Lego,
}

/// Options of `records`.
#[derive(Debug, clap::Args)]
pub struct RecordsArgs {
    /// Domains to print (default: every published domain).
    pub domains: Vec<String>,
    /// How to print them.
    #[arg(long, value_enum, default_value_t = RecordsFormat::Text)]
    pub format: RecordsFormat,
    /// Exit 1 when a domain's records are pending (its config changed since the last build) or
    /// it was never built (for CI: the records match the committed lock).
    #[arg(long)]
    pub locked: bool,
    /// Where the result goes.
    #[command(flatten)]
    pub output: ResultFile,
}

/// Forms of `records`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RecordsFormat {
    /// A table to type into a provider's form: relative name, type, TTL, unquoted value.
    Text,
    /// Zone-file lines with absolute names (TXT quoted and split).
    Zone,
    /// `{"records": [{"domain", "name", "relative", "type", "ttl", "value"}]}`.
    Json,
    /// octoDNS YamlProvider zone files, one YAML document per domain.
    Octodns,
    /// DNSControl `D_EXTEND(...)` record calls, one per domain.
    Dnscontrol,
    /// CSV with a header line.
    Csv,
}

/// Options of `status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// How to print it.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Where the result goes.
    #[command(flatten)]
    pub output: ResultFile,
}

/// Where a command's result goes: stdout, or a file written whole (`--output FILE`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ResultFile {
    /// Write the result to FILE instead of stdout: a temp file beside it, renamed over it when
    /// the command ends (whatever its exit code), so a reader never sees half a file.
    #[arg(long = "output", value_name = "FILE")]
    pub path: Option<PathBuf>,
}

/// Summary formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Lines for people.
    Text,
    /// One JSON document for scripts.
    Json,
}

/// `templates` subcommands.
#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// Copy the built-in templates into DIR (default: `templates/` beside the config).
    #[command(
        after_help = "Examples:\n  mtasts templates eject && $EDITOR templates/nginx.conf.j2\n  mtasts --templates site/templates templates eject site/templates\n\nExit codes: 0 written; 1 a file exists or cannot be written; 2 usage error."
    )]
    Eject {
        /// Target directory.
        dir: Option<PathBuf>,
    },
}
