//! DANE proven with real DANE software, in a private network namespace: a DNSSEC-signed test
//! root (`ldns-signzone`) served by NSD, unbound validating from that root's key, a receiving
//! Postfix presenting the MX certificate on 127.0.0.21:25, and a sending Postfix with
//! `smtp_tls_security_level = dane` resolving through unbound. `ldns-dane` is the second,
//! independent checker. The generated TLSA records let mail through verified; a planted one
//! defers it; a rollover onto the pre-published next key never defers it; `check` names a
//! mismatch, a bogus signature, an unsigned zone and a key that was never published.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

use crate::harness::{Server, real_tool, run_ok};
use crate::smtp::postfix;
use crate::system::{Netns, is_root};

const MX: &str = "mx1.dane.test";
const MX_IP: &str = "127.0.0.21";
/// An MX host in an unsigned zone, delegated from the signed root without a DS record.
const PLAIN_MX: &str = "mx.plain.test";
const PLAIN_IP: &str = "127.0.0.22";
/// NSD, authoritative for the test root and for plain.test.
const NSD_IP: &str = "127.0.0.2";

struct Keys {
    dir: PathBuf,
}

impl Keys {
    /// A CA and four server keys for the MX host: `a` (in use first), `b` (the next one), `c`
    /// (next after the rollover) and `d` (never published); for each, `<k>.pem` (chain) and
    /// `<k>.key` (PKCS#8).
    fn new(dir: &Path) -> Keys {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let issuer = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        for k in ["a", "b", "c", "d"] {
            let key = KeyPair::generate().unwrap();
            let cert = CertificateParams::new(vec![MX.to_string(), PLAIN_MX.to_string()])
                .unwrap()
                .signed_by(&key, &issuer)
                .unwrap();
            fs::write(dir.join(format!("{k}.pem")), cert.pem() + &issuer.pem()).unwrap();
            fs::write(dir.join(format!("{k}.key")), key.serialize_pem()).unwrap();
        }
        Keys {
            dir: dir.to_path_buf(),
        }
    }

    fn pem(&self, k: &str) -> PathBuf {
        self.dir.join(format!("{k}.pem"))
    }

    fn key(&self, k: &str) -> PathBuf {
        self.dir.join(format!("{k}.key"))
    }
}

/// The test root: its KSK and ZSK, and how to sign a zone text into NSD's file.
struct Root {
    dir: PathBuf,
    ksk: String,
    zsk: String,
}

impl Root {
    fn new(dir: &Path) -> Root {
        let keygen = |args: &[&str]| {
            let out = run_ok(Command::new("ldns-keygen").current_dir(dir).args(args));
            out.trim().to_string()
        };
        let ksk = keygen(&["-a", "ECDSAP256SHA256", "-k", "."]);
        let zsk = keygen(&["-a", "ECDSAP256SHA256", "."]);
        fs::copy(dir.join(format!("{ksk}.key")), dir.join("root.key")).unwrap();
        Root {
            dir: dir.to_path_buf(),
            ksk,
            zsk,
        }
    }

    fn anchor(&self) -> PathBuf {
        self.dir.join("root.key")
    }

    /// The root zone with `tlsa` lines, signed (inception yesterday, so no clock skew
    /// matters), into `root.zone.signed`; `tamper` edits the signed text afterwards.
    fn sign(&self, tlsa: &str, tamper: impl Fn(String) -> String) {
        let zone = format!(
            "$ORIGIN .\n$TTL 60\n\
             . IN SOA ns.root.test. admin.root.test. 1 3600 600 86400 60\n\
             . IN NS ns.root.test.\n\
             ns.root.test. IN A {NSD_IP}\n\
             dane.test. IN MX 10 {MX}.\n\
             {MX}. IN A {MX_IP}\n\
             sender.test. IN A 127.0.0.1\n\
             plain.test. IN NS ns.plain.test.\n\
             ns.plain.test. IN A {NSD_IP}\n\
             {tlsa}\n"
        );
        fs::write(self.dir.join("root.zone"), zone).unwrap();
        let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
        run_ok(Command::new("ldns-signzone").current_dir(&self.dir).args([
            "-i",
            &yesterday.format("%Y%m%d").to_string(),
            "-o",
            ".",
            "root.zone",
            &self.ksk,
            &self.zsk,
        ]));
        let signed = self.dir.join("root.zone.signed");
        let text = fs::read_to_string(&signed).unwrap();
        fs::write(&signed, tamper(text)).unwrap();
    }
}

/// The unsigned plain.test zone, with a TLSA record for its MX host that DNSSEC cannot prove.
fn plain_zone(keys: &Keys) -> String {
    let digest = spki_sha256(&keys.pem("a"));
    format!(
        "$ORIGIN plain.test.\n$TTL 60\n\
         @ IN SOA ns admin 1 3600 600 86400 60\n\
         @ IN NS ns\nns IN A {NSD_IP}\n\
         @ IN MX 10 {PLAIN_MX}.\n\
         mx IN A {PLAIN_IP}\n\
         _25._tcp.mx IN TLSA 3 1 1 {digest}\n"
    )
}

/// `3 1 1` data of the certificate at the head of `pem`, by openssl (not by mtasts).
fn spki_sha256(pem: &Path) -> String {
    let script = format!(
        "openssl x509 -in {} -noout -pubkey | openssl pkey -pubin -outform DER | openssl dgst -sha256 -r",
        pem.display()
    );
    let out = run_ok(Command::new("bash").args(["-c", &script]));
    out.split_whitespace().next().unwrap().to_string()
}

/// Everything that runs in the namespace; servers stop (fields drop in order) before it goes.
struct World {
    nsd: Option<Server>,
    unbound: Option<Server>,
    receiver: Option<Server>,
    sender: Option<Server>,
    ns: Netns,
    dir: PathBuf,
}

impl World {
    fn start_nsd(&mut self) {
        self.nsd = None;
        let d = self.dir.display();
        fs::write(
            self.dir.join("nsd.conf"),
            format!(
                "server:\n  ip-address: {NSD_IP}@53\n  zonesdir: \"{d}\"\n  database: \"\"\n  zonelistfile: \"{d}/zone.list\"\n  pidfile: \"{d}/nsd.pid\"\n  xfrdfile: \"{d}/xfrd.state\"\n  username: \"\"\n  chroot: \"\"\n  logfile: \"{d}/nsd.log\"\n  verbosity: 1\nremote-control:\n  control-enable: no\nzone:\n  name: .\n  zonefile: root/root.zone.signed\nzone:\n  name: plain.test\n  zonefile: plain.zone\n"
            ),
        )
        .unwrap();
        let log = self.dir.join("nsd.log");
        let mut s = Server {
            child: self
                .ns
                .exec("nsd")
                .args(["-d", "-c"])
                .arg(self.dir.join("nsd.conf"))
                .spawn()
                .unwrap(),
            name: "nsd",
        };
        self.wait_port(&mut s, NSD_IP, 53, &log);
        self.nsd = Some(s);
    }

    /// unbound on 127.0.0.1:53, the sender's resolver, validating from the test root's key;
    /// restarted after each zone change so that no cached answer survives.
    fn start_unbound(&mut self, anchor: &Path) {
        self.unbound = None;
        let d = self.dir.display();
        fs::write(
            self.dir.join("unbound.conf"),
            format!(
                "server:\n  interface: 127.0.0.1\n  port: 53\n  do-ip6: no\n  username: \"\"\n  chroot: \"\"\n  directory: \"{d}\"\n  pidfile: \"{d}/unbound.pid\"\n  logfile: \"{d}/unbound.log\"\n  use-syslog: no\n  verbosity: 1\n  access-control: 127.0.0.0/8 allow\n  do-not-query-localhost: no\n  trust-anchor-file: \"{}\"\n  val-log-level: 2\n  local-zone: \"test.\" nodefault\nremote-control:\n  control-enable: no\nstub-zone:\n  name: \".\"\n  stub-addr: {NSD_IP}\n",
                anchor.display()
            ),
        )
        .unwrap();
        let log = self.dir.join("unbound.log");
        let mut s = Server {
            child: self
                .ns
                .exec("unbound")
                .args(["-d", "-c"])
                .arg(self.dir.join("unbound.conf"))
                .spawn()
                .unwrap(),
            name: "unbound",
        };
        self.wait_port(&mut s, "127.0.0.1", 53, &log);
        self.unbound = Some(s);
    }

    /// The receiving Postfix: smtpd on the two MX addresses, presenting `chain` and `key`.
    fn start_receiver(&mut self, chain: &Path, key: &Path) {
        self.receiver = None;
        let dir = self.dir.join("receiver");
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let options = format!(
            "{} -o relay_domains=dane.test,plain.test",
            postfix::tls_options(chain, key)
        );
        let config = postfix::configure(
            &dir,
            &[
                (format!("{MX_IP}:25"), options.clone()),
                (format!("{PLAIN_IP}:25"), options),
            ],
        );
        let (master, args) = postfix::master_args(&config);
        let log = dir.join("maillog");
        let mut s = Server {
            child: self.ns.exec(master).args(args).spawn().unwrap(),
            name: "receiving postfix",
        };
        self.wait_port(&mut s, MX_IP, 25, &log);
        self.wait_port(&mut s, PLAIN_IP, 25, &log);
        self.receiver = Some(s);
    }

    /// The sending Postfix: smtpd on 127.0.0.1:10025 to take the message, and the smtp client
    /// doing DANE through unbound.
    fn start_sender(&mut self) {
        self.sender = None;
        let dir = self.dir.join("sender");
        fs::create_dir_all(&dir).unwrap();
        let config = postfix::configure(&dir, &[("127.0.0.1:10025".into(), String::new())]);
        let mut main = fs::read_to_string(config.join("main.cf")).unwrap();
        main.push_str(
            "myhostname = sender.test\ninet_interfaces = 127.0.0.1\nmynetworks = 127.0.0.0/8\n\
             smtp_dns_support_level = dnssec\nsmtp_tls_security_level = dane\n\
             smtp_tls_loglevel = 1\nsmtp_host_lookup = dns\nmaximal_queue_lifetime = 1h\n\
             smtp_helo_timeout = 10s\nsmtp_connect_timeout = 5s\n\
             minimal_backoff_time = 1s\nmaximal_backoff_time = 2s\nqueue_run_delay = 1s\n",
        );
        fs::write(config.join("main.cf"), main).unwrap();
        let mut master = fs::read_to_string(config.join("master.cf")).unwrap();
        master.push_str("smtp unix - - n - - smtp\n");
        fs::write(config.join("master.cf"), master).unwrap();
        let (m, args) = postfix::master_args(&config);
        let log = dir.join("maillog");
        let mut s = Server {
            child: self.ns.exec(m).args(args).spawn().unwrap(),
            name: "sending postfix",
        };
        self.wait_port(&mut s, "127.0.0.1", 10025, &log);
        self.sender = Some(s);
    }

    /// Serves the zones as signed now: NSD reloaded, and unbound and the sender restarted, as
    /// both cache TLSA records for their TTL (Postfix in each smtp process).
    fn republish(&mut self, anchor: &Path) {
        self.start_nsd();
        self.start_unbound(anchor);
        self.start_sender();
    }

    fn wait_port(&self, server: &mut Server, ip: &str, port: u16, log: &Path) {
        server.wait_until(&format!("{ip}:{port}"), log, || {
            self.ns
                .exec("bash")
                .arg("-c")
                .arg(format!("exec 3<>/dev/tcp/{ip}/{port}"))
                .output()
                .is_ok_and(|o| o.status.success())
        });
    }

    /// Hands one message for `rcpt` to the sender and returns what the sender logged from
    /// then until its first delivery attempt ended (sent, deferred or bounced).
    fn send(&self, rcpt: &str, subject: &str) -> String {
        let log = self.dir.join("sender/maillog");
        let from = fs::read_to_string(&log).unwrap_or_default().len();
        let script = format!(
            "import smtplib\ns = smtplib.SMTP('127.0.0.1', 10025)\n\
             s.sendmail('root@sender.test', ['{rcpt}'], 'Subject: {subject}\\r\\n\\r\\nDANE test\\r\\n')\ns.quit()\n"
        );
        run_ok(self.ns.exec("python3").args(["-c", &script]));
        let started = Instant::now();
        loop {
            let text = fs::read_to_string(&log).unwrap_or_default();
            let new = &text[from.min(text.len())..];
            if new
                .lines()
                .any(|l| l.contains(&format!("to=<{rcpt}>")) && l.contains("status="))
            {
                return new.to_string();
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "no delivery attempt for {rcpt} in 60 s:\n{new}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `mtasts check` in the namespace, asking NSD directly (hickory validates DNSSEC itself).
    fn check(&self, project: &Path, anchor: &Path) -> (i32, serde_json::Value, String) {
        self.check_via(project, anchor, &format!("{NSD_IP}:53"))
    }

    /// `mtasts check` asking `nameserver`.
    fn check_via(
        &self,
        project: &Path,
        anchor: &Path,
        nameserver: &str,
    ) -> (i32, serde_json::Value, String) {
        let out = self
            .ns
            .exec(env!("CARGO_BIN_EXE_mtasts"))
            .current_dir(project)
            .args(["check", "--format", "json", "--timeout", "3"])
            .args(["--nameserver", nameserver, "--ca-file"])
            .arg(project.join("ca.pem"))
            .arg("--trust-anchor")
            .arg(anchor)
            .output()
            .unwrap();
        let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "check printed no JSON ({e}):\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (
            out.status.code().unwrap_or(-1),
            json,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `check --format prometheus` asking NSD, after `promtool check metrics` passed it.
    fn prometheus(&self, project: &Path, anchor: &Path) -> String {
        let out = self
            .ns
            .exec(env!("CARGO_BIN_EXE_mtasts"))
            .current_dir(project)
            .args(["check", "--format", "prometheus", "--timeout", "3"])
            .args(["--nameserver", &format!("{NSD_IP}:53"), "--ca-file"])
            .arg(project.join("ca.pem"))
            .arg("--trust-anchor")
            .arg(anchor)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        crate::harness::promtool_passes(&text);
        text
    }

    /// The second checker: the chain the MX presents over STARTTLS (by openssl), verified by
    /// `ldns-dane` against the TLSA records unbound validated (its AD bit).
    fn ldns_dane(&self) -> (bool, String) {
        let chain = self.dir.join("presented.pem");
        let script = format!(
            "openssl s_client -starttls smtp -connect {MX_IP}:25 -servername {MX} -showcerts </dev/null 2>/dev/null | sed -n '/BEGIN CERT/,/END CERT/p' > {}",
            chain.display()
        );
        run_ok(self.ns.exec("bash").args(["-c", &script]));
        let out = self
            .ns
            .exec("ldns-dane")
            .args(["-n", "-r", "127.0.0.1", "-c"])
            .arg(&chain)
            .args(["verify", MX, "25"])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text.trim().to_string())
    }
}

/// The MX entries of `check`'s JSON for `host`, as (status, dane).
fn mx_entry(json: &serde_json::Value, host: &str) -> (String, serde_json::Value) {
    let entry = json["domains"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["mx"].as_array().cloned().unwrap_or_default())
        .find(|m| m["host"] == host)
        .unwrap_or_else(|| panic!("no MX entry for {host} in {json:#}"));
    (
        entry["status"].as_str().unwrap().to_string(),
        entry["dane"].clone(),
    )
}

/// The DANE verdicts of `check`'s JSON, as `status detail`; printed for the test's log.
fn dane_lines(json: &serde_json::Value) -> Vec<String> {
    let lines: Vec<String> = json["domains"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["checks"].as_array().cloned().unwrap_or_default())
        .filter(|l| l["check"] == "dane")
        .map(|l| {
            format!(
                "{} {}",
                l["status"].as_str().unwrap(),
                l["detail"].as_str().unwrap()
            )
        })
        .collect();
    for l in &lines {
        eprintln!("check: {l}");
    }
    lines
}

fn tools() -> bool {
    if !is_root() {
        return Netns::create().is_some();
    }
    [
        "nsd",
        "unbound",
        "ldns-signzone",
        "ldns-keygen",
        "ldns-dane",
        "postfix",
        "openssl",
        "python3",
        "promtool",
    ]
    .iter()
    .all(|t| real_tool(t).is_some())
}

#[test]
fn a_real_dane_sender_delivers_through_the_generated_tlsa_and_survives_a_rollover() {
    if !tools() {
        return;
    }
    let Some(ns) = Netns::create() else { return };
    // Postfix reads resolv.conf through glibc, which drops the AD bit without trust-ad.
    fs::write(
        ns.etc().join("resolv.conf"),
        "nameserver 127.0.0.1\noptions trust-ad timeout:2 attempts:2\n",
    )
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    fs::create_dir_all(dir.join("root")).unwrap();
    let keys = Keys::new(&dir.join("root"));
    let root = Root::new(&dir.join("root"));
    let project = dir.join("project");
    fs::create_dir_all(&project).unwrap();
    // The CA of the test certificates, for check's certificate trust.
    let ca = fs::read_to_string(keys.pem("a")).unwrap();
    fs::write(
        project.join("ca.pem"),
        &ca[ca.rfind("-----BEGIN").unwrap()..],
    )
    .unwrap();
    let config = |cert: &str, next: &str| {
        format!(
            "[defaults]\nmx = [\"{MX}\", \"{PLAIN_MX}\"]\npolicy_cname = \"mta-sts.glue.test\"\n\
             [domains.\"dane.test\"]\n[domains.\"plain.test\"]\n\
             [dane.\"{MX}\"]\ncertificate = \"{}\"\nnext_key = \"{}\"\nttl = 60\n",
            keys.pem(cert).display(),
            keys.key(next).display()
        )
    };
    fs::write(project.join("domains.toml"), config("a", "b")).unwrap();
    let build = |epoch: i64| {
        let out = Command::new(env!("CARGO_BIN_EXE_mtasts"))
            .current_dir(&project)
            .env("SOURCE_DATE_EPOCH", epoch.to_string())
            .arg("build")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            fs::read_to_string(project.join(format!("output/dns/dane/{MX}.zone"))).unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let now = chrono::Utc::now().timestamp();
    let (fragment, _) = build(now - 7200);
    assert!(
        fragment.contains(&spki_sha256(&keys.pem("a"))),
        "{fragment}"
    );
    assert!(
        fragment.contains(&spki_sha256(&keys.pem("b"))),
        "the next key's TLSA from its private key file:\n{fragment}"
    );
    fs::write(dir.join("plain.zone"), plain_zone(&keys)).unwrap();
    root.sign(&fragment, |t| t);
    let mut world = World {
        nsd: None,
        unbound: None,
        receiver: None,
        sender: None,
        ns,
        dir: dir.clone(),
    };
    world.republish(&root.anchor());
    world.start_receiver(&keys.pem("a"), &keys.key("a"));
    world.start_sender();

    // 1. The generated records: delivered over a DANE-verified connection.
    let log = world.send("one@dane.test", "match");
    eprintln!("--- match ---\n{log}");
    assert!(
        log.contains(&format!(
            "Verified TLS connection established to {MX}[{MX_IP}]:25"
        )),
        "{log}"
    );
    assert!(log.contains("status=sent"), "{log}");
    let (code, json, stderr) = world.check(&project, &root.anchor());
    let (status, dane) = mx_entry(&json, MX);
    assert_eq!(
        (status.as_str(), &dane["matched"], &dane["secure"]),
        ("ok", &"3 1 1".into(), &true.into()),
        "{json:#}\n{stderr}"
    );
    assert_eq!(dane["tlsa"], 2, "live and next key");
    assert_eq!(code, 1, "the MTA-STS side is not published here: {stderr}");
    let metrics = world.prometheus(&project, &root.anchor());
    assert!(
        metrics.contains(&format!("mtasts_dane_ok{{host=\"{MX}\"}} 1")),
        "{metrics}"
    );
    let (ok, said) = world.ldns_dane();
    eprintln!("ldns-dane (match): {said}");
    assert!(ok, "ldns-dane disagrees with check on the match: {said}");
    // The unsigned zone's TLSA record: a warning, and DANE senders ignore it.
    let (_, plain) = mx_entry(&json, PLAIN_MX);
    assert_eq!(plain["secure"], false, "{json:#}");
    let lines = dane_lines(&json);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("warn") && l.contains("not DNSSEC-signed")),
        "{lines:?}"
    );
    let plain_log = world.send("two@plain.test", "insecure");
    assert!(plain_log.contains("status=sent"), "{plain_log}");
    assert!(
        !plain_log.contains(&format!(
            "Verified TLS connection established to {PLAIN_MX}"
        )),
        "{plain_log}"
    );

    // 2. A planted TLSA record that names a key the MX does not have: mail is deferred.
    root.sign(
        &format!(
            "_25._tcp.{MX}. 60 IN TLSA 3 1 1 {}",
            spki_sha256(&keys.pem("d"))
        ),
        |t| t,
    );
    world.republish(&root.anchor());
    let log = world.send("three@dane.test", "mismatch");
    eprintln!("--- mismatch ---\n{log}");
    assert!(log.contains("status=deferred"), "{log}");
    assert!(
        log.contains("certificate not verified") || log.contains("not verified"),
        "{log}"
    );
    let (_, json, _) = world.check(&project, &root.anchor());
    let (status, dane) = mx_entry(&json, MX);
    assert_eq!(
        (status.as_str(), &dane["matched"]),
        ("fail", &serde_json::Value::Null),
        "{json:#}"
    );
    let lines = dane_lines(&json);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("fail") && l.contains("none of the 1 validated TLSA")),
        "{lines:?}"
    );
    let metrics = world.prometheus(&project, &root.anchor());
    assert!(
        metrics.contains(&format!("mtasts_dane_ok{{host=\"{MX}\"}} 0")),
        "{metrics}"
    );
    assert!(
        metrics.contains("mtasts_check_failed{domain=\"dane.test\",check=\"dane\"} 1"),
        "{metrics}"
    );
    let (ok, said) = world.ldns_dane();
    eprintln!("ldns-dane (mismatch): {said}");
    assert!(
        !ok,
        "ldns-dane disagrees with check on the mismatch: {said}"
    );

    // 3. A bogus signature: the TLSA data changed after signing.
    let good = spki_sha256(&keys.pem("a"));
    root.sign(&fragment, |t| t.replacen(&good, &"0".repeat(64), 1));
    world.republish(&root.anchor());
    let (_, json, _) = world.check(&project, &root.anchor());
    let lines = dane_lines(&json);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("fail") && l.contains("DNSSEC is bogus")),
        "{lines:?}"
    );
    // Through unbound, which validates itself and answers SERVFAIL: a warning saying so.
    let (_, json, _) = world.check_via(&project, &root.anchor(), "127.0.0.1:53");
    let lines = dane_lines(&json);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("warn") && l.contains("SERVFAIL for TLSA")),
        "{lines:?}"
    );
    let log = world.send("bogus@dane.test", "bogus");
    eprintln!("--- bogus signature ---\n{log}");
    assert!(log.contains("status=deferred"), "{log}");
    let (ok, said) = world.ldns_dane();
    eprintln!("ldns-dane (bogus): {said}");
    assert!(
        !ok,
        "ldns-dane disagrees with check on the bogus signature: {said}"
    );

    // 4. Rollover: the generated records again; the MX switches to the pre-published key b.
    root.sign(&fragment, |t| t);
    world.republish(&root.anchor());
    world.start_receiver(&keys.pem("b"), &keys.key("b"));
    let log = world.send("four@dane.test", "rollover-before-dns");
    eprintln!("--- rollover, certificate switched, DNS unchanged ---\n{log}");
    assert!(
        log.contains("status=sent") && log.contains("Verified TLS connection"),
        "{log}"
    );
    fs::write(project.join("domains.toml"), config("b", "c")).unwrap();
    let (rolled, warnings) = build(now);
    assert!(!warnings.contains("MAIL IS BREAKING"), "{warnings}");
    assert!(
        rolled.contains("; leaving key"),
        "a stays two TTLs:\n{rolled}"
    );
    root.sign(&rolled, |t| t);
    world.republish(&root.anchor());
    let log = world.send("five@dane.test", "rollover-after-dns");
    eprintln!("--- rollover, records published ---\n{log}");
    assert!(
        log.contains("status=sent") && log.contains("Verified TLS connection"),
        "{log}"
    );
    let (_, json, _) = world.check(&project, &root.anchor());
    assert_eq!(mx_entry(&json, MX).0, "ok", "{json:#}");
    assert_eq!(mx_entry(&json, MX).1["matched"], "3 1 1", "{json:#}");
    let sender_log = fs::read_to_string(dir.join("sender/maillog")).unwrap();
    for rcpt in ["one", "four", "five"] {
        assert!(
            !sender_log
                .lines()
                .any(|l| l.contains(&format!("to=<{rcpt}@dane.test>"))
                    && l.contains("status=deferred")),
            "{rcpt}@ was deferred:\n{sender_log}"
        );
    }

    // 5. A certificate whose key was never published: build says so loudly, check fails.
    world.start_receiver(&keys.pem("d"), &keys.key("d"));
    fs::write(project.join("domains.toml"), config("d", "c")).unwrap();
    let (_, warnings) = build(now + 60);
    assert!(warnings.contains("MAIL IS BREAKING NOW"), "{warnings}");
    let (_, json, _) = world.check(&project, &root.anchor());
    let lines = dane_lines(&json);
    assert_eq!(mx_entry(&json, MX).0, "fail", "{json:#}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("fail") && l.contains("none of the 3 validated TLSA")),
        "{lines:?}"
    );
}

/// The [dane] tables through build, lock, records and status, without a network: the records
/// follow the keys, the lock keeps digests only, and bad tables are refused with their place.
#[test]
fn dane_tables_build_the_fragment_the_lock_records_and_status() {
    let p = crate::harness::Project::new("");
    let keys = Keys::new(p.path());
    // The next key as openssl writes it for RSA (PKCS#1) and EC (SEC1), when openssl is here.
    let openssl = real_tool("openssl");
    let forms: Vec<(&str, Option<&str>)> = match &openssl {
        Some(_) => vec![
            ("b.key", None),
            ("rsa.key", Some("genrsa")),
            ("ec.key", Some("ecparam")),
        ],
        None => vec![("b.key", None)],
    };
    for (name, how) in &forms {
        if let (Some(ssl), Some(how)) = (&openssl, how) {
            let args: Vec<&str> = match *how {
                "genrsa" => vec!["genrsa", "-traditional", "-out", name, "2048"],
                _ => vec![
                    "ecparam",
                    "-name",
                    "prime256v1",
                    "-genkey",
                    "-noout",
                    "-out",
                    name,
                ],
            };
            run_ok(Command::new(ssl).current_dir(p.path()).args(&args));
            let pub_pem = run_ok(
                Command::new(ssl)
                    .current_dir(p.path())
                    .args(["pkey", "-in", name, "-pubout"]),
            );
            p.write(&format!("{name}.pub"), &pub_pem);
        }
        p.write(
            "domains.toml",
            &format!(
                "[defaults]\nmx = [\"{MX}\"]\npolicy_cname = \"mta-sts.glue.test\"\n[domains.\"dane.test\"]\n\
                 [dane.\"{MX}\"]\ncertificate = \"a.pem\"\nnext_key = \"{name}\"\nttl = 300\n"
            ),
        );
        let built = p.run_env(&["build"], &[("SOURCE_DATE_EPOCH", "1796000000")]);
        built.ok();
        let zone = p.read(&format!("output/dns/dane/{MX}.zone"));
        let live = spki_sha256(&keys.pem("a"));
        assert!(
            zone.contains(&format!("_25._tcp.{MX}.\t300\tIN\tTLSA\t3 1 1 {live}")),
            "{zone}"
        );
        if how.is_some() {
            // openssl's digest of the public half of the same key.
            let script = format!(
                "openssl pkey -pubin -in {name}.pub -outform DER | openssl dgst -sha256 -r"
            );
            let next = run_ok(
                Command::new("bash")
                    .current_dir(p.path())
                    .args(["-c", &script]),
            );
            let next = next.split_whitespace().next().unwrap();
            assert!(zone.contains(next), "{name}: {zone}");
        }
    }
    let lock = p.read("domains.lock");
    assert!(lock.contains(&format!("[dane.\"{MX}\"]")), "{lock}");
    assert!(!lock.contains("PRIVATE"), "digests only:\n{lock}");
    // records in every format carry the TLSA rows under the zone.
    let text = p.run(&["records"]).ok();
    assert!(text.contains("_25._tcp.mx1  TLSA"), "{text}");
    let json = p.run(&["records", "--format", "json"]).ok();
    assert!(
        json.contains("\"domain\":\"dane.test\",\"name\":\"_25._tcp.mx1.dane.test.\""),
        "{json}"
    );
    for format in ["csv", "octodns", "dnscontrol", "zone"] {
        let out = p.run(&["records", "--format", format]).ok();
        assert!(out.contains("TLSA"), "{format}: {out}");
    }
    let status = p.run(&["status"]).ok();
    assert!(
        status.contains(&format!("DANE {MX} (zone dane.test)")),
        "{status}"
    );
    assert!(status.contains("switching safe from"), "{status}");
    // The dashboard's page of a domain whose mx names the host shows the rollover dates.
    p.run(&["dashboard"]).ok();
    let page = p.read("output/dashboard/domains/dane.test.html");
    assert!(page.contains("<h2>DANE rollover</h2>"), "{page}");
    assert!(page.contains("switching safe from 2026-"), "{page}");
    // A lock that is current builds --locked; a bad table is refused where it stands.
    p.run_env(
        &["build", "--locked"],
        &[("SOURCE_DATE_EPOCH", "1796000000")],
    )
    .ok();
    p.write(
        "domains.toml",
        &format!(
            "[defaults]\nmx = [\"{MX}\"]\npolicy_cname = \"mta-sts.glue.test\"\n[domains.\"dane.test\"]\n\
             [dane.\"{MX}\"]\nnext_key = \"b.key\"\nusage = \"pkix\"\nzone = \"other.test\"\n"
        ),
    );
    let refused = p.run(&["build"]).fails();
    for said in [
        "unknown DANE usage \"pkix\"",
        "is not in the zone other.test",
        "domains.toml:5:",
    ] {
        assert!(refused.contains(said), "{said}: {refused}");
    }
    assert_eq!(p.read("domains.lock"), lock, "the lock is untouched");
    p.write(
        "domains.toml",
        &format!(
            "[defaults]\nmx = [\"{MX}\"]\npolicy_cname = \"mta-sts.glue.test\"\n[domains.\"dane.test\"]\n\
             [dane.\"{MX}\"]\ncertificate = \"missing.pem\"\n"
        ),
    );
    let refused = p.run(&["build"]).fails();
    assert!(
        refused.contains("missing.pem") && refused.contains(&format!("[dane.\"{MX}\"]")),
        "{refused}"
    );
    assert_eq!(p.read("domains.lock"), lock, "the lock is untouched");
}

/// The TLSA records through DNS as code: real octoDNS loads `octodns/dane/<zone>.yaml` as a
/// second source of the zone and writes them into a zone file; the DNSControl file is valid
/// JavaScript whose TLSA calls carry exactly the records' fields.
#[test]
fn dane_records_reach_octodns_and_dnscontrol() {
    let (Some(sync), Some(node)) = (real_tool("octodns-sync"), real_tool("node")) else {
        return;
    };
    let p = crate::harness::Project::new("");
    let keys = Keys::new(p.path());
    p.write(
        "domains.toml",
        "[output]\ntargets = [\"dns\", \"octodns\", \"dnscontrol\"]\n\
         [defaults]\nmx = [\"mx1.example.com\"]\npolicy_cname = \"mta-sts.example.net\"\n\
         [domains.\"example.com\"]\n\
         [dane.\"mx1.example.com\"]\ncertificate = \"a.pem\"\nnext_key = \"b.key\"\n",
    );
    p.run(&["build"]).ok();
    let digests = [spki_sha256(&keys.pem("a")), spki_sha256(&keys.pem("b"))];
    let root = p.path();
    fs::create_dir_all(root.join("base")).unwrap();
    fs::write(
        root.join("base/example.com.yaml"),
        "---\n'':\n  type: NS\n  values:\n  - ns1.example.com.\n",
    )
    .unwrap();
    fs::write(
        root.join("octodns.yaml"),
        "providers:\n  mtasts:\n    class: octodns.provider.yaml.YamlProvider\n    directory: ./output/octodns\n\
         \x20 dane:\n    class: octodns.provider.yaml.YamlProvider\n    directory: ./output/octodns/dane\n\
         \x20 base:\n    class: octodns.provider.yaml.YamlProvider\n    directory: ./base\n\
         \x20 bind:\n    class: octodns_bind.ZoneFileProvider\n    directory: ./synced\n    file_extension: .zone\n\
         zones:\n  example.com.:\n    sources: [mtasts, dane, base]\n    targets: [bind]\n",
    )
    .unwrap();
    fs::create_dir_all(root.join("synced")).unwrap();
    run_ok(
        Command::new(&sync)
            .args(["--config-file", "octodns.yaml", "--doit"])
            .current_dir(root),
    );
    let zone = fs::read_to_string(root.join("synced/example.com.zone")).unwrap();
    let tlsa: Vec<&str> = zone.lines().filter(|l| l.contains("TLSA")).collect();
    assert_eq!(tlsa.len(), 2, "{zone}");
    for d in &digests {
        assert!(
            tlsa.iter()
                .any(|l| l.to_lowercase().contains(&format!("3 1 1 {d}"))),
            "{d} not in octoDNS's zone:\n{zone}"
        );
    }
    assert!(
        zone.contains("_mta-sts"),
        "the domain's own records still come: {zone}"
    );
    // DNSControl: the file parses, and its TLSA calls carry usage, selector, type and data.
    let file = root.join("output/dnscontrol/dane/example.com.js");
    run_ok(Command::new(&node).arg("--check").arg(&file));
    let script = r#"
const fs = require("fs");
const vm = require("vm");
const calls = [];
const sandbox = {
  TTL: (ttl) => ({ ttl }),
  TLSA: (name, usage, selector, type, data, ttl) => ({ name, usage, selector, type, data, ttl: ttl.ttl }),
  D_EXTEND: (domain, ...records) => records.forEach((r) => calls.push({ domain, ...r })),
};
vm.createContext(sandbox);
vm.runInContext(fs.readFileSync(process.argv[1], "utf8"), sandbox);
console.log(JSON.stringify(calls));
"#;
    let out = run_ok(
        Command::new(&node)
            .arg("-e")
            .arg(script)
            .arg("--")
            .arg(&file),
    );
    let calls: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let want: Vec<serde_json::Value> = digests
        .iter()
        .map(|d| {
            serde_json::json!({"domain": "example.com", "name": "_25._tcp.mx1", "usage": 3,
                "selector": 1, "type": 1, "data": d, "ttl": 3600})
        })
        .collect();
    assert_eq!(calls, want);
}
