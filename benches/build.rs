//! `cargo bench`: `mtasts build` and `watch` on synthetic configs, side by side with the floor:
//! `tar -x` of the same output tree, alternating build and floor so that drift on a shared
//! machine hits both. Every figure is the median of `MTASTS_BENCH_RUNS` (default 5) runs.
//!
//! Sizes: `MTASTS_BENCH_SIZES` (default `1000,10000`; add `100000` for the full table, which
//! takes a while), watch sizes `MTASTS_BENCH_WATCH_SIZES` (default `10,10000`). User CPU and
//! peak RSS come from GNU time (`/usr/bin/time`, Debian package `time`) when it is installed.
//! Each run also times `benches/baseline.py`, the plain Python/Jinja2 script writing the
//! same three files per domain (`MTASTS_BENCH_PYTHON`, default `python3`, needs jinja2).

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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

fn median<T: PartialOrd + Copy>(mut v: Vec<T>) -> T {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

/// Wall time, user CPU seconds and peak RSS (KiB) of one command.
struct Measured {
    wall: Duration,
    user: Option<f64>,
    rss_kib: Option<u64>,
    stdout: String,
}

fn measure(cmd: &mut Command) -> Measured {
    let gnu_time = Path::new("/usr/bin/time").exists();
    let report = tempfile::NamedTempFile::new().unwrap();
    let mut full = if gnu_time {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-f").arg("%U %M").arg("-o").arg(report.path());
        c.arg(cmd.get_program()).args(cmd.get_args());
        if let Some(dir) = cmd.get_current_dir() {
            c.current_dir(dir);
        }
        c
    } else {
        std::mem::replace(cmd, Command::new("true"))
    };
    full.env("SOURCE_DATE_EPOCH", "1764288000")
        .stderr(Stdio::null());
    let t = Instant::now();
    let out = full.output().unwrap();
    let wall = t.elapsed();
    assert!(out.status.success(), "{:?} failed", full);
    let (user, rss_kib) = std::fs::read_to_string(report.path())
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace();
            Some((it.next()?.parse().ok(), it.next()?.parse().ok()))
        })
        .unwrap_or((None, None));
    Measured {
        wall,
        user,
        rss_kib,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

fn mtasts<S: AsRef<std::ffi::OsStr>>(dir: &Path, args: &[S]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mtasts"));
    c.args(args).current_dir(dir);
    c
}

fn written(stdout: &str) -> usize {
    let doc: serde_json::Value = serde_json::from_str(stdout).unwrap();
    doc["files"]["written"].as_array().unwrap().len()
}

fn bench_size(n: usize, runs: usize) {
    let dir = tempfile::tempdir().unwrap();
    let config = synthetic(n);
    std::fs::write(dir.path().join("domains.toml"), &config).unwrap();
    // Every measured command writes into a directory of its own and nothing is deleted until
    // the end: on an ext4 without a journal (this machine's), inodes freed in the last minutes
    // make every create scan past them (ext4's recently_deleted()), so a command run right
    // after a mass delete is several times slower than one that is not.
    let json = |out: &str| ["build", "--format", "json", "-o", out].map(String::from);
    // One build to get the tree the floor unpacks.
    measure(&mut mtasts(dir.path(), &json("tree")));
    let _ = std::fs::remove_file(dir.path().join("domains.lock"));
    let archive = dir.path().join("tree.tar");
    assert!(
        Command::new("tar")
            .arg("-cf")
            .arg(&archive)
            .arg("-C")
            .arg(dir.path().join("tree"))
            .arg(".")
            .status()
            .unwrap()
            .success()
    );
    let (mut builds, mut floors, mut ratios, mut users, mut rss) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut py_ratios, mut py_users) = (vec![], vec![]);
    let python = python_with_jinja2();
    let mut out = String::new();
    for run in 0..runs {
        let _ = std::fs::remove_file(dir.path().join("domains.lock"));
        out = format!("output-{run}");
        let b = measure(&mut mtasts(dir.path(), &json(&out)));
        let floor_dir = dir.path().join(format!("floor-{run}"));
        std::fs::create_dir(&floor_dir).unwrap();
        let f = measure(
            Command::new("tar")
                .arg("-xf")
                .arg(&archive)
                .arg("-C")
                .arg(&floor_dir),
        );
        ratios.push(b.wall.as_secs_f64() / f.wall.as_secs_f64());
        if let Some(python) = &python {
            let p = measure(
                Command::new(python)
                    .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/baseline.py"))
                    .arg(dir.path().join("domains.toml"))
                    .arg(dir.path().join(format!("python-{run}")))
                    .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")),
            );
            py_ratios.push(p.wall.as_secs_f64() / f.wall.as_secs_f64());
            py_users.extend(p.user);
        }
        builds.push(b.wall.as_secs_f64());
        floors.push(f.wall.as_secs_f64());
        users.extend(b.user);
        rss.extend(b.rss_kib);
    }
    let full = median(builds.clone());
    // The full builds, floors and baselines just wrote gigabytes: let the kernel flush them
    // before timing rebuilds that write next to nothing.
    let _ = Command::new("sync").status();
    let noops: Vec<_> = (0..runs)
        .map(|_| measure(&mut mtasts(dir.path(), &json(&out))))
        .collect();
    let noop_written: usize = noops.iter().map(|m| written(&m.stdout)).sum();
    let noop = median(noops.iter().map(|m| m.wall.as_secs_f64()).collect());
    let mut one = Vec::new();
    let mut one_written = Vec::new();
    for run in 0..runs {
        let edited = config.replacen(
            "[domains.\"domain1.example\"]\nmode = \"enforce\"\n",
            // The edit: one domain's mx list changes.
            &format!(
                "[domains.\"domain1.example\"]\nmode = \"enforce\"\nmx = [\"mx{run}.example.net\"]\n"
            ),
            1,
        );
        std::fs::write(dir.path().join("domains.toml"), edited).unwrap();
        let m = measure(&mut mtasts(dir.path(), &json(&out)));
        one_written.push(written(&m.stdout));
        one.push(m.wall.as_secs_f64());
    }
    println!(
        "{n:>7} | {:>9.2} s | {:>9.2} s | {:>5.2}x | {:>8} | {:>8} | {:>8.3} s ({:.3}x, {noop_written} written) | {:>7.3} s ({} written)",
        full,
        median(floors.clone()),
        median(ratios.clone()),
        if users.is_empty() {
            "-".into()
        } else {
            format!("{:.2} s", median(users.clone()))
        },
        if rss.is_empty() {
            "-".into()
        } else {
            format!("{} MB", median(rss) / 1024)
        },
        noop,
        noop / full,
        median(one),
        median(one_written),
    );
    let each = |v: &[f64], unit: &str| {
        v.iter()
            .map(|x| format!("{x:.2}{unit}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "        | each pair: build {}; floor {}; build/floor {}; no-op {}",
        each(&builds, " s"),
        each(&floors, " s"),
        each(&ratios, "x"),
        each(
            &noops
                .iter()
                .map(|m| m.wall.as_secs_f64())
                .collect::<Vec<_>>(),
            " s"
        ),
    );
    if !py_ratios.is_empty() {
        let py_user = median(py_users);
        println!(
            "        | Python/Jinja2 baseline: {:.2}x floor, user CPU {py_user:.2} s; mtasts user CPU / baseline {:.2}x",
            median(py_ratios),
            if users.is_empty() {
                f64::NAN
            } else {
                median(users.clone()) / py_user
            },
        );
    }
}

/// `python3` when it can import jinja2 (the baseline is skipped otherwise, with a note).
fn python_with_jinja2() -> Option<String> {
    let python = std::env::var("MTASTS_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python)
        .args(["-c", "import jinja2, tomllib"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "note: {python} cannot import jinja2 and tomllib; the Python baseline is skipped"
        );
    }
    ok.then_some(python)
}

/// Median delay from an edit of one domain's mx to its rewritten policy file, over `runs` edits.
fn watch_latency(n: usize, runs: usize) -> Duration {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("domains.toml");
    let base = synthetic(n);
    std::fs::write(&config, &base).unwrap();
    let mut child = mtasts(dir.path(), &["watch"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while !lines.next().unwrap().unwrap().starts_with("rebuilt in ") {}
    // Keep the pipe drained so that watch never blocks on its output, and pass on the end of
    // each rebuild: the next edit goes to an idle watcher, as a person's would.
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if line.starts_with("rebuilt in ") && done_tx.send(()).is_err() {
                break;
            }
        }
    });
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
        done.recv_timeout(Duration::from_secs(120))
            .expect("watch finished its rebuild");
        std::thread::sleep(Duration::from_millis(100));
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
    println!(
        "domains |    build  | tar -x floor | build/floor | user CPU | peak RSS | no-op rebuild (x full) | one-domain change"
    );
    for n in sizes
        .split(',')
        .filter_map(|s| s.trim().parse::<usize>().ok())
    {
        bench_size(n, runs);
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
