//! TLS-RPT aggregate reports (RFC 8460 §4): a tolerant parser for what reporters really send
//! (SPEC REP-01..09) and decoding of gzip and email carriers; `summary.rs` sums them per domain,
//! [`export`] writes CSV and Prometheus.

use std::io::Read;

use chrono::{DateTime, Utc};

pub mod export;
mod summary;

use serde_json::Value;
pub use summary::{DomainSummary, FailureSummary, Summaries, alarms, readiness, summarise};

/// Largest decompressed report accepted ("a commonly observed receiver limit is ten megabytes",
/// RFC 8460 §5.2).
pub const MAX_REPORT_BYTES: u64 = 10 * 1024 * 1024;
/// Largest file or message read (an email may carry a compressed report and more).
pub const MAX_INPUT_BYTES: u64 = 20 * 1024 * 1024;

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

/// Why a file or message yields no TLS report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The file could not be read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A file above `MAX_INPUT_BYTES`.
    #[error("larger than {} MiB", MAX_INPUT_BYTES / 1024 / 1024)]
    FileTooLarge,
    /// Said to be an email, but not one.
    #[error("not an email message")]
    NotEmail,
    /// An email without a report attached.
    #[error("no application/tlsrpt+json or +gzip part in the message")]
    NoReportPart,
    /// Broken gzip.
    #[error("gzip: {0}")]
    Gzip(std::io::Error),
    /// A decompression bomb, or simply too big.
    #[error("decompresses to more than 10 MiB")]
    TooLarge,
    /// Not JSON at all.
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON, but not an object.
    #[error("the report is not a JSON object")]
    NotObject,
    /// A required member is missing.
    #[error("no {0}")]
    Missing(&'static str),
    /// `date-range` lacks a start or end, or it is not RFC 3339.
    #[error("date-range has no valid {0}")]
    Date(&'static str),
}

/// Parses one JSON report, tolerating the deviations real reporters show.
pub fn parse(bytes: &[u8]) -> Result<Report, ReportError> {
    let v: Value = serde_json::from_slice(bytes)?;
    let obj = v.as_object().ok_or(ReportError::NotObject)?;
    let range = obj
        .get("date-range")
        .ok_or(ReportError::Missing("date-range"))?;
    let time = |key: &'static str| {
        range
            .get(key)
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.with_timezone(&Utc))
            .ok_or(ReportError::Date(key))
    };
    let (start, end) = (time("start-datetime")?, time("end-datetime")?);
    let policies = obj
        .get("policies")
        .and_then(Value::as_array)
        .ok_or(ReportError::Missing("policies array"))?
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

/// Every report in the file at `path`; `email` says it is a message unless it starts like JSON.
pub fn read_file(path: &std::path::Path, email: bool) -> Result<Vec<Report>, ReportError> {
    if std::fs::metadata(path)?.len() > MAX_INPUT_BYTES {
        return Err(ReportError::FileTooLarge);
    }
    let bytes = std::fs::read(path)?;
    let looks_json = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    reports_in(&bytes, email && !looks_json)
}

/// Every report in `bytes` (see [`unpack`]).
pub fn reports_in(bytes: &[u8], email: bool) -> Result<Vec<Report>, ReportError> {
    unpack(bytes, email)?
        .iter()
        .map(|json| parse(json))
        .collect()
}

/// The JSON reports inside `bytes`: gzip (by its magic bytes), an email with
/// `application/tlsrpt+json`/`+gzip` parts, or plain JSON.
pub fn unpack(bytes: &[u8], email: bool) -> Result<Vec<Vec<u8>>, ReportError> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        return gunzip(bytes).map(|b| vec![b]);
    }
    if !email {
        return Ok(vec![bytes.to_vec()]);
    }
    use mail_parser::MimeHeaders;
    let message = mail_parser::MessageParser::default()
        .parse(bytes)
        .ok_or(ReportError::NotEmail)?;
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
        return Err(ReportError::NoReportPart);
    }
    Ok(out)
}

fn gunzip(bytes: &[u8]) -> Result<Vec<u8>, ReportError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_REPORT_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(ReportError::Gzip)?;
    if out.len() as u64 > MAX_REPORT_BYTES {
        return Err(ReportError::TooLarge);
    }
    Ok(out)
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
            unpack(&bomb, false).unwrap_err().to_string(),
            "decompresses to more than 10 MiB"
        );
    }
}
