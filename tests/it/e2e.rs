//! End to end: `mtasts build` output published by a real NSD and nginx, resolved by a real
//! MTA-STS client (postfix-mta-sts-resolver), and the same client refusing broken publications.

use std::fs;
use std::path::{Path, PathBuf};

use crate::harness::{Project, fixtures, make_certs, real_tool};
use crate::system::{DnsTweaks, Outcome, System, Tools};

/// Every fixture domain in A-label form, with the policy the client must report.
pub(crate) const EXPECTED: &[(&str, &str, &[&str], u64)] = &[
    (
        "enforce.test",
        "enforce",
        &[
            "mx1.enforce.test",
            "mx2.enforce.test",
            "*.backup.enforce.test",
        ],
        604800,
    ),
    (
        "testing.test",
        "testing",
        &["mx1.mail.test", "*.mx.mail.test"],
        604800,
    ),
    (
        "none.test",
        "none",
        &["mx1.mail.test", "*.mx.mail.test"],
        86400,
    ),
    (
        "xn--bcher-kva.test",
        "enforce",
        &["mx1.mail.test", "*.mx.mail.test"],
        604800,
    ),
    (
        "v4only.test",
        "testing",
        &["mx1.mail.test", "*.mx.mail.test"],
        604800,
    ),
    ("v6only.test", "enforce", &["mx.v6only.test"], 604800),
    // An alias of enforce.test: the client must get enforce.test's policy through it.
    (
        "alias.test",
        "enforce",
        &[
            "mx1.enforce.test",
            "mx2.enforce.test",
            "*.backup.enforce.test",
        ],
        604800,
    ),
];

pub(crate) fn domains() -> Vec<&'static str> {
    EXPECTED.iter().map(|e| e.0).collect()
}

/// The fixture built into a fresh project with certificates for every policy host.
pub(crate) struct Setup {
    pub(crate) project: Project,
    pub(crate) ca: PathBuf,
}

impl Setup {
    pub(crate) fn new(openssl: &Path) -> Setup {
        Setup::with_nginx(openssl, "")
    }

    /// The fixture with extra `[nginx]` lines (for example the shared layout; `@ROOT@` in them
    /// is the test's directory too).
    pub(crate) fn with_nginx(openssl: &Path, nginx_lines: &str) -> Setup {
        let project = Project::for_nginx();
        let root = project.path().to_path_buf();
        let config = fs::read_to_string(fixtures().join("e2e/domains.toml")).unwrap();
        let config = config
            .replace("[nginx]\n", &format!("[nginx]\n{nginx_lines}"))
            .replace("@ROOT@", &root.display().to_string());
        project.write("domains.toml", &config);
        let hosts: Vec<String> = domains().iter().map(|d| format!("mta-sts.{d}")).collect();
        let ca = make_certs(openssl, &root, &hosts);
        Setup { project, ca }
    }

    pub(crate) fn build(&self, args: &[&str]) {
        let mut all = vec!["build"];
        all.extend_from_slice(args);
        self.project.run(&all).ok();
    }

    pub(crate) fn root(&self) -> &Path {
        self.project.path()
    }

    /// Every fixture domain is built at the same clock, so all share one id.
    pub(crate) fn id(&self) -> String {
        self.project.lock_id("enforce.test")
    }
}

pub(crate) fn assert_valid(
    outcome: &Outcome,
    domain: &str,
    mode: &str,
    mx: &[&str],
    max_age: u64,
    id: &str,
) {
    assert_eq!(outcome.result, "VALID", "{domain}: {outcome:?}");
    assert_eq!(outcome.mode.as_deref(), Some(mode), "{domain}");
    assert_eq!(outcome.mx, mx, "{domain}");
    assert_eq!(outcome.max_age, Some(max_age), "{domain}");
    assert_eq!(outcome.id.as_deref(), Some(id), "{domain}");
}

pub(crate) fn tools() -> Option<(Tools, PathBuf)> {
    let openssl = real_tool("openssl")?;
    Some((Tools::find()?, openssl))
}

#[test]
fn e2e_real_client_accepts_every_generated_domain_and_notices_each_missing_file() {
    let Some((tools, openssl)) = tools() else {
        return;
    };
    let setup = Setup::new(&openssl);
    setup.build(&[]);
    let id = setup.id();
    let mut system = System::start(&tools, setup.root(), &DnsTweaks::default()).unwrap();
    let got = system.resolve(&setup.ca, &domains());
    assert_eq!(got.len(), EXPECTED.len());
    for (domain, mode, mx, max_age) in EXPECTED {
        assert_valid(&got[*domain], domain, mode, mx, *max_age, &id);
    }

    // Each generated file is needed: without the policy file the fetch fails (404) ...
    let out = setup.root().join("output");
    fs::remove_file(out.join("webroot/mta-sts.testing.test/.well-known/mta-sts.txt")).unwrap();
    // ... and without the vhost nginx presents another host's certificate.
    fs::remove_file(out.join("nginx/mta-sts.v4only.test.conf")).unwrap();
    system.restart_nginx();
    let got = system.resolve(&setup.ca, &["testing.test", "v4only.test", "enforce.test"]);
    assert_eq!(
        got["testing.test"].result, "FETCH_ERROR",
        "policy file removed"
    );
    assert_eq!(got["v4only.test"].result, "FETCH_ERROR", "vhost removed");
    assert_eq!(
        got["enforce.test"].result, "VALID",
        "an untouched domain still resolves"
    );
    drop(system);

    // ... and without the zone fragment there is no policy at all.
    let tweaks = DnsTweaks {
        omit: vec!["enforce.test".into()],
        ..DnsTweaks::default()
    };
    let system = System::start(&tools, setup.root(), &tweaks).unwrap();
    let got = system.resolve(&setup.ca, &["enforce.test", "none.test"]);
    assert_eq!(got["enforce.test"].result, "NONE", "zone fragment left out");
    assert_eq!(got["none.test"].result, "VALID");
}

#[test]
fn e2e_real_client_accepts_every_domain_from_the_shared_nginx_layout() {
    let Some((tools, openssl)) = tools() else {
        return;
    };
    let setup = Setup::with_nginx(&openssl, "vhosts = \"shared\"\n");
    crate::harness::keys_readable_by_workers(setup.root());
    setup.build(&[]);
    assert!(setup.root().join("output/nginx/mta-sts.conf").is_file());
    assert!(
        !setup
            .root()
            .join("output/nginx/mta-sts.enforce.test.conf")
            .exists()
    );
    let id = setup.id();
    let system = System::start(&tools, setup.root(), &DnsTweaks::default()).unwrap();
    let got = system.resolve(&setup.ca, &domains());
    for (domain, mode, mx, max_age) in EXPECTED {
        assert_valid(&got[*domain], domain, mode, mx, *max_age, &id);
    }
}

#[test]
fn e2e_real_client_refuses_a_wrong_content_type_two_sts_records_and_a_redirect() {
    let Some((tools, openssl)) = tools() else {
        return;
    };
    let setup = Setup::new(&openssl);

    // A template override serving the policy as application/octet-stream.
    let builtin = include_str!("../../templates/nginx.conf.j2");
    let wrong_type = builtin.replace(
        "default_type text/plain;",
        "default_type application/octet-stream;",
    );
    assert_ne!(wrong_type, builtin);
    setup.project.write("bad-type/nginx.conf.j2", &wrong_type);
    setup.build(&["--templates", "bad-type"]);
    let system = System::start(&tools, setup.root(), &DnsTweaks::default()).unwrap();
    let got = system.resolve(&setup.ca, &["enforce.test", "xn--bcher-kva.test"]);
    assert_eq!(
        got["enforce.test"].result, "FETCH_ERROR",
        "wrong Content-Type accepted"
    );
    assert_eq!(
        got["xn--bcher-kva.test"].result, "FETCH_ERROR",
        "wrong Content-Type accepted"
    );
    drop(system);

    // A second v=STSv1 record at _mta-sts: RFC 8461 §3.1 says no policy.
    setup.build(&[]);
    let tweaks = DnsTweaks {
        extra: vec![(
            "enforce.test".into(),
            "_mta-sts.enforce.test. 60 IN TXT \"v=STSv1; id=other\"".into(),
        )],
        ..DnsTweaks::default()
    };
    let system = System::start(&tools, setup.root(), &tweaks).unwrap();
    let got = system.resolve(&setup.ca, &["enforce.test", "testing.test"]);
    assert_eq!(
        got["enforce.test"].result, "NONE",
        "two STS records accepted"
    );
    assert_eq!(got["testing.test"].result, "VALID");
    drop(system);

    // The policy served through a redirect (to a URL that would itself answer 200).
    let redirect = builtin.replace(
        "try_files $uri =404;",
        "return 301 https://mta-sts.testing.test/.well-known/mta-sts.txt;",
    );
    assert_ne!(redirect, builtin);
    setup.project.write("redirect/nginx.conf.j2", &redirect);
    setup.build(&["--templates", "redirect"]);
    let system = System::start(&tools, setup.root(), &DnsTweaks::default()).unwrap();
    let got = system.resolve(&setup.ca, &["enforce.test", "none.test"]);
    assert_eq!(
        got["enforce.test"].result, "FETCH_ERROR",
        "redirect followed"
    );
    assert_eq!(got["none.test"].result, "FETCH_ERROR", "redirect followed");
}
