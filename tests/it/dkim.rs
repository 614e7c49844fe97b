//! RFC 8460 §3 with real components: report mails signed by dkimpy (Debian's `python3-dkim`:
//! its `dkimsign` command, and its library for an `l=` signature, which the command cannot
//! make), keys served by a private NSD on loopback, `report --nameserver` pointed at it.
//! Signed reports count; unsigned, altered, wrongly signed, `l=`-limited and keyless ones are
//! skipped with their reason, and a forged "all successful" run of days no longer makes a
//! domain ready for enforce.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::harness::{Project, nsd, real_tool, run_ok};
use crate::report::{CONFIG, domain, email, google_day};

/// What `cmd` writes to stdout given `input` on stdin; it must succeed.
fn piped(cmd: &mut Command, input: &str) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{cmd:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

/// `message` with a DKIM-Signature by `d=domain`, made by `dkimsign`.
fn dkimsign(dkimsign: &Path, key: &Path, selector: &str, domain: &str, message: &str) -> String {
    piped(
        Command::new(dkimsign).args([selector, domain]).arg(key),
        message,
    )
}

/// `message` signed with `l=` (the body length) by dkimpy's library.
fn dkimpy_with_length(python: &Path, key: &Path, message: &str) -> String {
    let script = "import dkim, sys\n\
                  msg = sys.stdin.buffer.read()\n\
                  key = open(sys.argv[1], 'rb').read()\n\
                  sig = dkim.sign(msg, b'rep', b'reporter.example', key, length=True)\n\
                  sys.stdout.buffer.write(sig + msg)\n";
    piped(Command::new(python).args(["-c", script]).arg(key), message)
}

/// A 2048-bit RSA key and its `v=DKIM1` TXT record, in zone file syntax (strings of 200).
fn key(openssl: &Path, dir: &Path, name: &str) -> (std::path::PathBuf, String) {
    let pem = dir.join(format!("{name}.pem"));
    run_ok(
        Command::new(openssl)
            .args(["genrsa", "-traditional", "-out"])
            .arg(&pem)
            .arg("2048"),
    );
    let der = Command::new(openssl)
        .args(["rsa", "-pubout", "-outform", "DER", "-in"])
        .arg(&pem)
        .stderr(Stdio::null())
        .output()
        .unwrap()
        .stdout;
    let b64 = base64(&der);
    let chunks: Vec<String> = b64
        .as_bytes()
        .chunks(200)
        .map(|c| format!("\"{}\"", std::str::from_utf8(c).unwrap()))
        .collect();
    (pem, format!("\"v=DKIM1; k=rsa; p=\" {}", chunks.join(" ")))
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn zone(dir: &Path, origin: &str, records: &str) -> (String, std::path::PathBuf) {
    let file = dir.join(format!("{origin}.zone"));
    fs::write(
        &file,
        format!(
            "$ORIGIN {origin}.\n$TTL 300\n@ IN SOA ns.{origin}. admin.{origin}. 1 3600 600 86400 300\n\
             @ IN NS ns.{origin}.\nns IN A 127.0.0.1\n{records}\n"
        ),
    )
    .unwrap();
    (origin.to_string(), file)
}

/// The reasons `report` gave, by file name.
fn skipped(doc: &serde_json::Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = doc["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let path = s["path"].as_str().unwrap();
            let name = Path::new(path).file_name().unwrap().to_string_lossy();
            (name.into_owned(), s["reason"].as_str().unwrap().to_string())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn only_report_mails_signed_by_the_reporting_domain_count_and_a_forged_run_of_days_changes_nothing()
{
    let (Some(signer), Some(nsd_bin), Some(openssl)) = (
        real_tool("dkimsign"),
        real_tool("nsd"),
        real_tool("openssl"),
    ) else {
        return;
    };
    let python = Path::new("/usr/bin/python3");
    let p = Project::for_nginx();
    p.write("domains.toml", CONFIG);
    let dir = p.path().join("dns");
    fs::create_dir_all(&dir).unwrap();
    let (good, good_txt) = key(&openssl, &dir, "reporter");
    let (evil, evil_txt) = key(&openssl, &dir, "evil");
    let zones = [
        zone(
            &dir,
            "reporter.example",
            &format!("rep._domainkey IN TXT {good_txt}"),
        ),
        zone(
            &dir,
            "evil.example",
            &format!("rep._domainkey IN TXT {evil_txt}"),
        ),
    ];
    let (_nsd, port) = nsd(&nsd_bin, &dir.join("nsd"), &zones);
    let ns = format!("127.0.0.1:{port}");

    // Ten genuine days, signed by the reporter (its From domain is reporter.example).
    let mail = p.path().join("mail");
    fs::create_dir_all(&mail).unwrap();
    for day in 1..=10 {
        let signed = dkimsign(
            &signer,
            &good,
            "rep",
            "reporter.example",
            &email(&google_day("testing.example", day, 100, &[])),
        );
        fs::write(mail.join(format!("day{day:02}.eml")), signed).unwrap();
    }
    // Four forged days claiming every session went well: what turns 10 days into 14.
    let forged = |day| email(&google_day("testing.example", day, 100_000, &[]));
    fs::write(mail.join("forged-unsigned.eml"), forged(11)).unwrap();
    let altered = dkimsign(&signer, &good, "rep", "reporter.example", &forged(12));
    // One word of the signed body changed; the report in it still reads.
    let altered = altered.replace("aggregate TLS report.", "aggregate TLS report!");
    fs::write(mail.join("forged-altered.eml"), altered).unwrap();
    fs::write(
        mail.join("forged-other-domain.eml"),
        dkimsign(&signer, &evil, "rep", "evil.example", &forged(13)),
    )
    .unwrap();
    // A genuine signature covering only l= bytes of the body: anything may follow them.
    let limited = dkimpy_with_length(python, &good, &forged(14));
    fs::write(mail.join("forged-length.eml"), limited).unwrap();
    fs::write(
        mail.join("forged-no-key.eml"),
        dkimsign(&signer, &good, "nokey", "reporter.example", &forged(14)),
    )
    .unwrap();

    let run = p.run(&["report", "--format", "json", "--nameserver", &ns, "mail"]);
    assert_eq!(
        run.code(),
        1,
        "skipped mails are a finding: {}",
        run.stderr()
    );
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let t = domain(&doc, "testing.example");
    assert_eq!(t["reports"], 10, "only the signed days count: {doc:#}");
    assert_eq!(t["successful"], 1000);
    assert_eq!(t["ready_for_enforce"], false, "{t:#}");
    assert!(
        t["reasons"][0]
            .as_str()
            .unwrap()
            .contains("cover 10 of the 14 days"),
        "{t:#}"
    );
    let reasons = skipped(&doc);
    let expect = [
        ("forged-altered.eml", "body was altered"),
        ("forged-length.eml", "covers only part of the body (l=)"),
        (
            "forged-no-key.eml",
            "d=reporter.example: no DKIM key published",
        ),
        (
            "forged-other-domain.eml",
            "d=evil.example: valid, but not the reporting domain reporter.example",
        ),
        ("forged-unsigned.eml", "dkim: the message is not signed"),
    ];
    assert_eq!(reasons.len(), expect.len(), "{reasons:#?}");
    for ((name, reason), (want_name, want)) in reasons.iter().zip(expect) {
        assert_eq!(name, want_name);
        assert!(reason.starts_with("dkim: "), "{name}: {reason}");
        assert!(reason.contains(want), "{name}: {reason}");
    }

    // The same mailbox filtered upstream (--no-dkim): the forged days would have made the
    // domain ready, which is what the signature check prevents.
    let trusting = p.run(&["report", "--format", "json", "--no-dkim", "mail"]);
    let doc: serde_json::Value = serde_json::from_str(&trusting.stdout()).unwrap();
    let t = domain(&doc, "testing.example");
    assert_eq!(t["reports"], 14, "{doc:#}");
    assert_eq!(t["ready_for_enforce"], true, "{t:#}");

    // A dead resolver: the signed mails are skipped as temporary, never counted unverified.
    let dead = crate::harness::free_port();
    let run = p.run(&[
        "report",
        "--format",
        "json",
        "--timeout",
        "1",
        "--nameserver",
        &format!("127.0.0.1:{dead}"),
        "mail/day01.eml",
    ]);
    assert_eq!(run.code(), 2, "nothing could be read: {}", run.stdout());
    assert!(
        run.stdout()
            .contains("temporary; read again on the next run"),
        "{}",
        run.stdout()
    );
}
