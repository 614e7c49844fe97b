//! `cargo bench --bench dashboard`: `mtasts dashboard` over N domains (default 100,000;
//! `MTASTS_BENCH_DASHBOARD_SIZES`) with no reports: the first run writes every page, the
//! second finds every page unchanged. Wall time, user and system CPU, and peak RSS (GNU time).

use std::process::Command;
use std::time::Instant;

fn run(dir: &std::path::Path) -> (f64, String) {
    let stats = tempfile::NamedTempFile::new().unwrap();
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%U s user, %S s system, %M KB", "-o"])
        .arg(stats.path())
        .arg(env!("CARGO_BIN_EXE_mtasts"))
        .arg("dashboard")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wall = started.elapsed().as_secs_f64();
    (
        wall,
        std::fs::read_to_string(stats.path())
            .unwrap()
            .trim()
            .to_string(),
    )
}

fn main() {
    if !std::path::Path::new("/usr/bin/time").exists() {
        eprintln!("dashboard bench: needs GNU time (/usr/bin/time); skipped");
        return;
    }
    let sizes: Vec<usize> = std::env::var("MTASTS_BENCH_DASHBOARD_SIZES")
        .unwrap_or_else(|_| "100000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("MTASTS_BENCH_DASHBOARD_SIZES: numbers")
        })
        .collect();
    println!("| domains | run | wall | CPU and peak RSS |");
    println!("|---:|---|---:|---|");
    for n in sizes {
        let dir = tempfile::tempdir().unwrap();
        let mut config = String::from(
            "[defaults]\nmx = [\"mx.example.net\"]\npolicy_cname = \"mail.example.net\"\n",
        );
        for i in 0..n {
            config.push_str(&format!("[domains.\"d{i:06}.example\"]\n"));
        }
        std::fs::write(dir.path().join("domains.toml"), config).unwrap();
        for what in ["first (every page written)", "again (every page unchanged)"] {
            let (wall, stats) = run(dir.path());
            println!("| {n} | {what} | {wall:.2} s | {stats} |");
        }
    }
}
