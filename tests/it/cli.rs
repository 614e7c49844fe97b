//! The other commands and the exit-code contract.

use crate::harness::Project;

#[test]
fn init_writes_a_valid_sample_and_refuses_to_overwrite() {
    let p = Project::new("");
    std::fs::remove_file(p.path().join("domains.toml")).unwrap();
    p.run(&["init"]).ok();
    let sample = p.read("domains.toml");
    assert_eq!(sample, include_str!("../../domains.toml"));
    let out = p.run(&["validate"]).ok();
    assert!(out.contains("4 domain(s), no errors"), "{out}");
    // Git ignores the output and the work lock, never the lock file of ids.
    let ignored = p.read(".gitignore");
    assert!(
        ignored.contains("/output/\n") && ignored.contains("/.mtasts.lock\n"),
        "{ignored}"
    );
    assert!(!ignored.contains("domains.lock"), "{ignored}");
    let err = p.run(&["init"]).fails();
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(p.read("domains.toml"), sample);
}

#[test]
fn init_ci_github_writes_a_workflow_that_deploys_policies_before_dns() {
    let p = Project::new("");
    std::fs::remove_file(p.path().join("domains.toml")).unwrap();
    let out = p.run(&["init", "--ci", "github"]).ok();
    assert!(out.contains(".github/workflows/mtasts.yml"), "{out}");
    let workflow = p.read(".github/workflows/mtasts.yml");
    let build = workflow
        .find("mtasts build --locked")
        .expect("a locked build");
    let policies = workflow.find("Deploy the policies").expect("a policy step");
    let dns = workflow
        .find("Publish the DNS records")
        .expect("a DNS step");
    assert!(build < policies && policies < dns, "{workflow}");
    // Nothing is overwritten: not the config, not the workflow.
    std::fs::remove_file(p.path().join("domains.toml")).unwrap();
    let err = p.run(&["init", "--ci", "github"]).fails();
    assert!(err.contains("mtasts.yml already exists"), "{err}");
    assert!(!p.path().join("domains.toml").exists());
}

#[test]
fn validate_reports_warnings_but_succeeds() {
    let p = Project::new(
        "[domains.\"example.com\"]\nmode = \"enforce\"\nmax_age = 3600\nmx = [\"mx.example.com\"]\npolicy_cname = \"mx.example.com\"\n",
    );
    let run = p.run(&["validate"]);
    assert!(run.ok().contains("1 domain(s), no errors, 1 warning(s)"));
    assert!(
        run.stderr().contains(
            "domains.toml:3:11: warning: max_age 3600 is less than one day for an enforce policy"
        ),
        "{}",
        run.stderr()
    );
    assert!(!p.path().join("output").exists());
}

#[test]
fn templates_eject_copies_the_builtins_and_output_is_unchanged() {
    let plain = Project::new(include_str!("../../domains.toml"));
    plain.run(&["build"]).ok();
    let p = Project::new(include_str!("../../domains.toml"));
    let out = p.run(&["templates", "eject"]).ok();
    assert!(out.contains("templates/nginx.conf.j2"), "{out}");
    assert_eq!(
        p.read("templates/zone.j2"),
        include_str!("../../templates/zone.j2")
    );
    p.run(&["build"]).ok();
    assert_eq!(plain.files("output"), p.files("output"));
    let err = p.run(&["templates", "eject"]).fails();
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let p = Project::new("");
    assert_eq!(p.run(&["build", "--format", "yaml"]).code(), 2);
    assert_eq!(p.run(&["frobnicate"]).code(), 2);
    assert_eq!(p.run(&["--help"]).code(), 0);
}

#[test]
fn a_missing_config_is_a_clear_error() {
    let p = Project::new("");
    let err = p.run(&["-c", "nope.toml", "build"]).fails();
    assert!(err.contains("nope.toml not found"), "{err}");
    assert!(
        err.contains("mtasts init") && err.contains("-c PATH"),
        "{err}"
    );
}

#[test]
fn config_traps_are_named_with_the_fix() {
    let p = Project::new(
        "[defaults]\nmx = [\"mx.example.net\"]\npolicy_cname = \"mail.example.net\"\n\
         [domains.example.com]\nmode = \"enforce\"\n[domains.\"mta-sts.example.org\"]\n",
    );
    let err = p.run(&["validate"]).fails();
    assert!(
        err.contains(
            "domains.toml:4:10: error: [domains.example.com] is read by TOML as nested tables"
        ),
        "{err}"
    );
    assert!(
        err.contains("quote the name: [domains.\"example.com\"]"),
        "{err}"
    );
    assert!(
        !err.contains("single label"),
        "one problem, one message: {err}"
    );
    assert!(
        err.contains("domains.toml:6:10: warning: mta-sts.example.org looks like a policy host"),
        "{err}"
    );
}

#[test]
fn validate_reports_the_plan_warnings_build_reports_grouped_by_cause() {
    let config = crate::harness::domains_config(
        12,
        "[defaults]\nmode = \"enforce\"\nmax_age = 3600\nmx = [\"*.mx.example.net\"]\npolicy_cname = \"mail.example.net\"\n",
        "",
    );
    let p = Project::new(&config);
    let validate = p.run(&["validate"]);
    let out = validate.ok();
    let dry = p.run(&["build", "--dry-run"]);
    dry.ok();
    for err in [validate.stderr(), dry.stderr()] {
        // One located line for the inherited max_age, one line for the twelve wildcards.
        assert_eq!(
            err.matches("warning: max_age 3600 is less than one day")
                .count(),
            1,
            "{err}"
        );
        assert_eq!(
            err.matches("enforce policy with wildcard mx").count(),
            1,
            "{err}"
        );
        assert!(err.contains("warning: 12 domains ("), "{err}");
        assert!(
            err.contains(" and 9 more): enforce policy with wildcard mx *.mx.example.net"),
            "{err}"
        );
    }
    assert!(
        out.contains("12 domain(s), no errors, 13 warning(s)"),
        "{out}"
    );
    let json = p.run(&["build", "--dry-run", "--format", "json"]).ok();
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json["warnings"].as_array().unwrap().len(),
        12,
        "JSON lists each"
    );
}

#[test]
fn bash_completes_subcommands_from_the_generated_script() {
    let Some(bash) = crate::harness::real_tool("bash") else {
        return;
    };
    let p = Project::new("");
    let script = p.run(&["completions", "bash"]).ok();
    p.write("mtasts.bash", &script);
    let out = crate::harness::run_ok(
        std::process::Command::new(bash)
            .arg("-c")
            .arg(
                "source ./mtasts.bash; COMP_WORDS=(mtasts re); COMP_CWORD=1; \
                 _mtasts mtasts re mtasts; printf '%s\\n' \"${COMPREPLY[@]}\"",
            )
            .current_dir(p.path()),
    );
    let mut words: Vec<&str> = out.lines().collect();
    words.sort();
    assert_eq!(words, ["receive", "records", "report"], "{out}");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        assert!(
            p.run(&["completions", shell]).ok().contains("mtasts"),
            "{shell}"
        );
    }
}

#[test]
fn the_man_page_renders_with_man_and_names_every_subcommand() {
    let Some(man) = crate::harness::real_tool("man") else {
        return;
    };
    let p = Project::new("");
    p.write("mtasts.1", &p.run(&["man"]).ok());
    let page = crate::harness::run_ok(
        std::process::Command::new(man)
            .args(["-l", "mtasts.1"])
            .env("MANWIDTH", "100")
            .env("MANPAGER", "cat")
            .current_dir(p.path()),
    );
    assert!(page.contains("SYNOPSIS"), "{page}");
    for sub in [
        "init",
        "validate",
        "build",
        "status",
        "watch",
        "check",
        "report",
        "records",
        "templates",
        "completions",
        "man",
    ] {
        assert!(page.contains(&format!("mtasts-{sub}(1)")), "{sub}: {page}");
    }
}

#[test]
fn every_subcommand_s_help_ends_with_examples_and_exit_codes() {
    let p = Project::new("");
    for sub in [
        "init", "validate", "build", "status", "watch", "check", "report", "records",
    ] {
        let help = p.run(&[sub, "--help"]).ok();
        assert!(help.contains("Examples:\n  mtasts "), "{sub}: {help}");
        assert!(help.contains("Exit codes: 0 "), "{sub}: {help}");
    }
}

#[test]
fn a_large_build_shows_progress_on_a_terminal_only_and_quiet_prints_nothing() {
    let config = crate::harness::domains_config(
        2500,
        "[defaults]\nmx = [\"mx.example.net\"]\npolicy_cname = \"mail.example.net\"\n\
         [nginx]\nvhosts = \"shared\"\n",
        "",
    );
    let p = Project::new(&config);
    // Not a terminal: the summary, and no bar.
    let run = p.run(&["build", "--dry-run"]);
    assert!(run.ok().contains("2500 domain(s)"));
    assert!(!run.stderr().contains("domains ("), "{}", run.stderr());
    // A terminal (script(1) gives the build one): the bar counts the domains.
    if let Some(script) = crate::harness::real_tool("script") {
        let bin = env!("CARGO_BIN_EXE_mtasts");
        let out = std::process::Command::new(script)
            .args(["-qec", &format!("{bin} build"), "/dev/null"])
            .current_dir(p.path())
            .env("SOURCE_DATE_EPOCH", crate::harness::EPOCH)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("/2500 domains ("), "{text}");
    }
    // --quiet: no summary, no bar; the build still happened.
    p.write(
        "domains.toml",
        &config.replace("[domains.\"d00000.example\"]\n", ""),
    );
    let run = p.run(&["build", "--quiet", "--forget", "d00000.example"]);
    assert_eq!(run.ok(), "");
    assert!(
        !p.path()
            .join("output/webroot/mta-sts.d00000.example")
            .exists()
    );
}

#[test]
fn certificates_lists_every_policy_host_once_with_an_argv_command() {
    let config = "[defaults]\nmx = [\"mx.example.net\"]\npolicy_cname = \"mail.example.net\"\n\
        [nginx]\nacme_webroot = \"/var/lib/mtasts-acme\"\n\
        [domains.\"example.com\"]\naliases = [\"example.net\"]\n[domains.\"bücher.example\"]\n";
    let p = Project::new(config);
    let json: serde_json::Value =
        serde_json::from_str(&p.run(&["certificates", "--format", "json"]).ok()).unwrap();
    let certs = json["certificates"].as_array().unwrap();
    let mut hosts: Vec<&str> = certs
        .iter()
        .flat_map(|c| c["hosts"].as_array().unwrap())
        .map(|h| h.as_str().unwrap())
        .collect();
    hosts.sort();
    assert_eq!(
        hosts,
        [
            "mta-sts.example.com",
            "mta-sts.example.net",
            "mta-sts.xn--bcher-kva.example"
        ]
    );
    let com = certs
        .iter()
        .find(|c| c["name"] == "mta-sts.example.com")
        .unwrap();
    assert_eq!(
        com["certificate"],
        "/etc/letsencrypt/live/mta-sts.example.com/fullchain.pem"
    );
    assert_eq!(
        com["command"],
        serde_json::json!([
            "certbot",
            "certonly",
            "--non-interactive",
            "--agree-tos",
            "--keep-until-expiring",
            "--webroot",
            "--webroot-path",
            "/var/lib/mtasts-acme",
            "--cert-name",
            "mta-sts.example.com",
            "--register-unsafely-without-email",
            "-d",
            "mta-sts.example.com"
        ])
    );
    // lego writes <path>/certificates/<host>.crt: with certbot's paths no lego command puts
    // the files where nginx loads them, so none is printed.
    let lego_args = [
        "certificates",
        "--client",
        "lego",
        "--email",
        "ops@example.com",
        "--server",
        "https://acme-staging-v02.api.letsencrypt.org/directory",
    ];
    let refused = p.run(&lego_args);
    assert!(refused.stdout().is_empty(), "{}", refused.stdout());
    let why = refused.fails();
    assert!(
        why.contains("lego writes the certificate mta-sts.example.com to")
            && why.contains("no lego command puts it there"),
        "{why}"
    );
    let lego_paths = config.replace(
        "[nginx]\n",
        "[nginx]\ncertificate = \"/var/lib/lego/certificates/{host}.crt\"\ncertificate_key = \"/var/lib/lego/certificates/{host}.key\"\n",
    );
    p.write("domains.toml", &lego_paths);
    let lego = p.run(&lego_args).ok();
    assert!(
        lego.contains("command     lego --accept-tos --http --http.webroot /var/lib/mtasts-acme --path /var/lib/lego --email ops@example.com --server https://acme-staging-v02.api.letsencrypt.org/directory -d mta-sts.example.net run"),
        "{lego}"
    );
    // ... and then certbot is the one that cannot.
    assert!(p.run(&["certificates"]).fails().contains("certbot writes"));
    p.write("domains.toml", config);
    // lego cannot register without an address; a bad one is a usage error.
    assert!(
        p.run(&["certificates", "--client", "lego"])
            .fails()
            .contains("--email")
    );
    assert_eq!(
        p.run(&["certificates", "--email", "not an address"]).code(),
        2
    );
    // Without the challenge directory there is nothing the commands could answer from.
    p.write(
        "domains.toml",
        &config.replace("acme_webroot = \"/var/lib/mtasts-acme\"\n", ""),
    );
    let run = p.run(&["certificates", "--format", "json"]);
    assert!(run.fails().contains("acme_webroot"));
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(doc["error"]["kind"], "setup");
}
