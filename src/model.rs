//! Validated configuration: what the rest of the program may rely on without checking again.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use crate::names::{DomainName, HostName, MxPattern};

/// Largest `max_age` RFC 8461 §3.2 allows (one year).
pub const MAX_AGE_LIMIT: u32 = 31_557_600;

/// The policy mode (RFC 8461 §5).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Senders treat the domain as having no active policy.
    None,
    /// Senders report failures but deliver anyway.
    Testing,
    /// Senders refuse to deliver without a valid TLS connection to a listed MX.
    Enforce,
}

impl Mode {
    /// Every mode, in the order the RFC lists them.
    pub const ALL: [Mode; 3] = [Mode::None, Mode::Testing, Mode::Enforce];

    /// The exact policy-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::None => "none",
            Mode::Testing => "testing",
            Mode::Enforce => "enforce",
        }
    }

    /// Parses the exact (case-sensitive) spelling.
    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where `mta-sts.<domain>` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyHost {
    /// A CNAME to this host (the mail host or a CDN).
    Cname(HostName),
    /// A and AAAA records with these addresses.
    Addresses(Vec<IpAddr>),
    /// Made by the CDN that serves it (a Cloudflare Worker Custom Domain): no DNS output
    /// carries a record for it, since Cloudflare refuses a Custom Domain on a name that has one.
    Cdn,
}

/// One mail domain with every setting resolved (defaults merged, names in A-label form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// The policy domain.
    pub name: DomainName,
    /// Policy mode.
    pub mode: Mode,
    /// Policy lifetime in seconds (0..=MAX_AGE_LIMIT).
    pub max_age: u32,
    /// Allowed MX patterns, deduplicated, in config order, never empty.
    pub mx: Arc<[MxPattern]>,
    /// Target of `mta-sts.<domain>`.
    pub policy_host: PolicyHost,
    /// TLS-RPT report URIs (`mailto:` / `https:`); empty means no `_smtp._tls` record.
    pub tlsrpt_rua: Arc<[String]>,
    /// TTL of every record the domain emits.
    pub ttl: u32,
    /// How new ids are made.
    pub id_scheme: IdScheme,
    /// An id to publish for the current policy (until the policy changes).
    pub pinned_id: Option<String>,
    /// Retire MTA-STS for this domain (RFC 8461 §8.3).
    pub retire: bool,
    /// `max_age` of the `mode: none` policy published while retiring.
    pub retire_max_age: u32,
    /// The operator accepts the wildcard mx patterns of an enforce policy (no warning).
    pub accept_wildcard_mx: bool,
    /// The mx patterns of an MX move on their way out (`status` shows the move).
    pub mx_leaving: Vec<MxPattern>,
    /// For an alias domain: the primary whose `_mta-sts` record its own delegates to by CNAME
    /// (RFC 8461 §8.2); it publishes the primary's policy under its own policy host.
    pub delegate_to: Option<DomainName>,
}

/// How a new policy id is derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdScheme {
    /// `YYYYMMDDHHMMSS` (UTC), strictly increasing per domain.
    Timestamp,
    /// The first 32 hex digits of the sha256 of the policy bytes: stable, needs no state.
    Hash,
}

/// Whether `id` is a valid `_mta-sts` id (RFC 8461 §3.1: 1 to 32 letters and digits).
pub fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// How the nginx snippets are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nginx {
    /// `listen` parameters, used verbatim.
    pub listen: Vec<String>,
    /// Certificate path template (`{host}`, `{domain}`).
    pub certificate: String,
    /// Key path template (`{host}`, `{domain}`).
    pub certificate_key: String,
    /// Where `output/webroot` is deployed.
    pub webroot: String,
    /// One server block per policy host, or one for all of them.
    pub vhosts: Vhosts,
    /// Whether the shared layout sets `map_hash_*_size` itself (false: the `http` block that
    /// includes it already does, and nginx refuses a directive twice).
    pub map_hash_sizes: bool,
    /// Whether a host whose certificate or key file is missing here is left out of the nginx
    /// output, so that one missing file cannot fail a reload for every host.
    pub require_certificates: bool,
    /// Where ACME HTTP-01 challenges are written (`[nginx] acme_webroot`): when set, every
    /// policy host gets a port-80 server answering `/.well-known/acme-challenge/` from it.
    pub acme_webroot: Option<String>,
    /// `listen` lines of that port-80 server.
    pub acme_listen: Vec<String>,
    /// Policy hosts per certificate (`hosts_per_certificate`, 1 to 100): above 1, hosts share
    /// SAN certificates, named by `{certificate}` in the certificate and key paths.
    pub hosts_per_certificate: usize,
    /// The user nginx's workers run as (`[nginx] user`, default `www-data`): in the shared
    /// layout they load each certificate and key per handshake, so they must be able to read
    /// them.
    pub user: String,
    /// `receiver_host` and `receiver_upstream`: a server block for the host reporters POST
    /// to, TLS there, proxied to `mtasts receive`.
    pub receiver: Option<Receiver>,
}

/// The nginx front of `mtasts receive`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiver {
    /// The name in `tlsrpt_rua = ["https://<host>/..."]` (A-labels).
    pub host: String,
    /// Where `mtasts receive --listen` listens (IP:PORT, validated).
    pub upstream: String,
}

/// How the nginx output is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vhosts {
    /// `nginx/mta-sts.<domain>.conf` per host: clearest for a few domains.
    PerHost,
    /// One `nginx/mta-sts.conf` serving every host through maps: loads instantly at any size.
    Shared,
}

impl Default for Nginx {
    fn default() -> Self {
        Nginx {
            listen: vec!["443 ssl".into(), "[::]:443 ssl".into()],
            certificate: "/etc/letsencrypt/live/{host}/fullchain.pem".into(),
            certificate_key: "/etc/letsencrypt/live/{host}/privkey.pem".into(),
            webroot: "/var/www/mta-sts".into(),
            vhosts: Vhosts::PerHost,
            map_hash_sizes: true,
            require_certificates: false,
            acme_webroot: None,
            acme_listen: vec!["80".into(), "[::]:80".into()],
            hosts_per_certificate: 1,
            user: "www-data".into(),
            receiver: None,
        }
    }
}

impl Nginx {
    /// Expands `{host}`, `{domain}` and `{certificate}` (the batch name, else the host) in a
    /// path template for one domain.
    pub fn expand(template: &str, domain: &DomainName, certificate: Option<&str>) -> String {
        let host = domain.policy_host();
        template
            .replace("{certificate}", certificate.unwrap_or(&host))
            .replace("{host}", &host)
            .replace("{domain}", domain.as_str())
    }
}

/// A whole validated configuration, domains sorted by A-label name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Every domain.
    pub domains: Vec<Domain>,
    /// nginx settings.
    pub nginx: Nginx,
    /// What a build writes (`[output] targets`), in `Target` order, each once.
    pub targets: Vec<Target>,
    /// `[dane."<mx host>"]` tables, in host order.
    pub dane: Vec<Dane>,
}

/// Which certificate of the chain the TLSA records pin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DaneUsage {
    /// `dane-ee`: the server's own key (TLSA 3 1 1).
    #[default]
    DaneEe,
    /// `dane-ta`: the issuer's key (TLSA 2 1 1).
    DaneTa,
}

/// One `[dane."<mx host>"]` table: an MX host the operator runs and its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dane {
    /// The MX host.
    pub host: crate::names::HostName,
    /// PEM chain the host serves (relative paths from the config's directory).
    pub certificate: String,
    /// PEM key (public, private or a certificate) the next certificate will have.
    pub next_key: Option<String>,
    /// Which key the records pin.
    pub usage: DaneUsage,
    /// TTL of the TLSA records.
    pub ttl: u32,
    /// The zone the records go into.
    pub zone: crate::names::DomainName,
}

/// One kind of output a build can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// `webroot/mta-sts.<domain>/.well-known/mta-sts.txt`, to serve with any web server.
    Webroot,
    /// nginx vhosts (or the shared server) and the certificate inventory.
    Nginx,
    /// `dns/<domain>.zone` fragments.
    Dns,
    /// One Cloudflare Worker serving every policy host, and its `wrangler.toml`.
    CloudflareWorker,
    /// A CloudFront Function mapping each policy host to its prefix in one S3 bucket.
    Cloudfront,
    /// One Netlify site serving every policy host.
    Netlify,
    /// A GitHub Pages site root per policy host.
    GithubPages,
    /// `octodns/<domain>.yaml`, zones for octoDNS's `YamlProvider`.
    Octodns,
    /// `dnscontrol/<domain>.js`, DNSControl record calls.
    Dnscontrol,
    /// `dns/records.json`, the `records --format json` document.
    RecordsJson,
}

impl Target {
    /// Every target, in the order a build writes them.
    pub const ALL: [Target; 10] = [
        Target::Webroot,
        Target::Nginx,
        Target::Dns,
        Target::CloudflareWorker,
        Target::Cloudfront,
        Target::Netlify,
        Target::GithubPages,
        Target::Octodns,
        Target::Dnscontrol,
        Target::RecordsJson,
    ];

    /// What a build writes when `[output] targets` is not set.
    pub const DEFAULT: [Target; 3] = [Target::Webroot, Target::Nginx, Target::Dns];

    /// The name used in `domains.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Target::Webroot => "webroot",
            Target::Nginx => "nginx",
            Target::Dns => "dns",
            Target::CloudflareWorker => "cloudflare-worker",
            Target::Cloudfront => "cloudfront",
            Target::Netlify => "netlify",
            Target::GithubPages => "github-pages",
            Target::Octodns => "octodns",
            Target::Dnscontrol => "dnscontrol",
            Target::RecordsJson => "records-json",
        }
    }

    /// The target called `name`.
    pub fn parse(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }
}
