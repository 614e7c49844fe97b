//! What every network adapter (policy fetch, SMTP probe, IMAP) shares: the trust roots, the
//! verifying TLS client and curl's `--connect-to` rules. A leaf, so the adapters never import
//! each other.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use ureq::tls::PemItem;

/// Why a connection rule or the trust roots cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// A `--connect-to` / `--smtp-connect` value that is not four `:`-separated parts.
    #[error("{0:?} is not HOST:PORT:ADDR:PORT (empty parts mean any / unchanged)")]
    ConnectTo(String),
    /// The ADDR of a rule is not an IP address.
    #[error("{0:?} is not an IP address")]
    Address(String),
    /// The CA file could not be read, or holds a certificate rustls refuses.
    #[error("{}: {reason}", path.display())]
    CaFile {
        /// The `--ca-file` given.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The CA file holds no PEM certificate.
    #[error("{}: no PEM certificate found", .0.display())]
    NoCertificate(PathBuf),
    /// rustls refused its own configuration.
    #[error("{0}")]
    Tls(String),
}

/// curl's `--connect-to HOST:PORT:ADDR:PORT`: connections meant for HOST:PORT go to ADDR:PORT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    host: String,
    port: Option<u16>,
    addr: String,
    to_port: Option<u16>,
}

impl std::str::FromStr for ConnectTo {
    type Err = NetError;

    fn from_str(s: &str) -> Result<ConnectTo, NetError> {
        let bad = || NetError::ConnectTo(s.to_string());
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
        let port_of = |p: &str| -> Result<Option<u16>, NetError> {
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
    pub fn target(&self, ip: IpAddr, port: u16) -> Result<SocketAddr, NetError> {
        let ip = if self.addr.is_empty() {
            ip
        } else {
            self.addr
                .parse()
                .map_err(|_| NetError::Address(self.addr.clone()))?
        };
        Ok(SocketAddr::new(ip, self.to_port.unwrap_or(port)))
    }

    /// The name (or address literal) and port a connection meant for `host`:`port` is made
    /// to, before any resolving.
    pub fn rewrite(&self, host: &str, port: u16) -> (String, u16) {
        let to = if self.addr.is_empty() {
            host.to_string()
        } else {
            self.addr.clone()
        };
        (to, self.to_port.unwrap_or(port))
    }
}

/// A rustls client (ring, TLS 1.2 and 1.3) that verifies servers against [`trust_roots`].
pub(crate) fn client_config(ca_file: Option<&Path>) -> Result<ClientConfig, NetError> {
    Ok(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| NetError::Tls(e.to_string()))?
            .with_root_certificates(trust_roots(ca_file)?)
            .with_no_client_auth(),
    )
}

/// Mozilla's roots, or the certificates of a PEM file instead.
pub(crate) fn trust_roots(ca_file: Option<&Path>) -> Result<RootCertStore, NetError> {
    let Some(path) = ca_file else {
        return Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
    };
    let ca_error = |reason: String| NetError::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
    let mut store = RootCertStore::empty();
    for item in ureq::tls::parse_pem(&pem) {
        if let Ok(PemItem::Certificate(c)) = item {
            store
                .add(c.der().to_vec().into())
                .map_err(|e| ca_error(e.to_string()))?;
        }
    }
    if store.is_empty() {
        return Err(NetError::NoCertificate(path.to_path_buf()));
    }
    Ok(store)
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
