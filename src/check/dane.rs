//! DANE verdicts on one MX address (RFC 7672): the host's TLSA set, validated by DNSSEC,
//! against the chain it presented over STARTTLS. A DANE sender defers mail when a validated
//! set matches nothing or DNSSEC is bogus, and ignores a set DNSSEC cannot prove.

use serde::Serialize;

use crate::dane::matching::matched;
use crate::dns::TlsaAnswer;
use crate::probe::{Probe, Seen};

use super::{Check, Line, Status, fix, line};

/// What `check --format json` says of an MX address's DANE records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaneReport {
    /// TLSA records found.
    pub tlsa: usize,
    /// Whether DNSSEC validated them.
    pub secure: bool,
    /// The parameters (`3 1 1`, `2 1 1`, ...) of the record the presented chain matched.
    pub matched: Option<String>,
}

/// The DANE lines of `p` and its JSON entry; nothing when the host has no TLSA records.
pub(super) fn judge(p: &Probe, at_addr: &str) -> (Vec<Line>, Option<DaneReport>) {
    let owner = crate::dane::owner(&p.host);
    let unproven = |status, detail: String, remedy: String| {
        let report = DaneReport {
            tlsa: 0,
            secure: false,
            matched: None,
        };
        (
            vec![fix(line(Check::Dane, status, detail), remedy)],
            Some(report),
        )
    };
    match &p.tlsa {
        None | Some(Ok(TlsaAnswer::None)) => (Vec::new(), None),
        Some(Err(e)) => unproven(
            Status::Warn,
            format!("{at_addr}: the TLSA records at {owner} could not be validated: {e}"),
            "check that the resolver answers DNSSEC queries (DNSKEY, DS, RRSIG)".into(),
        ),
        Some(Ok(TlsaAnswer::ServFail)) => unproven(
            Status::Warn,
            format!(
                "{at_addr}: the resolver answers SERVFAIL for TLSA at {owner}: a validating resolver does so when DNSSEC is bogus, and DANE senders then defer all mail to this host"
            ),
            format!(
                "ask an authoritative server of the zone (check --nameserver) to see why; dig +dnssec +cd TLSA {owner}"
            ),
        ),
        Some(Ok(TlsaAnswer::Bogus(why))) => unproven(
            Status::Fail,
            format!(
                "{at_addr}: DNSSEC is bogus for {owner} ({why}): DANE senders defer all mail to this host"
            ),
            format!(
                "re-sign the zone of {} and check its DS record at the parent (dig +dnssec TLSA {owner})",
                p.host
            ),
        ),
        Some(Ok(TlsaAnswer::Found { records, secure })) => {
            found(p, at_addr, &owner, records, *secure)
        }
    }
}

/// The verdict on TLSA records that exist: ignored when unsigned, else matched against the
/// chain the host presented.
fn found(
    p: &Probe,
    at_addr: &str,
    owner: &str,
    records: &[crate::dane::matching::Tlsa],
    secure: bool,
) -> (Vec<Line>, Option<DaneReport>) {
    let chain = match &p.seen {
        Seen::Tls { certificate, .. } => Some(&certificate.chain),
        _ => None,
    };
    let hit = chain.and_then(|c| matched(records, c));
    let report = DaneReport {
        tlsa: records.len(),
        secure,
        matched: hit.map(|t| t.parameters()),
    };
    let n = records.len();
    let fail = |detail: String, remedy: &str| fix(line(Check::Dane, Status::Fail, detail), remedy);
    let l = match (secure, hit, chain) {
        (false, _, _) => fix(
            line(
                Check::Dane,
                Status::Warn,
                format!(
                    "{at_addr}: {n} TLSA record(s) at {owner}, but the zone is not DNSSEC-signed (insecure): DANE senders ignore them"
                ),
            ),
            format!(
                "sign the zone of {} with DNSSEC and publish its DS record, or remove the TLSA records",
                p.host
            ),
        ),
        (true, Some(t), _) => line(
            Check::Dane,
            Status::Ok,
            format!(
                "{at_addr}: TLSA {} at {owner} matches the certificate presented (DNSSEC-validated)",
                t.parameters()
            ),
        ),
        (true, None, Some(chain)) => {
            let key = chain
                .first()
                .and_then(|leaf| leaf_spki_sha256(leaf))
                .unwrap_or_default();
            fail(
                format!(
                    "{at_addr}: none of the {n} validated TLSA record(s) at {owner} matches the certificate presented (its key: 3 1 1 {key}): DANE senders defer all mail to this host"
                ),
                "publish the TLSA record of the key in use (output/dns/dane/<host>.zone) or put back a certificate whose key is published; renew onto [dane] next_key only after it has been published two TTLs (docs/dane.md)",
            )
        }
        (true, None, None) => fail(
            format!(
                "{at_addr}: {owner} has validated TLSA records, but no TLS session was made: DANE senders defer all mail to this host"
            ),
            "make the MX offer STARTTLS with the certificate its TLSA records name",
        ),
    };
    (vec![l], Some(report))
}

/// The hex SHA-256 of the server certificate's SubjectPublicKeyInfo: its `3 1 1` data.
fn leaf_spki_sha256(leaf: &[u8]) -> Option<String> {
    use x509_parser::prelude::{FromDer, X509Certificate};
    let (_, c) = X509Certificate::from_der(leaf).ok()?;
    Some(crate::digest::sha256_hex(c.tbs_certificate.subject_pki.raw))
}
