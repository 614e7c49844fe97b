//! Judging a live deployment against the plan: what a sender would see (DNS and HTTPS),
//! compared with what `build` generated. Observing is I/O ([`observe`]); judging is pure
//! ([`judge`]), so every verdict is unit-testable.

use std::net::IpAddr;

use serde::Serialize;

use crate::digest::sha256_hex;
use crate::dns::{Dns, DnsError};
use crate::fetch::{Fetcher, Response};
use crate::model::{Mode, PolicyHost};
use crate::plan::DomainPlan;
use crate::policy;
use crate::records::{self, Record};
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

fn line(check: &'static str, status: Status, detail: impl Into<String>) -> Line {
    Line {
        check,
        status,
        detail: detail.into(),
        fix: None,
    }
}

fn fix(mut l: Line, fix: impl Into<String>) -> Line {
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
}

/// Looks everything up for one domain.
pub fn observe(dns: &Dns, fetcher: &Fetcher, domain: &str) -> Live {
    let host = format!("mta-sts.{domain}");
    Live {
        sts_txt: dns.txt(&format!("_mta-sts.{domain}")),
        host_cname: dns.cname(&host),
        host_addrs: dns.addresses(&host),
        https: fetcher.get(&host, "/.well-known/mta-sts.txt"),
        mx: dns.mx(domain),
        tlsrpt_txt: dns.txt(&format!("_smtp._tls.{domain}")),
    }
}

fn zone_line(r: &Record) -> String {
    format!("{} {} IN {} {}", r.owner, r.ttl, r.rtype, r.rdata)
}

fn records_of(d: &DomainPlan, owner_prefix: &str) -> String {
    d.records()
        .iter()
        .filter(|r| r.owner.starts_with(owner_prefix))
        .map(zone_line)
        .collect::<Vec<_>>()
        .join(" and ")
}

/// Every verdict for one published domain. `entry` is its lock entry; `built` says whether the
/// lock matches the config (otherwise ids and bytes are not compared).
pub fn judge(d: &DomainPlan, entry: Option<&Entry>, built: bool, live: &Live) -> Vec<Line> {
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
    if let Some(e) = expected {
        deployment(d, e, txt_id.as_deref(), body.as_ref(), &txt_line, &mut out);
    }
    mx_coverage(d, &live.mx, &mut out);
    tlsrpt(d, &live.tlsrpt_txt, &mut out);
    out
}

fn sts_txt(
    txt: &Result<Vec<String>, DnsError>,
    name: &str,
    txt_line: &str,
    out: &mut Vec<Line>,
) -> Option<String> {
    let owner = format!("_mta-sts.{name}");
    let records = match txt {
        Ok(r) => r,
        Err(DnsError::NoRecords) => {
            out.push(fix(
                line("txt", Status::Fail, format!("no TXT record at {owner}")),
                format!("publish {txt_line}"),
            ));
            return None;
        }
        Err(e) => {
            out.push(line("txt", Status::Fail, format!("{owner}: {e}")));
            return None;
        }
    };
    let (sts, other): (Vec<&String>, Vec<&String>) =
        records.iter().partition(|r| r.starts_with("v=STSv1"));
    if !other.is_empty() {
        out.push(line(
            "txt",
            Status::Note,
            format!(
                "{} unrelated TXT record(s) at {owner} (ignored by senders)",
                other.len()
            ),
        ));
    }
    match sts.as_slice() {
        [] => {
            out.push(fix(
                line("txt", Status::Fail, format!("no v=STSv1 record at {owner}")),
                format!("publish {txt_line}"),
            ));
            None
        }
        [one] => match records::parse_sts(one) {
            Ok(id) => {
                out.push(line("txt", Status::Ok, format!("{owner}: \"{one}\"")));
                Some(id)
            }
            Err(e) => {
                out.push(fix(
                    line(
                        "txt",
                        Status::Fail,
                        format!("{owner}: \"{one}\" is invalid: {e}"),
                    ),
                    format!("replace it with {txt_line}"),
                ));
                None
            }
        },
        many => {
            out.push(fix(
                line("txt", Status::Fail, format!("{} v=STSv1 records at {owner}: senders then see no policy at all (RFC 8461 §3.1)", many.len())),
                format!("keep only {txt_line}"),
            ));
            None
        }
    }
}

fn policy_host(d: &DomainPlan, live: &Live, out: &mut Vec<Line>) {
    let host = d.domain.name.policy_host();
    let want = records_of(d, &format!("{host}."));
    let cname = match &live.host_cname {
        Err(DnsError::NoRecords) => Ok(None),
        other => other.clone(),
    };
    let verdict = match (&d.domain.policy_host, &cname, &live.host_addrs) {
        (_, Err(e), _) => line("host", Status::Fail, format!("{host}: {e}")),
        (PolicyHost::Cname(target), Ok(Some(got)), _) if got == target.as_str() => {
            line("host", Status::Ok, format!("{host} is a CNAME to {got}"))
        }
        (PolicyHost::Cname(_), Ok(Some(got)), _) => fix(
            line(
                "host",
                Status::Fail,
                format!("{host} is a CNAME to {got}, not to the configured target"),
            ),
            format!("publish {want}"),
        ),
        (PolicyHost::Cname(_), Ok(None), Ok(addrs)) => fix(
            line(
                "host",
                Status::Warn,
                format!(
                    "{host} has addresses ({}) instead of the configured CNAME",
                    list(addrs)
                ),
            ),
            format!("publish {want}"),
        ),
        (PolicyHost::Addresses(_), Ok(Some(got)), _) => fix(
            line(
                "host",
                Status::Fail,
                format!("{host} is a CNAME to {got}, but the config lists addresses"),
            ),
            format!("publish {want}"),
        ),
        (PolicyHost::Addresses(want_ips), Ok(None), Ok(got)) => {
            let mut a = want_ips.clone();
            let mut b = got.clone();
            a.sort();
            b.sort();
            if a == b {
                line("host", Status::Ok, format!("{host} has {}", list(got)))
            } else {
                fix(
                    line(
                        "host",
                        Status::Fail,
                        format!("{host} has {}, expected {}", list(got), list(want_ips)),
                    ),
                    format!("publish {want}"),
                )
            }
        }
        (_, Ok(None), Err(DnsError::NoRecords)) => fix(
            line("host", Status::Fail, format!("{host} does not resolve")),
            format!("publish {want}"),
        ),
        (_, Ok(None), Err(e)) => line("host", Status::Fail, format!("{host}: {e}")),
    };
    out.push(verdict);
}

fn list(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks the HTTPS answer; returns the body when it is a valid policy.
fn https(
    d: &DomainPlan,
    answer: &Result<Response, String>,
    out: &mut Vec<Line>,
) -> Option<Vec<u8>> {
    let host = d.domain.name.policy_host();
    let url = format!("https://{host}/.well-known/mta-sts.txt");
    let deploy = format!(
        "deploy output/webroot/{host}/.well-known/mta-sts.txt and output/nginx/{host}.conf"
    );
    let r = match answer {
        Ok(r) => r,
        Err(e) => {
            out.push(fix(
                line("https", Status::Fail, format!("{url}: {e}")),
                format!(
                    "serve {host} over HTTPS with a certificate valid for {host} from a trusted CA"
                ),
            ));
            return None;
        }
    };
    if (300..400).contains(&r.status) {
        out.push(fix(
            line("https", Status::Fail, format!("{url} answers {} redirecting to {}: senders never follow redirects (RFC 8461 §3.3)", r.status, r.location.as_deref().unwrap_or("(no Location)"))),
            format!("serve the file itself at that URL: {deploy}"),
        ));
        return None;
    }
    if r.status != 200 {
        out.push(fix(
            line(
                "https",
                Status::Fail,
                format!("{url} answers {}, not 200", r.status),
            ),
            deploy,
        ));
        return None;
    }
    let ct = r.content_type.clone().unwrap_or_default();
    if !plain_text(&ct) {
        out.push(fix(
            line(
                "https",
                Status::Fail,
                format!(
                    "{url} is served as {:?}; senders require text/plain (RFC 8461 §3.2)",
                    ct
                ),
            ),
            format!("serve it as text/plain, as the generated vhost does: {deploy}"),
        ));
        return None;
    }
    if r.too_large {
        out.push(line(
            "https",
            Status::Fail,
            format!("{url} is larger than 64 KiB (RFC 8461 §3.3)"),
        ));
        return None;
    }
    if let Err(e) = policy::parse(&r.body) {
        out.push(fix(
            line(
                "https",
                Status::Fail,
                format!("{url} is not a valid policy: {e}"),
            ),
            deploy,
        ));
        return None;
    }
    out.push(line(
        "https",
        Status::Ok,
        format!("{url}: 200, {ct}, a valid policy"),
    ));
    Some(r.body.clone())
}

/// `text/plain`, with at most a utf-8 or us-ascii charset (RFC 8461 §3.2).
fn plain_text(content_type: &str) -> bool {
    let mut parts = content_type
        .split(';')
        .map(|p| p.trim().to_ascii_lowercase());
    if parts.next().as_deref() != Some("text/plain") {
        return false;
    }
    parts.all(|p| match p.split_once('=') {
        Some(("charset", v)) => matches!(v.trim_matches('"'), "utf-8" | "us-ascii"),
        _ => true,
    })
}

/// The served policy and the TXT id against the plan, including the RFC 8461 §8.1 order.
fn deployment(
    d: &DomainPlan,
    e: &Entry,
    txt_id: Option<&str>,
    body: Option<&Vec<u8>>,
    txt_line: &str,
    out: &mut Vec<Line>,
) {
    let host = d.domain.name.policy_host();
    let deploy = format!("deploy output/webroot/{host}/.well-known/mta-sts.txt");
    #[derive(PartialEq)]
    enum Body {
        Current,
        Previous,
        Other,
    }
    let body_state = body.map(|b| {
        if b.as_slice() == d.policy().as_bytes() {
            out.push(line("policy", Status::Ok, "the served bytes are the generated policy"));
            Body::Current
        } else if policy::parse(b).ok() == policy::parse(d.policy().as_bytes()).ok() {
            out.push(fix(
                line("policy", Status::Warn, "the served policy means the same as the generated one but its bytes differ (for example LF instead of CRLF line endings)"),
                format!("{deploy} unchanged (byte for byte)"),
            ));
            Body::Current
        } else if e.previous_sha256.as_deref() == Some(sha256_hex(b).as_str()) {
            Body::Previous
        } else {
            Body::Other
        }
    });
    let Some(id) = txt_id else {
        return;
    };
    let previous = e.previous_id.as_deref() == Some(id);
    let verdict = match (id == &*e.id, previous, body_state) {
        (true, _, Some(Body::Current) | None) => line(
            "deploy",
            Status::Ok,
            format!("the TXT record announces the current id {id}"),
        ),
        (true, _, Some(Body::Previous)) => fix(
            line(
                "deploy",
                Status::Fail,
                format!(
                    "DNS updated before the policy: the TXT record announces {id}, but HTTPS still serves the previous policy (RFC 8461 §8.1)"
                ),
            ),
            format!("{deploy} now"),
        ),
        (true, _, Some(Body::Other)) => fix(
            line(
                "deploy",
                Status::Fail,
                "HTTPS serves a policy that this build did not generate (stale or edited)",
            ),
            deploy,
        ),
        (false, true, Some(Body::Current)) => fix(
            line(
                "deploy",
                Status::Pending,
                format!(
                    "the new policy is live; the TXT record still announces the previous id {id}"
                ),
            ),
            format!("publish {txt_line}"),
        ),
        (false, true, _) => fix(
            line(
                "deploy",
                Status::Fail,
                format!(
                    "not deployed: the TXT record announces the previous id {id} and HTTPS does not serve the current policy"
                ),
            ),
            format!("{deploy}, then publish {txt_line}"),
        ),
        (false, false, _) => fix(
            line(
                "deploy",
                Status::Fail,
                format!(
                    "the TXT record announces id {id}, but the current id is {}",
                    e.id
                ),
            ),
            format!("publish {txt_line}"),
        ),
    };
    out.push(verdict);
}

fn mx_coverage(d: &DomainPlan, mx: &Result<Vec<String>, DnsError>, out: &mut Vec<Line>) {
    let mode = d.mode();
    if mode == Mode::None {
        return;
    }
    let name = d.domain.name.as_str();
    let hosts = match mx {
        Ok(h) => h,
        Err(DnsError::NoRecords) => {
            out.push(line(
                "mx",
                Status::Warn,
                format!("{name} has no MX records"),
            ));
            return;
        }
        Err(e) => {
            out.push(line("mx", Status::Fail, format!("MX of {name}: {e}")));
            return;
        }
    };
    let mut clean = true;
    for host in hosts
        .iter()
        .filter(|h| !d.domain.mx.iter().any(|p| p.matches(h)))
    {
        clean = false;
        let (status, why) = if mode == Mode::Enforce {
            (Status::Fail, "senders will refuse to deliver to it")
        } else {
            (Status::Warn, "senders will report failures for it")
        };
        out.push(fix(
            line(
                "mx",
                status,
                format!("MX host {host} matches no mx pattern of the {mode} policy: {why}"),
            ),
            format!(
                "add \"{host}\" (or a *. pattern covering it) to mx of {name}, build and deploy"
            ),
        ));
    }
    for pattern in d
        .domain
        .mx
        .iter()
        .filter(|p| !hosts.iter().any(|h| p.matches(h)))
    {
        clean = false;
        out.push(line(
            "mx",
            Status::Warn,
            format!("mx pattern {pattern} matches no live MX host"),
        ));
    }
    if clean {
        out.push(line(
            "mx",
            Status::Ok,
            format!("every MX host ({}) matches a pattern", hosts.join(", ")),
        ));
    }
}

fn tlsrpt(d: &DomainPlan, txt: &Result<Vec<String>, DnsError>, out: &mut Vec<Line>) {
    let name = d.domain.name.as_str();
    let owner = format!("_smtp._tls.{name}");
    let want = records_of(d, &format!("{owner}."));
    let found: Vec<&String> = match txt {
        Ok(r) => r.iter().filter(|r| r.starts_with("v=TLSRPTv1")).collect(),
        Err(DnsError::NoRecords) => Vec::new(),
        Err(e) => {
            out.push(line("tlsrpt", Status::Fail, format!("{owner}: {e}")));
            return;
        }
    };
    if d.domain.tlsrpt_rua.is_empty() {
        if !found.is_empty() {
            out.push(line(
                "tlsrpt",
                Status::Note,
                format!("{owner} has a TLS-RPT record although none is configured"),
            ));
        }
        return;
    }
    let verdict = match found.as_slice() {
        [] => fix(
            line(
                "tlsrpt",
                Status::Fail,
                format!("no TLS-RPT record at {owner}"),
            ),
            format!("publish {want}"),
        ),
        [one] => match records::parse_tlsrpt(one) {
            Ok(rua) if *rua == *d.domain.tlsrpt_rua => {
                line("tlsrpt", Status::Ok, format!("{owner}: \"{one}\""))
            }
            Ok(rua) => fix(
                line(
                    "tlsrpt",
                    Status::Fail,
                    format!(
                        "{owner} sends reports to {}, not to the configured URIs",
                        rua.join(",")
                    ),
                ),
                format!("publish {want}"),
            ),
            Err(e) => fix(
                line(
                    "tlsrpt",
                    Status::Fail,
                    format!("{owner}: \"{one}\" is invalid: {e}"),
                ),
                format!("replace it with {want}"),
            ),
        },
        many => fix(
            line(
                "tlsrpt",
                Status::Fail,
                format!(
                    "{} v=TLSRPTv1 records at {owner}: senders then report nowhere (RFC 8460 §3)",
                    many.len()
                ),
            ),
            format!("keep only {want}"),
        ),
    };
    out.push(verdict);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_epoch;
    use crate::state::Lock;

    fn planned(text: &str) -> (DomainPlan, Entry) {
        let (config, problems) = crate::config::parse(text);
        let config = config.unwrap_or_else(|| panic!("{problems:?}"));
        let p = crate::plan::plan(
            config.domains,
            &Lock::new(),
            from_epoch("1764288000").unwrap(),
            &[],
        );
        let d = p.domains[0].clone();
        let e = p.lock.domains[d.domain.name.as_str()].clone();
        (d, e)
    }

    const CONFIG: &str = "[domains.\"example.com\"]\nmode = \"enforce\"\nmx = [\"mx1.example.com\", \"*.mx.example.com\"]\npolicy_cname = \"web.example.net\"\ntlsrpt_rua = [\"mailto:tls@example.com\"]\n";

    fn healthy(d: &DomainPlan, e: &Entry) -> Live {
        Live {
            sts_txt: Ok(vec![
                records::sts_value(&e.id),
                "google-site-verification=x".into(),
            ]),
            host_cname: Ok(Some("web.example.net".into())),
            host_addrs: Ok(vec!["192.0.2.1".parse().unwrap()]),
            https: Ok(Response {
                status: 200,
                content_type: Some("text/plain; charset=utf-8".into()),
                location: None,
                body: d.policy().as_bytes().to_vec(),
                too_large: false,
            }),
            mx: Ok(vec!["mx1.example.com".into(), "a.mx.example.com".into()]),
            tlsrpt_txt: Ok(vec!["v=TLSRPTv1; rua=mailto:tls@example.com".into()]),
        }
    }

    fn statuses(lines: &[Line]) -> Vec<(&'static str, Status)> {
        lines.iter().map(|l| (l.check, l.status)).collect()
    }

    fn failing<'a>(lines: &'a [Line], check: &str) -> &'a Line {
        lines
            .iter()
            .find(|l| l.check == check && l.status == Status::Fail)
            .unwrap_or_else(|| panic!("no failing {check}: {lines:#?}"))
    }

    #[test]
    fn a_healthy_deployment_is_all_ok() {
        let (d, e) = planned(CONFIG);
        let lines = judge(&d, Some(&e), true, &healthy(&d, &e));
        assert!(
            lines
                .iter()
                .all(|l| matches!(l.status, Status::Ok | Status::Note)),
            "{lines:#?}"
        );
        assert_eq!(
            statuses(&lines)
                .iter()
                .filter(|(_, s)| *s == Status::Note)
                .count(),
            1
        );
    }

    #[test]
    fn broken_states_fail_with_the_fix() {
        let (d, e) = planned(CONFIG);
        let mut live = healthy(&d, &e);
        live.sts_txt = Ok(vec!["v=STSv1; id=a".into(), "v=STSv1; id=b".into()]);
        live.https = Ok(Response {
            status: 301,
            content_type: None,
            location: Some("https://x/".into()),
            body: vec![],
            too_large: false,
        });
        live.mx = Ok(vec![
            "mx1.example.com".into(),
            "rogue.example.org".into(),
            "a.b.mx.example.com".into(),
        ]);
        live.tlsrpt_txt = Err(DnsError::NoRecords);
        live.host_cname = Ok(None);
        live.host_addrs = Err(DnsError::NoRecords);
        let lines = judge(&d, Some(&e), true, &live);
        assert!(failing(&lines, "txt").detail.contains("2 v=STSv1 records"));
        assert_eq!(
            failing(&lines, "txt").fix.as_deref(),
            Some("keep only _mta-sts.example.com. 3600 IN TXT \"v=STSv1; id=20251128000000\"")
        );
        assert!(
            failing(&lines, "https")
                .detail
                .contains("answers 301 redirecting to https://x/")
        );
        assert!(failing(&lines, "mx").detail.contains("rogue.example.org"));
        assert!(
            lines
                .iter()
                .any(|l| l.detail.contains("a.b.mx.example.com") && l.status == Status::Fail),
            "two labels below a wildcard are not covered"
        );
        assert_eq!(
            failing(&lines, "tlsrpt").fix.as_deref(),
            Some(
                "publish _smtp._tls.example.com. 3600 IN TXT \"v=TLSRPTv1; rua=mailto:tls@example.com\""
            )
        );
        assert_eq!(
            failing(&lines, "host").fix.as_deref(),
            Some("publish mta-sts.example.com. 3600 IN CNAME web.example.net.")
        );
    }

    #[test]
    fn content_type_rules() {
        assert!(plain_text("text/plain"));
        assert!(plain_text("Text/Plain; charset=UTF-8"));
        assert!(plain_text("text/plain; charset=\"us-ascii\""));
        assert!(!plain_text("text/plain; charset=iso-8859-1"));
        assert!(!plain_text("application/octet-stream"));
        assert!(!plain_text(""));
        assert!(!plain_text("text/html"));
    }

    #[test]
    fn deployment_order_rfc_8461_section_8_1() {
        let (d1, e1) = planned(CONFIG);
        let edited = CONFIG.replace("enforce", "testing");
        let (config, _) = crate::config::parse(&edited);
        let mut lock = Lock::new();
        lock.domains.insert("example.com".into(), e1.clone());
        let p = crate::plan::plan(
            config.unwrap().domains,
            &lock,
            from_epoch("1764374400").unwrap(),
            &[],
        );
        let (d2, e2) = (p.domains[0].clone(), p.lock.domains["example.com"].clone());
        assert_eq!(e2.previous_id.as_deref(), Some(&*e1.id));
        let state = |txt_id: &str, body: &str| {
            let mut live = healthy(&d2, &e2);
            live.sts_txt = Ok(vec![records::sts_value(txt_id)]);
            if let Ok(r) = &mut live.https {
                r.body = body.as_bytes().to_vec();
            }
            judge(&d2, Some(&e2), true, &live)
        };
        let deploy = |lines: Vec<Line>| lines.into_iter().find(|l| l.check == "deploy").unwrap();
        assert_eq!(deploy(state(&e2.id, &d2.policy())).status, Status::Ok);
        let dns_first = deploy(state(&e2.id, &d1.policy()));
        assert_eq!(dns_first.status, Status::Fail);
        assert!(
            dns_first
                .detail
                .starts_with("DNS updated before the policy"),
            "{}",
            dns_first.detail
        );
        let pending = deploy(state(&e1.id, &d2.policy()));
        assert_eq!(pending.status, Status::Pending);
        assert_eq!(
            pending.fix.as_deref(),
            Some("publish _mta-sts.example.com. 3600 IN TXT \"v=STSv1; id=20251129000000\"")
        );
        assert_eq!(deploy(state(&e1.id, &d1.policy())).status, Status::Fail);
        assert!(
            deploy(state("other1", &d2.policy()))
                .detail
                .contains("announces id other1, but the current id is 20251129000000")
        );
        let lf = state(&e2.id, &d2.policy().replace("\r\n", "\n"));
        assert_eq!(
            lf.iter().find(|l| l.check == "policy").unwrap().status,
            Status::Warn
        );
        assert_eq!(deploy(lf).status, Status::Ok);
    }
}
