//! What a presented certificate says, judged apart: chain trust (webpki, as a sender's TLS
//! library would), the names it covers (RFC 8461 §4.1 with RFC 6125: a wildcard stands for
//! exactly one leftmost label), and its validity dates. Kept apart so that an expired
//! certificate for the wrong name says both, not only the first error webpki meets.

use std::time::Duration;

use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, Error as TlsError};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// The facts of one presented certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// Its DNS subjectAltNames, lowercased.
    pub names: Vec<String>,
    /// Start of validity, seconds since 1970.
    pub not_before: i64,
    /// End of validity, seconds since 1970.
    pub not_after: i64,
    /// Whether the chain leads to a trusted root (dates and names aside); why not, if not.
    pub trusted: Result<(), Distrust>,
    /// Whether `names` cover the host probed.
    pub name_match: bool,
    /// The presented chain (DER, the server's own first), for DANE matching.
    pub chain: Vec<Vec<u8>>,
}

/// Why a chain leads to no trusted root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Distrust {
    /// Issued by itself.
    #[error("self-signed")]
    SelfSigned,
    /// No path to a root we trust.
    #[error("issued by a CA that is not trusted (or the intermediates are missing)")]
    UnknownIssuer,
    /// Another verification failure, as rustls words it.
    #[error("{0}")]
    Other(String),
}

/// Why a presented chain cannot be examined at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    /// An empty chain.
    #[error("the server presented no certificate")]
    Empty,
    /// The end-entity certificate is not DER X.509.
    #[error("the certificate cannot be read: {0}")]
    Der(String),
    /// The host cannot be matched against names.
    #[error("{host:?} is not a host name: {reason}")]
    HostName {
        /// The host probed.
        host: String,
        /// What rustls said.
        reason: String,
    },
}

/// Reads the end-entity certificate of `chain` and judges it for `host` at `now`.
pub(super) fn examine(
    chain: &[CertificateDer<'static>],
    host: &str,
    verifier: &dyn ServerCertVerifier,
    now: i64,
) -> Result<Certificate, Unreadable> {
    let (end_entity, intermediates) = chain.split_first().ok_or(Unreadable::Empty)?;
    let (_, cert) =
        X509Certificate::from_der(end_entity).map_err(|e| Unreadable::Der(e.to_string()))?;
    let names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    GeneralName::DNSName(d) => Some(d.to_ascii_lowercase()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    let self_signed = cert.subject() == cert.issuer();
    // Trust is judged at a moment inside the validity period, so that an expired certificate
    // from a trusted CA reads "trusted, expired" rather than only "expired".
    // A certificate whose notBefore follows its notAfter is valid at no moment: judged at
    // notAfter, it reads "expired" (never a panic of `clamp`).
    let at = now.min(not_after).max(not_before.min(not_after)).max(0) as u64;
    let server_name = ServerName::try_from(host.to_string()).map_err(|e| Unreadable::HostName {
        host: host.to_string(),
        reason: e.to_string(),
    })?;
    let trusted = match verifier.verify_server_cert(
        end_entity,
        intermediates,
        &server_name,
        &[],
        UnixTime::since_unix_epoch(Duration::from_secs(at)),
    ) {
        Ok(_) => Ok(()),
        Err(TlsError::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) => Ok(()),
        Err(TlsError::InvalidCertificate(CertificateError::UnknownIssuer)) if self_signed => {
            Err(Distrust::SelfSigned)
        }
        Err(TlsError::InvalidCertificate(CertificateError::UnknownIssuer)) => {
            Err(Distrust::UnknownIssuer)
        }
        Err(e) => Err(Distrust::Other(e.to_string())),
    };
    Ok(Certificate {
        name_match: covers(&names, host),
        names,
        not_before,
        not_after,
        trusted,
        chain: chain.iter().map(|c| c.to_vec()).collect(),
    })
}

/// Whether one of `names` covers `host`: equal (ASCII case aside), or `*.rest` where `host` is
/// one more label in front of `rest`.
pub fn covers(names: &[String], host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    names.iter().any(|n| {
        let n = n.trim_end_matches('.');
        match n.strip_prefix("*.") {
            Some(rest) => host
                .split_once('.')
                .is_some_and(|(label, tail)| !label.is_empty() && tail == rest),
            None => n == host,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn a_wildcard_covers_exactly_one_leftmost_label() {
        let names = vec!["*.example.com".to_string(), "mx.example.net".to_string()];
        assert!(covers(&names, "mx1.example.com"));
        assert!(covers(&names, "MX1.Example.COM."));
        assert!(covers(&names, "mx.example.net"));
        assert!(!covers(&names, "example.com"));
        assert!(!covers(&names, "a.b.example.com"));
        assert!(!covers(&names, "mx.example.org"));
        assert!(!covers(&[], "mx.example.com"));
    }
}
