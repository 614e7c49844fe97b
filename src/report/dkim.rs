//! DKIM for reports that arrived by mail (RFC 8460 §3: "Reports sent via SMTP MUST contain a
//! valid DKIM signature by the reporting domain. Reports lacking such a signature MUST be
//! ignored"). The verification is mail-auth's; what counts as "the reporting domain" is ours:
//! a passing signature whose `d=` is the domain of the `From:` address or a parent of it, as
//! DMARC's relaxed alignment reads it.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use mail_auth::dkim::DkimError;
use mail_auth::{AuthenticatedMessage, DkimResult, MessageAuthenticator};

/// Verifies DKIM signatures, looking keys up through the resolver `check` uses.
pub struct Dkim {
    runtime: tokio::runtime::Runtime,
    authenticator: MessageAuthenticator,
}

/// Why a report mail's DKIM does not let it count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DkimFailure {
    /// No `DKIM-Signature` at all.
    #[error("dkim: the message is not signed (RFC 8460 §3: unsigned reports are ignored)")]
    Unsigned,
    /// No usable `From:` address to align with.
    #[error("dkim: the message has no From address to align the signature with")]
    NoFrom,
    /// Every signature failed; the reasons, one per signature.
    #[error("dkim: {}", .0.join("; "))]
    Failed(Vec<String>),
    /// A key lookup failed for a reason that may pass (a dead resolver): worth another try.
    #[error("dkim: {0} (temporary; read again on the next run)")]
    Temporary(String),
}

impl DkimFailure {
    /// Whether the same message may verify on a later run.
    pub fn is_temporary(&self) -> bool {
        matches!(self, DkimFailure::Temporary(_))
    }
}

/// Setting up the resolver failed.
#[derive(Debug, thiserror::Error)]
#[error("DKIM resolver: {0}")]
pub struct SetupError(String);

impl Dkim {
    /// Keys come from the system resolver, or from `server` only when given (`--nameserver`).
    pub fn new(server: Option<SocketAddr>, timeout: Duration) -> Result<Dkim, SetupError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| SetupError(e.to_string()))?;
        let config = match server {
            Some(addr) => {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                ResolverConfig::from_name_servers(vec![ns])
            }
            None => {
                hickory_resolver::system_conf::read_system_conf()
                    .map_err(|e| SetupError(e.to_string()))?
                    .0
            }
        };
        let mut opts = ResolverOpts::default();
        opts.timeout = timeout;
        opts.attempts = 2;
        opts.ndots = 0;
        // A reporter signs thousands of reports with one key: the resolver's cache keeps the
        // key for its TTL, so a run asks for it once.
        let authenticator = {
            let _guard = runtime.enter();
            MessageAuthenticator::new(config, opts).map_err(|e| SetupError(e.to_string()))?
        };
        Ok(Dkim {
            runtime,
            authenticator,
        })
    }

    /// The aligned signing domain of `raw`, or why there is none.
    pub fn verify(&self, raw: &[u8]) -> Result<String, DkimFailure> {
        // Strict parsing refuses `l=` signatures: content appended after the signed length
        // would count (a forged report part after a genuine signed body).
        let message = AuthenticatedMessage::parse(raw).ok_or(DkimFailure::Unsigned)?;
        if message.dkim_headers.is_empty() && !message.has_dkim_errors {
            return Err(DkimFailure::Unsigned);
        }
        let from = message
            .from
            .first()
            .and_then(|a| a.rsplit_once('@'))
            .map(|(_, d)| d.trim_end_matches('.').to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .ok_or(DkimFailure::NoFrom)?;
        let outputs = self
            .runtime
            .block_on(self.authenticator.verify_dkim(&message));
        let mut reasons = Vec::new();
        let mut temporary = None;
        for output in &outputs {
            let d = output
                .signature()
                .map(|s| s.d.trim_end_matches('.').to_ascii_lowercase());
            let by = d.as_deref().map_or(String::new(), |d| format!("d={d}: "));
            match output.result() {
                DkimResult::Pass => match d {
                    Some(d) if aligned(&d, &from) => return Ok(d),
                    _ => reasons.push(format!(
                        "{by}valid, but not the reporting domain {from} or a parent of it"
                    )),
                },
                DkimResult::TempError(e) => {
                    temporary.get_or_insert_with(|| format!("{by}key lookup failed: {e}"));
                }
                DkimResult::Neutral(e) | DkimResult::Fail(e) | DkimResult::PermError(e) => {
                    reasons.push(format!("{by}{}", describe(e)))
                }
                DkimResult::None => {}
            }
        }
        match temporary {
            Some(t) => Err(DkimFailure::Temporary(t)),
            None if reasons.is_empty() => Err(DkimFailure::Unsigned),
            None => Err(DkimFailure::Failed(reasons)),
        }
    }
}

/// `d` is `from` or a parent of it; a single label (a top-level domain) never aligns.
fn aligned(d: &str, from: &str) -> bool {
    d.contains('.') && (d == from || from.strip_suffix(d).is_some_and(|rest| rest.ends_with('.')))
}

/// mail-auth's reasons, in words a person acts on.
fn describe(e: &mail_auth::Error) -> String {
    match e {
        mail_auth::Error::Dkim(DkimError::FailedBodyHashMatch) => {
            "the body was altered after signing (body hash mismatch)".into()
        }
        mail_auth::Error::Dkim(DkimError::SignatureLength) => {
            "the signature covers only part of the body (l=), so anything could follow it".into()
        }
        mail_auth::Error::Dkim(DkimError::SignatureExpired) => "the signature expired (x=)".into(),
        mail_auth::Error::Crypto(_) | mail_auth::Error::Dkim(DkimError::FailedAuidMatch) => {
            "the signature does not verify".into()
        }
        mail_auth::Error::Dns(_) => "no DKIM key published for the selector".into(),
        other => other.to_string().to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_is_the_from_domain_or_a_parent_never_a_tld() {
        assert!(aligned("google.com", "google.com"));
        assert!(aligned("google.com", "reports.google.com"));
        assert!(!aligned("oogle.com", "google.com"));
        assert!(!aligned("reports.google.com", "google.com"));
        assert!(!aligned("com", "google.com"));
        assert!(!aligned("evil.example", "google.com"));
    }
}
