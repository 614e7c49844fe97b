//! The policy host: its address records, its HTTPS answer, and whether what it serves is the
//! policy the plan publishes (or a deployment under way).

use std::net::IpAddr;

use crate::digest::sha256_hex;
use crate::dns::DnsError;
use crate::fetch::{FetchError, Response};
use crate::lock::Entry;
use crate::model::{PolicyHost, Vhosts};
use crate::plan::DomainPlan;
use crate::policy;

use super::{Check, Line, Live, Status, fix, line, records_of};

/// The `mta-sts.<domain>` host's DNS records against the configured policy host.
/// Long on purpose: an arm per kind of policy host record (CNAME, addresses, CDN), each with its
/// fix.
pub(super) fn policy_host(d: &DomainPlan, live: &Live, out: &mut Vec<Line>) {
    let host = d.domain.name.policy_host();
    let want = records_of(d, &format!("{host}."));
    let cname = match &live.host_cname {
        Err(DnsError::NoRecords) => Ok(None),
        other => other.clone(),
    };
    let verdict = match (&d.domain.policy_host, &cname, &live.host_addrs) {
        (_, Err(e), _) => line(Check::Host, Status::Fail, format!("{host}: {e}")),
        (PolicyHost::Cname(target), Ok(Some(got)), _) if got == target.as_str() => line(
            Check::Host,
            Status::Ok,
            format!("{host} is a CNAME to {got}"),
        ),
        (PolicyHost::Cname(_), Ok(Some(got)), _) => fix(
            line(
                Check::Host,
                Status::Fail,
                format!("{host} is a CNAME to {got}, not to the configured target"),
            ),
            format!("publish {want}"),
        ),
        (PolicyHost::Cname(_), Ok(None), Ok(addrs)) => fix(
            line(
                Check::Host,
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
                Check::Host,
                Status::Fail,
                format!("{host} is a CNAME to {got}, but the config lists addresses"),
            ),
            format!("publish {want}"),
        ),
        // Cloudflare makes a Custom Domain's record: whatever it made is right.
        (PolicyHost::Cdn, Ok(Some(got)), _) => line(
            Check::Host,
            Status::Ok,
            format!("{host} is a CNAME to {got} (made by the CDN)"),
        ),
        (PolicyHost::Cdn, Ok(None), Ok(got)) => line(
            Check::Host,
            Status::Ok,
            format!("{host} has {} (made by the CDN)", list(got)),
        ),
        (PolicyHost::Cdn, Ok(None), Err(DnsError::NoRecords)) => fix(
            line(
                Check::Host,
                Status::Fail,
                format!("{host} does not resolve"),
            ),
            "deploy output/cloudflare-worker/ with wrangler deploy: Cloudflare makes the record and certificate of each Custom Domain in wrangler.toml (the domain's zone must be on the same account)".to_string(),
        ),
        (PolicyHost::Addresses(want_ips), Ok(None), Ok(got)) => {
            let mut a = want_ips.clone();
            let mut b = got.clone();
            a.sort();
            b.sort();
            if a == b {
                line(Check::Host, Status::Ok, format!("{host} has {}", list(got)))
            } else {
                fix(
                    line(
                        Check::Host,
                        Status::Fail,
                        format!("{host} has {}, expected {}", list(got), list(want_ips)),
                    ),
                    format!("publish {want}"),
                )
            }
        }
        (_, Ok(None), Err(DnsError::NoRecords)) => fix(
            line(
                Check::Host,
                Status::Fail,
                format!("{host} does not resolve"),
            ),
            format!("publish {want}"),
        ),
        (_, Ok(None), Err(e)) => line(Check::Host, Status::Fail, format!("{host}: {e}")),
    };
    out.push(verdict);
}

pub(super) fn list(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What to deploy for `host`: only files the build writes (the host's vhost, or the shared
/// one, or none for the CDN targets).
fn deploy_hint(host: &str, nginx: Option<Vhosts>) -> String {
    match nginx {
        Some(Vhosts::PerHost) => format!(
            "deploy output/webroot/{host}/.well-known/mta-sts.txt and output/nginx/{host}.conf"
        ),
        Some(Vhosts::Shared) => format!(
            "deploy output/webroot/{host}/.well-known/mta-sts.txt and output/nginx/mta-sts.conf (included in nginx's http block), then reload nginx"
        ),
        None => format!("deploy output/webroot/{host}/.well-known/mta-sts.txt"),
    }
}

/// The FAIL of a fetch that got no HTTP answer; a TLS alert from the server means it has no
/// usable certificate for the host.
fn fetch_failed(e: &FetchError, url: &str, host: &str, nginx: Option<Vhosts>) -> Line {
    let remedy = if let FetchError::Alert(_) = e {
        let shared = if nginx == Some(Vhosts::Shared) {
            "; in the shared layout nginx's workers load it per handshake, so also check that [nginx] user can read the certificate and key (mtasts build warns when it cannot)"
        } else {
            ""
        };
        format!(
            "the server has no usable certificate for {host}: read its error log (nginx: \"cannot load certificate\"){shared}"
        )
    } else {
        format!("serve {host} over HTTPS with a certificate valid for {host} from a trusted CA")
    };
    fix(
        line(Check::Https, Status::Fail, format!("{url}: {e}")),
        remedy,
    )
}

/// Checks the HTTPS answer; returns the body when it is a valid policy.
pub(super) fn https(
    d: &DomainPlan,
    answer: &Result<Response, FetchError>,
    nginx: Option<Vhosts>,
    out: &mut Vec<Line>,
) -> Option<Vec<u8>> {
    let host = d.domain.name.policy_host();
    let url = format!("https://{host}/.well-known/mta-sts.txt");
    let deploy = deploy_hint(&host, nginx);
    let r = match answer {
        Ok(r) => r,
        Err(e) => {
            out.push(fetch_failed(e, &url, &host, nginx));
            return None;
        }
    };
    if (300..400).contains(&r.status) {
        out.push(fix(
            line(Check::Https, Status::Fail, format!("{url} answers {} redirecting to {}: senders never follow redirects (RFC 8461 §3.3)", r.status, r.location.as_deref().unwrap_or("(no Location)"))),
            format!("serve the file itself at that URL: {deploy}"),
        ));
        return None;
    }
    if r.status != 200 {
        out.push(fix(
            line(
                Check::Https,
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
                Check::Https,
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
            Check::Https,
            Status::Fail,
            format!("{url} is larger than 64 KiB (RFC 8461 §3.3)"),
        ));
        return None;
    }
    if let Err(e) = policy::parse(&r.body) {
        out.push(fix(
            line(
                Check::Https,
                Status::Fail,
                format!("{url} is not a valid policy: {e}"),
            ),
            deploy,
        ));
        return None;
    }
    out.push(line(
        Check::Https,
        Status::Ok,
        format!("{url}: 200, {ct}, a valid policy"),
    ));
    Some(r.body.clone())
}

/// Each address of the policy host must serve the same valid policy: a sender picks any of
/// them, so one address with a stale or broken file fails that sender.
pub(super) fn every_address(d: &DomainPlan, live: &Live, body: Option<&[u8]>, out: &mut Vec<Line>) {
    if live.per_address.is_empty() {
        return;
    }
    let host = d.domain.name.policy_host();
    let deploy = format!("deploy the same output/webroot/{host}/ to every server behind {host}");
    let mut bad = Vec::new();
    for (ip, answer) in &live.per_address {
        let problem = match answer {
            Err(e) => Some(e.to_string()),
            Ok(r) if r.status != 200 => Some(format!("answers {}, not 200", r.status)),
            Ok(r) if !plain_text(r.content_type.as_deref().unwrap_or_default()) => {
                Some("does not serve text/plain".into())
            }
            Ok(r) if r.too_large || policy::parse(&r.body).is_err() => {
                Some("serves no valid policy".into())
            }
            Ok(r) if body.is_some_and(|b| b != r.body.as_slice()) => {
                Some("serves other bytes than the other addresses".into())
            }
            Ok(_) => None,
        };
        if let Some(p) = problem {
            bad.push(format!("{ip}: {p}"));
        }
    }
    let total = live.host_addrs.as_ref().map_or(0, Vec::len);
    if total > super::MAX_POLICY_ADDRESSES {
        bad.push(format!(
            "{host} has {total} addresses; mtasts fetches from the first {} only",
            super::MAX_POLICY_ADDRESSES
        ));
    }
    if bad.is_empty() {
        out.push(line(
            Check::Https,
            Status::Ok,
            format!(
                "every address of {host} ({}) serves the same policy",
                live.per_address.len()
            ),
        ));
    } else {
        out.push(fix(
            line(
                Check::Https,
                Status::Fail,
                format!(
                    "not every address of {host} serves the policy: {}",
                    bad.join("; ")
                ),
            ),
            deploy,
        ));
    }
}

/// `text/plain`, with at most a utf-8 or us-ascii charset (RFC 8461 §3.2).
pub(super) fn plain_text(content_type: &str) -> bool {
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
/// Kept whole: the §8.1 comparisons (id, bytes, order) each depend on the ones before.
pub(super) fn deployment(
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
            out.push(line(Check::Policy, Status::Ok, "the served bytes are the generated policy"));
            Body::Current
        } else if policy::parse(b).ok() == policy::parse(d.policy().as_bytes()).ok() {
            out.push(fix(
                line(Check::Policy, Status::Warn, "the served policy means the same as the generated one but its bytes differ (for example LF instead of CRLF line endings)"),
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
            Check::Deploy,
            Status::Ok,
            format!("the TXT record announces the current id {id}"),
        ),
        (true, _, Some(Body::Previous)) => fix(
            line(
                Check::Deploy,
                Status::Fail,
                format!(
                    "DNS updated before the policy: the TXT record announces {id}, but HTTPS still serves the previous policy (RFC 8461 §8.1)"
                ),
            ),
            format!("{deploy} now"),
        ),
        (true, _, Some(Body::Other)) => fix(
            line(
                Check::Deploy,
                Status::Fail,
                "HTTPS serves a policy that this build did not generate (stale or edited)",
            ),
            deploy,
        ),
        (false, true, Some(Body::Current)) => fix(
            line(
                Check::Deploy,
                Status::Pending,
                format!(
                    "the new policy is live; the TXT record still announces the previous id {id}"
                ),
            ),
            format!("publish {txt_line}"),
        ),
        (false, true, _) => fix(
            line(
                Check::Deploy,
                Status::Fail,
                format!(
                    "not deployed: the TXT record announces the previous id {id} and HTTPS does not serve the current policy"
                ),
            ),
            format!("{deploy}, then publish {txt_line}"),
        ),
        (false, false, _) => fix(
            line(
                Check::Deploy,
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
