//! Judging a live deployment against the plan: what a sender would see (DNS and HTTPS),
//! compared with what `build` generated. Observing is I/O ([`observe`]); judging is pure
//! ([`judge`]), so every verdict is unit-testable.

mod dane;
mod fleet;
mod host;
pub mod prometheus;
mod records_check;
mod smtp;

pub use dane::DaneReport;
pub use fleet::{Checked, Network, ResolverSilent, Settings, SetupError, check_all};
pub use smtp::{Expiry, MAX_MX_ADDRESSES, MxReport, MxStatus, Probes, Unreachable};

use host::{deployment, every_address, https, policy_host};
use records_check::{mx_coverage, sts_txt, tlsrpt};

use std::net::IpAddr;

use serde::Serialize;

use crate::dns::DnsError;
use crate::fetch::{FetchError, Response};
use crate::lock::Entry;
use crate::plan::DomainPlan;
use crate::probe::Certificate;
use crate::records::Record;

/// How one check came out, from best to worst (so the worst of several is their `max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
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

/// Which check a verdict is about. Text and JSON show [`Check::word`]; the Prometheus metric
/// `mtasts_check_failed{check}` uses [`Check::metric`], a fixed documented set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Check {
    /// The config changed since the last build.
    Build,
    /// The `_mta-sts` TXT record.
    Txt,
    /// The `mta-sts.<domain>` host's DNS records.
    Host,
    /// The HTTPS fetch of the policy.
    Https,
    /// The policy host's certificate dates.
    Cert,
    /// The policy served, as a sender parses it.
    Policy,
    /// Live id and bytes against the last build.
    Deploy,
    /// The live MX hosts against the policy's patterns.
    Mx,
    /// The STARTTLS probe of the MX hosts.
    Smtp,
    /// Whether a testing domain's MX set would pass enforcement.
    Enforce,
    /// The `_smtp._tls` TLS-RPT record.
    Tlsrpt,
    /// The lifecycle stage (nothing published).
    Stage,
    /// An MX host's TLSA records against the certificate it presents.
    Dane,
}

impl Check {
    /// The word in text and JSON output.
    pub fn word(self) -> &'static str {
        match self {
            Check::Build => "build",
            Check::Txt => "txt",
            Check::Host => "host",
            Check::Https => "https",
            Check::Cert => "cert",
            Check::Policy => "policy",
            Check::Deploy => "deploy",
            Check::Mx => "mx",
            Check::Smtp => "smtp",
            Check::Enforce => "enforce",
            Check::Tlsrpt => "tlsrpt",
            Check::Stage => "stage",
            Check::Dane => "dane",
        }
    }

    /// The `check` label of `mtasts_check_failed` (docs/check.md lists the set).
    pub fn metric(self) -> &'static str {
        match self {
            Check::Host => "policy-host",
            Check::Cert => "certificate",
            Check::Mx => "mx-coverage",
            other => other.word(),
        }
    }
}

impl Serialize for Check {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.word())
    }
}

/// One verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// Which check (`txt`, `host`, `https`, `policy`, `deploy`, `mx`, `tlsrpt`, `build`).
    pub check: Check,
    /// Outcome.
    pub status: Status,
    /// What was seen.
    pub detail: String,
    /// The record to publish or the action that fixes it.
    pub fix: Option<String>,
}

pub(super) fn line(check: Check, status: Status, detail: impl Into<String>) -> Line {
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
    pub https: Result<Response, FetchError>,
    /// MX hosts of `<d>`.
    pub mx: Result<Vec<String>, DnsError>,
    /// TXT records at `_smtp._tls.<d>`.
    pub tlsrpt_txt: Result<Vec<String>, DnsError>,
    /// The certificate the policy host presented, when the HTTPS request got an answer.
    pub certificate: Option<Certificate>,
    /// When the policy host has more than one address: the answer from each (at most
    /// [`MAX_POLICY_ADDRESSES`]), since a sender may pick any of them.
    pub per_address: Vec<(IpAddr, Result<Response, FetchError>)>,
}

/// Addresses of one policy host fetched from; more are named in a FAIL, not fetched.
pub const MAX_POLICY_ADDRESSES: usize = 8;

/// Looks everything up for one domain; `now` dates the policy host's certificate.
pub fn observe(net: &Network, domain: &str, now: i64) -> Live {
    let host = format!("mta-sts.{domain}");
    let lookups = net.dns.start(domain);
    let mut https = net.fetcher.get(&host, "/.well-known/mta-sts.txt");
    // The chain is judged now and not kept: a fleet's chains would be most of its memory.
    let certificate = https
        .as_mut()
        .ok()
        .map(|r| std::mem::take(&mut r.chain))
        .and_then(|chain| net.prober.certificate(&host, &chain, now).ok());
    let dns = net.dns.wait(lookups);
    let per_address = match &dns.host_addrs {
        Ok(ips) if ips.len() > 1 && !net.fetcher.overridden(&host) => each_address(net, &host, ips),
        _ => Vec::new(),
    };
    Live {
        per_address,
        sts_txt: dns.sts_txt,
        host_cname: dns.host_cname,
        host_addrs: dns.host_addrs,
        https,
        mx: dns.mx,
        tlsrpt_txt: dns.tlsrpt_txt,
        certificate,
    }
}

/// The policy from each address of `host` at once (the first [`MAX_POLICY_ADDRESSES`]).
fn each_address(
    net: &Network,
    host: &str,
    ips: &[IpAddr],
) -> Vec<(IpAddr, Result<Response, FetchError>)> {
    let ips = &ips[..ips.len().min(MAX_POLICY_ADDRESSES)];
    std::thread::scope(|scope| {
        let fetches: Vec<_> = ips
            .iter()
            .map(|ip| {
                scope.spawn(move || {
                    let mut answer = net.fetcher.get_at(host, "/.well-known/mta-sts.txt", *ip);
                    if let Ok(r) = &mut answer {
                        r.chain = Vec::new();
                    }
                    (*ip, answer)
                })
            })
            .collect();
        fetches
            .into_iter()
            .zip(ips)
            .map(|(f, ip)| {
                f.join().unwrap_or_else(|_| {
                    (
                        *ip,
                        Err(FetchError::Failed("the fetch thread panicked".into())),
                    )
                })
            })
            .collect()
    })
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
/// probes of the run (`None` with `--no-smtp`); `nginx` is the layout of the nginx output the
/// build writes (`None` without the `nginx` target), for fix lines that name its files.
pub fn judge(
    d: &DomainPlan,
    entry: Option<&Entry>,
    built: bool,
    live: &Live,
    probes: Option<&Probes>,
    at: Expiry,
    nginx: Option<crate::model::Vhosts>,
) -> (Vec<Line>, Vec<MxReport>) {
    let name = d.domain.name.as_str();
    let mut out = Vec::new();
    let expected = entry.filter(|_| built);
    if !built {
        out.push(fix(
            line(
                Check::Build,
                Status::Fail,
                "the config changed since the last build",
            ),
            "run `mtasts build`, deploy the policy, then the DNS records",
        ));
    }
    let txt_line = records_of(d, &format!("_mta-sts.{name}."));
    let txt_id = sts_txt(&live.sts_txt, name, &txt_line, &mut out);
    policy_host(d, live, &mut out);
    let body = https(d, &live.https, nginx, &mut out);
    every_address(d, live, body.as_deref(), &mut out);
    smtp::policy_certificate(
        &d.domain.name.policy_host(),
        live.certificate.as_ref(),
        at,
        &mut out,
    );
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
