//! TLS-RPT aggregate reports (RFC 8460 §4): a tolerant parser for what reporters really send
//! (SPEC REP-01..09) and decoding of gzip and email carriers; `summary.rs` sums them per domain,
//! [`export`] writes CSV and Prometheus.

// Counts come from reports anyone can send: no arithmetic here may wrap or panic.
#![deny(clippy::arithmetic_side_effects)]

use std::io::Read;

use chrono::{DateTime, Utc};

pub mod dkim;
pub mod export;
pub mod store;
mod summary;
mod types;

use serde_json::Value;
pub use summary::{DomainSummary, FailureSummary, Summaries, alarms, readiness, summarise};
pub use types::{Failure, PolicyResult, PolicyType, Report, ResultType};

/// Largest decompressed report accepted ("a commonly observed receiver limit is ten megabytes",
/// RFC 8460 §5.2).
pub const MAX_REPORT_BYTES: u64 = 10 * 1024 * 1024;
/// Largest file or message read (an email may carry a compressed report and more).
pub const MAX_INPUT_BYTES: u64 = 20 * 1024 * 1024;

/// Report parts (`tlsrpt+gzip` / `+json` attachments) read from one email; each part is
/// inflated and parsed before the next, so memory holds one part, never a mail's worth.
pub const MAX_PARTS: usize = 16;
/// Policies one report may list (a real report lists a few per policy domain).
pub const MAX_POLICIES: usize = 10_000;
/// Failure details one policy may list.
pub const MAX_FAILURE_DETAILS: usize = 10_000;
/// Largest session count believed (2^53, the largest integer every JSON reader keeps exact).
pub const MAX_COUNT: u64 = 1 << 53;

/// Why a file or message yields no TLS report.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The file could not be read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// A file above `MAX_INPUT_BYTES`.
    #[error("larger than {} MiB", MAX_INPUT_BYTES / 1024 / 1024)]
    FileTooLarge,
    /// A device, FIFO or socket: its length says nothing, and reading it may never end.
    #[error("not a regular file ({0}); refused unread")]
    NotAFile(&'static str),
    /// A `.gz` file that does not start like gzip.
    #[error("gzip: not gzip data (the file is named .gz but does not start with 1f 8b)")]
    NotGzip,
    /// An email with more report parts than [`MAX_PARTS`].
    #[error("more than {MAX_PARTS} report parts in one message")]
    TooManyParts,
    /// A report listing more than [`MAX_POLICIES`] policies or [`MAX_FAILURE_DETAILS`] details.
    #[error("malformed: more than {0} {1}")]
    TooMany(usize, &'static str),
    /// A session count that is not a whole number from 0 to 2^53.
    #[error("malformed: {key} is {value}, not a whole number from 0 to 2^53")]
    Count {
        /// The member.
        key: &'static str,
        /// What it held.
        value: String,
    },
    /// A report mail whose DKIM does not let it count (RFC 8460 §3).
    #[error(transparent)]
    Dkim(#[from] dkim::DkimFailure),
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
    let listed = obj
        .get("policies")
        .and_then(Value::as_array)
        .ok_or(ReportError::Missing("policies array"))?;
    if listed.len() > MAX_POLICIES {
        return Err(ReportError::TooMany(MAX_POLICIES, "policies"));
    }
    let policies = listed.iter().map(policy).collect::<Result<_, _>>()?;
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

/// A session count: absent is 0 (REP-04); anything but a whole number from 0 to 2^53 makes the
/// report malformed, so that no report can push a sum past what it can hold.
fn count(v: Option<&Value>, key: &'static str) -> Result<u64, ReportError> {
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(c) => c
            .as_u64()
            .filter(|n| *n <= MAX_COUNT)
            .ok_or_else(|| ReportError::Count {
                key,
                value: c.to_string().chars().take(40).collect(),
            }),
    }
}

/// A policy domain or MX name as the config spells it: A-labels, lower case, no root dot (a
/// name that is no valid host name is only lower-cased).
pub fn normalise(name: &str) -> String {
    let trimmed = name.trim_end_matches('.');
    // What nearly every reporter sends: ASCII, for which IDNA is only lower-casing (and costs
    // a fifth of `report`'s time at 100,000 reports).
    if trimmed.is_ascii() {
        return trimmed.to_ascii_lowercase();
    }
    crate::names::HostName::parse(trimmed)
        .map_or_else(|_| trimmed.to_lowercase(), |h| h.as_str().to_string())
}

fn policy(p: &Value) -> Result<PolicyResult, ReportError> {
    let pol = p.get("policy");
    let get = |key: &str| pol.and_then(|p| p.get(key));
    let policy_type = match get("policy-type").and_then(Value::as_str) {
        Some("sts") => PolicyType::Sts,
        Some("tlsa") => PolicyType::Tlsa,
        Some("no-policy-found") => PolicyType::NoPolicyFound,
        _ => PolicyType::Other,
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
    let details = p
        .get("failure-details")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    if details.len() > MAX_FAILURE_DETAILS {
        return Err(ReportError::TooMany(
            MAX_FAILURE_DETAILS,
            "failure details in a policy",
        ));
    }
    let failures = details
        .iter()
        .map(|f| {
            let rt = f.get("result-type").and_then(Value::as_str).unwrap_or("");
            Ok(Failure {
                result_type: ResultType::parse(rt),
                mx: text(f.get("receiving-mx-hostname"))
                    .filter(|s| !s.is_empty())
                    .or_else(|| text(f.get("receiving-ip")).filter(|s| !s.is_empty()))
                    .map_or_else(|| "(unknown)".into(), |m| normalise(&m)),
                count: count(f.get("failed-session-count"), "failed-session-count")?,
            })
        })
        .collect::<Result<_, ReportError>>()?;
    let summary_count = |key| count(summary.and_then(|s| s.get(key)), key);
    Ok(PolicyResult {
        policy_type,
        domain: get("policy-domain").and_then(Value::as_str).map(normalise),
        policy_string: strings(get("policy-string")),
        successful: summary_count("total-successful-session-count")?,
        failed: summary_count("total-failure-session-count")?,
        failures,
    })
}

/// Every report in the file at `path`; `email` says it is a message unless it starts like JSON,
/// and a message counts only with the aligned DKIM signature `dkim` checks (`None`: trusted
/// unchecked, `--no-dkim`). A path a user named may be anything: only a regular file is opened
/// (a FIFO would block, a device never end).
pub fn read_file(
    path: &std::path::Path,
    email: bool,
    dkim: Option<&dkim::Dkim>,
) -> Result<Vec<Report>, ReportError> {
    let kind = std::fs::metadata(path)?.file_type();
    if !kind.is_file() {
        return Err(ReportError::NotAFile(file_kind(&kind)));
    }
    read_regular(path, email, dkim)
}

/// [`read_file`] for a file a directory walk saw as regular (no second lookup by path): opened
/// without blocking, since it may have been swapped for a FIFO since, its type checked again on
/// the descriptor, and read at its size (two reads, not a growing buffer's six). At most
/// [`MAX_INPUT_BYTES`] are read whatever the length says.
pub fn read_regular(
    path: &std::path::Path,
    email: bool,
    dkim: Option<&dkim::Dkim>,
) -> Result<Vec<Report>, ReportError> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(rustix::fs::OFlags::NONBLOCK.bits().cast_signed());
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(ReportError::NotAFile(file_kind(&meta.file_type())));
    }
    if meta.len() > MAX_INPUT_BYTES {
        return Err(ReportError::FileTooLarge);
    }
    let size = usize::try_from(meta.len()).unwrap_or(0);
    let mut bytes = Vec::with_capacity(size.saturating_add(1));
    file.take(MAX_INPUT_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(ReportError::FileTooLarge);
    }
    let named_gz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"));
    if named_gz && !bytes.starts_with(GZIP_MAGIC) {
        return Err(ReportError::NotGzip);
    }
    let looks_json = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    reports_in(&bytes, email && !looks_json, dkim)
}

/// What a file that is not a regular file is, for the skip reason.
fn file_kind(kind: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() || kind.is_block_device() {
            return "a device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    if kind.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];

/// Every report in `bytes`: gzip (by its magic bytes), an email with
/// `application/tlsrpt+json`/`+gzip` parts (verified by `dkim` first when given), or plain
/// JSON. Each part is inflated and parsed before the next one is touched.
pub fn reports_in(
    bytes: &[u8],
    email: bool,
    dkim: Option<&dkim::Dkim>,
) -> Result<Vec<Report>, ReportError> {
    if let Some(dkim) = dkim.filter(|_| email && !bytes.starts_with(GZIP_MAGIC)) {
        dkim.verify(bytes)?;
    }
    let mut out = Vec::new();
    each_report(bytes, email, &mut |json| {
        out.push(parse(json)?);
        Ok(())
    })?;
    Ok(out)
}

/// The JSON reports inside `bytes` (see [`reports_in`]), inflated.
pub fn unpack(bytes: &[u8], email: bool) -> Result<Vec<Vec<u8>>, ReportError> {
    let mut out = Vec::new();
    each_report(bytes, email, &mut |json| {
        out.push(json.to_vec());
        Ok(())
    })?;
    Ok(out)
}

/// Hands each JSON report inside `bytes` to `each`, one at a time.
fn each_report(
    bytes: &[u8],
    email: bool,
    each: &mut dyn FnMut(&[u8]) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    if bytes.starts_with(GZIP_MAGIC) {
        return each(&gunzip(bytes)?);
    }
    if !email {
        return each(bytes);
    }
    use mail_parser::MimeHeaders;
    let message = mail_parser::MessageParser::default()
        .parse(bytes)
        .ok_or(ReportError::NotEmail)?;
    let mut found: usize = 0;
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
        if gz || json {
            found = found.saturating_add(1);
            if found > MAX_PARTS {
                return Err(ReportError::TooManyParts);
            }
        }
        if gz {
            each(&gunzip(part.contents())?)?;
        } else if json {
            each(part.contents())?;
        }
    }
    if found == 0 {
        return Err(ReportError::NoReportPart);
    }
    Ok(())
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
        assert_eq!(
            s[0].failures[0].result_type,
            ResultType::StarttlsNotSupported
        );
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
        assert_eq!(r.policies[0].failures[0].result_type, ResultType::Other);
        assert_eq!(r.policies[0].failures[0].mx, "192.0.2.1");
        assert_eq!(r.policies[1].domain, None);
        assert_eq!(r.policies[2].policy_type, PolicyType::Other);
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
