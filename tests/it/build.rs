//! `mtasts build` behaviour: determinism, no needless rewrites, ids, pruning, --locked,
//! --dry-run, JSON, and nothing lost on bad input.

use std::fs;
use std::time::{Duration, Instant};

use crate::harness::{Project, mtimes, tree};

const CONFIG: &str = r#"
[defaults]
mx = ["mx.example.net"]
policy_cname = "mail.example.net"
tlsrpt_rua = ["mailto:tls@example.net"]

[domains."a.example"]
mode = "enforce"

[domains."b.example"]
"#;

#[test]
fn gen_01_two_builds_are_byte_identical() {
    let one = Project::new(CONFIG);
    let two = Project::new(CONFIG);
    one.run(&["build"]).ok();
    two.run(&["build", "-o", "elsewhere"]).ok();
    assert_eq!(one.files("output"), two.files("elsewhere"));
    assert_eq!(one.read("domains.lock"), two.read("domains.lock"));
}

#[test]
fn rebuild_with_nothing_changed_rewrites_no_file() {
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    let before = mtimes(p.path());
    std::thread::sleep(std::time::Duration::from_millis(20));
    let out = p
        .run_env(&["build"], &[("SOURCE_DATE_EPOCH", "1900000000")])
        .ok();
    assert!(
        out.contains("wrote 0 file(s), 9 unchanged, 0 removed"),
        "{out}"
    );
    let after = mtimes(p.path());
    assert_eq!(before, after, "a file was rewritten");
}

#[test]
fn gen_05_only_the_changed_policy_gets_a_new_id_and_files() {
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    let before = p.files("output");
    let edited = CONFIG.replace(
        "[domains.\"b.example\"]",
        "[domains.\"b.example\"]\nmax_age = 1209600",
    );
    p.write("domains.toml", &edited);
    let out = p
        .run_env(&["build"], &[("SOURCE_DATE_EPOCH", "1764374400")])
        .ok();
    assert!(
        out.contains("b.example  testing  id 20251129000000  (changed)"),
        "{out}"
    );
    assert!(!out.contains("a.example"), "{out}");
    let after = p.files("output");
    let changed = crate::harness::changed_files(&before, &after);
    assert_eq!(
        changed,
        [
            "dns/b.example.zone",
            "manifest.json",
            "nginx/mta-sts.b.example.conf",
            "webroot/mta-sts.b.example/.well-known/mta-sts.txt"
        ]
    );
    assert!(
        p.read("output/dns/b.example.zone")
            .contains("\"v=STSv1; id=20251129000000\"")
    );
}

#[test]
fn certificate_inventories_follow_the_hosts_and_the_nginx_settings_only() {
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    let inventory = |p: &Project| p.read("output/certificates.txt");
    let first = inventory(&p);
    // A policy change keeps the host set: the inventories are carried, not rewritten.
    p.write(
        "domains.toml",
        &CONFIG.replace("mode = \"enforce\"", "mode = \"testing\""),
    );
    let summary: serde_json::Value =
        serde_json::from_str(&p.run(&["build", "--format", "json"]).ok()).unwrap();
    let written = written(&summary);
    assert!(
        !written.iter().any(|f| f.starts_with("certificates")),
        "{written:?}"
    );
    assert_eq!(inventory(&p), first);
    // A new host is in them.
    let added = format!("{CONFIG}\n[domains.\"c.example\"]\n");
    p.write("domains.toml", &added);
    p.run(&["build"]).ok();
    assert!(
        inventory(&p).contains("mta-sts.c.example"),
        "{}",
        inventory(&p)
    );
    assert!(
        p.read("output/certificates.json")
            .contains("mta-sts.c.example")
    );
    // So is a new certificate path.
    p.write(
        "domains.toml",
        &format!("{added}\n[nginx]\ncertificate = \"/etc/ssl/{{host}}.crt\"\n"),
    );
    p.run(&["build"]).ok();
    assert!(
        inventory(&p).contains("/etc/ssl/mta-sts.c.example.crt"),
        "{}",
        inventory(&p)
    );
}

#[test]
fn gen_06_changing_tlsrpt_changes_only_that_record() {
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    let lock = p.read("domains.lock");
    let before = p.files("output");
    p.write(
        "domains.toml",
        &CONFIG.replace("mailto:tls@example.net", "mailto:reports@example.net"),
    );
    p.run_env(&["build"], &[("SOURCE_DATE_EPOCH", "1764374400")])
        .ok();
    assert_eq!(p.read("domains.lock"), lock, "the id changed");
    let after = p.files("output");
    let changed = crate::harness::changed_files(&before, &after);
    assert_eq!(
        changed,
        ["dns/a.example.zone", "dns/b.example.zone", "manifest.json"]
    );
}

#[test]
fn removing_a_published_domain_is_refused_until_forgotten_and_user_files_survive() {
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    p.write("output/dns/my-own.zone", "; mine\n");
    p.write("output/webroot/index.html", "hello\n");
    p.write("domains.toml", &without_b());
    let before = tree(p.path());
    let err = p.run(&["build"]).fails();
    assert!(
        err.contains("b.example was removed from the config, but senders may hold its testing policy until 2025-12-05 00:00 UTC"),
        "{err}"
    );
    assert!(
        err.contains("retire = true") && err.contains("--forget b.example"),
        "{err}"
    );
    assert_eq!(tree(p.path()), before, "a refused build wrote something");
    let out = p.run(&["build", "--forget", "b.example"]).ok();
    assert!(out.contains("b.example is forgotten"), "{out}");
    assert!(out.contains("3 removed"), "{out}");
    let files: Vec<_> = p.files("output").into_keys().collect();
    assert_eq!(
        files,
        [
            "certificates.json",
            "certificates.txt",
            "dns/a.example.zone",
            "dns/my-own.zone",
            "manifest.json",
            "nginx/mta-sts.a.example.conf",
            "webroot/index.html",
            "webroot/mta-sts.a.example/.well-known/mta-sts.txt"
        ]
    );
    assert!(!p.path().join("output/webroot/mta-sts.b.example").exists());
    assert!(!p.read("domains.lock").contains("b.example"));
}

fn without_b() -> String {
    CONFIG.replace("[domains.\"b.example\"]\n", "")
}

#[test]
fn invalid_edit_leaves_previous_output_and_lock_untouched() {
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    let before = tree(p.path());
    let times = mtimes(p.path());
    p.write(
        "domains.toml",
        &CONFIG.replace("mode = \"enforce\"", "mode = \"enforcing\""),
    );
    let err = p.run(&["build"]).fails();
    assert!(
        err.contains("domains.toml:8:8: error: unknown mode \"enforcing\""),
        "{err}"
    );
    let mut after = tree(p.path());
    after.remove("domains.toml");
    let mut before = before;
    before.remove("domains.toml");
    assert_eq!(before, after);
    let mut times_after = mtimes(p.path());
    times_after.remove("domains.toml");
    let mut times = times;
    times.remove("domains.toml");
    assert_eq!(times, times_after);
}

#[test]
fn locked_refuses_to_change_the_lock_and_names_the_domains() {
    let p = Project::new(CONFIG);
    let err = p.run(&["build", "--locked"]).fails();
    assert!(err.contains("(no lock file yet)"), "{err}");
    assert!(!p.path().join("output").exists());
    p.run(&["build"]).ok();
    p.run(&["build", "--locked"]).ok();
    p.write(
        "domains.toml",
        &CONFIG.replace("mode = \"enforce\"", "mode = \"testing\""),
    );
    let before = tree(p.path());
    let err = p.run(&["build", "--locked"]).fails();
    assert!(err.contains("would change (--locked): a.example"), "{err}");
    assert_eq!(tree(p.path()), before, "--locked wrote something");
    // Scripts get one JSON document on stdout saying why; people still get stderr.
    let run = p.run(&["build", "--locked", "--format", "json"]);
    assert!(run.fails().contains("would change (--locked)"));
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(doc["error"]["kind"], "locked", "{doc}");
    assert_eq!(doc["error"]["domains"], serde_json::json!(["a.example"]));
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("a.example")
    );
}

#[test]
fn every_failure_with_format_json_is_one_json_document() {
    let p = Project::new(CONFIG);
    let error = |args: &[&str]| -> serde_json::Value {
        let run = p.run(args);
        run.fails();
        serde_json::from_str(&run.stdout()).unwrap_or_else(|e| panic!("{e}: {}", run.stdout()))
    };
    let doc = error(&["build", "--locked", "--format", "json"]);
    assert_eq!(doc["error"]["kind"], "locked");
    p.run(&["build"]).ok();
    p.write(
        "domains.toml",
        &CONFIG.replace("[domains.\"a.example\"]", "[domains.\"z.example\"]"),
    );
    let doc = error(&["build", "--format", "json"]);
    assert_eq!(doc["error"]["kind"], "refused", "{doc}");
    assert_eq!(doc["error"]["domains"], serde_json::json!(["a.example"]));
    p.write("domains.toml", "[defaults]\nmode = \"strict\"\n");
    let doc = error(&["build", "--format", "json"]);
    assert_eq!(doc["error"]["kind"], "invalid-config");
    let problem = &doc["error"]["problems"][1];
    assert_eq!(
        (&problem["file"], &problem["line"], &problem["column"]),
        (&"domains.toml".into(), &2.into(), &8.into()),
        "{doc}"
    );
    let doc = error(&["status", "--format", "json"]);
    assert_eq!(doc["error"]["kind"], "invalid-config");
    // Text output prints nothing on stdout when it fails.
    assert_eq!(p.run(&["build"]).stdout(), "");
}

#[test]
fn dry_run_writes_nothing_and_says_what_would_change() {
    let p = Project::new(CONFIG);
    let out = p.run(&["build", "--dry-run"]).ok();
    assert!(
        out.contains("would write webroot/mta-sts.a.example/.well-known/mta-sts.txt"),
        "{out}"
    );
    assert!(out.contains("would write 9 file(s)"), "{out}");
    let files: Vec<_> = tree(p.path()).into_keys().collect();
    assert_eq!(files, ["domains.toml"]);
    p.run(&["build"]).ok();
    p.write("domains.toml", &without_b());
    let before = tree(p.path());
    let out = p.run(&["build", "--dry-run", "--forget", "b.example"]).ok();
    assert!(
        out.contains("would remove nginx/mta-sts.b.example.conf"),
        "{out}"
    );
    assert_eq!(tree(p.path()), before);
}

/// The files a `--format json` summary lists as written.
fn written(summary: &serde_json::Value) -> Vec<&str> {
    summary["files"]["written"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect()
}

#[test]
fn json_summary_is_machine_readable() {
    let p = Project::new(CONFIG);
    let out = p.run(&["build", "--format", "json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["domains"][0]["domain"], "a.example");
    assert_eq!(doc["domains"][0]["id"], "20251128000000");
    assert_eq!(doc["domains"][0]["mode"], "enforce");
    assert_eq!(doc["domains"][0]["changed"], true);
    assert_eq!(
        written(&doc),
        [
            "webroot/mta-sts.a.example/.well-known/mta-sts.txt",
            "webroot/mta-sts.b.example/.well-known/mta-sts.txt",
            "nginx/mta-sts.a.example.conf",
            "nginx/mta-sts.b.example.conf",
            "dns/a.example.zone",
            "dns/b.example.zone",
            "certificates.txt",
            "certificates.json",
            "manifest.json"
        ],
        "GEN-07: policies before vhosts before DNS records, manifest last"
    );
    let again: serde_json::Value =
        serde_json::from_str(&p.run(&["build", "--format", "json"]).ok()).unwrap();
    assert_eq!(again["domains"][1]["changed"], false);
    assert_eq!(again["files"]["unchanged"], 9);
}

#[test]
fn manifest_lists_every_file_with_hash_size_and_type() {
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    let m: serde_json::Value = serde_json::from_str(&p.read("output/manifest.json")).unwrap();
    let files = m["files"].as_array().unwrap();
    let on_disk = p.files("output");
    assert_eq!(files.len() + 1, on_disk.len());
    for f in files {
        let bytes = &on_disk[f["path"].as_str().unwrap()];
        assert_eq!(f["size"], bytes.len());
        assert_eq!(f["sha256"], mtasts::digest::sha256_hex(bytes));
    }
    let policy = files
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("mta-sts.txt"))
        .unwrap();
    assert_eq!(policy["media_type"], "text/plain");
    assert_eq!(
        m["domains"][1],
        serde_json::json!({"domain": "b.example", "id": "20251128000000", "mode": "testing",
            "inputs": m["domains"][1]["inputs"]})
    );
    assert_eq!(m["domains"][1]["inputs"].as_str().unwrap().len(), 64);
}

#[test]
fn a_corrupt_manifest_is_a_warning_and_prunes_nothing() {
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    p.write("output/manifest.json", "{ not json");
    p.write("domains.toml", &without_b());
    let run = p.run(&["build", "--forget", "b.example"]);
    run.ok();
    assert!(
        run.stderr().contains("manifest.json is damaged"),
        "{}",
        run.stderr()
    );
    assert!(
        p.path()
            .join("output/nginx/mta-sts.b.example.conf")
            .exists()
    );
}

#[cfg(unix)]
#[test]
fn a_symlink_planted_in_the_output_is_refused_before_any_write() {
    let p = Project::new(CONFIG);
    let victim = tempfile::tempdir().unwrap();
    fs::create_dir(p.path().join("output")).unwrap();
    std::os::unix::fs::symlink(victim.path(), p.path().join("output/nginx")).unwrap();
    let err = p.run(&["build"]).fails();
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(fs::read_dir(victim.path()).unwrap().count(), 0);
    assert!(!p.path().join("output/webroot").exists());
    assert!(!p.path().join("domains.lock").exists());
}

#[cfg(unix)]
#[test]
fn a_build_refused_while_writing_the_tree_leaves_the_lock_as_it_was() {
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    let lock = p.read("domains.lock");
    // A changed policy: the new lock is staged before the tree is written.
    p.write(
        "domains.toml",
        &CONFIG.replace("mode = \"enforce\"", "mode = \"testing\""),
    );
    let victim = tempfile::tempdir().unwrap();
    fs::remove_dir_all(p.path().join("output/nginx")).unwrap();
    std::os::unix::fs::symlink(victim.path(), p.path().join("output/nginx")).unwrap();
    let err = p.run(&["build"]).fails();
    assert!(err.contains("symbolic link"), "{err}");
    assert_eq!(p.read("domains.lock"), lock);
    let temps: Vec<_> = fs::read_dir(p.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(mtasts::output::TEMP_PREFIX))
        .collect();
    assert!(temps.is_empty(), "{temps:?}");
    assert_eq!(fs::read_dir(victim.path()).unwrap().count(), 0);
}

#[test]
fn a_second_writer_waits_a_bounded_time_then_is_refused() {
    let p = Project::new(CONFIG);
    let held =
        mtasts::lock::WorkLock::acquire(&p.path().join("domains.toml"), Duration::ZERO).unwrap();
    let started = Instant::now();
    let err = p.run(&["build", "--wait", "1"]).fails();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "did not wait"
    );
    assert!(err.contains("another mtasts process"), "{err}");
    assert!(!p.path().join("output").exists());
    p.run(&["build", "--dry-run"]).ok();
    // Released while the second one waits: it proceeds.
    let releaser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        drop(held);
    });
    p.run(&["build", "--wait", "10"]).ok();
    releaser.join().unwrap();
}

#[test]
fn two_concurrent_builds_never_interleave() {
    // Enough domains that one build takes a while; both must succeed, one after the other.
    let config = crate::harness::domains_config(
        300,
        "[defaults]\nmx = [\"mx.example.net\"]\npolicy_cname = \"mail.example.net\"\n",
        "",
    );
    let p = Project::new(&config);
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mtasts"))
            .args(["build", "--format", "json", "--wait", "60"])
            .current_dir(p.path())
            .env("SOURCE_DATE_EPOCH", crate::harness::EPOCH)
            .output()
            .unwrap()
    };
    let (one, two) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(one.status.success() && two.status.success());
    let written = |o: &std::process::Output| {
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        doc["files"]["written"].as_array().unwrap().len()
    };
    // Exactly one of them wrote the tree; the other found it complete and identical.
    let mut counts = [written(&one), written(&two)];
    counts.sort();
    assert_eq!(counts, [0, 903]);
    mtasts::lock::Lock::parse(&p.read("domains.lock"), "domains.lock").unwrap();
}

#[test]
fn a_build_that_waited_plans_from_the_lock_the_other_build_left() {
    let edited = CONFIG.replace("mode = \"enforce\"", "mode = \"testing\"");
    let p = Project::new(CONFIG);
    p.run_env(&["build"], &[("SOURCE_DATE_EPOCH", "1700000000")])
        .ok();
    // What another build of the edited config leaves behind, made in a copy of the project.
    let other = Project::new(&edited);
    other.write("domains.lock", &p.read("domains.lock"));
    other
        .run_env(&["build"], &[("SOURCE_DATE_EPOCH", "1700000100")])
        .ok();
    let newer = other.read("domains.lock");
    assert!(newer.contains("id = \"20231114221500\""), "{newer}");
    p.write("domains.toml", &edited);
    let held =
        mtasts::lock::WorkLock::acquire(&p.path().join("domains.toml"), Duration::ZERO).unwrap();
    let waiting = std::process::Command::new(env!("CARGO_BIN_EXE_mtasts"))
        .args(["build", "--wait", "30"])
        .current_dir(p.path())
        .env("SOURCE_DATE_EPOCH", "1700000200")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Let it read the old lock and block on the work lock, then replace the lock as a build
    // does (a new file renamed over the old one) and let it go.
    std::thread::sleep(Duration::from_millis(500));
    fs::write(p.path().join("domains.lock.new"), &newer).unwrap();
    fs::rename(
        p.path().join("domains.lock.new"),
        p.path().join("domains.lock"),
    )
    .unwrap();
    drop(held);
    let out = waiting.wait_with_output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("(changed)"),
        "planned from the stale lock: {stdout}"
    );
    assert_eq!(p.read("domains.lock"), newer);
    assert!(
        p.read("output/dns/a.example.zone")
            .contains("id=20231114221500")
    );
}

#[test]
fn template_errors_name_the_file_and_line_and_write_nothing() {
    let p = Project::new(CONFIG);
    p.write(
        "templates/nginx.conf.j2",
        "server {\n  server_name {{ hots }};\n}\n",
    );
    let err = p.run(&["build"]).fails();
    assert!(err.contains("templates/nginx.conf.j2, line 2"), "{err}");
    assert!(err.contains("undefined"), "{err}");
    assert!(!p.path().join("output").exists());
    assert!(!p.path().join("domains.lock").exists());
}

#[test]
fn templates_dir_option_overrides_the_default_location() {
    let p = Project::new(CONFIG);
    p.write("custom/zone.j2", "; {{ domain }} {{ id }}\n");
    p.run(&["--templates", "custom", "build"]).ok();
    assert_eq!(
        p.read("output/dns/a.example.zone"),
        "; a.example 20251128000000\n"
    );
}

#[test]
fn a_bad_source_date_epoch_is_reported() {
    let p = Project::new(CONFIG);
    let err = p
        .run_env(&["build"], &[("SOURCE_DATE_EPOCH", "tomorrow")])
        .fails();
    assert!(err.contains("SOURCE_DATE_EPOCH=\"tomorrow\""), "{err}");
}

#[test]
fn config_in_another_directory_keeps_lock_and_output_beside_it() {
    let p = Project::new("");
    p.write("site/mail.toml", CONFIG);
    p.run(&["-c", "site/mail.toml", "build"]).ok();
    assert!(p.path().join("site/mail.lock").is_file());
    assert!(p.path().join("site/output/manifest.json").is_file());
    p.write(
        "site/mail.toml",
        "[domains.\"x.example\"]\nmx = [\"a_b.example\"]\n",
    );
    let err = p.run(&["-c", "site/mail.toml", "validate"]).fails();
    assert!(
        err.starts_with("site/mail.toml:2:7: error: invalid mx pattern"),
        "{err}"
    );
}

#[test]
fn a_large_first_build_lists_fifty_domains_and_counts_the_rest() {
    let config = crate::harness::domains_config(
        60,
        "[defaults]\nmx = [\"mx.example.net\"]\npolicy_cname = \"mail.example.net\"\n",
        "",
    );
    let p = Project::new(&config);
    let out = p.run(&["build"]).ok();
    assert_eq!(
        out.lines().filter(|l| l.ends_with("(new)")).count(),
        50,
        "{out}"
    );
    assert!(
        out.contains("... and 10 more new or changed domain(s)"),
        "{out}"
    );
}

/// Sets `rel`'s mtime to `mtime`, as `touch -r` would.
fn set_mtime(p: &Project, rel: &str, mtime: std::time::SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(p.path().join(rel))
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

#[test]
fn a_plain_build_repairs_deleted_edited_and_replaced_files() {
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    let policy = "output/webroot/mta-sts.b.example/.well-known/mta-sts.txt";
    let zone = "output/dns/a.example.zone";
    let vhost = "output/nginx/mta-sts.a.example.conf";
    let other_vhost = "output/nginx/mta-sts.b.example.conf";
    let before = p.files("output");
    let mtime = std::fs::metadata(p.path().join(policy))
        .unwrap()
        .modified()
        .unwrap();
    // Same size, same mtime: only the inode's change time tells.
    let edited = p.read(policy).replace("mode: testing", "mode: Testing");
    p.write(policy, &edited);
    set_mtime(&p, policy, mtime);
    std::fs::remove_file(p.path().join(zone)).unwrap();
    // A directory and a symlink where files were: replaced, never followed.
    std::fs::remove_file(p.path().join(vhost)).unwrap();
    std::fs::create_dir_all(p.path().join(vhost).join("inside")).unwrap();
    p.write("elsewhere.txt", "not ours");
    std::fs::remove_file(p.path().join(other_vhost)).unwrap();
    std::os::unix::fs::symlink(p.path().join("elsewhere.txt"), p.path().join(other_vhost)).unwrap();
    let out = p.run(&["build"]).ok();
    assert!(
        out.contains("wrote 4 file(s) (4 repaired), 5 unchanged, 0 removed"),
        "{out}"
    );
    for path in [policy, zone, vhost, other_vhost] {
        let rel = path.strip_prefix("output/").unwrap();
        assert!(out.contains(&format!("repaired {rel}")), "{rel}: {out}");
    }
    assert_eq!(p.files("output"), before);
    assert_eq!(p.read("elsewhere.txt"), "not ours");
    let json = p.run(&["build", "--format", "json"]).ok();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["files"]["written"], serde_json::json!([]), "{json}");
    assert_eq!(json["files"]["repaired"], serde_json::json!([]), "{json}");
    // A deleted manifest: nothing is pruned, every file compared, the manifest written again.
    std::fs::remove_file(p.path().join("output/manifest.json")).unwrap();
    std::fs::remove_file(p.path().join(zone)).unwrap();
    let json = p.run(&["build", "--format", "json"]).ok();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json["files"]["written"],
        serde_json::json!(["dns/a.example.zone", "manifest.json"]),
        "{json}"
    );
    assert_eq!(p.files("output"), before);
}

/// Provider presets expand into the published policy; a wildcard the provider's hosts cannot
/// match is a located warning with the fix; `accept_wildcard_mx` silences the enforce
/// wildcard warning for its domain only.
#[test]
fn provider_presets_expand_and_their_wildcards_can_be_accepted() {
    let config = "[defaults]\npolicy_cname = \"web.example.net\"\nmode = \"enforce\"\n\n\
                  [domains.\"a.example\"]\nmx = [\"@google\"]\n\n\
                  [domains.\"b.example\"]\nmx = [\"@microsoft365\", \"*.mx.microsoft\"]\naccept_wildcard_mx = true\n";
    let p = Project::new(config);
    let run = p.run(&["build"]);
    run.ok();
    assert_eq!(
        p.read("output/webroot/mta-sts.a.example/.well-known/mta-sts.txt"),
        "version: STSv1\r\nmode: enforce\r\nmx: smtp.google.com\r\nmx: aspmx.l.google.com\r\nmx: *.aspmx.l.google.com\r\nmx: *.googlemail.com\r\nmax_age: 604800\r\n"
    );
    let err = run.stderr();
    assert!(
        err.contains(
            "domains.toml:9:24: warning: *.mx.microsoft matches none of microsoft365's MX hosts"
        ) && err.contains("<tenant>.<zone>.mx.microsoft"),
        "{err}"
    );
    assert!(
        err.contains("a.example: enforce policy with wildcard mx *.aspmx.l.google.com")
            && err.contains("accept_wildcard_mx = true"),
        "{err}"
    );
    assert!(
        !err.contains("b.example: enforce policy with wildcard"),
        "{err}"
    );
}

/// `mx_leaving` names hosts still in `mx`, in a domain table only; anything else is an error
/// that says why, and nothing is written.
#[test]
fn mx_leaving_must_name_hosts_of_mx_in_a_domain_table() {
    let p = Project::new(
        "[domains.\"a.example\"]\nmx = [\"new.example.net\"]\nmx_leaving = [\"old.example.net\"]\npolicy_cname = \"web.example.net\"\n",
    );
    let err = p.run(&["build"]).fails();
    assert!(
        err.contains("mx_leaving lists old.example.net, which is not in mx"),
        "{err}"
    );
    assert!(!p.path().join("output").exists());
    let p = Project::new(
        "[defaults]\nmx_leaving = [\"old.example.net\"]\n[domains.\"a.example\"]\nmx = [\"old.example.net\"]\npolicy_cname = \"web.example.net\"\n",
    );
    assert!(
        p.run(&["build"])
            .fails()
            .contains("`mx_leaving` cannot be a default")
    );
}
