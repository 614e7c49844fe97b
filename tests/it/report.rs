//! `mtasts report` on reports written for these tests: the RFC 8460 shape, Google- and
//! Microsoft-like shapes (SPEC §5.3), gzip, email and Maildir carriers, duplicates, unknown
//! types, malformed and oversized input; summary numbers and readiness verdicts.

use std::io::Write;

use crate::harness::{Project, fixtures};

pub(crate) const CONFIG: &str = r#"[defaults]
mx = ["mx.example.net"]
policy_cname = "mail.example.net"

[domains."testing.example"]

[domains."enforce.example"]
mode = "enforce"
mx = ["mx1.enforce.example", "mx2.enforce.example"]
"#;

/// A Google-like daily report: `mx-host` as an array, `sending-mta-ip` empty, full UTC day.
pub(crate) fn google_day(
    domain: &str,
    day: u32,
    ok: u64,
    failures: &[(&str, &str, u64)],
) -> String {
    let details: Vec<String> = failures
        .iter()
        .map(|(t, mx, n)| {
            format!(
                r#"{{"result-type":"{t}","sending-mta-ip":"","receiving-mx-hostname":"{mx}","receiving-ip":"192.0.2.1","failed-session-count":{n}}}"#
            )
        })
        .collect();
    let failed: u64 = failures.iter().map(|f| f.2).sum();
    format!(
        r#"{{"organization-name":"Google Inc.","date-range":{{"start-datetime":"2025-11-{day:02}T00:00:00Z","end-datetime":"2025-11-{day:02}T23:59:59Z"}},"contact-info":"smtp-tls-reporting@google.com","report-id":"2025-11-{day:02}T00:00:00Z_{domain}","policies":[{{"policy":{{"policy-type":"sts","policy-string":["version: STSv1","mode: testing","mx: mx.example.net","max_age: 604800"],"policy-domain":"{domain}","mx-host":["mx.example.net"]}},"summary":{{"total-successful-session-count":{ok},"total-failure-session-count":{failed}}},"failure-details":[{}]}}]}}"#,
        details.join(",")
    )
}

fn gzip(text: &str) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap()
}

/// A report email as RFC 8460 §5.3 describes it, the report as an application/tlsrpt+gzip part.
pub(crate) fn email(report: &str) -> String {
    use std::fmt::Write as _;
    let b64 = base64(&gzip(report));
    let mut body = String::new();
    let _ = write!(
        body,
        "From: tlsrpt@reporter.example\r\nTo: tls-reports@example.net\r\nSubject: Report Domain: testing.example Submitter: reporter.example Report-ID: <x@reporter.example>\r\n\
         TLS-Report-Domain: testing.example\r\nTLS-Report-Submitter: reporter.example\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"b1\"\r\n\r\n\
         --b1\r\nContent-Type: text/plain; charset=\"us-ascii\"\r\n\r\nThis is an aggregate TLS report.\r\n\
         --b1\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"reporter.example!testing.example!1!2.json.gz\"\r\n\r\n{b64}\r\n--b1--\r\n"
    );
    body
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    // MIME lines of at most 76 characters.
    out.as_bytes()
        .chunks(76)
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// `report --format json`, asserting the exit code the document calls for: 1 when an input was
/// skipped or a domain has an alarm, else 0.
fn json(p: &Project, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["report", "--format", "json"];
    all.extend_from_slice(args);
    let run = p.run(&all);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout())
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout(), run.stderr()));
    let findings = !doc["skipped"].as_array().unwrap().is_empty()
        || doc["domains"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| !d["alarms"].as_array().unwrap().is_empty());
    assert_eq!(run.code(), i32::from(findings), "{doc:#}\n{}", run.stderr());
    doc
}

/// The stdout of a run that exits 1 for a finding (an alarm) after printing its whole result.
fn finding(run: &crate::harness::Run) -> String {
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    assert!(run.stderr().contains("with an alarm"), "{}", run.stderr());
    run.stdout()
}

pub(crate) fn domain<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == name)
        .unwrap_or_else(|| panic!("{name} missing: {doc:#}"))
}

#[test]
fn fifteen_clean_days_make_a_testing_domain_ready_and_gzip_is_read() {
    let p = Project::new(CONFIG);
    for day in 1..=15 {
        std::fs::create_dir_all(p.path().join("reports")).unwrap();
        std::fs::write(
            p.path().join(format!("reports/google-{day}.json.gz")),
            gzip(&google_day("testing.example", day, 100, &[])),
        )
        .unwrap();
    }
    let doc = json(&p, &["reports"]);
    let t = domain(&doc, "testing.example");
    assert_eq!(t["days"], 15);
    assert_eq!(t["successful"], 1500);
    assert_eq!(t["failed"], 0);
    assert_eq!(t["ready_for_enforce"], true);
    assert_eq!(t["policy_matches"], true);
    let text = p.run(&["report", "reports"]).ok();
    assert!(text.contains("testing.example (testing): 2025-11-01 .. 2025-11-15, 15 day(s), 15 report(s) from Google Inc."), "{text}");
    assert!(text.contains("verdict: ready for enforce"), "{text}");
    // Fewer days than asked for is not enough.
    let doc = json(&p, &["--days", "20", "reports"]);
    assert_eq!(domain(&doc, "testing.example")["ready_for_enforce"], false);
    assert_eq!(
        domain(&doc, "testing.example")["reasons"][0],
        "the reports cover 15 of the 20 days needed"
    );
    // --since drops the older ones.
    let doc = json(&p, &["--since", "2025-11-10", "reports"]);
    assert_eq!(domain(&doc, "testing.example")["days"], 6);
}

#[test]
fn sts_failures_block_enforce_and_say_which_mx_which_type_since_when() {
    let p = Project::new(CONFIG);
    std::fs::create_dir_all(p.path().join("r")).unwrap();
    for day in 1..=15 {
        let failures: &[(&str, &str, u64)] = if day >= 9 {
            &[("sts-webpki-invalid", "mx.example.net", 5)]
        } else {
            &[]
        };
        std::fs::write(
            p.path().join(format!("r/{day}.json")),
            google_day("testing.example", day, 95, failures),
        )
        .unwrap();
    }
    let doc = json(&p, &["r"]);
    let t = domain(&doc, "testing.example");
    assert_eq!(t["ready_for_enforce"], false);
    assert_eq!(t["failed"], 35);
    assert_eq!(t["failures"][0]["result_type"], "sts-webpki-invalid");
    assert_eq!(t["failures"][0]["mx"], "mx.example.net");
    assert_eq!(t["failures"][0]["count"], 35);
    assert_eq!(t["failures"][0]["percent"], 2.4);
    // A certificate senders reject at the policy host means they get no policy: an alarm.
    assert_eq!(
        t["reasons"][0],
        "sts-webpki-invalid at mx.example.net: 35 session(s) (2.4%) since 2025-11-09: senders could not get a valid policy"
    );
    assert_eq!(t["alarms"][0], t["reasons"][0]);
}

#[test]
fn rfc_and_microsoft_shapes_unknown_types_duplicates_and_an_enforce_regression() {
    let p = Project::new(CONFIG);
    let dir = fixtures().join("reports");
    for f in [
        "rfc8460-example.json",
        "microsoft-like.json",
        "unknown-types.json",
    ] {
        std::fs::copy(dir.join(f), p.path().join(f)).unwrap();
    }
    // The same report twice (another copy of the file) counts once.
    std::fs::copy(
        dir.join("microsoft-like.json"),
        p.path().join("microsoft-copy.json"),
    )
    .unwrap();
    let doc = json(
        &p,
        &[
            "rfc8460-example.json",
            "microsoft-like.json",
            "microsoft-copy.json",
            "unknown-types.json",
        ],
    );
    let y = domain(&doc, "company-y.example");
    assert_eq!(
        (y["successful"].as_u64(), y["failed"].as_u64()),
        (Some(5326), Some(303))
    );
    assert_eq!(
        y["ready_for_enforce"],
        serde_json::Value::Null,
        "not in the config: no verdict"
    );
    assert_eq!(y["failures"][0]["result_type"], "starttls-not-supported");
    assert_eq!(y["failures"][0]["percent"], 3.6);
    let e = domain(&doc, "enforce.example");
    assert_eq!(e["reports"], 1, "the duplicate counted once");
    assert_eq!(e["successful"], 40);
    assert_eq!(e["ready_for_enforce"], serde_json::Value::Null);
    assert_eq!(
        e["reasons"][0],
        "regression under enforce: certificate-host-mismatch at mx2.enforce.example: 2 session(s) (4.8%) since 2025-11-02"
    );
    let t = domain(&doc, "testing.example");
    assert_eq!(t["failures"][0]["result_type"], "other");
    assert_eq!(t["failures"][0]["mx"], "192.0.2.25");
    assert_eq!(t["successful"], 8);
    let text = p.run(&["report", "microsoft-like.json"]).ok();
    assert!(
        text.contains(
            "warning: regression under enforce: certificate-host-mismatch at mx2.enforce.example"
        ),
        "{text}"
    );
}

#[test]
fn emails_and_maildirs_are_read() {
    let p = Project::new(CONFIG);
    p.write(
        "report.eml",
        &email(&google_day("testing.example", 1, 10, &[])),
    );
    for (sub, day) in [("cur", 2), ("new", 3)] {
        p.write(
            &format!("Maildir/{sub}/17000{day}.M1P2.host:2,S"),
            &email(&google_day("testing.example", day, 10, &[])),
        );
    }
    p.write("Maildir/tmp/ignored", "half-delivered");
    // Unsigned mails: what is read is the point here (DKIM is proven in dkim.rs).
    let doc = json(&p, &["--no-dkim", "report.eml", "Maildir"]);
    let t = domain(&doc, "testing.example");
    assert_eq!(
        (
            t["reports"].as_u64(),
            t["successful"].as_u64(),
            t["days"].as_u64()
        ),
        (Some(3), Some(30), Some(3))
    );
    assert_eq!(doc["skipped"].as_array().unwrap().len(), 0, "{doc:#}");
}

#[test]
fn malformed_oversized_and_bomb_inputs_are_named_and_skipped() {
    let p = Project::new(CONFIG);
    std::fs::copy(
        fixtures().join("reports/malformed.json"),
        p.path().join("malformed.json"),
    )
    .unwrap();
    let big = std::fs::File::create(p.path().join("huge.json")).unwrap();
    big.set_len(21 * 1024 * 1024).unwrap();
    let mut bomb = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    bomb.write_all(&vec![b' '; 11 * 1024 * 1024]).unwrap();
    std::fs::write(p.path().join("bomb.json.gz"), bomb.finish().unwrap()).unwrap();
    p.write(
        "not-a-report.eml",
        "Subject: hello\r\n\r\nno attachment\r\n",
    );
    p.write("good.json", &google_day("testing.example", 1, 10, &[]));
    // JSON nested far deeper than any report, and a report part whose base64 is broken.
    p.write(
        "deep.json",
        &format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000)),
    );
    p.write(
        "broken.eml",
        "Subject: r\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         H4sI!!!not base64 at all!!!\r\n",
    );
    let doc = json(
        &p,
        &[
            "--no-dkim",
            "malformed.json",
            "huge.json",
            "bomb.json.gz",
            "not-a-report.eml",
            "good.json",
            "deep.json",
            "broken.eml",
        ],
    );
    let skipped: Vec<(String, String)> = doc["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_string(),
                s["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(skipped.len(), 6, "{skipped:?}");
    assert!(skipped[4].1.contains("recursion limit"), "{skipped:?}");
    assert!(!skipped[5].1.is_empty(), "{skipped:?}");
    assert!(skipped[0].1.starts_with("not JSON"), "{skipped:?}");
    assert_eq!(skipped[1].1, "larger than 20 MiB");
    assert_eq!(skipped[2].1, "decompresses to more than 10 MiB");
    assert!(
        skipped[3]
            .1
            .contains("no application/tlsrpt+json or +gzip part"),
        "{skipped:?}"
    );
    assert_eq!(doc["reports"], 1);
    let run = p.run(&["report", "malformed.json", "good.json"]);
    assert!(
        run.stderr().contains("skipped malformed.json: not JSON"),
        "{}",
        run.stderr()
    );
}

/// A Google-like report with `no-policy-found` for `domain`: the sender saw no MTA-STS policy.
pub(crate) fn google_no_policy(domain: &str, day: u32, sessions: u64) -> String {
    format!(
        r#"{{"organization-name":"Google Inc.","date-range":{{"start-datetime":"2025-11-{day:02}T00:00:00Z","end-datetime":"2025-11-{day:02}T23:59:59Z"}},"contact-info":"smtp-tls-reporting@google.com","report-id":"nopolicy-{day}-{domain}","policies":[{{"policy":{{"policy-type":"no-policy-found","policy-domain":"{domain}"}},"summary":{{"total-successful-session-count":{sessions},"total-failure-session-count":0}}}}]}}"#
    )
}

#[test]
fn no_policy_found_raises_an_alarm_that_blocks_enforce_whatever_the_successes() {
    let p = Project::new(CONFIG);
    std::fs::create_dir_all(p.path().join("reports")).unwrap();
    for day in 1..=15 {
        std::fs::write(
            p.path().join(format!("reports/ok-{day}.json")),
            google_day("testing.example", day, 100, &[]),
        )
        .unwrap();
    }
    std::fs::write(
        p.path().join("reports/nopolicy.json"),
        google_no_policy("testing.example", 14, 37),
    )
    .unwrap();
    let doc = json(&p, &["reports"]);
    let t = domain(&doc, "testing.example");
    assert_eq!(t["ready_for_enforce"], false, "{t:#}");
    assert_eq!(t["no_policy_sessions"], 37);
    let alarm = t["alarms"][0].as_str().unwrap();
    assert!(
        alarm.starts_with("37 session(s) reported as no-policy-found by Google Inc.: those senders do not see the published testing policy"),
        "{alarm}"
    );
    assert!(t["reasons"].as_array().unwrap().iter().any(|r| r == alarm));
    let text = finding(&p.run(&["report", "reports"]));
    assert!(
        text.contains("  ALARM: 37 session(s) reported as no-policy-found"),
        "{text}"
    );
    assert!(text.contains("verdict: not ready for enforce"), "{text}");
}

#[test]
fn details_beyond_the_summary_count_by_the_summary_and_the_report_is_named_once() {
    let p = Project::new(CONFIG);
    std::fs::create_dir_all(p.path().join("reports")).unwrap();
    // The summary says 100 failed; the details add up to 150.
    let report = google_day(
        "testing.example",
        3,
        0,
        &[
            ("certificate-expired", "mx.example.net", 100),
            ("validation-failure", "mx.example.net", 50),
        ],
    )
    .replace(
        "\"total-failure-session-count\":150",
        "\"total-failure-session-count\":100",
    );
    std::fs::write(p.path().join("reports/over.json"), report).unwrap();
    let doc = json(&p, &["reports"]);
    let t = domain(&doc, "testing.example");
    assert_eq!(t["failed"], 100);
    let counts: Vec<u64> = t["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, [67, 33], "{t:#}");
    let percents: f64 = t["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["percent"].as_f64().unwrap())
        .sum();
    assert!(percents <= 100.0, "{t:#}");
    assert_eq!(
        t["overcounted"],
        serde_json::json!(["Google Inc. 2025-11-03T00:00:00Z_testing.example"])
    );
    let text = p.run(&["report", "reports"]).ok();
    assert_eq!(text.matches("counted by the summary").count(), 1, "{text}");
}

#[test]
fn csv_has_a_row_per_domain_result_and_mx_and_prometheus_passes_promtool() {
    let p = Project::new(CONFIG);
    std::fs::create_dir_all(p.path().join("reports")).unwrap();
    std::fs::write(
        p.path().join("reports/a.json"),
        google_day(
            "testing.example",
            1,
            90,
            &[
                ("certificate-expired", "mx.example.net", 7),
                ("starttls-not-supported", "=evil,mx", 3),
            ],
        ),
    )
    .unwrap();
    std::fs::write(
        p.path().join("reports/b.json"),
        google_no_policy("enforce.example", 1, 5),
    )
    .unwrap();
    let csv = finding(&p.run(&["report", "--format", "csv", "reports"]));
    assert_eq!(
        csv.lines().collect::<Vec<_>>(),
        [
            "domain,result,mx,sessions",
            "enforce.example,successful,,5",
            "enforce.example,no-policy-found,,5",
            "testing.example,successful,,90",
            "testing.example,certificate-expired,mx.example.net,7",
            "testing.example,starttls-not-supported,\"'=evil,mx\",3",
        ]
    );
    let prom = finding(&p.run(&["report", "--format", "prometheus", "reports"]));
    for line in [
        "mtasts_tlsrpt_sessions{domain=\"testing.example\",result=\"successful\"} 90",
        "mtasts_tlsrpt_sessions{domain=\"testing.example\",result=\"certificate-expired\"} 7",
        "mtasts_tlsrpt_no_policy_sessions{domain=\"enforce.example\"} 5",
        "mtasts_tlsrpt_alarm{domain=\"enforce.example\"} 1",
        "mtasts_tlsrpt_alarm{domain=\"testing.example\"} 0",
        "mtasts_tlsrpt_ready_for_enforce{domain=\"testing.example\"} 0",
    ] {
        assert!(prom.lines().any(|l| l == line), "no {line:?} in\n{prom}");
    }
    let Some(promtool) = crate::harness::real_tool("promtool") else {
        return;
    };
    let file = p.path().join("tlsrpt.prom");
    std::fs::write(&file, format!("{prom}\n")).unwrap();
    let lint = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&file).unwrap())
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "{}{}\n{prom}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
}
