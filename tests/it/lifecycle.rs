//! The RFC 8461 §8.3 story through the CLI, with `SOURCE_DATE_EPOCH` stepping the clock:
//! lower max_age, retire, wait, retirement completes, leave the config, come back.

use crate::harness::Project;

const DAY: i64 = 86_400;
/// 2025-11-28 00:00:00 UTC.
const T0: i64 = 1_764_288_000;

fn config(max_age: u32, retire: bool) -> String {
    format!(
        r#"[defaults]
mx = ["mx.example.net"]
policy_cname = "mail.example.net"

[domains."keep.example"]

[domains."bye.example"]
mode = "enforce"
max_age = {max_age}
mx = ["mx1.bye.example", "mx2.bye.example"]
{}"#,
        if retire { "retire = true\n" } else { "" }
    )
}

fn at(p: &Project, days: i64, extra_secs: i64, args: &[&str]) -> crate::harness::Run {
    p.run_env(
        args,
        &[(
            "SOURCE_DATE_EPOCH",
            &(T0 + days * DAY + extra_secs).to_string(),
        )],
    )
}

const POLICY: &str = "output/webroot/mta-sts.bye.example/.well-known/mta-sts.txt";

#[test]
fn ret_story_lower_retire_wait_remove_return() {
    let p = Project::new(&config(2_592_000, false));
    at(&p, 0, 0, &["build"]).ok();
    assert!(p.read(POLICY).contains("mode: enforce\r\n"));

    // Day 1: max_age lowered to one day; the 30 days still govern.
    p.write("domains.toml", &config(86_400, false));
    let run = at(&p, 1, 0, &["build"]);
    run.ok();
    assert!(
        run.stderr().contains("bye.example: max_age lowered from 2592000 to 86400; the old policy still governs senders that cached it until 2025-12-29 00:00 UTC"),
        "{}",
        run.stderr()
    );

    // Day 2: retire. mode none, one-day max_age, new id, the same mx lines.
    p.write("domains.toml", &config(86_400, true));
    let out = at(&p, 2, 0, &["build"]).ok();
    assert!(
        out.contains("bye.example  none     id 20251130000000  (changed)"),
        "{out}"
    );
    assert!(
        out.contains("bye.example: retiring; `mode: none` is published since 2025-11-30 00:00 UTC; keep its records, vhost and policy until 2025-12-30 01:00 UTC"),
        "{out}"
    );
    assert_eq!(
        p.read(POLICY),
        "version: STSv1\r\nmode: none\r\nmx: mx1.bye.example\r\nmx: mx2.bye.example\r\nmax_age: 86400\r\n"
    );
    assert!(
        p.read("output/dns/bye.example.zone")
            .contains("\"v=STSv1; id=20251130000000\"")
    );
    let status = at(&p, 3, 0, &["status"]).ok();
    assert!(
        status.contains("bye.example   none     20251130000000  retiring   next: 2025-12-30 01:00 UTC (retirement completes)"),
        "{status}"
    );

    // Removing it now is refused: an enforce policy may still be cached.
    let gone = config(86_400, true).replace("[domains.\"bye.example\"]\nmode = \"enforce\"\nmax_age = 86400\nmx = [\"mx1.bye.example\", \"mx2.bye.example\"]\nretire = true\n", "");
    assert!(!gone.contains("bye"));
    p.write("domains.toml", &gone);
    let err = at(&p, 20, 0, &["build"]).fails();
    assert!(err.contains("bye.example was removed from the config, but senders may hold its none policy until 2025-12-30 01:00 UTC"), "{err}");
    p.write("domains.toml", &config(86_400, true));

    // One second before the date: still published, nothing changes.
    let out = at(&p, 32, 3599, &["build", "--locked"]).ok();
    assert!(out.contains("retiring"), "{out}");
    assert!(p.path().join(POLICY).exists());

    // After the date: --locked says the scheduled transition is due; a build completes it.
    let err = at(&p, 32, 3600, &["build", "--locked"]).fails();
    assert!(
        err.contains("retirement of bye.example is due: run mtasts build"),
        "{err}"
    );
    let out = at(&p, 32, 3600, &["build"]).ok();
    assert!(
        out.contains("bye.example: retirement complete; its policy file and vhost are no longer generated. Delete these DNS records now: _mta-sts.bye.example. TXT, mta-sts.bye.example. CNAME"),
        "{out}"
    );
    assert!(!p.path().join(POLICY).exists());
    assert!(
        !p.path()
            .join("output/nginx/mta-sts.bye.example.conf")
            .exists()
    );
    assert!(!p.path().join("output/dns/bye.example.zone").exists());
    assert!(p.path().join("output/dns/keep.example.zone").exists());
    assert!(p.read("domains.lock").contains("stage = \"retired\""));
    at(&p, 40, 0, &["build", "--locked"]).ok();

    // Now it may leave the config.
    p.write("domains.toml", &gone);
    at(&p, 41, 0, &["build"]).ok();

    // And come back with a fresh policy and a new, greater id.
    p.write("domains.toml", &config(604_800, false));
    let out = at(&p, 50, 0, &["build"]).ok();
    assert!(
        out.contains("bye.example  enforce  id 20260117000000  (new)"),
        "{out}"
    );
    assert!(p.read(POLICY).contains("mode: enforce\r\n"));
}

#[test]
fn ret_05_dropping_an_mx_warns_until_the_old_policy_expires_and_status_keeps_it() {
    let p = Project::new(&config(604_800, false));
    at(&p, 0, 0, &["build"]).ok();
    p.write(
        "domains.toml",
        &config(604_800, false).replace(", \"mx2.bye.example\"", ""),
    );
    let run = at(&p, 1, 0, &["build", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&run.ok()).unwrap();
    let w = &doc["warnings"][0];
    assert_eq!(w["kind"], "mx-dropped");
    assert_eq!(w["domain"], "bye.example");
    assert_eq!(w["until"], "2025-12-06T00:00:00Z");
    let status = at(&p, 2, 0, &["status", "--format", "json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&status).unwrap();
    let bye = doc["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "bye.example")
        .unwrap();
    assert_eq!(bye["stage"], "active");
    assert_eq!(bye["next"], "2025-12-06T00:00:00Z");
    assert!(
        bye["warnings"][0]
            .as_str()
            .unwrap()
            .contains("mx mx2.bye.example was dropped")
    );
    assert_eq!(bye["built"], true);
    // After the date the notice is no longer pending.
    let later = at(&p, 9, 0, &["status"]).ok();
    assert!(!later.contains("dropped"), "{later}");
}

#[test]
fn status_says_when_the_config_changed_since_the_build() {
    let p = Project::new(&config(604_800, false));
    let out = at(&p, 0, 0, &["status"]).ok();
    assert!(
        out.contains("bye.example   -        -               not built"),
        "{out}"
    );
    at(&p, 0, 0, &["build"]).ok();
    p.write("domains.toml", &config(1_209_600, false));
    let out = at(&p, 1, 0, &["status"]).ok();
    assert!(
        out.contains("bye.example: the config changed since the last build; run `mtasts build`"),
        "{out}"
    );
    assert!(!out.contains("keep.example: the config changed"), "{out}");
}

#[test]
fn enforce_warnings_short_max_age_and_wildcard() {
    let p = Project::new(&config(3600, false).replace(
        "\"mx1.bye.example\", \"mx2.bye.example\"",
        "\"*.mx.bye.example\"",
    ));
    let run = at(&p, 0, 0, &["build"]);
    run.ok();
    let err = run.stderr();
    assert_eq!(
        err.matches("warning: max_age 3600 is less than one day for an enforce policy")
            .count(),
        1,
        "warned once: {err}"
    );
    assert!(
        err.contains("enforce policy with wildcard mx *.mx.bye.example"),
        "{err}"
    );
}

#[test]
fn a_lost_lock_is_rebuilt_from_the_manifest_and_still_guards_enforce_domains() {
    let p = Project::new(&config(2_592_000, false));
    at(&p, 0, 0, &["build"]).ok();
    let zones = p.files("output/dns");
    let lock = p.read("domains.lock");
    std::fs::remove_file(p.path().join("domains.lock")).unwrap();
    // A day later a fresh lock would carry new ids; the manifest keeps the published ones.
    let run = at(&p, 1, 0, &["build"]);
    let out = run.ok();
    assert!(
        run.stderr()
            .contains("domains.lock is missing: took the ids of 2 published domain(s)"),
        "{}",
        run.stderr()
    );
    assert!(out.contains("wrote 0 file(s)"), "{out}");
    assert_eq!(p.files("output/dns"), zones);
    let id = "id = \"20251128000000\"";
    assert_eq!(lock.matches(id).count(), 2, "{lock}");
    assert_eq!(p.read("domains.lock").matches(id).count(), 2);

    // Every command that reads the project recovers the same ids (one load path): status and
    // records a day later show the published ids, not new ones, and call nothing unbuilt.
    std::fs::remove_file(p.path().join("domains.lock")).unwrap();
    let status = at(&p, 1, 0, &["status", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&status.ok()).unwrap();
    for d in doc["domains"].as_array().unwrap() {
        assert_eq!(d["id"], "20251128000000", "{d:#}");
        assert_eq!(d["built"], true, "{d:#}");
    }
    assert!(status.stderr().contains("domains.lock is missing"));
    let records = at(&p, 1, 0, &["records", "--format", "json"]).ok();
    assert_eq!(
        records.matches("v=STSv1; id=20251128000000").count(),
        2,
        "{records}"
    );
    assert!(
        !p.path().join("domains.lock").exists(),
        "reading wrote a lock"
    );
    at(&p, 1, 0, &["build"]).ok();

    // Without the lock, dropping the enforce domain is refused just as with it.
    std::fs::remove_file(p.path().join("domains.lock")).unwrap();
    p.write(
        "domains.toml",
        "[defaults]\nmx = [\"mx.example.net\"]\npolicy_cname = \"mail.example.net\"\n\n[domains.\"keep.example\"]\n",
    );
    let before = p.files("output");
    let err = at(&p, 2, 0, &["build"]).fails();
    assert!(
        err.contains("bye.example was removed from the config"),
        "{err}"
    );
    assert!(err.contains("2025-12-30"), "{err}");
    assert_eq!(p.files("output"), before);
    assert!(!p.path().join("domains.lock").exists());
}

#[test]
fn a_retirement_that_falls_due_is_a_scheduled_build_not_a_config_change() {
    let p = Project::new(&config(86_400, false));
    at(&p, 0, 0, &["build"]).ok();
    p.write("domains.toml", &config(86_400, true));
    at(&p, 0, 60, &["build"]).ok();
    at(&p, 1, 0, &["build", "--locked"]).ok();
    // Its zone and vhost headers name the mode it publishes while retiring.
    let zone = p.read("output/dns/bye.example.zone");
    assert!(zone.lines().next().unwrap().contains("mode none"), "{zone}");
    assert!(!zone.contains("mode enforce"), "{zone}");
    // Days later the calendar, not the config, moves bye.example on.
    let status = at(&p, 5, 0, &["status", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_str(&status.ok()).unwrap();
    let bye = doc["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "bye.example")
        .unwrap();
    assert_eq!(bye["built"], true, "{bye:#}");
    let warnings = bye["warnings"].to_string();
    assert!(
        warnings.contains("retirement of bye.example is due: run mtasts build"),
        "{warnings}"
    );
    assert!(!warnings.contains("config changed"), "{warnings}");
    let locked = at(&p, 5, 0, &["build", "--locked", "--format", "json"]);
    assert_eq!(locked.code(), 1);
    let err: serde_json::Value = serde_json::from_str(&locked.stdout()).unwrap();
    assert_eq!(err["error"]["kind"], "locked", "{err:#}");
    assert_eq!(
        err["error"]["message"],
        "retirement of bye.example is due: run mtasts build"
    );
    // check names it due without asking DNS anything (the resolver here answers nothing).
    let check = at(
        &p,
        5,
        0,
        &[
            "check",
            "bye.example",
            "--nameserver",
            "127.0.0.1:9",
            "--no-smtp",
        ],
    );
    assert_eq!(check.code(), 0, "{}{}", check.stdout(), check.stderr());
    assert!(
        check
            .stdout()
            .contains("retirement of bye.example is due: run mtasts build"),
        "{}",
        check.stdout()
    );
    // The scheduled job's plain build completes it; --locked passes again.
    at(&p, 5, 0, &["build"]).ok();
    at(&p, 5, 0, &["build", "--locked"]).ok();
    // A real config change is still one.
    p.write(
        "domains.toml",
        &config(86_400, true).replace(
            "[domains.\"keep.example\"]",
            "[domains.\"keep.example\"]\nmode = \"enforce\"",
        ),
    );
    let changed = at(&p, 6, 0, &["build", "--locked"]);
    assert!(changed.fails().contains("would change (--locked)"));
}

/// The Python of the end-to-end environment, if it has PyYAML (postfix-mta-sts-resolver needs
/// it), for reading the workflow as GitHub would.
fn python_with_yaml() -> Option<std::path::PathBuf> {
    let python = std::env::var_os("MTASTS_E2E_PYTHON")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python")
        });
    let ok = std::process::Command::new(&python)
        .args(["-c", "import yaml"])
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(python);
    }
    assert!(
        std::env::var("MTASTS_REQUIRE_REAL").as_deref() != Ok("1"),
        "a Python with PyYAML is required (MTASTS_REQUIRE_REAL=1): run .ci/run"
    );
    eprintln!("\n!!!!!!!! SKIPPED: no Python with PyYAML; the workflow was not run !!!!!!!!\n");
    None
}

/// The `init --ci github` workflow's scheduled job, its own steps run in order in a git
/// checkout with a remote: on the day a retirement falls due it builds, commits domains.lock
/// and pushes, after which the push job's `build --locked` passes; with an unbuilt config
/// change it refuses to commit anything.
#[test]
fn the_workflow_schedule_completes_a_due_retirement_and_commits_the_lock() {
    let (Some(python), Some(git)) = (python_with_yaml(), crate::harness::real_tool("git")) else {
        return;
    };
    let workflow = include_str!("../../templates/ci/github.yml");
    let p = Project::new(&config(86_400, false));
    p.write("workflow.yml", workflow);
    // The workflow as GitHub reads it: triggers, concurrency, and the scheduled steps' scripts.
    let read = "import yaml, json\nw = yaml.safe_load(open('workflow.yml'))\non = w.get('on', w.get(True))\n\
         steps = [s for s in w['jobs']['publish']['steps'] if 'schedule' in s.get('if', '')]\n\
         print(json.dumps({'on': sorted(on), 'concurrency': w['concurrency']['group'], \
         'cached': any('cache' in s.get('uses', '') and 'mtasts' in str(s.get('with', {}).get('path', '')) for s in w['jobs']['publish']['steps']), \
         'runs': [s['run'] for s in steps]}))";
    let parsed = crate::harness::run_ok(
        std::process::Command::new(&python)
            .args(["-c", read])
            .current_dir(p.path()),
    );
    let w: serde_json::Value = serde_json::from_str(&parsed).unwrap();
    assert_eq!(
        w["on"],
        serde_json::json!(["pull_request", "push", "schedule", "workflow_dispatch"])
    );
    assert!(w["concurrency"].as_str().unwrap().starts_with("mta-sts-"));
    assert_eq!(w["cached"], true, "mtasts is installed once and cached");
    let runs: Vec<String> = serde_json::from_value(w["runs"].clone()).unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");

    let git_in = |dir: &std::path::Path, args: &[&str]| {
        crate::harness::run_ok(std::process::Command::new(&git).args(args).current_dir(dir))
    };
    at(&p, 0, 0, &["build"]).ok();
    p.write("domains.toml", &config(86_400, true));
    at(&p, 0, 60, &["build"]).ok();
    let origin = p.path().join("origin.git");
    git_in(
        p.path(),
        &["init", "-q", "--bare", origin.to_str().unwrap()],
    );
    git_in(p.path(), &["init", "-q", "-b", "main"]);
    git_in(p.path(), &["add", "domains.toml", "domains.lock"]);
    git_in(
        p.path(),
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.net",
            "commit",
            "-q",
            "-m",
            "retire bye.example",
        ],
    );
    git_in(
        p.path(),
        &["remote", "add", "origin", origin.to_str().unwrap()],
    );
    git_in(p.path(), &["push", "-q", "-u", "origin", "main"]);
    let mtasts_dir = std::path::Path::new(env!("CARGO_BIN_EXE_mtasts"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = format!(
        "{}:{}",
        mtasts_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let due = (T0 + 5 * DAY).to_string();
    let job = |runs: &[String]| -> Result<(), String> {
        for script in runs {
            let out = std::process::Command::new("bash")
                .args(["-e", "-c", script])
                .current_dir(p.path())
                .env("PATH", &path)
                .env("SOURCE_DATE_EPOCH", &due)
                .output()
                .unwrap();
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned());
            }
        }
        Ok(())
    };
    job(&runs).unwrap();
    let log = git_in(
        &origin,
        &["log", "--format=%s", "-1", "main", "--", "domains.lock"],
    );
    assert_eq!(log.trim(), "mtasts: scheduled transitions");
    at(&p, 5, 0, &["build", "--locked"]).ok();
    // Nothing due: nothing committed.
    job(&runs).unwrap();
    assert_eq!(
        git_in(&origin, &["rev-list", "--count", "main"]).trim(),
        "2"
    );
    // A config change nobody built: the job refuses instead of committing it.
    p.write(
        "domains.toml",
        &config(86_400, true).replace(
            "[domains.\"keep.example\"]",
            "[domains.\"keep.example\"]\nmode = \"enforce\"",
        ),
    );
    let refused = job(&runs).unwrap_err();
    assert!(
        refused.contains("the config changed without a build: keep.example"),
        "{refused}"
    );
    assert_eq!(
        git_in(&origin, &["rev-list", "--count", "main"]).trim(),
        "2"
    );
}

/// The workflow `init --ci github` writes, checked by a real linter: check-jsonschema with its
/// vendored GitHub workflow schema (SchemaStore's, offline, pinned in .ci/requirements-lint.txt);
/// a job without `runs-on` is refused, so its acceptance means something.
#[test]
fn the_written_workflow_passes_a_github_workflow_linter() {
    let Some(lint) = crate::harness::real_tool("check-jsonschema") else {
        return;
    };
    let p = Project::new("");
    std::fs::remove_file(p.path().join("domains.toml")).ok();
    p.run(&["init", "--ci", "github"]).ok();
    let check = |file: &str| {
        std::process::Command::new(&lint)
            .args(["--builtin-schema", "vendor.github-workflows", file])
            .current_dir(p.path())
            .output()
            .unwrap()
    };
    let good = check(".github/workflows/mtasts.yml");
    assert!(
        good.status.success(),
        "{}{}",
        String::from_utf8_lossy(&good.stdout),
        String::from_utf8_lossy(&good.stderr)
    );
    let broken = p
        .read(".github/workflows/mtasts.yml")
        .replace("runs-on:", "runs_on:");
    p.write("broken.yml", &broken);
    assert!(!check("broken.yml").status.success());
}

/// An MX move walked step by step on the calendar: `plan-mx` says to publish old and new
/// together; after that build, to wait for max_age + ttl; from that date, to switch the MX
/// records and then drop the old host; after that build, that the move is done.
#[test]
fn plan_mx_walks_a_move_through_every_step_by_date() {
    let cfg = |mx: &str| {
        format!(
            "[domains.\"move.example\"]\nmode = \"enforce\"\nmax_age = 86400\nttl = 3600\nmx = [{mx}]\npolicy_cname = \"mail.example.net\"\n"
        )
    };
    let p = Project::new(&cfg("\"old.example.net\""));
    at(&p, 0, 0, &["build"]).ok();
    let plan = |days: i64, secs: i64| {
        at(
            &p,
            days,
            secs,
            &[
                "plan-mx",
                "move.example",
                "--add",
                "new.example.net",
                "--remove",
                "old.example.net",
            ],
        )
        .ok()
    };
    let first = plan(1, 0);
    assert!(
        first.contains("1. now: in [domains.\"move.example\"] set mx = [\"old.example.net\", \"new.example.net\"] (old and new) and mx_leaving = [\"old.example.net\"]"),
        "{first}"
    );
    // Step 1 as told, built on day 1: the switch is safe a day and an hour later.
    p.write(
        "domains.toml",
        &(cfg("\"old.example.net\", \"new.example.net\"") + "mx_leaving = [\"old.example.net\"]\n"),
    );
    at(&p, 1, 0, &["build"]).ok();
    let status = |days: i64, secs: i64| at(&p, days, secs, &["status"]).ok();
    let s = status(1, 60);
    assert!(
        s.contains("    > MX move: the DNS MX may switch from 2025-11-30 01:00 UTC; old.example.net leave after that"),
        "{s}"
    );
    let s = status(2, 3600);
    assert!(
        s.contains("    > MX move: the DNS MX may switch now (since 2025-11-30 01:00 UTC)"),
        "{s}"
    );
    let waiting = plan(1, 60);
    assert!(
        waiting.contains(
            "2. from 2025-11-30 01:00 UTC: point the MX records of move.example at new.example.net"
        ),
        "{waiting}"
    );
    let an_hour_early = plan(2, 0);
    assert!(
        an_hour_early.contains("2. from 2025-11-30 01:00 UTC"),
        "{an_hour_early}"
    );
    let now = plan(2, 3600);
    assert!(
        now.contains("2. now (safe since 2025-11-30 01:00 UTC): point the MX records")
            && now
                .contains("set mx = [\"new.example.net\"] and remove mx_leaving, build and deploy"),
        "{now}"
    );
    // Step 3 as told: the old host leaves the policy; nothing is left to do.
    p.write("domains.toml", &cfg("\"new.example.net\""));
    let dropped = at(&p, 3, 0, &["build"]);
    dropped.ok();
    let s = status(3, 60);
    assert!(!s.contains("MX move"), "{s}");
    let done = plan(3, 60);
    assert!(done.contains("done: the published policy of move.example lists new.example.net and none of old.example.net"), "{done}");
    // A host the domain never had is refused.
    let wrong = at(
        &p,
        3,
        60,
        &[
            "plan-mx",
            "move.example",
            "--add",
            "x.example.net",
            "--remove",
            "nope.example.net",
        ],
    );
    assert_eq!(wrong.code(), 1, "{}", wrong.stderr());
}
