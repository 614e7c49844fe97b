//! A blocking DNS facade over hickory-resolver for `check`: TXT, MX, CNAME and addresses, from
//! the system resolver or from one given server.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};

/// Why a lookup gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// The name does not exist or has no records of that type.
    #[error("no such record")]
    NoRecords,
    /// The lookup itself failed (timeout, refused, ...).
    #[error("lookup failed: {0}")]
    Failed(String),
}

/// Why no resolver could be made.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The runtime's threads could not start.
    #[error(transparent)]
    Runtime(#[from] std::io::Error),
    /// The resolver cannot be configured (from the system's settings, or at all).
    #[error(transparent)]
    Resolver(#[from] hickory_resolver::net::NetError),
    /// The `--trust-anchor` file holds no DNSKEY records that parse.
    #[error("trust anchor {0}")]
    TrustAnchor(String),
}

/// A resolver plus the runtime it runs on; usable from several threads at once.
pub struct Dns {
    runtime: tokio::runtime::Runtime,
    resolver: TokioResolver,
}

/// The TLSA records at a name, as a DNSSEC-validating lookup found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsaAnswer {
    /// No TLSA records.
    None,
    /// Records, and whether DNSSEC proved them (`false`: an unsigned, insecure zone).
    Found {
        /// The records.
        records: Vec<crate::dane::matching::Tlsa>,
        /// Whether their signatures validated up to a trust anchor.
        secure: bool,
    },
    /// DNSSEC validation failed: signatures wrong, missing or expired where they must be.
    Bogus(String),
    /// The resolver answered SERVFAIL, as a validating resolver does for bogus records.
    ServFail,
}

impl Dns {
    /// The system resolver, or `server` (all queries go to it) when given.
    pub fn new(server: Option<SocketAddr>, timeout: Duration) -> Result<Dns, SetupError> {
        Dns::make(server, timeout, None)
    }

    /// Like [`Dns::new`], but every answer is DNSSEC-validated here (not trusted from the
    /// resolver's AD bit), from the root's keys or from the DNSKEY records in `trust_anchor`.
    pub fn validating(
        server: Option<SocketAddr>,
        timeout: Duration,
        trust_anchor: Option<&std::path::Path>,
    ) -> Result<Dns, SetupError> {
        use hickory_resolver::proto::dnssec::TrustAnchors;
        let anchors = match trust_anchor {
            Some(path) => TrustAnchors::from_file(path)
                .map_err(|e| SetupError::TrustAnchor(format!("{}: {e}", path.display())))?,
            None => TrustAnchors::default(),
        };
        Dns::make(server, timeout, Some(anchors))
    }

    fn make(
        server: Option<SocketAddr>,
        timeout: Duration,
        anchors: Option<hickory_resolver::proto::dnssec::TrustAnchors>,
    ) -> Result<Dns, SetupError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let mut builder = match server {
            Some(addr) => {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                Resolver::builder_with_config(
                    ResolverConfig::from_name_servers(vec![ns]),
                    TokioRuntimeProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio()?,
        };
        let opts = builder.options_mut();
        opts.timeout = timeout;
        opts.attempts = 2;
        // Each check must see the live state, not an answer cached by an earlier query.
        opts.cache_size = 0;
        opts.ndots = 0;
        if let Some(anchors) = anchors {
            opts.validate = true;
            builder = builder.with_trust_anchor(std::sync::Arc::new(anchors));
        }
        let resolver = builder.build()?;
        Ok(Dns { runtime, resolver })
    }

    fn lookup(&self, name: &str, rtype: RecordType) -> Result<Vec<RData>, DnsError> {
        self.runtime.block_on(lookup(&self.resolver, name, rtype))
    }

    /// Every TXT record at `name` (following CNAMEs), each with its strings concatenated.
    pub fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        self.lookup(name, RecordType::TXT).map(txt)
    }

    /// MX exchange hosts of `name`, lower-case, without the root dot.
    pub fn mx(&self, name: &str) -> Result<Vec<String>, DnsError> {
        self.lookup(name, RecordType::MX).map(mx)
    }

    /// The CNAME target at `name`, if there is one.
    pub fn cname(&self, name: &str) -> Result<Option<String>, DnsError> {
        cname(self.lookup(name, RecordType::CNAME))
    }

    /// Every IPv4 and IPv6 address of `name` (following CNAMEs).
    pub fn addresses(&self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
        addresses(
            self.lookup(name, RecordType::A),
            self.lookup(name, RecordType::AAAA),
        )
    }

    /// The TLSA records at `name` and how DNSSEC judged them (meaningful on a
    /// [`Dns::validating`] resolver).
    pub fn tlsa(&self, name: &str) -> Result<TlsaAnswer, DnsError> {
        use hickory_resolver::net::{DnsError as Answer, NetError};
        use hickory_resolver::proto::dnssec::Proof;
        use hickory_resolver::proto::op::ResponseCode;
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self
            .runtime
            .block_on(self.resolver.lookup(fqdn.as_str(), RecordType::TLSA))
        {
            Ok(lookup) => {
                let mut secure = true;
                let mut records = Vec::new();
                for r in lookup.answers() {
                    if let RData::TLSA(t) = &r.data {
                        secure &= r.proof == Proof::Secure;
                        records.push(crate::dane::matching::Tlsa {
                            usage: t.cert_usage.into(),
                            selector: t.selector.into(),
                            matching: t.matching.into(),
                            data: t.cert_data.clone(),
                        });
                    }
                }
                Ok(if records.is_empty() {
                    TlsaAnswer::None
                } else {
                    TlsaAnswer::Found { records, secure }
                })
            }
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(TlsaAnswer::None),
            Err(NetError::Dns(Answer::DnssecBogus)) => {
                Ok(TlsaAnswer::Bogus("the signatures do not validate".into()))
            }
            Err(NetError::Dns(Answer::ResponseCode(ResponseCode::ServFail))) => {
                Ok(TlsaAnswer::ServFail)
            }
            Err(e) => Err(DnsError::Failed(e.to_string())),
        }
    }

    /// Starts every lookup `check` makes for `domain` at once, on the runtime's threads; the
    /// caller does other work (the HTTPS fetch) meanwhile and then [`Dns::wait`]s. One round
    /// trip per domain instead of six in a row.
    pub fn start(&self, domain: &str) -> Pending {
        let r = self.resolver.clone();
        let d = domain.to_string();
        Pending(self.runtime.spawn(async move {
            let (sts, host, tlsrpt) = (
                format!("_mta-sts.{d}"),
                format!("mta-sts.{d}"),
                format!("_smtp._tls.{d}"),
            );
            let (sts_txt, host_cname, a, aaaa, exchanges, tlsrpt_txt) = tokio::join!(
                lookup(&r, &sts, RecordType::TXT),
                lookup(&r, &host, RecordType::CNAME),
                lookup(&r, &host, RecordType::A),
                lookup(&r, &host, RecordType::AAAA),
                lookup(&r, &d, RecordType::MX),
                lookup(&r, &tlsrpt, RecordType::TXT),
            );
            DomainRecords {
                sts_txt: sts_txt.map(txt),
                host_cname: cname(host_cname),
                host_addrs: addresses(a, aaaa),
                mx: exchanges.map(mx),
                tlsrpt_txt: tlsrpt_txt.map(txt),
            }
        }))
    }

    /// The answers of [`Dns::start`].
    pub fn wait(&self, pending: Pending) -> DomainRecords {
        self.runtime
            .block_on(pending.0)
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }
}

/// Lookups under way for one domain.
pub struct Pending(tokio::task::JoinHandle<DomainRecords>);

/// What DNS says about one domain, as `check` reads it.
#[derive(Debug, Clone)]
pub struct DomainRecords {
    /// TXT records at `_mta-sts.<d>`.
    pub sts_txt: Result<Vec<String>, DnsError>,
    /// CNAME at `mta-sts.<d>`.
    pub host_cname: Result<Option<String>, DnsError>,
    /// Addresses of `mta-sts.<d>`.
    pub host_addrs: Result<Vec<IpAddr>, DnsError>,
    /// MX hosts of `<d>`.
    pub mx: Result<Vec<String>, DnsError>,
    /// TXT records at `_smtp._tls.<d>`.
    pub tlsrpt_txt: Result<Vec<String>, DnsError>,
}

async fn lookup(
    resolver: &TokioResolver,
    name: &str,
    rtype: RecordType,
) -> Result<Vec<RData>, DnsError> {
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    match resolver.lookup(fqdn.as_str(), rtype).await {
        Ok(lookup) => {
            let data: Vec<RData> = lookup
                .answers()
                .iter()
                .map(|r| r.data.clone())
                .filter(|d| d.record_type() == rtype)
                .collect();
            if data.is_empty() {
                Err(DnsError::NoRecords)
            } else {
                Ok(data)
            }
        }
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Err(DnsError::NoRecords),
        Err(e) => Err(DnsError::Failed(e.to_string())),
    }
}

fn txt(data: Vec<RData>) -> Vec<String> {
    data.into_iter()
        .filter_map(|d| match d {
            RData::TXT(txt) => Some(
                txt.txt_data
                    .iter()
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect::<String>(),
            ),
            _ => None,
        })
        .collect()
}

fn mx(data: Vec<RData>) -> Vec<String> {
    data.into_iter()
        .filter_map(|d| match d {
            RData::MX(mx) => Some(host(&mx.exchange.to_ascii())),
            _ => None,
        })
        .collect()
}

fn cname(found: Result<Vec<RData>, DnsError>) -> Result<Option<String>, DnsError> {
    match found {
        Ok(data) => Ok(data.into_iter().find_map(|d| match d {
            RData::CNAME(c) => Some(host(&c.0.to_ascii())),
            _ => None,
        })),
        Err(DnsError::NoRecords) => Ok(None),
        Err(e) => Err(e),
    }
}

fn addresses(
    a: Result<Vec<RData>, DnsError>,
    aaaa: Result<Vec<RData>, DnsError>,
) -> Result<Vec<IpAddr>, DnsError> {
    let mut out = Vec::new();
    let mut last_error = None;
    for found in [a, aaaa] {
        match found {
            Ok(data) => out.extend(data.into_iter().filter_map(|d| match d {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(a) => Some(IpAddr::V6(a.0)),
                _ => None,
            })),
            Err(DnsError::NoRecords) => {}
            Err(e) => last_error = Some(e),
        }
    }
    match (out.is_empty(), last_error) {
        (true, Some(e)) => Err(e),
        (true, None) => Err(DnsError::NoRecords),
        _ => Ok(out),
    }
}

fn host(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}
