//! `report --imap` against a real Dovecot (Debian's package) on a loopback high port, TLS with a
//! throwaway CA, reports delivered into its Maildir; and against hostile servers that stall or
//! send garbage, which end in a named skip within the timeout.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{Project, Server, free_port, make_certs, real_tool, run_ok};
use crate::report::{CONFIG, domain, email, google_day, google_no_policy};

const USER: &str = "reports@example.net";

/// Dovecot with one user (password `secret`) whose Maildir is `<dir>/mail/<user>/Maildir`.
fn dovecot(binary: &Path, dir: &Path, cert: &Path, key: &Path, port: u16) -> Server {
    let d = dir.display();
    for sub in [
        "run",
        "state",
        &format!("mail/{USER}/Maildir/new"),
        &format!("mail/{USER}/Maildir/cur"),
        &format!("mail/{USER}/Maildir/tmp"),
    ] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    fs::write(
        dir.join("dovecot.conf"),
        format!(
            "base_dir = {d}/run\nstate_dir = {d}/state\nprotocols = imap\nlisten = 127.0.0.1\n\
             log_path = {d}/dovecot.log\nssl = required\nssl_cert = <{}\nssl_key = <{}\n\
             auth_mechanisms = plain\nfirst_valid_uid = 1\nfirst_valid_gid = 1\n\
             passdb {{\n  driver = static\n  args = password=secret\n}}\n\
             userdb {{\n  driver = static\n  args = uid=dovecot gid=dovecot home={d}/mail/%u\n}}\n\
             mail_location = maildir:~/Maildir\n\
             service imap-login {{\n  inet_listener imap {{\n    port = 0\n  }}\n  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {port}\n    ssl = yes\n  }}\n}}\n",
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let mut server = Server {
        child: Command::new(binary)
            .arg("-F")
            .arg("-c")
            .arg(dir.join("dovecot.conf"))
            .spawn()
            .unwrap(),
        name: "dovecot",
    };
    server.wait_for(&format!("127.0.0.1:{port}"), &dir.join("dovecot.log"));
    server
}

/// Delivers a message into the user's Maildir, as an MTA would.
fn deliver(dir: &Path, n: usize, message: &str) {
    let path = dir.join(format!("mail/{USER}/Maildir/new/{n}.test:2,"));
    fs::File::create(&path)
        .unwrap()
        .write_all(message.as_bytes())
        .unwrap();
}

/// A project with the report CONFIG and a Dovecot of its own (TLS by a throwaway CA).
struct Mailserver {
    p: Project,
    /// Dovecot's directory (`mail/<user>/Maildir` under it).
    dir: std::path::PathBuf,
    /// The CA certificate to trust.
    ca: std::path::PathBuf,
    port: u16,
    server: Server,
}

/// Dovecot runs as root here; `None` (skipped loudly, or a failure under
/// `MTASTS_REQUIRE_REAL=1`) when it or root is missing.
fn mailserver() -> Option<Mailserver> {
    let (Some(binary), Some(openssl)) = (real_tool("dovecot"), real_tool("openssl")) else {
        return None;
    };
    if !crate::system::is_root() {
        if std::env::var("MTASTS_REQUIRE_REAL").as_deref() == Ok("1") {
            panic!("the Dovecot test runs its server as root (MTASTS_REQUIRE_REAL=1)");
        }
        eprintln!("\n!!!!!!!! SKIPPED: the Dovecot test needs root !!!!!!!!\n");
        return None;
    }
    let p = Project::for_nginx();
    p.write("domains.toml", CONFIG);
    let dir = p.path().join("imap");
    let ca = make_certs(&openssl, &dir, &["localhost".to_string()]);
    let port = free_port();
    let tls = dir.join("tls/localhost");
    let server = dovecot(
        &binary,
        &dir,
        &tls.join("fullchain.pem"),
        &tls.join("privkey.pem"),
        port,
    );
    Some(Mailserver {
        p,
        dir,
        ca,
        port,
        server,
    })
}

fn report(p: &Project, args: &[&str]) -> serde_json::Value {
    // Unsigned mails: reading a mailbox is the point here (DKIM is proven in dkim.rs).
    let mut all = vec!["report", "--format", "json", "--no-dkim"];
    all.extend_from_slice(args);
    let run = p.run_env(&all, &[("MTASTS_IMAP_PASSWORD", "secret")]);
    serde_json::from_str(&run.stdout())
        .unwrap_or_else(|e| panic!("{e}: {}{}", run.stdout(), run.stderr()))
}

#[test]
fn dovecot_reports_are_read_once_moved_when_done_and_a_no_policy_alarm_is_raised() {
    let Some(Mailserver {
        p,
        dir,
        ca,
        port,
        server: _dovecot,
    }) = mailserver()
    else {
        return;
    };
    // Ten days by mail, one of them also as a file (counted once); a no-policy-found report;
    // a message that is no report.
    for day in 1..=10 {
        deliver(
            &dir,
            day as usize,
            &email(&google_day("testing.example", day, 100, &[])),
        );
    }
    deliver(
        &dir,
        20,
        &email(&google_no_policy("testing.example", 11, 12)),
    );
    deliver(
        &dir,
        21,
        "From: someone@example.org\r\nSubject: hello\r\n\r\nnot a report\r\n",
    );
    // Over the 20 MiB limit: named and skipped without being downloaded.
    let line = format!("{}\r\n", "x".repeat(998));
    deliver(
        &dir,
        22,
        &format!("Subject: huge\r\n\r\n{}", line.repeat(21 * 1024)),
    );
    run_ok(
        Command::new("chown")
            .arg("-R")
            .arg("dovecot:dovecot")
            .arg(dir.join("mail")),
    );
    p.write(
        "files/day1.json",
        &google_day("testing.example", 1, 100, &[]),
    );
    let url = format!("imaps://reports%40example.net@localhost:{port}/INBOX");
    let ca = ca.display().to_string();
    // --imap-done seen flags exactly the messages whose reports were read.
    report(
        &p,
        &["--imap", &url, "--ca-file", &ca, "--imap-done", "seen"],
    );
    let maildir = dir.join(format!("mail/{USER}/Maildir"));
    let flagged = |seen: bool| -> usize {
        ["new", "cur"]
            .iter()
            .flat_map(|d| fs::read_dir(maildir.join(d)).unwrap())
            .filter(|e| {
                let name = e
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .into_owned();
                name.rsplit_once(":2,")
                    .is_some_and(|(_, flags)| flags.contains('S'))
                    == seen
            })
            .count()
    };
    assert_eq!((flagged(true), flagged(false)), (11, 2));
    let first = report(
        &p,
        &[
            "--imap",
            &url,
            "--ca-file",
            &ca,
            "--imap-done",
            "move:Done",
            "files",
        ],
    );
    let t = domain(&first, "testing.example");
    assert_eq!(t["reports"], 11, "{first:#}");
    assert_eq!(t["successful"], 1000 + 12, "{first:#}");
    assert_eq!(t["no_policy_sessions"], 12);
    assert_eq!(t["ready_for_enforce"], false);
    assert!(
        t["alarms"][0]
            .as_str()
            .unwrap()
            .starts_with("12 session(s) reported as no-policy-found by Google Inc."),
        "{t:#}"
    );
    let skipped = first["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{first:#}");
    assert!(
        skipped.iter().any(|s| s["reason"] == "larger than 20 MiB"),
        "{first:#}"
    );
    assert!(
        skipped
            .iter()
            .all(|s| s["path"].as_str().unwrap().contains(";UID=")),
        "{first:#}"
    );

    // The reports read were moved: INBOX holds only the two messages skipped, and a
    // rerun over INBOX and Done together counts every report once.
    let again = report(&p, &["--imap", &url, "--ca-file", &ca]);
    assert_eq!(again["reports"], 0, "{again:#}");
    let done = format!("imaps://reports%40example.net@localhost:{port}/Done");
    let both = report(
        &p,
        &["--imap", &url, "--imap", &done, "--ca-file", &ca, "files"],
    );
    assert_eq!(domain(&both, "testing.example")["reports"], 11, "{both:#}");

    // A wrong password or an untrusted certificate is a named skip, not a crash.
    let run = p.run_env(
        &[
            "report",
            "--format",
            "json",
            "--imap",
            &url,
            "--ca-file",
            &ca,
        ],
        &[("MTASTS_IMAP_PASSWORD", "wrong")],
    );
    assert!(
        run.stdout().contains("login as reports@example.net failed"),
        "{}",
        run.stdout()
    );
    let untrusted = p.run_env(
        &["report", "--format", "json", "--imap", &url],
        &[("MTASTS_IMAP_PASSWORD", "secret")],
    );
    assert!(
        untrusted.stdout().contains("\"skipped\""),
        "{}",
        untrusted.stdout()
    );
    // No password at all: a setup error naming where it goes.
    let none = p.run(&["report", "--imap", &url]);
    assert!(none.fails().contains("MTASTS_IMAP_PASSWORD"));
}

#[test]
fn a_stalling_or_babbling_imap_server_is_a_named_skip_within_the_timeout() {
    let p = Project::new(CONFIG);
    for behaviour in ["stall", "garbage"] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let garbage = behaviour == "garbage";
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                if garbage {
                    let _ = s.write_all(&[0x17; 1 << 16]);
                }
                std::thread::sleep(Duration::from_secs(8));
            }
        });
        let url = format!("imaps://user@127.0.0.1:{port}/INBOX");
        let started = Instant::now();
        let run = p.run_env(
            &[
                "report",
                "--format",
                "json",
                "--timeout",
                "2",
                "--imap",
                &url,
            ],
            &[("MTASTS_IMAP_PASSWORD", "x")],
        );
        assert!(
            started.elapsed() < Duration::from_secs(7),
            "{behaviour}: {:?}",
            started.elapsed()
        );
        // The only input could not be read: no report at all, so the run could not be done.
        assert_eq!(run.code(), 2, "{behaviour}: {}", run.stderr());
        let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
        assert_eq!(
            doc["skipped"][0]["path"],
            format!("imaps://user@127.0.0.1:{port}/INBOX"),
            "{behaviour}: {doc:#}"
        );
    }
}

#[test]
fn a_server_trickling_bytes_under_the_read_timeout_is_cut_by_the_mailbox_deadline() {
    let p = Project::new(CONFIG);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // A TLS record header announcing 16 KiB, then its bytes one at a time, each well within the
    // 2 s read timeout: only a deadline on the whole mailbox ends the run.
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let _ = s.write_all(&[0x16, 0x03, 0x03, 0x40, 0x00]);
            for _ in 0..200 {
                if s.write_all(&[0x16]).is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    });
    let url = format!("imaps://user@127.0.0.1:{port}/INBOX");
    let started = Instant::now();
    let run = p.run_env(
        &[
            "report",
            "--format",
            "json",
            "--timeout",
            "2",
            "--imap-deadline",
            "3",
            "--imap",
            &url,
        ],
        &[("MTASTS_IMAP_PASSWORD", "x")],
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(run.code(), 2, "{}", run.stderr());
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert!(
        doc["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("--imap-deadline"),
        "{doc:#}"
    );
}

#[test]
fn with_a_store_a_daily_run_reads_only_new_mail_and_a_new_uidvalidity_counts_nothing_twice() {
    let Some(Mailserver {
        p,
        dir,
        ca,
        port,
        server: _dovecot,
    }) = mailserver()
    else {
        return;
    };
    let chown = || {
        run_ok(
            Command::new("chown")
                .arg("-R")
                .arg("dovecot:dovecot")
                .arg(dir.join("mail")),
        )
    };
    // Day 1: eight daily reports and a message that is no report.
    for day in 1..=8 {
        deliver(
            &dir,
            day as usize,
            &email(&google_day("testing.example", day, 100, &[])),
        );
    }
    deliver(&dir, 50, "Subject: hello\r\n\r\nnot a report\r\n");
    chown();
    let url = format!("imaps://reports%40example.net@localhost:{port}/INBOX");
    let ca = ca.display().to_string();
    let daily = |p: &Project| report(p, &["--store", "--imap", &url, "--ca-file", &ca]);
    // Reports read from the mailbox this run, and those of them the store did not hold.
    let counts = |d: &serde_json::Value| (d["read"].as_u64(), d["stored"].as_u64());
    let first = daily(&p);
    assert_eq!(counts(&first), (Some(8), Some(8)), "{first:#}");
    assert_eq!(first["skipped"].as_array().unwrap().len(), 1, "{first:#}");
    assert!(p.path().join("reports.sqlite").is_file());

    // Day 2: six more arrive; only they are fetched (the non-report is not named again), and
    // the verdict covers both days: fourteen days, ready for enforce.
    for day in 9..=14 {
        deliver(
            &dir,
            day as usize,
            &email(&google_day("testing.example", day, 100, &[])),
        );
    }
    chown();
    let second = daily(&p);
    assert_eq!(counts(&second), (Some(6), Some(6)), "{second:#}");
    assert!(
        second["skipped"].as_array().unwrap().is_empty(),
        "{second:#}"
    );
    let t = domain(&second, "testing.example");
    assert_eq!(
        (t["reports"].as_u64(), t["days"].as_u64()),
        (Some(14), Some(14)),
        "{t:#}"
    );
    assert_eq!(t["ready_for_enforce"], true, "{t:#}");

    // Nothing new: nothing fetched, the same verdict from the store.
    let idle = daily(&p);
    assert_eq!(counts(&idle), (Some(0), Some(0)), "{idle:#}");
    assert_eq!(domain(&idle, "testing.example")["reports"], 14);

    // The mailbox is rebuilt (its UID list and indexes gone): a new UIDVALIDITY, so every
    // message is read again, and none counts twice.
    std::thread::sleep(Duration::from_millis(1100));
    let maildir = dir.join(format!("mail/{USER}/Maildir"));
    for entry in fs::read_dir(&maildir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("dovecot") {
            if path.is_dir() {
                fs::remove_dir_all(&path).unwrap();
            } else {
                fs::remove_file(&path).unwrap();
            }
        }
    }
    let rebuilt = daily(&p);
    assert_eq!(counts(&rebuilt), (Some(14), Some(0)), "{rebuilt:#}");
    assert_eq!(domain(&rebuilt, "testing.example")["reports"], 14);

    // The history answers without any input at all, and --keep-days forgets what is older.
    let history = report(&p, &["--store"]);
    assert_eq!(domain(&history, "testing.example")["reports"], 14);
    let kept = p.run_env(
        &["report", "--format", "json", "--store", "--keep-days", "3"],
        &[("SOURCE_DATE_EPOCH", "1764547200")], // 2025-12-01: days 1..27 of November are older
    );
    let kept: serde_json::Value = serde_json::from_str(&kept.stdout()).unwrap();
    assert!(kept["domains"].as_array().unwrap().is_empty(), "{kept:#}");
}
