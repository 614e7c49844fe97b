//! `mtasts check` probing real MX hosts: a real Postfix in the test's network namespace, one
//! smtpd per planted fault on its own loopback address (port 25, as senders use it), reached
//! through the generated DNS (NSD) or `--smtp-connect`.

use std::fs;
use std::path::{Path, PathBuf};

#[path = "../support/postfix.rs"]
pub(crate) mod postfix;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

use crate::check::{check, has, healthy_mx, problems};
use crate::e2e::{Setup, tools};
use crate::harness::{Server, real_tool};
use crate::system::{DnsTweaks, System};

/// One smtpd: the MX host it plays, its address, and how it is set up.
struct Mx {
    host: &'static str,
    ip: &'static str,
    tls: Tls,
}

enum Tls {
    /// A certificate from the test CA for these names, valid from/to days relative to now.
    Cert(&'static [&'static str], i64, i64),
    /// A self-signed certificate for the host.
    SelfSigned,
    /// No STARTTLS at all.
    Off,
    /// A good certificate, but TLS 1.0 and 1.1 only.
    Old,
}

const MXES: &[Mx] = &[
    Mx {
        host: "mx1.enforce.test",
        ip: "127.0.0.11",
        tls: Tls::Cert(&["mx1.enforce.test"], -1, 90),
    },
    Mx {
        host: "mx2.enforce.test",
        ip: "127.0.0.12",
        tls: Tls::Cert(&["mx2.enforce.test"], -60, -2),
    },
    Mx {
        host: "a.backup.enforce.test",
        ip: "127.0.0.13",
        tls: Tls::Cert(&["mx.elsewhere.test"], -1, 90),
    },
    Mx {
        host: "b.backup.enforce.test",
        ip: "127.0.0.18",
        tls: Tls::Cert(&["*.backup.enforce.test"], -1, 5),
    },
    Mx {
        host: "mx1.mail.test",
        ip: "127.0.0.14",
        tls: Tls::SelfSigned,
    },
    Mx {
        host: "a.mx.mail.test",
        ip: "127.0.0.15",
        tls: Tls::Off,
    },
    Mx {
        host: "b.mx.mail.test",
        ip: "127.0.0.16",
        tls: Tls::Old,
    },
    Mx {
        host: "d.mx.mail.test",
        ip: "127.0.0.19",
        tls: Tls::Cert(&["*.mx.mail.test"], -1, 90),
    },
];

/// Accepts connections and never says a word.
const SILENT: (&str, &str) = ("c.mx.mail.test", "127.0.0.17");

fn params(names: &[&str], from: i64, to: i64) -> CertificateParams {
    let mut p =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let now = OffsetDateTime::now_utc();
    p.not_before = now + Duration::days(from);
    p.not_after = now + Duration::days(to);
    p.distinguished_name.push(DnType::CommonName, names[0]);
    p
}

/// Writes each MX's certificate and key under `dir`; returns the CA's PEM path.
fn certificates(dir: &Path) -> PathBuf {
    let mut ca = params(&["mtasts smtp test CA"], -90, 90);
    ca.subject_alt_names.clear();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let issuer = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    for mx in MXES {
        let key = KeyPair::generate().unwrap();
        let cert = match mx.tls {
            Tls::Cert(names, from, to) => params(names, from, to).signed_by(&key, &issuer),
            Tls::Old => params(&[mx.host], -1, 90).signed_by(&key, &issuer),
            Tls::SelfSigned => params(&[mx.host], -1, 90).self_signed(&key),
            Tls::Off => continue,
        }
        .unwrap();
        fs::write(dir.join(format!("{}.pem", mx.host)), cert.pem()).unwrap();
        fs::write(dir.join(format!("{}.key", mx.host)), key.serialize_pem()).unwrap();
    }
    let path = dir.join("smtp-ca.pem");
    fs::write(&path, issuer.pem()).unwrap();
    path
}

/// A Postfix master with one smtpd per MX, stopped on drop.
fn postfix(system: &System, dir: &Path) -> Server {
    let listeners: Vec<(String, String)> = MXES
        .iter()
        .map(|mx| {
            let tls = postfix::tls_options(
                &dir.join(format!("{}.pem", mx.host)),
                &dir.join(format!("{}.key", mx.host)),
            );
            let options = match mx.tls {
                Tls::Off => "-o smtpd_tls_security_level=none".to_string(),
                Tls::Old => format!(
                    "{tls} -o smtpd_tls_protocols=>=TLSv1,<=TLSv1.1 -o smtpd_tls_mandatory_protocols=>=TLSv1,<=TLSv1.1 -o tls_medium_cipherlist=DEFAULT:@SECLEVEL=0"
                ),
                _ => tls,
            };
            (format!("{}:25", mx.ip), options)
        })
        .collect();
    let config = postfix::configure(dir, &listeners);
    let (master, args) = postfix::master_args(&config);
    let log = dir.join("maillog");
    let mut server = Server {
        child: system.exec(master).args(args).spawn().unwrap(),
        name: "postfix",
    };
    for mx in MXES {
        listening(system, &mut server, mx.ip, &log);
    }
    server
}

/// Waits until `ip`:25 in the namespace accepts connections (one connection, closed at once).
fn listening(system: &System, server: &mut Server, ip: &str, log: &Path) {
    server.wait_until(&format!("{} on {ip}:25", server.name), log, || {
        system
            .exec("bash")
            .arg("-c")
            .arg(format!("exec 3<>/dev/tcp/{ip}/25"))
            .output()
            .is_ok_and(|o| o.status.success())
    });
}

fn mx_records() -> Vec<(String, String)> {
    let mut extra = healthy_mx();
    // Beyond the healthy set: a fourth enforce.test MX, and testing.test's two more.
    for d in ["enforce.test", "alias.test"] {
        extra.push((d.into(), format!("{d}. 60 IN MX 40 b.backup.enforce.test.")));
    }
    extra.push((
        "testing.test".into(),
        "testing.test. 60 IN MX 30 b.mx.mail.test.".into(),
    ));
    extra.push((
        "testing.test".into(),
        "testing.test. 60 IN MX 40 c.mx.mail.test.".into(),
    ));
    extra.retain(|(d, _)| d != "v4only.test");
    extra.push((
        "v4only.test".into(),
        "v4only.test. 60 IN MX 10 d.mx.mail.test.".into(),
    ));
    for mx in MXES.iter().filter(|m| m.host.ends_with(".enforce.test")) {
        extra.push((
            "enforce.test".into(),
            format!("{}. 60 IN A {}", mx.host, mx.ip),
        ));
    }
    extra
}

#[test]
fn check_probes_each_mx_of_a_real_postfix_and_names_every_planted_fault() {
    let Some((tools, openssl)) = tools() else {
        return;
    };
    if real_tool("postfix").is_none() || real_tool("promtool").is_none() {
        return;
    }
    let setup = Setup::new(&openssl);
    setup.build(&[]);
    let dir = setup.root().join("postfix");
    fs::create_dir_all(&dir).unwrap();
    let smtp_ca = certificates(&dir);
    let both_cas = dir.join("cas.pem");
    fs::write(
        &both_cas,
        fs::read_to_string(&setup.ca).unwrap() + &fs::read_to_string(&smtp_ca).unwrap(),
    )
    .unwrap();
    let system = System::start(
        &tools,
        setup.root(),
        &DnsTweaks {
            extra: mx_records(),
            ..DnsTweaks::default()
        },
    )
    .unwrap();
    let _postfix = postfix(&system, &dir);
    let mut silent = Server {
        child: system
            .exec("python3")
            .args(["-c", &format!("import socket,time\ns=socket.socket()\ns.bind(('{}',25))\ns.listen()\nc=[s.accept() for _ in range(4)]\ntime.sleep(60)", SILENT.1)])
            .spawn()
            .unwrap(),
        name: "silent server",
    };
    listening(&system, &mut silent, SILENT.1, &dir.join("none.log"));
    // The mail.test hosts have no zone here: --smtp-connect says where they are.
    let mut overrides: Vec<String> = MXES
        .iter()
        .filter(|m| m.host.ends_with(".mail.test"))
        .map(|m| format!("{}:25:{}:25", m.host, m.ip))
        .collect();
    overrides.push(format!("{}:25:{}:25", SILENT.0, SILENT.1));
    let ca = both_cas.display().to_string();
    let mut args = vec!["--smtp", "--no-ca", "--ca-file", &ca, "--timeout", "2"];
    for o in &overrides {
        args.extend(["--smtp-connect", o.as_str()]);
    }
    let selected = ["enforce.test", "alias.test", "testing.test", "v4only.test"];
    args.extend(selected);
    let started = std::time::Instant::now();
    let (code, doc, stderr) = check(&system, &setup, &args);
    eprintln!(
        "check of {} domains with SMTP probes took {:?}",
        selected.len(),
        started.elapsed()
    );
    assert_eq!(code, 1, "{doc:#}\n{stderr}");

    for d in ["enforce.test", "alias.test"] {
        has(
            &doc,
            d,
            "fail",
            "mx2.enforce.test [127.0.0.12]: certificate expired on",
        );
        has(
            &doc,
            d,
            "fail",
            "a.backup.enforce.test [127.0.0.13]: certificate names mx.elsewhere.test, not a.backup.enforce.test",
        );
        has(
            &doc,
            d,
            "warn",
            "b.backup.enforce.test [127.0.0.18]: certificate expires on",
        );
    }
    has(
        &doc,
        "testing.test",
        "fail",
        "mx1.mail.test [127.0.0.14]: certificate not trusted: self-signed",
    );
    has(
        &doc,
        "testing.test",
        "fail",
        "a.mx.mail.test [127.0.0.15] offers no STARTTLS",
    );
    has(
        &doc,
        "testing.test",
        "fail",
        "b.mx.mail.test [127.0.0.16] offers only TLS below 1.2",
    );
    has(
        &doc,
        "testing.test",
        "fail",
        "c.mx.mail.test [127.0.0.17]: no answer within 2 s",
    );
    has(
        &doc,
        "testing.test",
        "warn",
        "the live MX set would not pass enforcement today",
    );
    assert!(
        problems(&doc, "testing.test")
            .iter()
            .all(|(s, _, fix)| s != "fail" || !fix.is_empty()),
        "every FAIL has a fix: {:#?}",
        problems(&doc, "testing.test")
    );
    // v4only.test's one MX is good: only the unused pattern mx1.mail.test is worth a warning.
    assert_eq!(
        problems(&doc, "v4only.test"),
        vec![(
            "warn".to_string(),
            "mx pattern mx1.mail.test matches no live MX host".to_string(),
            String::new()
        )]
    );

    let domain = |name: &str| {
        doc["domains"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["domain"] == name)
            .unwrap()
            .clone()
    };
    let v4 = domain("v4only.test");
    let ready = v4["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "enforce")
        .unwrap();
    assert_eq!(ready["status"], "ok", "{v4:#}");
    let good = &v4["mx"][0];
    assert_eq!(
        (
            &good["host"],
            &good["address"],
            &good["starttls"],
            &good["tls_version"],
            &good["trusted"],
            &good["name_match"],
            &good["status"]
        ),
        (
            &"d.mx.mail.test".into(),
            &"127.0.0.19".into(),
            &true.into(),
            &"TLSv1.3".into(),
            &true.into(),
            &true.into(),
            &"ok".into()
        ),
        "{good:#}"
    );
    let days = good["days_left"].as_i64().unwrap();
    assert!((89..=90).contains(&days), "{good:#}");
    let enforce = domain("enforce.test");
    let mx2 = enforce["mx"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["host"] == "mx2.enforce.test")
        .unwrap();
    assert_eq!(
        (&mx2["trusted"], &mx2["name_match"], &mx2["status"]),
        (&true.into(), &true.into(), &"fail".into()),
        "{mx2:#}"
    );
    assert!(mx2["days_left"].as_i64().unwrap() < 0);

    // Each address was probed once, though enforce.test and alias.test share four MX hosts,
    // and no probe went past the handshake: EHLO, STARTTLS (where offered), QUIT (unless the
    // handshake failed), never MAIL.
    // (The readiness waits above connected too, without a command: they say no ehlo.)
    std::thread::sleep(std::time::Duration::from_millis(500));
    let log = fs::read_to_string(dir.join("maillog")).unwrap();
    let sessions: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" disconnect from ") && l.contains(" ehlo="))
        .collect();
    assert_eq!(sessions.len(), MXES.len(), "{log}");
    assert!(
        sessions
            .iter()
            .all(|l| (l.contains(" quit=1") || l.contains(" starttls=0/1"))
                && !l.contains(" mail=")
                && !l.contains(" rcpt=")),
        "{log}"
    );

    // The same run for node_exporter, checked by Prometheus's own parser and linter.
    let mut prom_args = vec![
        "check",
        "--nameserver",
        "127.0.0.1",
        "--format",
        "prometheus",
    ];
    prom_args.extend(args.iter().filter(|a| **a != "--smtp" && **a != "--no-ca"));
    let run = system.mtasts(&prom_args);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let text = run.stdout();
    for line in [
        "mtasts_check_ok{domain=\"v4only.test\"} 1",
        "mtasts_check_ok{domain=\"testing.test\"} 0",
        "mtasts_smtp_probe_ok{host=\"mx2.enforce.test\",address=\"127.0.0.12\"} 0",
        "mtasts_check_run_success 1",
        "mtasts_check_failed{domain=\"enforce.test\",check=\"smtp\"} 1",
        &format!(
            "mtasts_policy_id_info{{domain=\"enforce.test\",id=\"{}\"}} 1",
            setup.id()
        ),
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    assert!(
        text.contains("mtasts_certificate_expiry_timestamp_seconds{host=\"mx1.enforce.test\"}"),
        "{text}"
    );
    assert!(
        text.contains("mtasts_certificate_expiry_timestamp_seconds{host=\"mta-sts.enforce.test\"}"),
        "{text}"
    );
    crate::harness::promtool_passes(&text);
}
