//! Hostile input: values that try to escape into a path, an nginx file or a zone file; damaged
//! files; a hostile filesystem; kill -9 at any moment. Nothing escapes, nothing is lost,
//! nothing panics (exit code 101 never appears).

use std::fs;
use std::process::Command;

use crate::harness::{EPOCH, Project, tree};

const BASE: &str = "[defaults]\nmx = [\"mx.example.net\"]\npolicy_cname = \"mail.example.net\"\n";

/// Strings (TOML basic-string escaped) that are never a valid host name.
const HOSTILE_NAMES: &[&str] = &[
    "../evil.example",
    "..",
    "a/b.example",
    "a\\\\b.example",
    "a\\u0000b.example",
    "a\\nb.example",
    "a\\rb.example",
    "a;b.example",
    "a{b.example",
    "a}b.example",
    "a\\\"b.example",
    "a b.example",
    "a$b.example",
    "a'b.example",
    "a#b.example",
    "a\\tb.example",
    "a\\uFF0Eexample.com",
    "a\\u3002example.com",
    "a\\u202Eb.example",
    "a\\u200Bb.example",
    "\\u0301a.example",
    "xn--a.example",
    "example.com:443",
    "[::1]",
    "192.0.2.1",
    "-a.example",
    "a-.example",
    "a..example",
    "a_b.example",
    "",
    "localhost",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example",
];

const HOSTILE_RUA: &[&str] = &[
    "mailto:a\\\"@example.com",
    "mailto:a@example.com\\n_x.example. IN TXT \\\"x\\\"",
    "mailto:a b@example.com",
    "mailto:a;b@example.com",
    "mailto:a@example.com; v=TLSRPTv1",
    "http://reports.example/",
    "javascript:alert(1)",
    "mailto:a@exa$mple.com",
    "mailto:a@\\u00e9.example",
    "https://r.example/\\\\x",
    "file:///etc/passwd",
];

const HOSTILE_LISTEN: &[&str] = &[
    "443 ssl; include /etc/passwd",
    "443 ssl\\n}",
    "443 ssl {",
    "443",
    "unix:/tmp/x ssl",
    "443 ssl #",
    "443 ssl \\\"x\\\"",
    "localhost:443 ssl",
    "443 ssl proxy_pass=http://x",
];

const HOSTILE_PATHS: &[&str] = &[
    "/x\\\"; root /;",
    "/x\\n",
    "/x;y",
    "/x{y}",
    "/x$ssl_server_name",
    "/x#y",
    "/x\\\\y",
    "/x\\u0000",
    "/x\\u00e9",
    "/x'y",
];

fn cases() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for n in HOSTILE_NAMES {
        out.push((
            format!("domain {n:?}"),
            format!("{BASE}[domains.\"{n}\"]\n"),
        ));
        out.push((
            format!("mx {n:?}"),
            format!("{BASE}[domains.\"example.com\"]\nmx = [\"{n}\"]\n"),
        ));
        out.push((
            format!("policy_cname {n:?}"),
            format!("{BASE}[domains.\"example.com\"]\npolicy_cname = \"{n}\"\n"),
        ));
    }
    for r in HOSTILE_RUA {
        out.push((
            format!("tlsrpt_rua {r:?}"),
            format!("{BASE}[domains.\"example.com\"]\ntlsrpt_rua = [\"{r}\"]\n"),
        ));
    }
    for l in HOSTILE_LISTEN {
        out.push((
            format!("listen {l:?}"),
            format!("{BASE}[nginx]\nlisten = [\"{l}\"]\n[domains.\"example.com\"]\n"),
        ));
    }
    for key in ["certificate", "certificate_key", "webroot"] {
        for v in HOSTILE_PATHS {
            out.push((
                format!("{key} {v:?}"),
                format!("{BASE}[nginx]\n{key} = \"{v}\"\n[domains.\"example.com\"]\n"),
            ));
        }
    }
    for a in ["1.2.3.4; x", "::1\\n", "1.2.3", "localhost", "[::1]:443"] {
        out.push((
            format!("policy_addresses {a:?}"),
            format!("[defaults]\nmx = [\"mx.example.net\"]\n[domains.\"example.com\"]\npolicy_addresses = [\"{a}\"]\n"),
        ));
    }
    for id in [
        "a-b",
        "",
        "a;b",
        "2024-01-01",
        "x\\ny",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ] {
        out.push((
            format!("id {id:?}"),
            format!("{BASE}[domains.\"example.com\"]\nid = \"{id}\"\n"),
        ));
    }
    out
}

#[test]
fn every_hostile_value_is_refused_with_a_located_error_and_writes_nothing() {
    let cases = cases();
    assert!(cases.len() >= 150, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (what, config) in &cases {
        let p = Project::new(config);
        let run = p.run(&["build"]);
        let stderr = run.stderr();
        let files: Vec<_> = tree(p.path()).into_keys().collect();
        let located = stderr
            .lines()
            .any(|l| l.starts_with("domains.toml:") && l.contains(": error: "));
        if run.code() != 1 || !located || files != ["domains.toml"] {
            failures.push(format!(
                "{what}: exit {}, files {files:?}\n{stderr}",
                run.code()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} hostile cases escaped:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// `mtasts certificates` prints commands to run: every hostile value is refused before a
/// command exists (exit 1, a located error, no argv printed), and so are hostile `--email` and
/// `--server` values (usage errors).
#[test]
fn certificates_refuses_every_hostile_value_before_printing_a_command() {
    let mut failures = Vec::new();
    for (what, config) in cases() {
        let config = if config.contains("[nginx]\n") {
            config.replace(
                "[nginx]\n",
                "[nginx]\nacme_webroot = \"/var/lib/mtasts-acme\"\n",
            )
        } else {
            format!("{config}[nginx]\nacme_webroot = \"/var/lib/mtasts-acme\"\n")
        };
        let p = Project::new(&config);
        for client in [["--client", "certbot"], ["--client", "lego"]] {
            let mut args = vec![
                "certificates",
                "--email",
                "ops@example.net",
                "--format",
                "json",
            ];
            args.extend(client);
            let run = p.run(&args);
            let located = run
                .stderr()
                .lines()
                .any(|l| l.starts_with("domains.toml:") && l.contains(": error: "));
            if run.code() != 1 || !located || run.stdout().contains("\"command\"") {
                failures.push(format!(
                    "{what} ({}): exit {}\n{}",
                    client[1],
                    run.code(),
                    run.stderr()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let p = Project::new(&format!(
        "{BASE}[nginx]\nacme_webroot = \"/var/lib/mtasts-acme\"\n[domains.\"example.com\"]\n"
    ));
    for (flag, value) in [
        ("--email", "a@b.example; rm -rf /"),
        ("--email", "$(id)@example.com"),
        ("--email", "ops@example.com\n--server=x"),
        ("--server", "http://insecure.example/directory"),
        ("--server", "https://x.example/dir ;id"),
        ("--server", "--config=/etc/passwd"),
    ] {
        let run = p.run(&["certificates", flag, value]);
        assert_eq!(run.code(), 2, "{flag} {value:?}: {}", run.stderr());
        assert!(!run.stdout().contains("certbot"), "{flag} {value:?}");
    }
}

#[test]
fn malformed_files_get_an_error_or_a_documented_recovery_never_a_panic() {
    // A byte-order mark is ignored (Windows editors write one).
    let p = Project::new("");
    fs::write(
        p.path().join("domains.toml"),
        format!("\u{feff}{BASE}[domains.\"example.com\"]\n"),
    )
    .unwrap();
    p.run(&["build"]).ok();
    // Deep nesting is a syntax error, not a stack overflow.
    let deep = format!("x = {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let p = Project::new(&deep);
    assert!(p.run(&["build"]).fails().contains("invalid TOML"));
    // A 50 MB config (one huge comment) is read and refused for what it lacks.
    let big = format!("{}\n{BASE}", "# x\n".repeat(50 * 1024 * 1024 / 4));
    let p = Project::new(&big);
    assert!(
        p.run(&["validate"])
            .fails()
            .contains("no domains are configured")
    );
    // A lock file full of binary garbage is an error, and stays as it was.
    let p = Project::new(&format!("{BASE}[domains.\"example.com\"]\n"));
    fs::write(p.path().join("domains.lock"), [0xff, 0x00, 0x13, 0x37]).unwrap();
    assert!(
        p.run(&["build"])
            .fails()
            .contains("the lock file is not UTF-8")
    );
    assert_eq!(
        fs::read(p.path().join("domains.lock")).unwrap(),
        [0xff, 0x00, 0x13, 0x37]
    );
    // A lock edited by hand to an invalid id is refused, never silently replaced.
    let p = Project::new(&format!("{BASE}[domains.\"example.com\"]\n"));
    p.run(&["build"]).ok();
    let lock = p
        .read("domains.lock")
        .replace("id = \"20251128000000\"", "id = \"not-an-id\"");
    p.write("domains.lock", &lock);
    assert!(p.run(&["build"]).fails().contains("has an invalid id"));
    assert_eq!(p.read("domains.lock"), lock);
    // Every command on every one of these inputs: exit 0 or 1, never 101.
    for config in [
        deep.as_str(),
        "\u{0}",
        "[domains]\n\"x\" = {}",
        "=",
        "[[domains]]",
    ] {
        let p = Project::new(config);
        for cmd in [
            &["validate"][..],
            &["build"],
            &["status"],
            &["build", "--dry-run"],
        ] {
            let code = p.run(cmd).code();
            assert!(
                code == 1,
                "{cmd:?} on {:?}: exit {code}",
                &config[..config.len().min(20)]
            );
        }
    }
}

#[test]
fn an_output_directory_that_is_a_link_or_a_file_is_refused_and_a_file_in_the_way_too() {
    let p = Project::new(&format!("{BASE}[domains.\"example.com\"]\n"));
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), p.path().join("output")).unwrap();
    assert!(p.run(&["build"]).fails().contains("symbolic link"));
    assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    fs::remove_file(p.path().join("output")).unwrap();
    p.write("output", "a file");
    assert!(
        p.run(&["build"])
            .fails()
            .contains("it is a file, not a directory")
    );
    fs::remove_file(p.path().join("output")).unwrap();
    p.run(&["build"]).ok();
    let before = tree(p.path());
    fs::remove_dir_all(p.path().join("output/nginx")).unwrap();
    p.write("output/nginx", "in the way");
    p.write(
        "domains.toml",
        &format!("{BASE}[domains.\"example.com\"]\nmode = \"enforce\"\n"),
    );
    assert!(
        p.run(&["build"])
            .fails()
            .contains("a file stands where a directory must be")
    );
    let mut after = tree(p.path());
    for k in ["domains.toml", "output/nginx", ".mtasts.lock"] {
        after.remove(k);
    }
    let mut before = before;
    for k in [
        "domains.toml",
        "output/nginx/mta-sts.example.com.conf",
        ".mtasts.lock",
    ] {
        before.remove(k);
    }
    assert_eq!(before, after, "the previous output changed");
}

/// A size-limited or read-only filesystem needs a mount, so root.
fn mount_tmpfs(dir: &std::path::Path, options: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    if !root {
        if std::env::var("MTASTS_REQUIRE_REAL").as_deref() == Ok("1") {
            panic!("the disk-full and read-only tests need root (MTASTS_REQUIRE_REAL=1)");
        }
        eprintln!(
            "\n!!!!!!!! SKIPPED: disk-full and read-only tests need root to mount a tmpfs !!!!!!!!\n"
        );
        return false;
    }
    fs::create_dir_all(dir).unwrap();
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", options, "tmpfs"])
        .arg(dir)
        .status()
        .unwrap()
        .success()
}

struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn many_domains(n: usize, mode: &str) -> String {
    crate::harness::domains_config(n, BASE, &format!("mode = \"{mode}\"\n"))
}

#[test]
fn a_full_disk_or_a_read_only_output_fails_cleanly_and_keeps_the_previous_output() {
    let p = Project::new(&many_domains(5, "testing"));
    let out = p.path().join("out");
    if !mount_tmpfs(&out, "size=256k") {
        return;
    }
    let _unmount = Unmount(out.clone());
    p.run(&["build", "-o", "out"]).ok();
    let before = tree(&out);
    let lock = p.read("domains.lock");
    // Far more than 256 KiB of new files: the disk fills up while staging.
    p.write("domains.toml", &many_domains(400, "enforce"));
    let err = p.run(&["build", "-o", "out"]).fails();
    assert!(err.contains("No space left on device"), "{err}");
    assert_eq!(
        tree(&out),
        before,
        "a failed build changed the previous output"
    );
    assert_eq!(
        p.read("domains.lock"),
        lock,
        "a failed build changed the lock"
    );
    // Read-only: the same, with a different reason.
    p.write("domains.toml", &many_domains(5, "enforce"));
    assert!(
        Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&out)
            .status()
            .unwrap()
            .success()
    );
    let err = p.run(&["build", "-o", "out"]).fails();
    assert!(err.contains("Read-only file system"), "{err}");
    assert_eq!(tree(&out), before);
    assert_eq!(p.read("domains.lock"), lock);
}

/// Policy files present parse, and are the old or the new bytes; lock and manifest are each
/// the old or the new version.
fn consistent(
    p: &Project,
    old: &std::collections::BTreeMap<String, Vec<u8>>,
    new: &std::collections::BTreeMap<String, Vec<u8>>,
) {
    for (path, bytes) in tree(&p.path().join("output")) {
        if path.split('/').any(|part| part.starts_with(".mtasts-tmp-")) {
            continue; // left by the kill; removed by the next build
        }
        let key = format!("output/{path}");
        assert!(
            old.get(&key) == Some(&bytes) || new.get(&key) == Some(&bytes),
            "{key} is neither the old nor the new version"
        );
        if path.ends_with("mta-sts.txt") {
            mtasts::policy::parse(&bytes).unwrap();
        }
    }
    let lock = fs::read(p.path().join("domains.lock")).unwrap();
    assert!(
        old["domains.lock"] == lock || new["domains.lock"] == lock,
        "lock is neither old nor new"
    );
}

#[test]
fn kill_9_at_any_moment_leaves_old_or_new_files_and_the_next_build_repairs() {
    let n = 100;
    let p = Project::new(&many_domains(n, "testing"));
    p.run(&["build"]).ok();
    let old: std::collections::BTreeMap<String, Vec<u8>> = tree(p.path());
    p.write("domains.toml", &many_domains(n, "enforce"));
    // The same state built without interruption, for comparison.
    let reference = Project::new("");
    for (k, v) in tree(p.path()) {
        reference.write(&k, std::str::from_utf8(&v).unwrap());
    }
    reference.run(&["build"]).ok();
    let new = tree(reference.path());
    // 3 files per domain, then the manifest, then the lock: 302 renames in all.
    for after in [1, 2, 3, 100, 150, 200, 299, 300, 301, 302] {
        let snapshot = tree(p.path());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mtasts"));
        cmd.arg("build")
            .current_dir(p.path())
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .env("MTASTS_CRASH_AFTER_WRITES", after.to_string());
        let status = cmd.output().unwrap().status;
        assert!(
            !status.success(),
            "the build was meant to die after {after} renames"
        );
        consistent(&p, &old, &new);
        // Restore the starting point for the next kill.
        fs::remove_dir_all(p.path().join("output")).unwrap();
        for (k, v) in &snapshot {
            p.write(k, std::str::from_utf8(v).unwrap());
        }
    }
    // Timing-based SIGKILL as well, at whatever moment it lands.
    for delay_ms in [0, 2, 5, 10, 20] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mtasts"))
            .arg("build")
            .current_dir(p.path())
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = Command::new("kill")
            .arg("-9")
            .arg(child.id().to_string())
            .status();
        let _ = child.wait();
        consistent(&p, &old, &new);
    }
    // The next build repairs everything: the tree is exactly a clean build's.
    p.run(&["build"]).ok();
    assert_eq!(
        tree(&p.path().join("output")),
        tree(&reference.path().join("output"))
    );
    assert_eq!(p.read("domains.lock"), reference.read("domains.lock"));
}

#[test]
fn a_first_build_killed_between_renames_leaves_each_directory_whole_or_absent() {
    let n = 50;
    let reference = Project::new(&many_domains(n, "testing"));
    reference.run(&["build"]).ok();
    let whole = tree(&reference.path().join("output"));
    let below = |files: &std::collections::BTreeMap<String, Vec<u8>>, top: &str| {
        let prefix = format!("{top}/");
        files
            .iter()
            .filter(|(path, _)| path.starts_with(&prefix))
            .map(|(path, bytes)| (path.clone(), bytes.clone()))
            .collect::<std::collections::BTreeMap<_, _>>()
    };
    // A first build makes each top directory under a temp name and renames it whole, policies
    // first and zone fragments last (RFC 8461 §8.1).
    let order = ["webroot", "nginx", "dns"];
    for after in 1..=order.len() {
        let p = Project::new(&many_domains(n, "testing"));
        let status = Command::new(env!("CARGO_BIN_EXE_mtasts"))
            .arg("build")
            .current_dir(p.path())
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .env("MTASTS_CRASH_AFTER_WRITES", after.to_string())
            .output()
            .unwrap()
            .status;
        assert!(!status.success(), "the build was meant to die");
        let left = tree(&p.path().join("output"));
        for (i, top) in order.iter().enumerate() {
            let expected = if i < after {
                below(&whole, top)
            } else {
                Default::default()
            };
            assert_eq!(
                below(&left, top),
                expected,
                "{top}/ after {after} rename(s)"
            );
        }
        p.run(&["build"]).ok();
        assert_eq!(
            tree(&p.path().join("output")),
            whole,
            "the next build did not repair the tree"
        );
    }
}
