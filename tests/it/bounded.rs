//! Hostile reports, clocks, templates and files: each limit of docs/limits.md hit by the input
//! that motivated it, and each ends in a named skip or a clear error, never a hang or a panic.

use std::io::Write;

use crate::harness::Project;
use crate::report::{CONFIG, google_day};

fn gzip(text: &str) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(text.as_bytes()).unwrap();
    enc.finish().unwrap()
}

/// A report email with `parts` application/tlsrpt+gzip attachments of `report`.
fn email_with_parts(report: &str, parts: usize) -> Vec<u8> {
    let mut out = b"From: r@reporter.example\r\nSubject: r\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=tlsrpt; boundary=\"b\"\r\n\r\n".to_vec();
    let body = gzip(report);
    for _ in 0..parts {
        out.extend_from_slice(
            b"--b\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: binary\r\n\r\n",
        );
        out.extend_from_slice(&body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--b--\r\n");
    out
}

#[test]
fn a_mail_with_more_report_parts_than_the_limit_is_skipped_by_name() {
    let p = Project::new(CONFIG);
    let report = google_day("testing.example", 1, 10, &[]);
    std::fs::write(p.path().join("ok.eml"), email_with_parts(&report, 2)).unwrap();
    std::fs::write(p.path().join("many.eml"), email_with_parts(&report, 17)).unwrap();
    let run = p.run(&[
        "report",
        "--format",
        "json",
        "--no-dkim",
        "ok.eml",
        "many.eml",
    ]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(doc["reports"], 2, "{doc:#}");
    assert_eq!(doc["skipped"][0]["path"], "many.eml", "{doc:#}");
    assert_eq!(
        doc["skipped"][0]["reason"],
        "more than 16 report parts in one message"
    );
}

#[test]
fn a_report_with_more_policies_than_the_limit_is_skipped_as_malformed() {
    let p = Project::new(CONFIG);
    let report = google_day("testing.example", 1, 10, &[]);
    let empty = vec!["{}"; 10_001].join(",");
    let many = report.replacen("\"policies\":[", &format!("\"policies\":[{empty},"), 1);
    std::fs::write(p.path().join("many.json.gz"), gzip(&many)).unwrap();
    let run = p.run(&["report", "--format", "json", "many.json.gz"]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(
        doc["skipped"][0]["reason"], "malformed: more than 10000 policies",
        "{doc:#}"
    );
}

#[test]
fn one_report_claiming_thirty_days_counts_for_one_day() {
    let p = Project::new(CONFIG);
    let long = google_day("testing.example", 1, 500, &[])
        .replace("2025-11-01T23:59:59Z", "2025-11-30T23:59:59Z");
    p.write("long.json", &long);
    let run = p.run(&["report", "--format", "json", "long.json"]);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let d = crate::report::domain(&doc, "testing.example");
    assert_eq!(d["days"], 1, "{d:#}");
    assert_eq!(d["ready_for_enforce"], false, "{d:#}");
    assert!(
        d["reasons"][0]
            .as_str()
            .unwrap()
            .contains("cover 1 of the 14 days"),
        "{d:#}"
    );
}

#[test]
fn clocks_outside_1970_to_9999_are_refused_and_ids_stay_fourteen_digits() {
    let p = Project::new(CONFIG);
    for bad in ["253402300800", "-1"] {
        let run = p.run_env(&["build"], &[("SOURCE_DATE_EPOCH", bad)]);
        assert_eq!(run.code(), 1, "{bad}: {}", run.stderr());
        assert!(
            run.stderr().contains("from 1970 to 9999"),
            "{bad}: {}",
            run.stderr()
        );
        assert!(!p.path().join("domains.lock").exists());
    }
    // The last second there is, twice: the second build's id still changes and is 14 digits.
    let last = [("SOURCE_DATE_EPOCH", "253402300799")];
    p.run_env(&["build"], &last).ok();
    let first = p.lock_id("testing.example");
    assert_eq!(first, "99991231235959");
    p.write(
        "domains.toml",
        &CONFIG.replace(
            "[domains.\"testing.example\"]",
            "[domains.\"testing.example\"]\nmax_age = 86400",
        ),
    );
    p.run_env(&["build"], &last).ok();
    let second = p.lock_id("testing.example");
    assert_ne!(second, first);
    assert!(
        second.len() == 14 && second.bytes().all(|b| b.is_ascii_digit()),
        "{second}"
    );
    p.run_env(&["status"], &last).ok();
}

#[test]
fn lock_dates_at_the_end_of_the_calendar_do_not_panic() {
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    let lock = p.read("domains.lock");
    let far = regex_free_replace(&lock, "published = \"", "+262142-12-31T23:59:59Z");
    p.write("domains.lock", &far);
    p.write(
        "domains.toml",
        &CONFIG.replace(
            "[domains.\"testing.example\"]",
            "[domains.\"testing.example\"]\nretire = true",
        ),
    );
    for args in [&["status"][..], &["build"][..], &["status"][..]] {
        let run = p.run(args);
        assert_ne!(run.code(), 101, "{args:?} panicked: {}", run.stderr());
        assert!(!run.stderr().contains("panicked"), "{}", run.stderr());
    }
}

/// `text` with the value after every `key` (up to the closing quote) replaced by `value`.
fn regex_free_replace(text: &str, key: &str, value: &str) -> String {
    text.lines()
        .map(|l| match l.strip_prefix(key) {
            Some(_) => format!("{key}{value}\""),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn a_template_that_loops_forever_runs_out_of_fuel_and_writes_nothing() {
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    let before = crate::harness::tree(&p.path().join("output"));
    p.write(
        "templates/zone.j2",
        "{% for a in range(100000) %}{% for b in range(100000) %}{{ b }}{% endfor %}{% endfor %}\n",
    );
    p.write(
        "domains.toml",
        &CONFIG.replace(
            "[domains.\"testing.example\"]",
            "[domains.\"testing.example\"]\nttl = 600",
        ),
    );
    let run = p.run(&["build"]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(run.stderr().contains("fuel"), "{}", run.stderr());
    assert_eq!(crate::harness::tree(&p.path().join("output")), before);
}

#[cfg(unix)]
#[test]
fn a_work_lock_planted_as_a_symlink_is_not_followed() {
    let p = Project::new(CONFIG);
    let victim = p.path().join("victim");
    std::os::unix::fs::symlink(&victim, p.path().join(".mtasts.lock")).unwrap();
    let run = p.run(&["build"]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(
        run.stderr().contains("the work lock is a symbolic link"),
        "{}",
        run.stderr()
    );
    assert!(
        !victim.exists(),
        "the build created a file through the link"
    );
    assert!(!p.path().join("output").exists());
}
