//! Verdicts on what the MX hosts and the policy host presented (pure: observations in, lines
//! out). An MX that enforcing senders would refuse is a FAIL whatever the mode: in `testing`
//! it is what TLS reports will show, and what must be fixed before `enforce`.

use std::collections::HashMap;

use chrono::DateTime;
use serde::Serialize;

use crate::dns::DnsError;
use crate::model::Mode;
use crate::net::NetError;
use crate::plan::DomainPlan;
use crate::probe::{Certificate, Probe, Seen};

use super::{Check, Line, Status, fix, line};

/// The moment certificates are judged at, and how close to expiry is a warning.
#[derive(Debug, Clone, Copy)]
pub struct Expiry {
    /// Seconds since 1970.
    pub now: i64,
    /// Fewer days left than this is a warning.
    pub warn_days: i64,
}

/// The probes of every MX host address: host -> its addresses' probes, or why none was made.
pub type Probes = HashMap<String, Result<Vec<Probe>, Unreachable>>;

/// Why an MX host was not probed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreachable {
    /// No A or AAAA record.
    #[error("the MX host does not resolve (no A or AAAA record)")]
    NoAddress,
    /// The address lookup failed.
    #[error("addresses of the MX host: {0}")]
    Lookup(DnsError),
    /// An `--smtp-connect` rule names no usable address.
    #[error(transparent)]
    Route(#[from] NetError),
    /// More addresses than a check probes: a sender gives up long before trying them all.
    #[error("the MX host has {0} addresses; mtasts probes at most {max}", max = MAX_MX_ADDRESSES)]
    TooManyAddresses(usize),
}

/// Addresses of one MX host probed (all at once); a host with more is a FAIL naming the count.
pub const MAX_MX_ADDRESSES: usize = 16;

/// One MX host at one address, as `check --format json` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MxReport {
    /// The MX host.
    pub host: String,
    /// The address probed (empty when the host has none).
    pub address: String,
    /// Whether STARTTLS was offered.
    pub starttls: bool,
    /// `TLSv1.3` or `TLSv1.2` when a handshake completed.
    pub tls_version: Option<&'static str>,
    /// Whether the chain leads to a trusted root.
    pub trusted: Option<bool>,
    /// Whether the certificate names the MX host.
    pub name_match: Option<bool>,
    /// End of validity (RFC 3339).
    pub not_after: Option<String>,
    /// Whole days until `not_after` (negative once expired).
    pub days_left: Option<i64>,
    /// How the probe of this address came out.
    pub status: MxStatus,
    /// What was seen, in words.
    pub detail: String,
    /// The host's TLSA records, when it has some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dane: Option<super::dane::DaneReport>,
}

/// How the probe of one MX address came out (`check --format json`: `ok`, `warn`, `fail`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MxStatus {
    /// STARTTLS, a trusted certificate for the name, well within its dates.
    Ok,
    /// Works, but the certificate expires soon.
    Warn,
    /// A sender enforcing the policy would not deliver here.
    Fail,
}

impl MxReport {
    /// An entry the probe did not get past (its fields filled in as the probe gets further).
    fn failed(host: &str, address: String, detail: String) -> MxReport {
        MxReport {
            host: host.to_string(),
            address,
            starttls: false,
            tls_version: None,
            trusted: None,
            name_match: None,
            not_after: None,
            days_left: None,
            status: MxStatus::Fail,
            detail,
            dane: None,
        }
    }
}

fn date(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0).map_or_else(|| secs.to_string(), |t| t.to_rfc3339())
}

fn days_left(c: &Certificate, at: Expiry) -> i64 {
    (c.not_after - at.now).div_euclid(86_400)
}

/// Date problems of a certificate: not yet valid, expired, or expiring soon.
fn dates(c: &Certificate, at: Expiry, what: &str, check: Check) -> Option<Line> {
    let renew = format!("renew the certificate of {what}");
    if at.now > c.not_after {
        return Some(fix(
            line(
                check,
                Status::Fail,
                format!("{what}: certificate expired on {}", date(c.not_after)),
            ),
            renew,
        ));
    }
    if at.now < c.not_before {
        return Some(fix(
            line(
                check,
                Status::Fail,
                format!(
                    "{what}: certificate not valid before {}",
                    date(c.not_before)
                ),
            ),
            "check the clock of the machine that issued it, or wait".to_string(),
        ));
    }
    let left = days_left(c, at);
    (left < at.warn_days).then(|| {
        fix(
            line(
                check,
                Status::Warn,
                format!(
                    "{what}: certificate expires on {} ({left} day(s) left)",
                    date(c.not_after)
                ),
            ),
            renew,
        )
    })
}

/// The policy host's HTTPS certificate: dates only (trust and names are the `https` check's).
pub(super) fn policy_certificate(
    host: &str,
    certificate: Option<&Certificate>,
    at: Expiry,
    out: &mut Vec<Line>,
) {
    if let Some(c) = certificate {
        out.push(dates(c, at, host, Check::Cert).unwrap_or_else(|| {
            line(
                Check::Cert,
                Status::Ok,
                format!(
                    "{host}: certificate valid until {} ({} days left)",
                    date(c.not_after),
                    days_left(c, at)
                ),
            )
        }));
    }
}

/// The verdicts of one MX host at one address, and its JSON entry.
/// Long on purpose: an arm per outcome of the probe, each with its fix.
fn judge_probe(p: &Probe, at: Expiry) -> (Vec<Line>, MxReport) {
    let at_addr = format!("{} [{}]", p.host, p.address.ip());
    let mut report = MxReport::failed(&p.host, p.address.ip().to_string(), String::new());
    let fail = |detail: String, remedy: &str| fix(line(Check::Smtp, Status::Fail, detail), remedy);
    let mut lines = Vec::new();
    match &p.seen {
        Seen::Failed(e) => lines.push(fail(
            format!("{at_addr}: {e}"),
            "make the MX answer SMTP on its port (where port 25 is blocked, as on many CI runners, run check with --no-smtp)",
        )),
        Seen::NoStarttls => lines.push(fail(
            format!("{at_addr} offers no STARTTLS: senders that enforce will not deliver"),
            "enable STARTTLS with a certificate for the MX host (Postfix: smtpd_tls_security_level = may, smtpd_tls_chain_files)",
        )),
        Seen::TlsTooOld(e) => {
            report.starttls = true;
            lines.push(fail(
                format!("{at_addr} offers only TLS below 1.2 ({e}): RFC 8461 senders require TLS 1.2 or later"),
                "enable TLS 1.2 and 1.3 on the MX (Postfix: smtpd_tls_protocols = >=TLSv1.2)",
            ));
        }
        Seen::TlsFailed(e) => {
            report.starttls = true;
            lines.push(fail(
                format!("{at_addr}: TLS handshake failed: {e}"),
                "check the MX's TLS setup (certificate, key, protocols) with openssl s_client -starttls smtp",
            ));
        }
        Seen::Tls {
            version,
            certificate: c,
        } => {
            report.starttls = true;
            report.tls_version = Some(version);
            report.trusted = Some(c.trusted.is_ok());
            report.name_match = Some(c.name_match);
            report.not_after = Some(date(c.not_after));
            report.days_left = Some(days_left(c, at));
            if let Err(why) = &c.trusted {
                lines.push(fail(
                    format!("{at_addr}: certificate not trusted: {why}"),
                    "install a certificate from a public CA, with its intermediate certificates",
                ));
            }
            if !c.name_match {
                let names = if c.names.is_empty() {
                    "no DNS names".to_string()
                } else {
                    c.names.join(", ")
                };
                lines.push(fail(
                    format!("{at_addr}: certificate names {names}, not {}", p.host),
                    &format!("get a certificate whose subjectAltName includes {}", p.host),
                ));
            }
            lines.extend(dates(c, at, &at_addr, Check::Smtp));
            if lines.is_empty() {
                lines.push(line(
                    Check::Smtp,
                    Status::Ok,
                    format!(
                        "{at_addr}: STARTTLS, {version}, trusted certificate for {}, valid until {} ({} days left)",
                        p.host,
                        date(c.not_after),
                        days_left(c, at)
                    ),
                ));
            }
        }
    }
    let (dane, dane_report) = super::dane::judge(p, &at_addr);
    lines.extend(dane);
    report.dane = dane_report;
    report.status = match lines.iter().map(|l| l.status).max() {
        Some(Status::Fail) => MxStatus::Fail,
        Some(Status::Warn) => MxStatus::Warn,
        _ => MxStatus::Ok,
    };
    report.detail = lines
        .iter()
        .map(|l| l.detail.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    (lines, report)
}

/// The probes of a testing/enforce domain's live MX hosts, and for `testing`, whether the live
/// MX set would pass enforcement today.
pub(super) fn mx_probes(
    d: &DomainPlan,
    mx: &Result<Vec<String>, DnsError>,
    probes: &Probes,
    at: Expiry,
    out: &mut Vec<Line>,
) -> Vec<MxReport> {
    let mode = d.mode();
    let Ok(hosts) = mx else {
        return Vec::new();
    };
    if mode == Mode::None {
        return Vec::new();
    }
    let mut reports = Vec::new();
    let mut blockers = Vec::new();
    for host in hosts.iter().filter(|h| h.as_str() != ".") {
        if !d.domain.mx.iter().any(|p| p.matches(host)) {
            blockers.push(format!("{host} matches no mx pattern"));
        }
        match probes.get(host) {
            Some(Ok(list)) => {
                for p in list {
                    let (lines, report) = judge_probe(p, at);
                    if report.status == MxStatus::Fail {
                        blockers.push(format!("{} [{}] fails", host, report.address));
                    }
                    out.extend(lines);
                    reports.push(report);
                }
            }
            Some(Err(e)) => {
                blockers.push(format!("{host} has no address"));
                out.push(fix(
                    line(Check::Smtp, Status::Fail, format!("{host}: {e}")),
                    format!("publish A or AAAA records for {host}"),
                ));
                reports.push(MxReport::failed(host, String::new(), e.to_string()));
            }
            None => {}
        }
    }
    if mode == Mode::Testing && !hosts.is_empty() {
        out.push(if blockers.is_empty() {
            line(
                Check::Enforce,
                Status::Ok,
                format!(
                    "the live MX set ({}) would pass enforcement today",
                    hosts.join(", ")
                ),
            )
        } else {
            fix(
                line(
                    Check::Enforce,
                    Status::Warn,
                    format!(
                        "the live MX set would not pass enforcement today: {}",
                        blockers.join("; ")
                    ),
                ),
                "fix the lines above before switching this domain to mode = \"enforce\"",
            )
        });
    }
    reports
}
