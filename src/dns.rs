//! A blocking DNS facade over hickory-resolver for `check`: TXT, MX, CNAME and addresses, from
//! the system resolver or from one given server.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};

/// Why a lookup gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// The name does not exist or has no records of that type.
    NoRecords,
    /// The lookup itself failed (timeout, refused, ...).
    Failed(String),
}

impl std::fmt::Display for DnsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DnsError::NoRecords => f.write_str("no such record"),
            DnsError::Failed(e) => write!(f, "lookup failed: {e}"),
        }
    }
}

/// A resolver plus the runtime it runs on; usable from several threads at once.
pub struct Dns {
    runtime: tokio::runtime::Runtime,
    resolver: TokioResolver,
}

impl Dns {
    /// The system resolver, or `server` (all queries go to it) when given.
    pub fn new(server: Option<SocketAddr>, timeout: Duration) -> Result<Dns, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
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
            None => TokioResolver::builder_tokio().map_err(|e| e.to_string())?,
        };
        let opts = builder.options_mut();
        opts.timeout = timeout;
        opts.attempts = 2;
        // Each check must see the live state, not an answer cached by an earlier query.
        opts.cache_size = 0;
        opts.ndots = 0;
        let resolver = builder.build().map_err(|e| e.to_string())?;
        Ok(Dns { runtime, resolver })
    }

    fn lookup(&self, name: &str, rtype: RecordType) -> Result<Vec<RData>, DnsError> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self
            .runtime
            .block_on(self.resolver.lookup(fqdn.as_str(), rtype))
        {
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

    /// Every TXT record at `name` (following CNAMEs), each with its strings concatenated.
    pub fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        Ok(self
            .lookup(name, RecordType::TXT)?
            .into_iter()
            .filter_map(|d| match d {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect())
    }

    /// MX exchange hosts of `name`, lower-case, without the root dot.
    pub fn mx(&self, name: &str) -> Result<Vec<String>, DnsError> {
        Ok(self
            .lookup(name, RecordType::MX)?
            .into_iter()
            .filter_map(|d| match d {
                RData::MX(mx) => Some(host(&mx.exchange.to_ascii())),
                _ => None,
            })
            .collect())
    }

    /// The CNAME target at `name`, if there is one.
    pub fn cname(&self, name: &str) -> Result<Option<String>, DnsError> {
        match self.lookup(name, RecordType::CNAME) {
            Ok(data) => Ok(data.into_iter().find_map(|d| match d {
                RData::CNAME(c) => Some(host(&c.0.to_ascii())),
                _ => None,
            })),
            Err(DnsError::NoRecords) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Every IPv4 and IPv6 address of `name` (following CNAMEs).
    pub fn addresses(&self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
        let mut out = Vec::new();
        let mut last_error = None;
        for rtype in [RecordType::A, RecordType::AAAA] {
            match self.lookup(name, rtype) {
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
}

fn host(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}
