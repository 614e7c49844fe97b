//! `mtasts import` against a live deployment in the e2e namespace (NSD and nginx): a domain a
//! mailcow serves (its own file layout, LF line ends, max_age before mx, its own id), a domain
//! in mtasts's own form, and a domain without a policy. The imported config's first build
//! publishes the same ids, the same records and the same policies (byte for byte where the
//! live file was in mtasts's form), and `check` is clean with no DNS change.

use std::fs;

use crate::check::{check, healthy_mx};
use crate::e2e::{Setup, tools};
use crate::system::{DnsTweaks, System};

/// What mailcow's `mta-sts.php` answers for testing.test's settings.
const MAILCOW_POLICY: &str =
    "version: STSv1\nmode: enforce\nmax_age: 86400\nmx: mx1.mail.test\nmx: *.mx.mail.test\n";
const MAILCOW_ID: &str = "mailcow20240101";

#[test]
fn import_reads_a_live_mailcow_domain_and_the_first_build_publishes_the_same_ids() {
    let Some((tools, openssl)) = tools() else {
        return;
    };
    let setup = Setup::new(&openssl);
    setup.build(&[]);
    let root = setup.root().to_path_buf();
    let out = root.join("output");
    fs::write(
        out.join("webroot/mta-sts.testing.test/.well-known/mta-sts.txt"),
        MAILCOW_POLICY,
    )
    .unwrap();
    let zone = out.join("dns/testing.test.zone");
    let live_zone = fs::read_to_string(&zone)
        .unwrap()
        .replace(&setup.id(), MAILCOW_ID)
        .replace("mode testing", "mode enforce");
    fs::write(&zone, &live_zone).unwrap();
    fs::remove_file(out.join("webroot/mta-sts.v4only.test/.well-known/mta-sts.txt")).unwrap();
    let enforce_policy =
        fs::read(out.join("webroot/mta-sts.enforce.test/.well-known/mta-sts.txt")).unwrap();
    let enforce_zone = fs::read_to_string(out.join("dns/enforce.test.zone")).unwrap();
    let dns = DnsTweaks {
        extra: healthy_mx(),
        ..DnsTweaks::default()
    };
    let mut system = System::start(&tools, &root, &dns).unwrap();
    let ca = setup.ca.display().to_string();
    let import = |args: &[&str]| {
        let mut all = vec![
            "import",
            "--nameserver",
            "127.0.0.1",
            "--ca-file",
            ca.as_str(),
        ];
        all.extend_from_slice(args);
        system.mtasts(&all)
    };

    let printed = import(&["testing.test", "enforce.test", "v4only.test"]);
    let tables = printed.ok();
    for line in [
        "[domains.\"testing.test\"]\nmode = \"enforce\"\nmx = [\"mx1.mail.test\", \"*.mx.mail.test\"]\nmax_age = 86400\npolicy_cname = \"web.glue.test\"\ntlsrpt_rua = [\"mailto:tls-reports@mail.test\", \"https://reports.mail.test/v1/tlsrpt\"]\n",
        &format!("id = \"{MAILCOW_ID}\"\n"),
        "# The live file's bytes differ from mtasts's",
        &format!("id = \"{}\"\n", setup.id()),
        "[domains.\"v4only.test\"]\nmode = \"testing\"\nmx = [\"mx1.mail.test\", \"a.mx.mail.test\"]\npolicy_addresses = [\"127.0.0.1\"]\ntlsrpt_rua = [\"mailto:tls@v4only.test\"]\n",
        "# No live policy: mode testing with the live MX hosts",
    ] {
        assert!(tables.contains(line), "{line}\n---\n{tables}");
    }
    // The domain without a policy pins no id; the stderr says why.
    let v4 = &tables[tables.find("[domains.\"v4only.test\"]").unwrap()..];
    assert!(!v4.contains("id = "), "{v4}");
    assert!(
        printed.stderr().contains(
            "v4only.test: https://mta-sts.v4only.test/.well-known/mta-sts.txt answered HTTP 404"
        ),
        "{}",
        printed.stderr()
    );

    // The migration: the fixture's [defaults] and [nginx]; the two live domains appended by
    // --write; then a first build with no lock and no output of ours.
    let config = setup.project.read("domains.toml");
    let head = &config[..config.find("[domains.").unwrap()];
    setup.project.write("domains.toml", head);
    let written = import(&["testing.test", "enforce.test", "--write"]);
    assert!(
        written.ok().contains("appended 2 table(s) to domains.toml"),
        "{}",
        written.stdout()
    );
    let after = setup.project.read("domains.toml");
    assert!(after.starts_with(head), "the config kept its text");
    // Again: both are configured now; refused, nothing written.
    let again = import(&["testing.test", "--write"]);
    assert_eq!(again.code(), 1, "{}", again.stderr());
    assert!(
        again.stderr().contains("already configured"),
        "{}",
        again.stderr()
    );
    assert_eq!(setup.project.read("domains.toml"), after);

    fs::remove_file(root.join("domains.lock")).unwrap();
    fs::remove_dir_all(&out).unwrap();
    setup.build(&[]);
    assert_eq!(setup.project.lock_id("testing.test"), MAILCOW_ID);
    assert_eq!(
        setup.project.lock_id("enforce.test"),
        setup_id_of(&enforce_zone)
    );
    assert_eq!(
        fs::read_to_string(out.join("dns/testing.test.zone")).unwrap(),
        live_zone,
        "same records, same id"
    );
    assert_eq!(
        fs::read_to_string(out.join("dns/enforce.test.zone")).unwrap(),
        enforce_zone
    );
    assert_eq!(
        fs::read(out.join("webroot/mta-sts.enforce.test/.well-known/mta-sts.txt")).unwrap(),
        enforce_policy,
        "a live file in mtasts's form: byte for byte"
    );
    let policy =
        fs::read_to_string(out.join("webroot/mta-sts.testing.test/.well-known/mta-sts.txt"))
            .unwrap();
    assert_eq!(
        policy,
        MAILCOW_POLICY
            .replace("max_age: 86400\n", "")
            .replace('\n', "\r\n")
            + "max_age: 86400\r\n"
    );

    // Deployed (nginx now serves the new output), with DNS untouched: check is clean.
    system.restart_nginx();
    let (code, doc, _) = check(&system, &setup, &["testing.test", "enforce.test"]);
    assert_eq!(code, 0, "{doc:#}");
}

/// The id in a zone fragment's `_mta-sts` TXT record.
fn setup_id_of(zone: &str) -> String {
    let at = zone.find("id=").unwrap() + 3;
    zone[at..].split('"').next().unwrap().to_string()
}
