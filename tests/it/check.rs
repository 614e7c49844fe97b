//! `mtasts check` against the end-to-end system (real NSD, real nginx, in a namespace): a correct
//! deployment is all ok, and each broken state is detected with the right message.

use crate::e2e::{Setup, tools};
use crate::system::{DnsTweaks, System};

/// MX records covering every pattern of the e2e fixture's testing/enforce domains.
pub(crate) fn healthy_mx() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut mx = |d: &str, hosts: &[&str]| {
        for (i, h) in hosts.iter().enumerate() {
            out.push((
                d.to_string(),
                format!("{d}. 60 IN MX {} {h}.", 10 * (i + 1)),
            ));
        }
    };
    // alias.test delivers to enforce.test's MX hosts: its delegated policy covers them.
    for d in ["enforce.test", "alias.test"] {
        mx(
            d,
            &[
                "mx1.enforce.test",
                "mx2.enforce.test",
                "a.backup.enforce.test",
            ],
        );
    }
    for d in ["testing.test", "xn--bcher-kva.test", "v4only.test"] {
        mx(d, &["mx1.mail.test", "a.mx.mail.test"]);
    }
    mx("v6only.test", &["mx.v6only.test"]);
    out
}

/// The generated zones plus MX records that every pattern covers.
fn healthy() -> DnsTweaks {
    DnsTweaks {
        extra: healthy_mx(),
        ..DnsTweaks::default()
    }
}

/// The generated fragment's record lines for `domain`, minus those `drop` rejects.
fn fragment(setup: &Setup, domain: &str, drop: impl Fn(&str) -> bool) -> Vec<(String, String)> {
    setup
        .project
        .read(&format!("output/dns/{domain}.zone"))
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty() && !drop(l))
        .map(|l| (domain.to_string(), l.to_string()))
        .collect()
}

/// `mtasts check --format json` in the namespace; without `--smtp` in `args`, with `--no-smtp`
/// (these tests are about DNS and HTTPS; `smtp.rs` probes a real MTA).
pub(crate) fn check(
    system: &System,
    setup: &Setup,
    args: &[&str],
) -> (i32, serde_json::Value, String) {
    let ca = setup.ca.display().to_string();
    let mut all = vec!["check", "--nameserver", "127.0.0.1", "--format", "json"];
    if !args.contains(&"--timeout") {
        all.extend(["--timeout", "5"]);
    }
    if !args.contains(&"--no-ca") {
        all.extend(["--ca-file", ca.as_str()]);
    }
    if !args.contains(&"--smtp") {
        all.push("--no-smtp");
    }
    all.extend(args.iter().filter(|a| **a != "--no-ca" && **a != "--smtp"));
    let run = system.mtasts(&all);
    let doc = serde_json::from_str(&run.stdout())
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout(), run.stderr()));
    (run.code(), doc, run.stderr())
}

/// The (status, detail) of every check of `domain` that is not ok or note.
pub(crate) fn problems(doc: &serde_json::Value, domain: &str) -> Vec<(String, String, String)> {
    let d = doc["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == domain)
        .unwrap();
    d["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] != "ok" && c["status"] != "note")
        .map(|c| {
            (
                c["status"].as_str().unwrap().to_string(),
                c["detail"].as_str().unwrap().to_string(),
                c["fix"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

pub(crate) fn has(doc: &serde_json::Value, domain: &str, status: &str, detail: &str) -> bool {
    let found = problems(doc, domain)
        .iter()
        .any(|(s, d, _)| s == status && d.contains(detail));
    assert!(
        found,
        "{domain}: no {status} containing {detail:?} in {:#?}",
        problems(doc, domain)
    );
    found
}

#[test]
fn check_a_correct_deployment_is_all_ok_and_dns_breakages_are_named() {
    let Some((tools, openssl)) = tools() else {
        return;
    };
    let setup = Setup::new(&openssl);
    setup.build(&[]);
    let healthy = healthy();
    let system = System::start(&tools, setup.root(), &healthy).unwrap();
    let (code, doc, stderr) = check(&system, &setup, &[]);
    assert_eq!(code, 0, "{doc:#}\n{stderr}");
    for d in doc["domains"].as_array().unwrap() {
        assert!(
            problems(&doc, d["domain"].as_str().unwrap()).is_empty(),
            "{d:#}"
        );
    }
    assert_eq!(doc["domains"].as_array().unwrap().len(), 7);
    // With domains.lock lost, check recovers the published ids from the manifest as build
    // does, instead of calling every domain unbuilt.
    let lock = setup.project.read("domains.lock");
    std::fs::remove_file(setup.root().join("domains.lock")).unwrap();
    let (code, lost, stderr) = check(&system, &setup, &[]);
    assert_eq!(code, 0, "{lost:#}\n{stderr}");
    assert!(stderr.contains("domains.lock is missing"), "{stderr}");
    setup.project.write("domains.lock", &lock);
    // The alias is checked through its delegation: the TXT reached by the CNAME carries the
    // primary's id, and its own policy host serves the primary's bytes.
    let alias = doc["domains"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["domain"] == "alias.test")
        .unwrap();
    let txt = alias["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "txt")
        .unwrap();
    assert_eq!(txt["status"], "ok", "{alias:#}");
    assert!(
        txt["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("id={}", setup.id())),
        "{alias:#}"
    );
    drop(system);

    let mut extra = healthy_mx();
    extra.push((
        "enforce.test".into(),
        "enforce.test. 60 IN MX 40 rogue.other.test.".into(),
    ));
    extra.extend(
        fragment(&setup, "testing.test", |_| false)
            .into_iter()
            .map(|(d, l)| {
                let id = l
                    .split("id=")
                    .nth(1)
                    .map(|s| s.trim_end_matches('"').to_string());
                (d, id.map_or(l.clone(), |id| l.replace(&id, "wrong123")))
            }),
    );
    extra.push((
        "none.test".into(),
        "_mta-sts.none.test. 60 IN TXT \"v=STSv1; id=second1\"".into(),
    ));
    extra.extend(fragment(&setup, "v4only.test", |l| {
        l.starts_with("_smtp._tls.")
    }));
    extra.extend(fragment(&setup, "xn--bcher-kva.test", |l| {
        l.starts_with("mta-sts.")
    }));
    let broken = DnsTweaks {
        extra,
        omit: vec![
            "testing.test".into(),
            "v4only.test".into(),
            "xn--bcher-kva.test".into(),
        ],
    };
    let system = System::start(&tools, setup.root(), &broken).unwrap();
    let (code, doc, _) = check(&system, &setup, &[]);
    assert_eq!(code, 1);
    has(
        &doc,
        "enforce.test",
        "fail",
        "MX host rogue.other.test matches no mx pattern of the enforce policy",
    );
    has(
        &doc,
        "testing.test",
        "fail",
        "the TXT record announces id wrong123, but the current id is 20251128000000",
    );
    has(
        &doc,
        "none.test",
        "fail",
        "2 v=STSv1 records at _mta-sts.none.test",
    );
    has(
        &doc,
        "v4only.test",
        "fail",
        "no TLS-RPT record at _smtp._tls.v4only.test",
    );
    has(
        &doc,
        "xn--bcher-kva.test",
        "fail",
        "mta-sts.xn--bcher-kva.test does not resolve",
    );
    assert!(problems(&doc, "v6only.test").is_empty());
    let fix = &problems(&doc, "v4only.test")[0].2;
    assert!(
        fix.starts_with(
            "publish _smtp._tls.v4only.test. 60 IN TXT \"v=TLSRPTv1; rua=mailto:tls@v4only.test\""
        ),
        "{fix}"
    );
}

#[test]
fn check_names_each_https_breakage() {
    let Some((tools, openssl)) = tools() else {
        return;
    };
    let setup = Setup::new(&openssl);
    setup.build(&[]);
    let edit = |rel: &str, from: &str, to: &str| {
        let text = setup.project.read(rel);
        assert!(text.contains(from), "{rel} lacks {from}");
        setup.project.write(rel, &text.replace(from, to));
    };
    edit(
        "output/nginx/mta-sts.enforce.test.conf",
        "try_files $uri =404;",
        "return 301 https://mta-sts.testing.test/.well-known/mta-sts.txt;",
    );
    edit(
        "output/nginx/mta-sts.testing.test.conf",
        "default_type text/plain;",
        "default_type application/octet-stream;",
    );
    edit(
        "output/webroot/mta-sts.none.test/.well-known/mta-sts.txt",
        "\r\n",
        "\n",
    );
    edit(
        "output/webroot/mta-sts.v4only.test/.well-known/mta-sts.txt",
        "mode: testing",
        "mode: enforce",
    );
    edit(
        "output/nginx/mta-sts.xn--bcher-kva.test.conf",
        "/tls/mta-sts.xn--bcher-kva.test/",
        "/tls/mta-sts.v6only.test/",
    );
    let system = System::start(&tools, setup.root(), &healthy()).unwrap();
    let (code, doc, _) = check(&system, &setup, &[]);
    assert_eq!(code, 1);
    has(
        &doc,
        "enforce.test",
        "fail",
        "answers 301 redirecting to https://mta-sts.testing.test/.well-known/mta-sts.txt: senders never follow redirects",
    );
    has(
        &doc,
        "testing.test",
        "fail",
        "is served as \"application/octet-stream\"; senders require text/plain",
    );
    has(
        &doc,
        "none.test",
        "warn",
        "means the same as the generated one but its bytes differ",
    );
    has(
        &doc,
        "v4only.test",
        "fail",
        "HTTPS serves a policy that this build did not generate",
    );
    has(
        &doc,
        "xn--bcher-kva.test",
        "fail",
        "certificate not valid for this host name",
    );
    assert!(problems(&doc, "v6only.test").is_empty());
    // Without the test CA nothing is trusted.
    let (code, doc, _) = check(&system, &setup, &["--no-ca", "v6only.test"]);
    assert_eq!(code, 1);
    has(
        &doc,
        "v6only.test",
        "fail",
        "certificate not trusted (unknown issuer)",
    );
}

#[test]
fn check_tells_a_pending_deployment_from_dns_updated_before_the_policy() {
    let Some((tools, openssl)) = tools() else {
        return;
    };
    let setup = Setup::new(&openssl);
    setup.build(&[]);
    let old_policy = setup
        .project
        .read("output/webroot/mta-sts.enforce.test/.well-known/mta-sts.txt");
    let old_zone = fragment(&setup, "testing.test", |_| false);
    let config = setup.project.read("domains.toml");
    let edited = config
        .replace(
            "[domains.\"enforce.test\"]\nmode = \"enforce\"",
            "[domains.\"enforce.test\"]\nmode = \"enforce\"\nmax_age = 1209600",
        )
        .replace(
            "[domains.\"testing.test\"]\n",
            "[domains.\"testing.test\"]\nmax_age = 1209600\n",
        );
    assert_ne!(edited, config);
    setup.project.write("domains.toml", &edited);
    setup.build(&[]);
    // enforce.test: the new TXT id is out, the policy file is still the old one.
    setup.project.write(
        "output/webroot/mta-sts.enforce.test/.well-known/mta-sts.txt",
        &old_policy,
    );
    // testing.test: the new policy is out, the TXT record still has the old id.
    let mut extra = healthy_mx();
    extra.extend(old_zone);
    let system = System::start(
        &tools,
        setup.root(),
        &DnsTweaks {
            extra,
            omit: vec!["testing.test".into()],
        },
    )
    .unwrap();
    let (code, doc, _) = check(&system, &setup, &[]);
    assert_eq!(code, 1);
    has(
        &doc,
        "enforce.test",
        "fail",
        "DNS updated before the policy: the TXT record announces 20251128000001",
    );
    has(
        &doc,
        "testing.test",
        "pending",
        "the new policy is live; the TXT record still announces the previous id 20251128000000",
    );
    let (code, doc, _) = check(&system, &setup, &["testing.test"]);
    assert_eq!(code, 0, "a pending deployment is not a failure");
    assert_eq!(
        problems(&doc, "testing.test")[0].2,
        "publish _mta-sts.testing.test. 60 IN TXT \"v=STSv1; id=20251128000001\""
    );
}

#[test]
fn check_fetches_the_policy_from_every_address_of_the_policy_host() {
    let Some((tools, openssl)) = tools() else {
        return;
    };
    let setup = Setup::new(&openssl);
    setup.build(&[]);
    // web.glue.test has 127.0.0.1 and ::1; behind ::1, testing.test's server has a stale file
    // (as a second web server that missed a deploy would).
    let rel = "output/nginx/mta-sts.testing.test.conf";
    let conf = setup.project.read(rel);
    let stale = "if ($server_addr = \"::1\") { return 200 \"version: STSv1\\r\\nmode: none\\r\\nmax_age: 86400\\r\\n\"; }\n        try_files $uri =404;";
    assert!(conf.contains("try_files $uri =404;"));
    setup
        .project
        .write(rel, &conf.replacen("try_files $uri =404;", stale, 1));
    let system = System::start(&tools, setup.root(), &healthy()).unwrap();
    let (code, doc, _) = check(&system, &setup, &["testing.test", "v4only.test"]);
    assert_eq!(code, 1, "{doc:#}");
    has(
        &doc,
        "testing.test",
        "fail",
        "not every address of mta-sts.testing.test serves the policy: ::1: serves other bytes than the other addresses",
    );
    // One address only: nothing more to compare, and no such line.
    assert!(problems(&doc, "v4only.test").is_empty(), "{doc:#}");
}

#[test]
fn check_says_what_a_tls_alert_from_a_shared_policy_host_means() {
    let Some((tools, openssl)) = tools() else {
        return;
    };
    let setup = Setup::with_nginx(&openssl, "vhosts = \"shared\"\n");
    setup.build(&[]);
    // certbot's mode for a key, owned by root: nginx's workers cannot load it per handshake.
    use std::os::unix::fs::PermissionsExt;
    let key = setup.root().join("tls/mta-sts.testing.test/privkey.pem");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let system = System::start(&tools, setup.root(), &healthy()).unwrap();
    let (code, doc, _) = check(&system, &setup, &["testing.test"]);
    assert_eq!(code, 1, "{doc:#}");
    let fails = problems(&doc, "testing.test");
    let (_, detail, fix) = fails
        .iter()
        .find(|(_, d, _)| d.contains("the server refused the TLS handshake"))
        .unwrap_or_else(|| panic!("{fails:#?}"));
    assert!(detail.contains("alert"), "{detail}");
    assert!(
        fix.contains("no usable certificate for mta-sts.testing.test"),
        "{fix}"
    );
    assert!(fix.contains("[nginx] user can read"), "{fix}");
}
