//! `cargo bench --bench report`: `mtasts report` over N report files (default 100,000;
//! `MTASTS_BENCH_REPORT_SIZES`), a third each plain JSON, gzip and `.eml` (a multipart/report
//! with an `application/tlsrpt+json` part), over 1,000 domains with failures mixed in. Reports
//! wall time, reports/s, user CPU and peak RSS (GNU time), the median of `MTASTS_BENCH_RUNS`
//! (default 3). `MTASTS_BENCH_REPORT_KEEP=DIR` writes the corpus there and keeps it (to run
//! another tool, such as parsedmarc, on the same files).

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn report_json(i: usize) -> String {
    let domain = format!("d{}.example", i % 1000);
    let day = 1 + i % 28;
    let failed = if i.is_multiple_of(7) { 3 } else { 0 };
    let details = if failed > 0 {
        r#"{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.1","receiving-mx-hostname":"mx.example.net","failed-session-count":3}"#
    } else {
        ""
    };
    format!(
        r#"{{"organization-name":"Org {o}","date-range":{{"start-datetime":"2025-11-{day:02}T00:00:00Z","end-datetime":"2025-11-{day:02}T23:59:59Z"}},"contact-info":"tlsrpt@org{o}.example","report-id":"r{i}","policies":[{{"policy":{{"policy-type":"sts","policy-string":["version: STSv1","mode: testing","mx: mx.example.net","max_age: 604800"],"policy-domain":"{domain}","mx-host":["mx.example.net"]}},"summary":{{"total-successful-session-count":{ok},"total-failure-session-count":{failed}}},"failure-details":[{details}]}}]}}"#,
        o = i % 13,
        ok = 10 + i % 90,
    )
}

fn corpus(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..n {
        let json = report_json(i);
        match i % 3 {
            0 => std::fs::write(dir.join(format!("r{i}.json")), json).unwrap(),
            1 => {
                let mut gz =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                gz.write_all(json.as_bytes()).unwrap();
                std::fs::write(dir.join(format!("r{i}.json.gz")), gz.finish().unwrap()).unwrap();
            }
            _ => std::fs::write(
                dir.join(format!("r{i}.eml")),
                format!(
                    "From: tlsrpt@org.example\r\nTo: reports@example.net\r\nSubject: Report {i}\r\nMIME-Version: 1.0\r\n\
                     Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"b\"\r\n\r\n\
                     --b\r\nContent-Type: text/plain\r\n\r\nA TLS report.\r\n\
                     --b\r\nContent-Type: application/tlsrpt+json\r\n\r\n{json}\r\n--b--\r\n"
                ),
            )
            .unwrap(),
        }
    }
}

fn main() {
    if !Path::new("/usr/bin/time").exists() {
        eprintln!("report bench: needs GNU time (/usr/bin/time, Debian package time); skipped");
        return;
    }
    let sizes: Vec<usize> = std::env::var("MTASTS_BENCH_REPORT_SIZES")
        .unwrap_or_else(|_| "100000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("MTASTS_BENCH_REPORT_SIZES: numbers")
        })
        .collect();
    let runs: usize = std::env::var("MTASTS_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    println!("| reports | into | wall | reports/s | user CPU | peak RSS |");
    println!("|---:|---|---:|---:|---:|---:|");
    for n in sizes {
        let tmp = tempfile::tempdir().unwrap();
        let keep = std::env::var_os("MTASTS_BENCH_REPORT_KEEP");
        let dir = keep.map_or_else(|| tmp.path().join("reports"), Into::into);
        corpus(&dir, n);
        for store in [false, true] {
            let (wall, user, rss) = measure(n, runs, &dir, tmp.path(), store);
            println!(
                "| {n} | {} | {:.2} s | {:.0} | {:.2} s | {} MiB |",
                if store {
                    "a new SQLite store"
                } else {
                    "a summary"
                },
                wall.as_secs_f64(),
                n as f64 / wall.as_secs_f64(),
                user,
                rss / 1024
            );
        }
    }
}

/// Median wall time, median user CPU and the largest peak RSS of `runs` runs over `dir`; with
/// `store`, each run ingests into a store of its own (the first day of a new store).
fn measure(n: usize, runs: usize, dir: &Path, tmp: &Path, store: bool) -> (Duration, f64, u64) {
    let mut walls = Vec::new();
    let mut users = Vec::new();
    let mut rss = 0u64;
    for run in 0..runs {
        let stats = tempfile::NamedTempFile::new().unwrap();
        let db = tmp.join(format!("store-{n}-{run}.sqlite"));
        let mut cmd = Command::new("/usr/bin/time");
        cmd.args(["-f", "%U %M", "-o"])
            .arg(stats.path())
            .arg(env!("CARGO_BIN_EXE_mtasts"))
            // The corpus mails are unsigned and no DNS serves keys here: DKIM is left out, as
            // parsedmarc (the yardstick) checks none either.
            .args(["report", "--format", "json", "--no-dkim"]);
        if store {
            cmd.arg("--store").arg(&db);
        }
        let started = Instant::now();
        let out = cmd
            .arg(dir)
            .current_dir(tmp)
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        walls.push(started.elapsed());
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["reports"], n, "every report read");
        if store {
            assert_eq!(doc["stored"], n, "every report stored");
            std::fs::remove_file(&db).unwrap();
        }
        let text = std::fs::read_to_string(stats.path()).unwrap();
        let mut parts = text.split_whitespace();
        users.push(parts.next().unwrap().parse::<f64>().unwrap());
        rss = rss.max(parts.next().unwrap().parse().unwrap());
    }
    walls.sort();
    users.sort_by(f64::total_cmp);
    (walls[walls.len() / 2], users[users.len() / 2], rss)
}
