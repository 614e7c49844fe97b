//! Judging a live deployment against the plan: what a sender would see (DNS and HTTPS),
//! compared with what `build` generated. Observing is I/O ([`observe`]); judging is pure
//! ([`judge`]), so every verdict is unit-testable.

mod fleet;
mod host;
pub mod prometheus;
mod records_check;
mod smtp;

pub use fleet::{Checked, Network, check_all};
pub use smtp::{Expiry, MxReport, Probes};

use host::{deployment, https, policy_host};
use records_check::{mx_coverage, sts_txt, tlsrpt};

use std::net::IpAddr;

use serde::Serialize;

use crate::dns::DnsError;
use crate::fetch::Response;
use crate::plan::DomainPlan;
use crate::probe::Probe;
use crate::records::Record;
use crate::state::Entry;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// As planned.
    Ok,
    /// Worth knowing; nothing to fix.
    Note,
    /// A deployment under way: the next step is known and nothing is broken.
    Pending,
    /// Works for senders, but not as planned.
    Warn,
    /// Senders do not get the planned policy.
    Fail,
}

impl Status {
    /// The word printed in front of a check.
    pub fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Note => "note",
            Status::Pending => "pending",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        }
    }
}

/// One verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// Which check (`txt`, `host`, `https`, `policy`, `deploy`, `mx`, `tlsrpt`, `build`).
    pub check: &'static str,
    /// Outcome.
    pub status: Status,
    /// What was seen.
    pub detail: String,
    /// The record to publish or the action that fixes it.
    pub fix: Option<String>,
}

pub(super) fn line(check: &'static str, status: Status, detail: impl Into<String>) -> Line {
    Line {
        check,
        status,
        detail: detail.into(),
        fix: None,
    }
}

pub(super) fn fix(mut l: Line, fix: impl Into<String>) -> Line {
    l.fix = Some(fix.into());
    l
}

/// What senders can see of one domain right now.
#[derive(Debug, Clone)]
pub struct Live {
    /// TXT records at `_mta-sts.<d>`.
    pub sts_txt: Result<Vec<String>, DnsError>,
    /// CNAME at `mta-sts.<d>`.
    pub host_cname: Result<Option<String>, DnsError>,
    /// Addresses of `mta-sts.<d>`.
    pub host_addrs: Result<Vec<IpAddr>, DnsError>,
    /// The HTTPS answer for the policy URL.
    pub https: Result<Response, String>,
    /// MX hosts of `<d>`.
    pub mx: Result<Vec<String>, DnsError>,
    /// TXT records at `_smtp._tls.<d>`.
    pub tlsrpt_txt: Result<Vec<String>, DnsError>,
    /// What the policy host presented in a TLS handshake of its own (for the certificate's
    /// dates), when the HTTPS request got an answer.
    pub certificate: Option<Probe>,
}

/// Looks everything up for one domain.
pub fn observe(net: &Network, domain: &str, now: i64) -> Live {
    let host = format!("mta-sts.{domain}");
    let host_addrs = net.dns.addresses(&host);
    let https = net.fetcher.get(&host, "/.well-known/mta-sts.txt");
    let certificate = https
        .is_ok()
        .then(|| {
            let address = match net.prober.https_override(&host) {
                Some(fixed) => fixed.ok(),
                None => host_addrs
                    .as_ref()
                    .ok()
                    .and_then(|a| a.first())
                    .and_then(|ip| net.prober.https_target(&host, *ip).ok()),
            }?;
            Some(net.prober.https(&host, address, now))
        })
        .flatten();
    Live {
        sts_txt: net.dns.txt(&format!("_mta-sts.{domain}")),
        host_cname: net.dns.cname(&host),
        host_addrs,
        https,
        mx: net.dns.mx(domain),
        tlsrpt_txt: net.dns.txt(&format!("_smtp._tls.{domain}")),
        certificate,
    }
}

pub(super) fn zone_line(r: &Record) -> String {
    format!("{} {} IN {} {}", r.owner, r.ttl, r.rtype, r.rdata)
}

pub(super) fn records_of(d: &DomainPlan, owner_prefix: &str) -> String {
    d.records()
        .iter()
        .filter(|r| r.owner.starts_with(owner_prefix))
        .map(zone_line)
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Every verdict for one published domain. `entry` is its lock entry; `built` says whether the
/// lock matches the config (otherwise ids and bytes are not compared); `probes` are the MX
/// probes of the run (`None` with `--no-smtp`).
pub fn judge(
    d: &DomainPlan,
    entry: Option<&Entry>,
    built: bool,
    live: &Live,
    probes: Option<&Probes>,
    at: Expiry,
) -> (Vec<Line>, Vec<MxReport>) {
    let name = d.domain.name.as_str();
    let mut out = Vec::new();
    let expected = entry.filter(|_| built);
    if !built {
        out.push(fix(
            line(
                "build",
                Status::Fail,
                "the config changed since the last build",
            ),
            "run `mtasts build`, deploy the policy, then the DNS records",
        ));
    }
    let txt_line = records_of(d, &format!("_mta-sts.{name}."));
    let txt_id = sts_txt(&live.sts_txt, name, &txt_line, &mut out);
    policy_host(d, live, &mut out);
    let body = https(d, &live.https, &mut out);
    smtp::policy_certificate(live.certificate.as_ref(), at, &mut out);
    if let Some(e) = expected {
        deployment(d, e, txt_id.as_deref(), body.as_ref(), &txt_line, &mut out);
    }
    mx_coverage(d, &live.mx, &mut out);
    let mx = match probes {
        Some(p) => smtp::mx_probes(d, &live.mx, p, at, &mut out),
        None => Vec::new(),
    };
    tlsrpt(d, &live.tlsrpt_txt, &mut out);
    (out, mx)
}

#[cfg(test)]
mod tests;
