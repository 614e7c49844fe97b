//! TLS-RPT aggregate reports (RFC 8460 §4): a tolerant parser for what reporters really send
//! (SPEC REP-01..09), decoding of gzip and email carriers, and the per-domain summary with a
//! readiness verdict for `enforce`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;

pub mod export;
use serde_json::Value;

/// Largest decompressed report accepted ("a commonly observed receiver limit is ten megabytes",
/// RFC 8460 §5.2).
pub const MAX_REPORT_BYTES: u64 = 10 * 1024 * 1024;

/// Longest range one report may count for; RFC 8460 §4.1 reports cover one day.
const MAX_REPORT_DAYS: usize = 31;

/// The result types that mean a sender could not apply our MTA-STS policy.
const KNOWN_RESULTS: &[&str] = &[
    "starttls-not-supported",
    "certificate-host-mismatch",
    "certificate-expired",
    "certificate-not-trusted",
    "validation-failure",
    "tlsa-invalid",
    "dnssec-invalid",
    "dane-required",
    "sts-policy-fetch-error",
    "sts-policy-invalid",
    "sts-webpki-invalid",
];

/// One report, as far as a summary needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// `organization-name` (or "unknown").
    pub organization: String,
    /// `report-id` (for de-duplication).
    pub report_id: String,
    /// Start of the covered range.
    pub start: DateTime<Utc>,
    /// End of the covered range.
    pub end: DateTime<Utc>,
    /// Per applied policy.
    pub policies: Vec<PolicyResult>,
}

/// One entry of `policies`.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyResult {
    /// `sts`, `tlsa`, `no-policy-found` or `other`.
    pub policy_type: String,
    /// The policy domain (lower-case, no root dot); absent for some `no-policy-found` entries.
    pub domain: Option<String>,
    /// The policy lines the reporter applied.
    pub policy_string: Vec<String>,
    /// Successful sessions.
    pub successful: u64,
    /// Failed sessions.
    pub failed: u64,
    /// Failure details.
    pub failures: Vec<Failure>,
}

/// One `failure-details` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// A registered result type, or `other`.
    pub result_type: String,
    /// The receiving MX host name (or IP when no name was given).
    pub mx: String,
    /// Failed sessions.
    pub count: u64,
}

/// Parses one JSON report, tolerating the deviations real reporters show.
pub fn parse(bytes: &[u8]) -> Result<Report, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("the report is not a JSON object")?;
    let range = obj.get("date-range").ok_or("no date-range")?;
    let time = |key: &str| {
        range
            .get(key)
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| format!("date-range has no valid {key}"))
    };
    let (start, end) = (time("start-datetime")?, time("end-datetime")?);
    let policies = obj
        .get("policies")
        .and_then(Value::as_array)
        .ok_or("no policies array")?
        .iter()
        .map(policy)
        .collect();
    Ok(Report {
        organization: text(obj.get("organization-name")).unwrap_or_else(|| "unknown".into()),
        report_id: text(obj.get("report-id")).unwrap_or_default(),
        start,
        end: end.max(start),
        policies,
    })
}

fn text(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

fn count(v: Option<&Value>) -> u64 {
    v.and_then(|c| c.as_u64().or_else(|| c.as_f64().map(|f| f.max(0.0) as u64)))
        .unwrap_or(0)
}

fn policy(p: &Value) -> PolicyResult {
    let pol = p.get("policy");
    let get = |key: &str| pol.and_then(|p| p.get(key));
    let policy_type = match get("policy-type").and_then(Value::as_str) {
        Some(t @ ("sts" | "tlsa" | "no-policy-found")) => t.to_string(),
        _ => "other".into(),
    };
    let strings = |v: Option<&Value>| match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    };
    let summary = p.get("summary");
    let failures = p
        .get("failure-details")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|f| {
                    let rt = f.get("result-type").and_then(Value::as_str).unwrap_or("");
                    Failure {
                        result_type: if KNOWN_RESULTS.contains(&rt) {
                            rt.to_string()
                        } else {
                            "other".into()
                        },
                        mx: text(f.get("receiving-mx-hostname"))
                            .filter(|s| !s.is_empty())
                            .or_else(|| text(f.get("receiving-ip")).filter(|s| !s.is_empty()))
                            .map_or_else(
                                || "(unknown)".into(),
                                |m| m.trim_end_matches('.').to_ascii_lowercase(),
                            ),
                        count: count(f.get("failed-session-count")),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    PolicyResult {
        policy_type,
        domain: get("policy-domain")
            .and_then(Value::as_str)
            .map(|d| d.trim_end_matches('.').to_ascii_lowercase()),
        policy_string: strings(get("policy-string")),
        successful: count(summary.and_then(|s| s.get("total-successful-session-count"))),
        failed: count(summary.and_then(|s| s.get("total-failure-session-count"))),
        failures,
    }
}

/// The JSON reports inside `bytes`: gzip (by its magic bytes), an email with
/// `application/tlsrpt+json`/`+gzip` parts, or plain JSON.
pub fn unpack(bytes: &[u8], email: bool) -> Result<Vec<Vec<u8>>, String> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return gunzip(bytes).map(|b| vec![b]);
    }
    if !email {
        return Ok(vec![bytes.to_vec()]);
    }
    use mail_parser::MimeHeaders;
    let message = mail_parser::MessageParser::default()
        .parse(bytes)
        .ok_or("not an email message")?;
    let mut out = Vec::new();
    for part in &message.parts {
        let (ctype, sub) = part
            .content_type()
            .map(|c| {
                (
                    c.ctype().to_ascii_lowercase(),
                    c.subtype().unwrap_or("").to_ascii_lowercase(),
                )
            })
            .unwrap_or_default();
        let name = part.attachment_name().unwrap_or("").to_ascii_lowercase();
        let gz = sub == "tlsrpt+gzip"
            || name.ends_with(".json.gz")
            || (ctype == "application" && sub == "gzip");
        let json = sub == "tlsrpt+json" || name.ends_with(".json");
        if gz {
            out.push(gunzip(part.contents())?);
        } else if json {
            out.push(part.contents().to_vec());
        }
    }
    if out.is_empty() {
        return Err("no application/tlsrpt+json or +gzip part in the message".into());
    }
    Ok(out)
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_REPORT_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("gzip: {e}"))?;
    if out.len() as u64 > MAX_REPORT_BYTES {
        return Err("decompresses to more than 10 MiB".into());
    }
    Ok(out)
}

/// One failure line of a summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailureSummary {
    /// Result type (`other` for unregistered ones).
    pub result_type: String,
    /// Receiving MX.
    pub mx: String,
    /// Failed sessions.
    pub count: u64,
    /// Share of all sessions of the domain, in percent.
    pub percent: f64,
    /// First day it was reported.
    pub since: NaiveDate,
    /// Whether it was reported under an `sts` policy (it blocks `enforce`).
    pub sts: bool,
}

/// Everything the reports say about one policy domain.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DomainSummary {
    /// The policy domain.
    pub domain: String,
    /// First covered moment.
    pub from: DateTime<Utc>,
    /// Last covered moment.
    pub to: DateTime<Utc>,
    /// Distinct UTC days the reports touch.
    pub days: usize,
    /// Reporting organisations.
    pub organizations: BTreeSet<String>,
    /// Reports counted (after de-duplication).
    pub reports: usize,
    /// Successful sessions.
    pub successful: u64,
    /// Failed sessions.
    pub failed: u64,
    /// Failures by result type and MX.
    pub failures: Vec<FailureSummary>,
    /// Distinct STS policies the reporters applied, each as its lines.
    pub policies_seen: Vec<Vec<String>>,
    /// Sessions reported under `no-policy-found`: those senders did not see an MTA-STS policy.
    pub no_policy_sessions: u64,
    /// The organisations that reported them.
    pub no_policy_organizations: BTreeSet<String>,
    /// Reports (`organization report-id`) whose failure details add up to more than their
    /// summary; their details were scaled down to the summary's count.
    pub overcounted: Vec<String>,
}

/// Failed sessions and first day, by (result type, MX, under an STS policy).
type FailureTally = BTreeMap<(String, String, bool), (u64, NaiveDate)>;

/// Sums reports per policy domain; duplicates (same organisation and report-id) count once.
pub fn summarise(reports: &[Report]) -> Vec<DomainSummary> {
    let mut seen = BTreeSet::new();
    let mut by_domain: BTreeMap<String, (DomainSummary, BTreeSet<NaiveDate>, FailureTally)> =
        BTreeMap::new();
    for r in reports {
        if !r.report_id.is_empty() && !seen.insert((r.organization.clone(), r.report_id.clone())) {
            continue;
        }
        let mut counted = BTreeSet::new();
        for p in &r.policies {
            let Some(domain) = &p.domain else { continue };
            let (s, days, failures) = by_domain.entry(domain.clone()).or_insert_with(|| {
                (
                    DomainSummary {
                        domain: domain.clone(),
                        from: r.start,
                        to: r.end,
                        days: 0,
                        organizations: BTreeSet::new(),
                        reports: 0,
                        successful: 0,
                        failed: 0,
                        failures: Vec::new(),
                        policies_seen: Vec::new(),
                        no_policy_sessions: 0,
                        no_policy_organizations: BTreeSet::new(),
                        overcounted: Vec::new(),
                    },
                    BTreeSet::new(),
                    BTreeMap::new(),
                )
            });
            if counted.insert(domain.clone()) {
                s.reports += 1;
                s.from = s.from.min(r.start);
                s.to = s.to.max(r.end);
                s.organizations.insert(r.organization.clone());
                // A range ending at midnight does not touch the next day (REP-08); a bogus
                // range spanning years is capped rather than walked day by day.
                let last = (r.end - TimeDelta::seconds(1)).max(r.start).date_naive();
                let mut day = r.start.date_naive();
                for _ in 0..MAX_REPORT_DAYS {
                    days.insert(day);
                    match day.succ_opt() {
                        Some(next) if next <= last => day = next,
                        _ => break,
                    }
                }
            }
            s.successful += p.successful;
            s.failed += p.failed;
            if p.policy_type == "sts"
                && !p.policy_string.is_empty()
                && !s.policies_seen.contains(&p.policy_string)
            {
                s.policies_seen.push(p.policy_string.clone());
            }
            if p.policy_type == "no-policy-found" {
                s.no_policy_sessions += p.successful + p.failed;
                s.no_policy_organizations.insert(r.organization.clone());
            }
            let counts = by_summary(p);
            if counts.is_some() {
                let name = format!("{} {}", r.organization, r.report_id);
                if !s.overcounted.contains(&name) {
                    s.overcounted.push(name);
                }
            }
            for (i, f) in p.failures.iter().enumerate() {
                let e = failures
                    .entry((f.result_type.clone(), f.mx.clone(), p.policy_type == "sts"))
                    .or_insert((0, r.start.date_naive()));
                e.0 += counts.as_ref().map_or(f.count, |c| c[i]);
                e.1 = e.1.min(r.start.date_naive());
            }
        }
    }
    by_domain
        .into_values()
        .map(|(mut s, days, failures)| {
            s.days = days.len();
            let total = (s.successful + s.failed).max(1) as f64;
            s.failures = failures
                .into_iter()
                .map(|((result_type, mx, sts), (count, since))| FailureSummary {
                    result_type,
                    mx,
                    count,
                    percent: (count as f64 * 1000.0 / total).round() / 10.0,
                    since,
                    sts,
                })
                .collect();
            s.failures.sort_by(|a, b| {
                b.count
                    .cmp(&a.count)
                    .then(a.result_type.cmp(&b.result_type))
            });
            s
        })
        .collect()
}

/// When a policy's failure details add up to more than its summary's failed count, the details
/// scaled down to the summary (largest remainders first), so that no share exceeds the whole.
fn by_summary(p: &PolicyResult) -> Option<Vec<u64>> {
    let listed: u128 = p.failures.iter().map(|f| u128::from(f.count)).sum();
    let total = u128::from(p.failed);
    if listed <= total {
        return None;
    }
    let mut counts: Vec<(u64, u128, usize)> = p
        .failures
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let exact = u128::from(f.count) * total;
            ((exact / listed) as u64, exact % listed, i)
        })
        .collect();
    let mut left = p.failed - counts.iter().map(|c| c.0).sum::<u64>();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
    for c in &mut counts {
        if left == 0 {
            break;
        }
        c.0 += 1;
        left -= 1;
    }
    counts.sort_by_key(|c| c.2);
    Some(counts.into_iter().map(|c| c.0).collect())
}

/// Result types that say a sender did not get a valid policy at all.
const POLICY_NOT_SEEN: &[&str] = &[
    "sts-policy-fetch-error",
    "sts-policy-invalid",
    "sts-webpki-invalid",
];

/// What says that senders do not get the published policy, whatever the success count: sessions
/// reported under `no-policy-found`, or failures fetching or validating the policy.
pub fn alarms(s: &DomainSummary, mode: crate::model::Mode) -> Vec<String> {
    if mode == crate::model::Mode::None {
        return Vec::new();
    }
    let mut out = Vec::new();
    if s.no_policy_sessions > 0 {
        out.push(format!(
            "{} session(s) reported as no-policy-found by {}: those senders do not see the published {mode} policy (check the _mta-sts TXT record and the policy host with `mtasts check`)",
            s.no_policy_sessions,
            s.no_policy_organizations
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for f in s
        .failures
        .iter()
        .filter(|f| POLICY_NOT_SEEN.contains(&f.result_type.as_str()))
    {
        out.push(format!(
            "{} at {}: {} session(s) ({}%) since {}: senders could not get a valid policy",
            f.result_type, f.mx, f.count, f.percent, f.since
        ));
    }
    out
}

/// Whether a `testing` domain may move to `enforce`, or what blocks it; `None` for other modes.
pub fn readiness(
    s: &DomainSummary,
    mode: crate::model::Mode,
    days_needed: usize,
) -> (Option<bool>, Vec<String>) {
    use crate::model::Mode;
    let sts: Vec<&FailureSummary> = s.failures.iter().filter(|f| f.sts).collect();
    let describe = |f: &&FailureSummary| {
        format!(
            "{} at {}: {} session(s) ({}%) since {}",
            f.result_type, f.mx, f.count, f.percent, f.since
        )
    };
    match mode {
        Mode::Testing => {
            let mut blocks = Vec::new();
            if s.days < days_needed {
                blocks.push(format!(
                    "the reports cover {} of the {days_needed} days needed",
                    s.days
                ));
            }
            if s.successful == 0 {
                blocks.push("no successful session was reported".into());
            }
            blocks.extend(alarms(s, mode));
            blocks.extend(
                sts.iter()
                    .filter(|f| !POLICY_NOT_SEEN.contains(&f.result_type.as_str()))
                    .map(|f| format!("STS failure: {}", describe(f))),
            );
            (Some(blocks.is_empty()), blocks)
        }
        Mode::Enforce => (
            None,
            sts.iter()
                .map(|f| format!("regression under enforce: {}", describe(f)))
                .collect(),
        ),
        Mode::None => (None, Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC: &str = r#"{
      "organization-name": "Company-X",
      "date-range": {"start-datetime": "2016-04-01T00:00:00Z", "end-datetime": "2016-04-01T23:59:59Z"},
      "contact-info": "sts-reporting@company-x.example",
      "report-id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
      "policies": [{
        "policy": {"policy-type": "sts", "policy-string": ["version: STSv1", "mode: testing", "mx: *.mail.company-y.example", "max_age: 86400"],
                   "policy-domain": "company-y.example", "mx-host": "*.mail.company-y.example"},
        "summary": {"total-successful-session-count": 5326, "total-failure-session-count": 303},
        "failure-details": [
          {"result-type": "certificate-expired", "sending-mta-ip": "2001:db8:abcd:0012::1", "receiving-mx-hostname": "mx1.mail.company-y.example", "failed-session-count": 100},
          {"result-type": "starttls-not-supported", "sending-mta-ip": "2001:db8:abcd:0013::1", "receiving-mx-hostname": "mx2.mail.company-y.example", "receiving-ip": "203.0.113.56", "failed-session-count": 200, "additional-information": "https://reports.company-x.example/report_info?id=5065427c-23d3#StarttlsNotSupported"},
          {"result-type": "validation-failure", "sending-mta-ip": "198.51.100.62", "receiving-ip": "203.0.113.58", "receiving-mx-hostname": "mx-backup.mail.company-y.example", "failed-session-count": 3, "failure-reason-code": "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"}
        ]
      }]
    }"#;

    #[test]
    fn rep_rfc_8460_appendix_b_shape() {
        let r = parse(RFC.as_bytes()).unwrap();
        let s = summarise(&[r.clone(), r]);
        assert_eq!(s.len(), 1);
        assert_eq!(
            (s[0].successful, s[0].failed, s[0].reports, s[0].days),
            (5326, 303, 1, 1),
            "duplicates count once"
        );
        assert_eq!(s[0].failures[0].result_type, "starttls-not-supported");
        assert_eq!(s[0].failures[0].percent, 3.6);
    }

    #[test]
    fn rep_01_to_05_tolerance() {
        let odd = r#"{"organization-name": "Microsoft", "contact-info": null,
          "date-range": {"start-datetime": "2025-01-01T00:00:00Z", "end-datetime": "2025-01-02T00:00:00Z"},
          "report-id": "1", "policies": [
            {"policy": {"policy-type": "sts", "policy-domain": "Example.COM.", "mx-host": ["a", "b"]},
             "summary": {"total-successful-session-count": 10},
             "failure-details": [{"result-type": "brand-new-type", "receiving-ip": "192.0.2.1", "failed-session-count": 2}]},
            {"policy": {"policy-type": "no-policy-found"}, "summary": {}},
            {"policy": {"policy-type": "weird", "policy-domain": "example.com"}}
          ]}"#;
        let r = parse(odd.as_bytes()).unwrap();
        assert_eq!(r.policies[0].domain.as_deref(), Some("example.com"));
        assert_eq!(r.policies[0].failed, 0, "missing counts are 0");
        assert_eq!(r.policies[0].failures[0].result_type, "other");
        assert_eq!(r.policies[0].failures[0].mx, "192.0.2.1");
        assert_eq!(r.policies[1].domain, None);
        assert_eq!(r.policies[2].policy_type, "other");
        let s = summarise(&[r]);
        assert_eq!(
            s[0].days, 1,
            "an end at midnight does not touch the next day (REP-08)"
        );
        assert!(parse(b"[]").is_err());
        assert!(parse(b"{\"policies\": []}").is_err());
        assert!(parse(b"\xff").is_err());
    }

    #[test]
    fn gzip_is_capped() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&vec![b' '; (MAX_REPORT_BYTES + 10) as usize])
            .unwrap();
        let bomb = enc.finish().unwrap();
        assert!(bomb.len() < 100_000);
        assert_eq!(
            unpack(&bomb, false).unwrap_err(),
            "decompresses to more than 10 MiB"
        );
    }
}
