//! `check` and `report` as cron jobs and textfile collectors see them: exit codes, `--output`
//! files, write errors on stdout, a silent resolver, report numbers that cannot wrap, and names
//! from reports matched and printed safely.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::harness::Project;
use crate::report::{CONFIG, google_day, google_no_policy};

fn mtasts() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mtasts"));
    cmd.env("SOURCE_DATE_EPOCH", crate::harness::EPOCH)
        .env("NO_COLOR", "1");
    cmd
}

#[test]
fn report_exit_codes_say_unreadable_inputs_alarms_and_nothing_read() {
    let p = Project::new(CONFIG);
    p.write("good.json", &google_day("testing.example", 1, 10, &[]));
    p.write("alarm.json", &google_no_policy("enforce.example", 2, 5));
    // Nothing readable at all: the run could not be done.
    let run = p.run(&["report", "missing/"]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(
        run.stderr().contains("missing/") && run.stderr().contains("no report could be read"),
        "{}",
        run.stderr()
    );
    // A mix: what was read is summarised, and the unreadable path is a finding.
    let run = p.run(&["report", "good.json", "missing/"]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(run.stdout().contains("1 report(s) read, 1 skipped"));
    // An alarm is a finding too; a clean report is not.
    let run = p.run(&["report", "good.json", "alarm.json"]);
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    assert!(run.stdout().contains("ALARM"), "{}", run.stdout());
    assert!(run.stderr().contains("1 domain(s) with an alarm"));
    assert_eq!(p.run(&["report", "good.json"]).code(), 0);
    // An IMAP server that is not there is an unreadable mailbox, not a clean run.
    let port = crate::harness::free_port();
    let run = p.run_env(
        &[
            "report",
            "good.json",
            "--imap",
            &format!("imaps://reports@127.0.0.1:{port}/INBOX"),
            "--timeout",
            "2",
        ],
        &[
            ("SOURCE_DATE_EPOCH", crate::harness::EPOCH),
            ("MTASTS_IMAP_PASSWORD", "x"),
        ],
    );
    assert_eq!(run.code(), 1, "{}{}", run.stdout(), run.stderr());
    assert!(
        run.stderr().contains("skipped imaps://"),
        "{}",
        run.stderr()
    );
}

#[test]
fn absurd_counts_skip_the_report_by_name_and_sums_do_not_wrap() {
    let p = Project::new(CONFIG);
    let with_count = |count: &str| {
        google_day("testing.example", 3, 1, &[]).replace(
            "\"total-successful-session-count\":1",
            &format!("\"total-successful-session-count\":{count}"),
        )
    };
    p.write("max.json", &with_count("18446744073709551615"));
    p.write("negative.json", &with_count("-5"));
    p.write("fraction.json", &with_count("1.5"));
    p.write("beyond.json", &with_count("9007199254740993"));
    // Two honest reports at the cap: their sum (2^54) is exact, not wrapped.
    let cap = (1u64 << 53).to_string();
    p.write(
        "cap1.json",
        &google_day("testing.example", 4, 0, &[]).replace(
            "\"total-successful-session-count\":0",
            &format!("\"total-successful-session-count\":{cap}"),
        ),
    );
    p.write(
        "cap2.json",
        &google_day("testing.example", 5, 0, &[]).replace(
            "\"total-successful-session-count\":0",
            &format!("\"total-successful-session-count\":{cap}"),
        ),
    );
    let run = p.run(&["report", "--format", "json", "."]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let skipped: Vec<String> = doc["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("{} {}", s["path"], s["reason"]))
        .collect();
    for name in ["max.json", "negative.json", "fraction.json", "beyond.json"] {
        assert!(
            skipped.iter().any(
                |s| s.contains(name) && s.contains("malformed: total-successful-session-count")
            ),
            "{name} not skipped as malformed: {skipped:#?}"
        );
    }
    let d = crate::report::domain(&doc, "testing.example");
    assert_eq!(d["successful"].as_u64(), Some(1u64 << 54), "{d:#}");
}

#[test]
fn unicode_policy_domains_match_the_config_and_aliases_block_their_primary() {
    let config = format!(
        "{CONFIG}\n[domains.\"müllerei.example\"]\n\n[domains.\"primary.example\"]\naliases = [\"alias.example\"]\n"
    );
    let p = Project::new(&config);
    p.write("unicode.json", &google_no_policy("MÜLLEREI.example.", 1, 3));
    for day in 1..=15 {
        p.write(
            &format!("primary-{day}.json"),
            &google_day("primary.example", day, 100, &[]),
        );
    }
    p.write("alias.json", &google_no_policy("alias.example", 2, 4));
    let run = p.run(&["report", "--format", "json", "."]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let m = crate::report::domain(&doc, "xn--mllerei-n2a.example");
    assert_eq!(m["mode"], "testing", "{m:#}");
    assert_eq!(m["alarms"].as_array().unwrap().len(), 1, "{m:#}");
    let primary = crate::report::domain(&doc, "primary.example");
    assert_eq!(primary["ready_for_enforce"], false, "{primary:#}");
    assert!(
        primary["reasons"].as_array().unwrap().iter().any(|r| r
            .as_str()
            .unwrap()
            .starts_with("alias alias.example: 4 session(s) reported as no-policy-found")),
        "{primary:#}"
    );
}

#[test]
fn small_ones_gzip_errors_since_errors_and_names_escaped_on_the_terminal() {
    let p = Project::new(CONFIG);
    p.write("fake.json.gz", &google_day("testing.example", 1, 1, &[]));
    let run = p.run(&["report", "--format", "json", "fake.json.gz"]);
    assert_eq!(run.code(), 2);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(doc["reports"], 0, "{doc:#}");
    let run = p.run(&["report", "fake.json.gz"]);
    assert!(
        run.stderr().contains("gzip: not gzip data"),
        "{}",
        run.stderr()
    );
    let run = p.run(&["report", "--since", "yesterday", "x"]);
    assert_eq!(run.code(), 2);
    assert!(run.stderr().contains("YYYY-MM-DD"), "{}", run.stderr());
    // An organisation name that would clear the screen and forge a verdict line.
    p.write(
        "forged.json",
        &google_day("testing.example", 1, 1, &[]).replace(
            "Google Inc.",
            "Evil\\u001b[2J\\r\\n  verdict: ready for enforce",
        ),
    );
    let run = p.run(&["report", "forged.json"]);
    assert!(!run.stdout().contains('\u{1b}'), "{}", run.stdout());
    assert!(
        !run.stdout()
            .lines()
            .any(|l| l == "  verdict: ready for enforce"),
        "{}",
        run.stdout()
    );
    assert!(
        run.stdout().contains("Evil\\u{1b}[2J\\u{d}\\u{a}"),
        "{}",
        run.stdout()
    );
}

#[test]
fn special_files_are_refused_unread() {
    let p = Project::new(CONFIG);
    let run = p.run(&["report", "--format", "json", "/dev/zero"]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(
        run.stdout().contains("not a regular file (a device)"),
        "{}",
        run.stdout()
    );
    let fifo = p.path().join("pipe.json");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if made.is_ok_and(|s| s.success()) {
        // Opening a FIFO without a writer would block forever; it must be refused by type.
        let run = p.run(&["report", "--format", "json", "pipe.json"]);
        assert!(run.stdout().contains("a FIFO"), "{}", run.stdout());
    }
}

#[test]
fn a_lost_write_exits_2_and_a_closed_pipe_exits_0() {
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    let full = std::fs::File::options().write(true).open("/dev/full");
    if let Ok(full) = full {
        let out = mtasts()
            .args(["records", "--format", "json"])
            .current_dir(p.path())
            .stdout(full)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("could not write the result"));
    }
    // `| head`: the reader goes away after the first line of a long result.
    let mut child = mtasts()
        .args(["man"])
        .current_dir(p.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn output_files_are_replaced_whole_whatever_the_exit_code() {
    let p = Project::new(CONFIG);
    p.write("alarm.json", &google_no_policy("enforce.example", 2, 5));
    std::fs::create_dir(p.path().join("textfile")).unwrap();
    p.write("textfile/tlsrpt.prom", "stale\n");
    let run = p.run(&[
        "report",
        "alarm.json",
        "--format",
        "prometheus",
        "--output",
        "textfile/tlsrpt.prom",
    ]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(run.stdout().is_empty());
    let text = p.read("textfile/tlsrpt.prom");
    assert!(
        text.contains("mtasts_tlsrpt_alarm{domain=\"enforce.example\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE mtasts_tlsrpt_sessions gauge"),
        "{text}"
    );
    // No temp file is left beside it, and another user (node_exporter) can read it.
    let names: Vec<_> = std::fs::read_dir(p.path().join("textfile"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p.path().join("textfile/tlsrpt.prom"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
    }
    if let Some(promtool) = crate::harness::real_tool("promtool") {
        lint(&promtool, &text);
    }
    // A directory that does not exist: the run cannot write its result.
    let run = p.run(&["records", "--output", "nowhere/records.txt"]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
}

fn lint(promtool: &std::path::Path, text: &str) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A UDP "resolver" on loopback that answers every query with `rcode` (or never, with `None`).
fn fake_resolver(rcode: Option<u8>) -> std::net::SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            let Some(rcode) = rcode else { continue };
            if n < 12 {
                continue;
            }
            let mut answer = buf[..n].to_vec();
            answer[2] |= 0x80; // QR: a response
            answer[3] = (answer[3] & 0xf0) | rcode;
            let _ = socket.send_to(&answer, from);
        }
    });
    addr
}

#[test]
fn a_silent_or_refusing_resolver_is_one_error_and_exit_2() {
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    for (what, rcode) in [("silent", None), ("refusing", Some(5u8))] {
        let server = fake_resolver(rcode).to_string();
        let run = p.run(&[
            "check",
            "--nameserver",
            &server,
            "--timeout",
            "1",
            "--no-smtp",
            "--format",
            "json",
        ]);
        assert_eq!(run.code(), 2, "{what}: {}{}", run.stdout(), run.stderr());
        let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
        assert_eq!(doc["error"]["kind"], "resolver", "{what}: {doc:#}");
        let errors: Vec<&str> = run
            .stderr()
            .lines()
            .filter(|l| l.starts_with("error: "))
            .map(|_| "")
            .collect();
        assert_eq!(errors.len(), 1, "{what}: {}", run.stderr());
        assert!(
            run.stderr()
                .contains(&format!("error: resolver {server} did not answer")),
            "{what}: {}",
            run.stderr()
        );
        // The textfile collector sees the run fail instead of keeping the last good file.
        p.write("check.prom", "mtasts_check_run_success 1\n");
        let run = p.run(&[
            "check",
            "--nameserver",
            &server,
            "--timeout",
            "1",
            "--no-smtp",
            "--format",
            "prometheus",
            "--output",
            "check.prom",
        ]);
        assert_eq!(run.code(), 2);
        let text = p.read("check.prom");
        assert!(text.contains("mtasts_check_run_success 0"), "{text}");
        if let Some(promtool) = crate::harness::real_tool("promtool") {
            lint(&promtool, &text);
        }
    }
}

#[test]
fn every_help_has_examples_and_exit_codes_and_man_writes_every_page_it_names() {
    let p = Project::new(CONFIG);
    let top = p.run(&["--help"]).ok();
    let mut commands: Vec<String> = top
        .split("Commands:")
        .nth(1)
        .unwrap()
        .split("Options:")
        .next()
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect();
    assert!(commands.len() >= 12, "{commands:?}");
    let mut helps = vec![top.clone()];
    for c in &commands {
        helps.push(p.run(&[c.as_str(), "--help"]).ok());
    }
    helps.push(p.run(&["templates", "eject", "--help"]).ok());
    for h in &helps {
        assert!(h.contains("Example"), "no example in\n{h}");
        assert!(h.contains("Exit codes"), "no exit codes in\n{h}");
    }
    // The documented exit-code table names every command.
    let docs = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/commands.md"),
    )
    .unwrap();
    let table = docs.split("### Exit codes").nth(1).unwrap();
    for c in &commands {
        assert!(
            table.contains(&format!("`{c}")),
            "{c} missing from the exit-code table"
        );
    }
    let run = p.run(&["man", "--dir", "man1"]);
    run.ok();
    let main = p.read("man1/mtasts.1").replace("\\-", "-");
    commands.push(String::new());
    for c in commands.iter().filter(|c| !c.is_empty()) {
        let page = format!("mtasts-{c}");
        assert!(main.contains(&page), "mtasts.1 does not name {page}");
        let text = p.read(&format!("man1/{page}.1"));
        assert!(text.contains(".TH"), "{page}: {text}");
    }
    if let Some(man) = crate::harness::real_tool("man") {
        let out = Command::new(man)
            .args(["-l", "man1/mtasts-check.1"])
            .current_dir(p.path())
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("--output"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
