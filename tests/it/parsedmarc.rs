//! parsedmarc (the tool most operators use for DMARC and TLS reports) as the yardstick: on the
//! same corpus of JSON, gzip and email reports, with failures, several policies per report and
//! a no-policy-found entry, both tools give the same per-domain successful and failed totals.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::Command;

use crate::harness::Project;
use crate::report::{CONFIG, email, google_day, google_no_policy};

/// parsedmarc from `MTASTS_PARSEDMARC`, else `.venv-parsedmarc` (made by .ci/run).
fn parsedmarc() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("MTASTS_PARSEDMARC").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-parsedmarc/bin/parsedmarc"),
        Into::into,
    );
    if path.is_file() {
        return Some(path);
    }
    if std::env::var("MTASTS_REQUIRE_REAL").as_deref() == Ok("1") {
        panic!("parsedmarc is required (MTASTS_REQUIRE_REAL=1); run .ci/run");
    }
    eprintln!(
        "\n!!!!!!!! SKIPPED: parsedmarc is not installed; the agreement test did not run !!!!!!!!\n"
    );
    None
}

#[test]
fn per_domain_totals_agree_with_parsedmarc() {
    let Some(tool) = parsedmarc() else {
        return;
    };
    let p = Project::new(CONFIG);
    let dir = p.path().join("corpus");
    std::fs::create_dir_all(&dir).unwrap();
    for day in 1..=20u32 {
        let failures: &[(&str, &str, u64)] = if day % 3 == 0 {
            &[
                ("certificate-expired", "mx.example.net", 4),
                ("starttls-not-supported", "mx2.example.net", 1),
            ]
        } else {
            &[]
        };
        let text = google_day("testing.example", day, 50 + u64::from(day), failures);
        match day % 3 {
            0 => std::fs::write(dir.join(format!("{day}.json")), &text).unwrap(),
            1 => {
                let mut gz =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                gz.write_all(text.as_bytes()).unwrap();
                std::fs::write(dir.join(format!("{day}.json.gz")), gz.finish().unwrap()).unwrap();
            }
            _ => std::fs::write(dir.join(format!("{day}.eml")), email(&text)).unwrap(),
        }
        let other = google_day(
            "enforce.example",
            day,
            7,
            &[("validation-failure", "mx1.enforce.example", 2)],
        )
        .replace("_enforce.example", "_e");
        std::fs::write(dir.join(format!("e{day}.json")), other).unwrap();
    }
    std::fs::write(
        dir.join("np.json"),
        google_no_policy("testing.example", 21, 9),
    )
    .unwrap();

    // The no-policy report raises an alarm: a finding, exit 1, with the whole summary printed.
    // parsedmarc checks no DKIM: both count the same unsigned mails.
    let run = p.run(&["report", "--format", "json", "--no-dkim", "corpus"]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(run.stderr().contains("with an alarm"), "{}", run.stderr());
    let ours: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let mut mine = BTreeMap::new();
    for d in ours["domains"].as_array().unwrap() {
        mine.insert(
            d["domain"].as_str().unwrap().to_string(),
            (
                d["successful"].as_u64().unwrap(),
                d["failed"].as_u64().unwrap(),
            ),
        );
    }

    let out = p.path().join("parsedmarc-out");
    let run = Command::new(&tool)
        .args(["--offline", "-o"])
        .arg(&out)
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let theirs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("smtp_tls.json")).unwrap()).unwrap();
    let mut yardstick: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for report in theirs.as_array().unwrap() {
        for policy in report["policies"].as_array().unwrap() {
            let e = yardstick
                .entry(policy["policy_domain"].as_str().unwrap().to_string())
                .or_default();
            e.0 += policy["successful_session_count"].as_u64().unwrap();
            e.1 += policy["failed_session_count"].as_u64().unwrap();
        }
    }
    assert_eq!(
        theirs.as_array().unwrap().len(),
        41,
        "parsedmarc read every report"
    );
    assert_eq!(mine, yardstick);
    assert_eq!(
        mine["testing.example"].0,
        (1..=20).map(|d| 50 + d).sum::<u64>() + 9
    );
}
