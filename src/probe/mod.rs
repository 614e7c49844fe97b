//! What the servers senders connect to present: each MX over SMTP with STARTTLS (the policy
//! host's certificate comes from the policy fetch's own connection). This is an adapter (network
//! I/O) that observes and never judges; `check` turns observations into verdicts. A probe never
//! sends mail (it says QUIT after the handshake) and connects only to addresses the caller got
//! from DNS or from the user's `--smtp-connect` / `--connect-to` overrides. Every step has a timeout and the whole probe a
//! deadline, so a silent or trickling server costs at most that.

mod certificate;
mod smtp;
mod tls;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;

pub use certificate::{Certificate, Distrust, Unreadable, covers};
pub use smtp::dialogue;
use smtp::{MAX_LINE, MAX_LINES};

use crate::net::{ConnectTo, NetError, trust_roots};

/// What one probe of one (host, address) saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The server completed EHLO without offering STARTTLS.
    NoStarttls,
    /// The TLS handshake completed.
    Tls {
        /// `"TLSv1.3"` or `"TLSv1.2"`.
        version: &'static str,
        /// The certificate the server presented, examined.
        certificate: Certificate,
    },
    /// The server offers only TLS versions below 1.2 (refused our 1.2/1.3 hello).
    TlsTooOld(String),
    /// The TLS handshake failed for another reason.
    TlsFailed(String),
    /// No TLS handshake was reached: connect, greeting, EHLO or STARTTLS failed.
    Failed(Fault),
}

/// Why a probe did not reach the TLS handshake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// The TCP connection timed out.
    #[error("no TCP connection within {0} s")]
    ConnectTimeout(u64),
    /// The TCP connection was refused or failed otherwise.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The whole probe's deadline passed.
    #[error("the server took longer than {0} s in all")]
    Deadline(u64),
    /// One step's timeout passed without an answer.
    #[error("no answer within {0} s")]
    NoAnswer(u64),
    /// A reply line longer than we read.
    #[error("a reply line longer than {MAX_LINE} bytes: {0}")]
    LongLine(String),
    /// A reply of more lines than we read.
    #[error("a reply of more than {MAX_LINES} lines")]
    ManyLines,
    /// The server hung up.
    #[error("the server closed the connection")]
    Closed,
    /// Reading failed.
    #[error("reading: {0}")]
    Read(String),
    /// Writing a command failed.
    #[error("sending {command}: {reason}")]
    Send {
        /// The command.
        command: String,
        /// What the operating system said.
        reason: String,
    },
    /// A line that is not `NNN text`.
    #[error("not an SMTP reply: {0}")]
    NotSmtp(String),
    /// A reply with another code than the step needs.
    #[error("{step} answered {code} {text}")]
    Answered {
        /// The step (`the greeting`, `EHLO`, `STARTTLS`).
        step: &'static str,
        /// The reply code.
        code: u16,
        /// The reply's first line, printable.
        text: String,
    },
    /// Bytes pipelined after the STARTTLS reply (CVE-2011-0411).
    #[error("the server sent data after its STARTTLS reply, before the handshake: {0}")]
    Pipelined(String),
    /// The host cannot be an SNI name.
    #[error("{host:?} is not a host name: {reason}")]
    HostName {
        /// The host probed.
        host: String,
        /// What rustls said.
        reason: String,
    },
}

/// Why a prober cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    /// The trust roots cannot be read.
    #[error(transparent)]
    Net(#[from] NetError),
    /// rustls refused the roots.
    #[error("trust roots: {0}")]
    Verifier(String),
}

/// One probe: where it went and what it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// The host name probed (the MX host, or the policy host), used for SNI and name matching.
    pub host: String,
    /// The address connected to.
    pub address: SocketAddr,
    /// What happened.
    pub seen: Seen,
    /// The MX host's TLSA records, when it has some (the same for each of its addresses);
    /// why they could not be validated, if they could not.
    pub tlsa: Option<Result<crate::dns::TlsaAnswer, crate::dns::DnsError>>,
}

/// Trust roots, overrides and timeouts shared by every probe of a run.
pub struct Prober {
    provider: Arc<CryptoProvider>,
    verifier: Arc<dyn ServerCertVerifier>,
    smtp_port: u16,
    smtp_connect: Vec<ConnectTo>,
    step: Duration,
    deadline: Duration,
}

impl Prober {
    /// Trusts `ca_file` (PEM) instead of Mozilla's roots when given. `step` bounds each network
    /// step (connect, one reply, the handshake); a whole probe ends after three steps' worth.
    pub fn new(
        ca_file: Option<&Path>,
        smtp_port: u16,
        smtp_connect: Vec<ConnectTo>,
        step: Duration,
    ) -> Result<Prober, SetupError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(trust_roots(ca_file)?);
        let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| SetupError::Verifier(e.to_string()))?;
        Ok(Prober {
            provider,
            verifier,
            smtp_port,
            smtp_connect,
            step,
            deadline: step * 3,
        })
    }

    /// Where the MX `host` at `ip` is reached: the SMTP port, unless `--smtp-connect` says
    /// otherwise.
    pub fn smtp_target(&self, host: &str, ip: IpAddr) -> Result<SocketAddr, NetError> {
        route(&self.smtp_connect, host, ip, self.smtp_port)
    }

    /// Whether `--smtp-connect` names an address for `host`, so DNS need not be asked.
    pub fn smtp_override(&self, host: &str) -> Option<Result<SocketAddr, NetError>> {
        fixed(&self.smtp_connect, host, self.smtp_port)
    }

    /// SMTP to `address`: greeting, EHLO, STARTTLS, a TLS handshake for `host`, QUIT.
    pub fn smtp(&self, host: &str, address: SocketAddr, now: i64) -> Probe {
        let deadline = Instant::now() + self.deadline;
        let seen = smtp::starttls(self, host, address, deadline, now);
        Probe {
            host: host.to_string(),
            address,
            seen,
            tlsa: None,
        }
    }

    /// Judges a chain `host` presented elsewhere (the policy fetch's own connection) at `now`.
    pub fn certificate(
        &self,
        host: &str,
        chain: &[CertificateDer<'static>],
        now: i64,
    ) -> Result<Certificate, Unreadable> {
        certificate::examine(chain, host, self.verifier.as_ref(), now)
    }
}

fn matching<'a>(rules: &'a [ConnectTo], host: &str, port: u16) -> Option<&'a ConnectTo> {
    rules.iter().find(|c| c.applies(host, port))
}

fn route(rules: &[ConnectTo], host: &str, ip: IpAddr, port: u16) -> Result<SocketAddr, NetError> {
    match matching(rules, host, port) {
        Some(rule) => rule.target(ip, port),
        None => Ok(SocketAddr::new(ip, port)),
    }
}

fn fixed(rules: &[ConnectTo], host: &str, port: u16) -> Option<Result<SocketAddr, NetError>> {
    matching(rules, host, port)
        .filter(|c| c.has_address())
        .map(|c| c.target(IpAddr::from([0, 0, 0, 0]), port))
}

/// Server text fit for one line of our output: control characters escaped, at most 80 chars.
pub(crate) fn printable(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out: String = text.trim_end().escape_debug().take(80).collect();
    if text.trim_end().escape_debug().nth(80).is_some() {
        out.push_str("...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_whose_not_before_follows_its_not_after_is_expired_not_a_panic() {
        let mut params = rcgen::CertificateParams::new(vec!["mx.example.com".into()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2030, 1, 1);
        params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().clone();
        let p = Prober::new(None, 25, Vec::new(), Duration::from_secs(1)).unwrap();
        let now = 1_764_288_000;
        let c = p.certificate("mx.example.com", &[der], now).unwrap();
        assert!(c.not_before > c.not_after);
        assert!(now > c.not_after, "judged as expired");
        assert!(c.name_match);
    }

    #[test]
    fn the_smtp_port_and_overrides_decide_where_a_probe_goes() {
        let rules = vec![
            "mx1.example.com:2525:192.0.2.9:".parse().unwrap(),
            "::[2001:db8::25]:10025".parse().unwrap(),
        ];
        let p = Prober::new(None, 2525, rules, Duration::from_secs(1)).unwrap();
        let ip: IpAddr = "198.51.100.1".parse().unwrap();
        assert_eq!(
            p.smtp_target("mx1.example.com", ip).unwrap(),
            "192.0.2.9:2525".parse().unwrap()
        );
        assert_eq!(
            p.smtp_target("other.example.com", ip).unwrap(),
            "[2001:db8::25]:10025".parse().unwrap()
        );
        assert!(p.smtp_override("MX1.example.com").is_some());
        let plain = Prober::new(None, 2525, Vec::new(), Duration::from_secs(1)).unwrap();
        assert_eq!(
            plain.smtp_target("mx1.example.com", ip).unwrap(),
            "198.51.100.1:2525".parse().unwrap()
        );
        assert!(plain.smtp_override("mx1.example.com").is_none());
    }

    #[test]
    fn server_text_is_escaped_and_cut() {
        assert_eq!(printable(b"220 ok\r\n"), "220 ok");
        assert_eq!(printable(b"a\x1b[31mb"), "a\\u{1b}[31mb");
        assert!(printable(&[b'x'; 500]).ends_with("..."));
    }
}
