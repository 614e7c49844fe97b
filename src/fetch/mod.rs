//! HTTPS GET of a policy the way a sending MTA does it (RFC 8461 §3.3): SNI for the policy host,
//! certificate checked against Mozilla's roots or a given CA file, no redirects followed, no
//! caching, at most 64 KiB read. Names resolve through the same [`Dns`] as the other checks.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{Connector, NextTimeout, TcpConnector};

use crate::dns::Dns;
use crate::net::{ConnectTo, NetError, client_config};
use crate::policy::MAX_POLICY_BYTES;

mod tls;

/// Why no HTTP response arrived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The TLS client cannot be set up (trust roots, rustls).
    #[error(transparent)]
    Net(#[from] NetError),
    /// The chain does not lead to a trusted root.
    #[error("certificate not trusted (unknown issuer): {0}")]
    UnknownIssuer(String),
    /// The certificate does not name the policy host.
    #[error("certificate not valid for this host name: {0}")]
    WrongName(String),
    /// The certificate has expired.
    #[error("certificate expired: {0}")]
    Expired(String),
    /// The server ended the handshake with a TLS alert: it has no usable certificate for the
    /// name (nginx answers so when it cannot load the certificate or key it picked).
    #[error("the server refused the TLS handshake ({0})")]
    Alert(String),
    /// Connect, timeout, HTTP or another TLS failure, as ureq words it.
    #[error("{0}")]
    Failed(String),
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
    /// What [`Fetcher::get_at`] builds its one-address agents from.
    tls: Arc<rustls::ClientConfig>,
    config: ureq::config::Config,
    connect_to: Vec<ConnectTo>,
}

impl Fetcher {
    /// Trusts `ca_file` (PEM) instead of Mozilla's roots when given.
    pub fn new(
        dns: Arc<Dns>,
        ca_file: Option<&Path>,
        connect_to: Vec<ConnectTo>,
        timeout: Duration,
    ) -> Result<Fetcher, FetchError> {
        let tls = Arc::new(client_config(ca_file)?);
        let presented = tls::Presented::default();
        let connector = ().chain(TcpConnector::default()).chain(tls::RecordingTls {
            config: tls.clone(),
            presented: presented.clone(),
        });
        let config = ureq::Agent::config_builder()
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .user_agent("mtasts-check")
            .build();
        let agent = ureq::Agent::with_parts(
            config.clone(),
            connector,
            Route {
                dns,
                connect_to: connect_to.clone(),
            },
        );
        Ok(Fetcher {
            agent,
            presented,
            tls,
            config,
            connect_to,
        })
    }

    /// Whether a `--connect-to` rule decides where `host` is reached (then its DNS addresses
    /// are not where the policy comes from).
    pub fn overridden(&self, host: &str) -> bool {
        self.connect_to.iter().any(|c| c.applies(host, 443))
    }

    /// GET `https://{host}{path}` from the one address `ip` (SNI and certificate checks for
    /// `host`, as a sender that picked that address would see it).
    pub fn get_at(&self, host: &str, path: &str, ip: IpAddr) -> Result<Response, FetchError> {
        let connector = ().chain(TcpConnector::default()).chain(tls::RecordingTls {
            config: self.tls.clone(),
            presented: tls::Presented::default(),
        });
        let agent = ureq::Agent::with_parts(
            self.config.clone(),
            connector,
            Pinned(SocketAddr::new(ip, 443)),
        );
        fetch(&agent, host, path)
    }

    /// GET `https://{host}{path}`; `Err` says why no HTTP response arrived (TLS, connect, timeout).
    pub fn get(&self, host: &str, path: &str) -> Result<Response, FetchError> {
        let answer = self.answer(host, path);
        let chain = self
            .presented
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&host.to_ascii_lowercase())
            .unwrap_or_default();
        answer.map(|r| Response { chain, ..r })
    }

    fn answer(&self, host: &str, path: &str) -> Result<Response, FetchError> {
        fetch(&self.agent, host, path)
    }
}

/// One GET through `agent`, the body read up to the policy size limit.
fn fetch(agent: &ureq::Agent, host: &str, path: &str) -> Result<Response, FetchError> {
    let mut resp = agent
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

fn describe(e: ureq::Error) -> FetchError {
    // The TLS layer's own error says what happened: ureq hands it over directly, or inside the
    // I/O error of the handshake.
    let tls = match &e {
        ureq::Error::Rustls(tls) => Some(tls),
        ureq::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    let text = e.to_string();
    use rustls::CertificateError as C;
    match tls {
        Some(rustls::Error::AlertReceived(alert)) => FetchError::Alert(format!("{alert:?} alert")),
        Some(rustls::Error::InvalidCertificate(C::UnknownIssuer)) => {
            FetchError::UnknownIssuer(text)
        }
        Some(rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        )) => FetchError::WrongName(text),
        Some(rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. })) => {
            FetchError::Expired(text)
        }
        _ => FetchError::Failed(text),
    }
}

/// Every name resolves to one fixed address.
#[derive(Debug)]
struct Pinned(SocketAddr);

impl Resolver for Pinned {
    fn resolve(
        &self,
        _uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let mut out = self.empty();
        out.push(self.0);
        Ok(out)
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
            Some(c) => c.rewrite(&host, port),
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
