//! HTTPS GET of a policy the way a sending MTA does it (RFC 8461 §3.3): SNI for the policy host,
//! certificate checked against Mozilla's roots or a given CA file, no redirects followed, no
//! caching, at most 64 KiB read. Names resolve through the same [`Dns`] as the other checks.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use ureq::tls::PemItem;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{Connector, NextTimeout, TcpConnector};

use crate::dns::Dns;
use crate::policy::MAX_POLICY_BYTES;

mod tls;

/// curl's `--connect-to HOST:PORT:ADDR:PORT`: connections meant for HOST:PORT go to ADDR:PORT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    host: String,
    port: Option<u16>,
    addr: String,
    to_port: Option<u16>,
}

impl std::str::FromStr for ConnectTo {
    type Err = String;

    fn from_str(s: &str) -> Result<ConnectTo, String> {
        let bad = || format!("{s:?} is not HOST:PORT:ADDR:PORT (empty parts mean any / unchanged)");
        let (host, rest) = s.split_once(':').ok_or_else(bad)?;
        let (port, rest) = rest.split_once(':').ok_or_else(bad)?;
        let (addr, to_port) = match rest.strip_prefix('[') {
            Some(v6) => {
                let (a, p) = v6.split_once("]:").ok_or_else(bad)?;
                (a.to_string(), p)
            }
            None => {
                let (a, p) = rest.rsplit_once(':').ok_or_else(bad)?;
                (a.to_string(), p)
            }
        };
        let port_of = |p: &str| -> Result<Option<u16>, String> {
            if p.is_empty() {
                Ok(None)
            } else {
                p.parse().map(Some).map_err(|_| bad())
            }
        };
        Ok(ConnectTo {
            host: host.to_ascii_lowercase(),
            port: port_of(port)?,
            addr,
            to_port: port_of(to_port)?,
        })
    }
}

impl ConnectTo {
    /// Whether this rule is meant for `host` on `port` (an empty host or port means any).
    pub fn applies(&self, host: &str, port: u16) -> bool {
        (self.host.is_empty() || self.host.eq_ignore_ascii_case(host))
            && self.port.is_none_or(|p| p == port)
    }

    /// Whether the rule names an address (rather than only a port).
    pub fn has_address(&self) -> bool {
        !self.addr.is_empty()
    }

    /// Where a connection meant for `ip`:`port` goes under this rule.
    pub fn target(&self, ip: IpAddr, port: u16) -> Result<SocketAddr, String> {
        let ip = if self.addr.is_empty() {
            ip
        } else {
            self.addr
                .parse()
                .map_err(|_| format!("{:?} is not an IP address", self.addr))?
        };
        Ok(SocketAddr::new(ip, self.to_port.unwrap_or(port)))
    }
}

/// What the server answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// The Content-Type header, if any.
    pub content_type: Option<String>,
    /// The Location header, if any.
    pub location: Option<String>,
    /// The body (at most 64 KiB).
    pub body: Vec<u8>,
    /// The body was longer than 64 KiB.
    pub too_large: bool,
    /// The certificate chain the server presented (end entity first).
    pub chain: Vec<CertificateDer<'static>>,
}

/// A policy fetcher with its trust roots and address overrides.
pub struct Fetcher {
    agent: ureq::Agent,
    presented: tls::Presented,
}

/// Mozilla's roots, or the certificates of a PEM file instead.
pub fn trust_roots(ca_file: Option<&Path>) -> Result<RootCertStore, String> {
    let Some(path) = ca_file else {
        return Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
    };
    let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut store = RootCertStore::empty();
    for item in ureq::tls::parse_pem(&pem) {
        if let Ok(PemItem::Certificate(c)) = item {
            store
                .add(c.der().to_vec().into())
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    if store.is_empty() {
        return Err(format!("{}: no PEM certificate found", path.display()));
    }
    Ok(store)
}

impl Fetcher {
    /// Trusts `ca_file` (PEM) instead of Mozilla's roots when given.
    pub fn new(
        dns: Arc<Dns>,
        ca_file: Option<&Path>,
        connect_to: Vec<ConnectTo>,
        timeout: Duration,
    ) -> Result<Fetcher, String> {
        let tls =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .with_root_certificates(trust_roots(ca_file)?)
                .with_no_client_auth();
        let presented = tls::Presented::default();
        let connector = ().chain(TcpConnector::default()).chain(tls::RecordingTls {
            config: Arc::new(tls),
            presented: presented.clone(),
        });
        let config = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent("mtasts-check")
            .build();
        let agent = ureq::Agent::with_parts(config, connector, Route { dns, connect_to });
        Ok(Fetcher { agent, presented })
    }

    /// GET `https://{host}{path}`; `Err` says why no HTTP response arrived (TLS, connect, timeout).
    pub fn get(&self, host: &str, path: &str) -> Result<Response, String> {
        let answer = self.answer(host, path);
        let chain = self
            .presented
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&host.to_ascii_lowercase())
            .unwrap_or_default();
        answer.map(|r| Response { chain, ..r })
    }

    fn answer(&self, host: &str, path: &str) -> Result<Response, String> {
        let mut resp = self
            .agent
            .get(&format!("https://{host}{path}"))
            .call()
            .map_err(describe)?;
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let status = resp.status().as_u16();
        let content_type = header("content-type");
        let location = header("location");
        let (body, too_large) = match resp
            .body_mut()
            .with_config()
            .limit(MAX_POLICY_BYTES as u64)
            .read_to_vec()
        {
            Ok(body) => (body, false),
            Err(ureq::Error::BodyExceedsLimit(_)) => (Vec::new(), true),
            Err(e) => return Err(describe(e)),
        };
        Ok(Response {
            status,
            content_type,
            location,
            body,
            too_large,
            chain: Vec::new(),
        })
    }
}

fn describe(e: ureq::Error) -> String {
    let text = e.to_string();
    let squashed = text.to_ascii_lowercase().replace(' ', "");
    if squashed.contains("unknownissuer") {
        format!("certificate not trusted (unknown issuer): {text}")
    } else if squashed.contains("notvalidforname") {
        format!("certificate not valid for this host name: {text}")
    } else if squashed.contains("expired") {
        format!("certificate expired: {text}")
    } else {
        text
    }
}

/// Resolves through `Dns`, after applying `--connect-to`.
struct Route {
    dns: Arc<Dns>,
    connect_to: Vec<ConnectTo>,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("connect_to", &self.connect_to)
            .finish()
    }
}

impl Resolver for Route {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let host = uri
            .host()
            .ok_or(ureq::Error::HostNotFound)?
            .to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(443);
        let (target, port) = match self.connect_to.iter().find(|c| c.applies(&host, port)) {
            Some(c) => (
                if c.addr.is_empty() {
                    host.clone()
                } else {
                    c.addr.clone()
                },
                c.to_port.unwrap_or(port),
            ),
            None => (host.clone(), port),
        };
        let ips = match target.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => self
                .dns
                .addresses(&target)
                .map_err(|_| ureq::Error::HostNotFound)?,
        };
        let mut out = self.empty();
        for ip in ips.into_iter().take(16) {
            out.push(SocketAddr::new(ip, port));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_to_parses_like_curl() {
        let c: ConnectTo = "mta-sts.example.com:443:127.0.0.1:8443".parse().unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.addr.as_str(), c.to_port),
            ("mta-sts.example.com", Some(443), "127.0.0.1", Some(8443))
        );
        let v6: ConnectTo = "::[::1]:8443".parse().unwrap();
        assert_eq!(
            (v6.host.as_str(), v6.port, v6.addr.as_str(), v6.to_port),
            ("", None, "::1", Some(8443))
        );
        assert!("nonsense".parse::<ConnectTo>().is_err());
        assert!("a:b:c:d".parse::<ConnectTo>().is_err());
    }
}
