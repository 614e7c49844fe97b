//! `mtasts watch` as a child process: edits, renames, bad edits, template edits, SIGTERM.
//! Every wait is bounded and waits for an observable line, never a fixed sleep.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{EPOCH, Project, tree};

const CONFIG: &str = r#"[defaults]
mx = ["mx.example.net"]
policy_cname = "mail.example.net"

[domains."a.example"]
mode = "enforce"

[domains."b.example"]
"#;

const LIMIT: Duration = Duration::from_secs(20);

struct Watching {
    child: Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
}

impl Watching {
    fn start(p: &Project, extra: &[&str]) -> Watching {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mtasts"))
            .arg("watch")
            .args(extra)
            .current_dir(p.path())
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let mut w = Watching {
            child,
            lines,
            stderr,
        };
        w.next_line(|l| l.starts_with("rebuilt in "));
        w
    }

    /// The next stdout line matching `want`, within the limit.
    fn next_line(&mut self, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + LIMIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if want(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!(
                    "no matching line within {LIMIT:?}; stderr:\n{}",
                    self.stderr.lock().unwrap()
                ),
            }
        }
    }

    /// The rebuild lines printed within `time`.
    fn rebuilds_within(&mut self, time: Duration) -> Vec<String> {
        let deadline = Instant::now() + time;
        let mut lines = Vec::new();
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            if line.starts_with("rebuilt in ") {
                lines.push(line);
            }
        }
        lines
    }

    /// Waits (bounded) until stderr, read on its own thread, holds `text`.
    fn stderr_has(&self, text: &str) {
        let deadline = Instant::now() + LIMIT;
        while !self.stderr.lock().unwrap().contains(text) {
            assert!(
                Instant::now() < deadline,
                "stderr never showed {text:?}:\n{}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn terminate(&mut self) -> i32 {
        Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        let deadline = Instant::now() + LIMIT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("watch did not stop on SIGTERM");
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn id_of(p: &Project, domain: &str) -> String {
    let zone = p.read(&format!("output/dns/{domain}.zone"));
    zone.split("id=")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

fn edits_change_only_the_edited_domain(extra: &[&str]) {
    let p = Project::new(CONFIG);
    let mut w = Watching::start(&p, extra);
    let (a, b) = (id_of(&p, "a.example"), id_of(&p, "b.example"));
    p.write("domains.toml", &b_on_mx2());
    let line = w.next_line(|l| l.contains("b.example"));
    assert!(
        line.contains("changed: b.example 20251128000001;"),
        "{line}"
    );
    assert_eq!(id_of(&p, "a.example"), a);
    assert_ne!(id_of(&p, "b.example"), b);
    assert!(
        p.read("output/webroot/mta-sts.b.example/.well-known/mta-sts.txt")
            .contains("mx: mx2.example.net\r\n")
    );
    assert_eq!(w.terminate(), 0);
}

#[test]
fn watch_an_mx_edit_changes_that_domains_policy_and_id_only() {
    edits_change_only_the_edited_domain(&[]);
}

#[test]
fn watch_poll_an_mx_edit_changes_that_domains_policy_and_id_only() {
    edits_change_only_the_edited_domain(&["--poll"]);
}

#[test]
fn watch_sees_an_edit_made_by_rename_over() {
    let p = Project::new(CONFIG);
    let mut w = Watching::start(&p, &[]);
    p.write(
        "domains.toml.new",
        &CONFIG.replace("mode = \"enforce\"", "mode = \"testing\""),
    );
    std::fs::rename(
        p.path().join("domains.toml.new"),
        p.path().join("domains.toml"),
    )
    .unwrap();
    let line = w.next_line(|l| l.contains("a.example"));
    assert!(line.contains("changed: a.example"), "{line}");
    assert!(
        p.read("output/webroot/mta-sts.a.example/.well-known/mta-sts.txt")
            .contains("mode: testing\r\n")
    );
    // Watching continues after the rename.
    p.write("domains.toml", CONFIG);
    w.next_line(|l| l.contains("changed: a.example"));
}

#[test]
fn watch_keeps_the_last_good_output_on_a_bad_edit_and_rebuilds_when_fixed() {
    let p = Project::new(CONFIG);
    let mut w = Watching::start(&p, &[]);
    let good = tree(p.path());
    p.write(
        "domains.toml",
        &CONFIG.replace("mode = \"enforce\"", "mode = \"Enforce\""),
    );
    w.next_line(|l| l.starts_with("rebuild failed"));
    w.stderr_has("domains.toml:6:8: error: unknown mode \"Enforce\"");
    let mut after = tree(p.path());
    after.remove("domains.toml");
    let mut before = good;
    before.remove("domains.toml");
    after.remove(".mtasts.lock");
    before.remove(".mtasts.lock");
    assert_eq!(after, before, "a bad edit changed the output or the lock");
    // The config briefly missing (an editor's save) is a failed rebuild, not the end.
    std::fs::remove_file(p.path().join("domains.toml")).unwrap();
    w.next_line(|l| l.starts_with("rebuild failed"));
    p.write(
        "domains.toml",
        &CONFIG.replace("mode = \"enforce\"", "mode = \"testing\""),
    );
    let line = w.next_line(|l| l.starts_with("rebuilt in "));
    assert!(line.contains("changed: a.example"), "{line}");
}

#[test]
fn watch_a_template_edit_rerenders_the_snippets_without_bumping_ids() {
    let p = Project::new(CONFIG);
    p.write(
        "templates/nginx.conf.j2",
        include_str!("../../templates/nginx.conf.j2"),
    );
    let mut w = Watching::start(&p, &[]);
    let lock = p.read("domains.lock");
    p.write(
        "templates/nginx.conf.j2",
        &include_str!("../../templates/nginx.conf.j2").replace("max-age=60", "max-age=30"),
    );
    let line = w.next_line(|l| l.starts_with("rebuilt in "));
    assert!(
        line.contains("no policy changed; 3 file(s) written"),
        "{line}"
    );
    assert!(
        p.read("output/nginx/mta-sts.a.example.conf")
            .contains("max-age=30")
    );
    assert_eq!(p.read("domains.lock"), lock);
}

#[test]
fn watch_stops_cleanly_on_sigterm_and_holds_the_work_lock_meanwhile() {
    let p = Project::new(CONFIG);
    let mut w = Watching::start(&p, &[]);
    let err = p.run(&["build", "--wait", "0"]).fails();
    assert!(
        err.contains("another mtasts process is working on this configuration"),
        "{err}"
    );
    assert_eq!(w.terminate(), 0);
    w.next_line(|l| l == "watch stopped");
    let temps: Vec<_> = tree(p.path())
        .into_keys()
        .filter(|k| k.rsplit('/').next().unwrap().starts_with(".mtasts-tmp-"))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
    p.run(&["build", "--wait", "0"]).ok();
}

#[test]
fn watch_plans_from_a_lock_replaced_behind_its_back() {
    let p = Project::new(CONFIG);
    let mut w = Watching::start(&p, &[]);
    let a = id_of(&p, "a.example");
    // As `git checkout` of another lock would: a.example's id differs, its policy does not.
    let replaced =
        p.read("domains.lock")
            .replacen(&format!("id = \"{a}\""), "id = \"20990101000000\"", 1);
    p.write("domains.lock.new", &replaced);
    std::fs::rename(
        p.path().join("domains.lock.new"),
        p.path().join("domains.lock"),
    )
    .unwrap();
    p.write("domains.toml", &b_on_mx2());
    w.next_line(|l| l.contains("changed: b.example"));
    assert_eq!(id_of(&p, "a.example"), "20990101000000");
    assert!(p.read("domains.lock").contains("id = \"20990101000000\""));
}

#[test]
fn watch_reads_a_manifest_replaced_behind_its_back() {
    let p = Project::new(CONFIG);
    let mut w = Watching::start(&p, &[]);
    let policy = "output/webroot/mta-sts.a.example/.well-known/mta-sts.txt";
    let good = p.read(policy);
    // Someone edits a generated file and removes the manifest: the next rebuild may not trust
    // the manifest watch remembers, and must compare (and repair) every file.
    p.write(policy, "edited by hand\n");
    std::fs::remove_file(p.path().join("output/manifest.json")).unwrap();
    p.write("domains.toml", &b_on_mx2());
    w.next_line(|l| l.contains("changed: b.example"));
    assert_eq!(p.read(policy), good);
    assert!(p.path().join("output/manifest.json").exists());
}

/// The config with b.example's mx changed.
fn b_on_mx2() -> String {
    CONFIG.replace(
        "[domains.\"b.example\"]",
        "[domains.\"b.example\"]\nmx = [\"mx2.example.net\"]",
    )
}

#[test]
fn a_save_is_built_once() {
    let p = Project::new(CONFIG);
    let mut w = Watching::start(&p, &[]);
    let edited = b_on_mx2();
    // Written in place, as `echo > domains.toml` would, then replaced by rename, as most
    // editors save: each is one rebuild, and none waits for the debounce to notice it.
    p.write("domains.toml", &edited);
    w.next_line(|l| l.contains("changed: b.example"));
    let again = w.rebuilds_within(Duration::from_millis(500));
    assert!(again.is_empty(), "built twice: {again:?}");
    p.write("domains.toml.new", CONFIG);
    std::fs::rename(
        p.path().join("domains.toml.new"),
        p.path().join("domains.toml"),
    )
    .unwrap();
    w.next_line(|l| l.contains("changed: b.example"));
    let again = w.rebuilds_within(Duration::from_millis(500));
    assert!(again.is_empty(), "built twice: {again:?}");
}
