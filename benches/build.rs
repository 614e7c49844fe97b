//! `cargo bench`: times `mtasts build` and `mtasts watch` on synthetic configs (medians).
//!
//! Sizes come from `MTASTS_BENCH_SIZES` (default `1000,10000`), runs per figure from
//! `MTASTS_BENCH_RUNS` (default 5). Figures: config load + validation, a full build into an
//! empty directory, a no-op rebuild (nothing changed, nothing rewritten), and for `watch`
//! (sizes from `MTASTS_BENCH_WATCH_SIZES`, default `10,10000`) the delay from writing an edit
//! of one domain's mx to that domain's policy file holding the new bytes.

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use mtasts::cli::{BuildArgs, Format};
use mtasts::commands::{Context, Ui, build};
use mtasts::diag::{Problem, SourceFile};

struct Quiet;

impl Ui for Quiet {
    fn out(&mut self, _: &str) {}
    fn problem(&mut self, _: &Problem, _: &SourceFile) {}
    fn warn(&mut self, _: &str) {}
    fn error(&mut self, _: &mtasts::error::Error) {}
}

/// A config of `n` domains with mixed modes, several mx, TLS-RPT and some IDN names.
fn synthetic(n: usize) -> String {
    let mut s = String::from(
        "[defaults]\nmx = [\"mx1.example.net\", \"mx2.example.net\", \"*.mx.example.net\"]\n\
         policy_cname = \"mail.example.net\"\ntlsrpt_rua = [\"mailto:tls@example.net\"]\n\n",
    );
    for i in 0..n {
        let name = if i % 10 == 0 {
            format!("bücher{i}.example")
        } else {
            format!("domain{i}.example")
        };
        let mode = ["testing", "enforce", "none"][i % 3];
        let _ = writeln!(s, "[domains.\"{name}\"]\nmode = \"{mode}\"\n");
    }
    s
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn build_once(ctx: &Context, out: &Path) -> Duration {
    let args = BuildArgs {
        output: Some(out.to_path_buf()),
        locked: false,
        dry_run: false,
        format: Format::Text,
        forget: Vec::new(),
        wait: 0,
    };
    let t = Instant::now();
    build::run(ctx, &args, &mut Quiet).expect("build succeeds");
    t.elapsed()
}

/// Median delay from an edit of one domain's mx to its rewritten policy file, over `runs` edits.
fn watch_latency(n: usize, runs: usize) -> Duration {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("domains.toml");
    let base = synthetic(n);
    std::fs::write(&config, &base).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mtasts"))
        .arg("watch")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while !lines.next().unwrap().unwrap().starts_with("rebuilt in ") {}
    // Keep the pipe drained so that watch never blocks on its output.
    std::thread::spawn(move || lines.for_each(drop));
    let policy = dir
        .path()
        .join("output/webroot/mta-sts.domain1.example/.well-known/mta-sts.txt");
    let mut delays = Vec::new();
    for run in 0..runs {
        let marker = format!("mx{run}.example.net");
        let edited = base.replace(
            "[domains.\"domain1.example\"]\nmode = \"enforce\"\n",
            &format!("[domains.\"domain1.example\"]\nmode = \"enforce\"\nmx = [\"{marker}\"]\n"),
        );
        let t = Instant::now();
        std::fs::write(&config, edited).unwrap();
        while !std::fs::read_to_string(&policy).is_ok_and(|p| p.contains(&marker)) {
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "watch did not rebuild"
            );
            std::thread::sleep(Duration::from_micros(500));
        }
        delays.push(t.elapsed());
    }
    let _ = child.kill();
    let _ = child.wait();
    median(delays)
}

fn main() {
    let sizes = std::env::var("MTASTS_BENCH_SIZES").unwrap_or_else(|_| "1000,10000".into());
    let runs: usize = std::env::var("MTASTS_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    // SAFETY: set before any other thread exists; ids then match run to run.
    unsafe { std::env::set_var("SOURCE_DATE_EPOCH", "1764288000") };
    println!(
        "{:>8}  {:>12}  {:>12}  {:>12}  {:>10}",
        "domains", "load+check", "full build", "no-op", "per domain"
    );
    for n in sizes
        .split(',')
        .filter_map(|s| s.trim().parse::<usize>().ok())
    {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("domains.toml");
        std::fs::write(&config, synthetic(n)).unwrap();
        let ctx = Context {
            config: config.clone(),
            config_name: "domains.toml".into(),
            templates: None,
        };
        let load = median(
            (0..runs)
                .map(|_| {
                    let t = Instant::now();
                    mtasts::config::load(&config, "domains.toml").unwrap();
                    t.elapsed()
                })
                .collect(),
        );
        let mut full = Vec::new();
        let mut noop = Vec::new();
        for run in 0..runs {
            let out = dir.path().join(format!("out{run}"));
            let _ = std::fs::remove_file(dir.path().join("domains.lock"));
            full.push(build_once(&ctx, &out));
            noop.push(build_once(&ctx, &out));
            std::fs::remove_dir_all(&out).unwrap();
        }
        let full = median(full);
        println!(
            "{n:>8}  {:>10.1}ms  {:>10.1}ms  {:>10.1}ms  {:>8.1}µs",
            load.as_secs_f64() * 1e3,
            full.as_secs_f64() * 1e3,
            median(noop).as_secs_f64() * 1e3,
            full.as_secs_f64() * 1e6 / n as f64
        );
    }
    let watch_sizes =
        std::env::var("MTASTS_BENCH_WATCH_SIZES").unwrap_or_else(|_| "10,10000".into());
    for n in watch_sizes
        .split(',')
        .filter_map(|s| s.trim().parse::<usize>().ok())
    {
        let delay = watch_latency(n, runs);
        println!(
            "watch, {n:>6} domains: edit -> rewritten policy file {:>8.1} ms (median of {runs})",
            delay.as_secs_f64() * 1e3
        );
    }
}
