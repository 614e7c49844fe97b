//! A throwaway Postfix instance in a directory of its own: one smtpd per listener, nothing
//! delivered anywhere. Shared by the SMTP probe test and the fleet bench (`#[path]` include).
//! The master runs as root and its smtpd processes as the `postfix` user, as Debian sets it up.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The services smtpd talks to; the rest of a stock master.cf (delivery, pickup) is left out.
const SERVICES: &[&str] = &[
    "cleanup unix n - n - 0 cleanup",
    "qmgr unix n - n 300 1 qmgr",
    "tlsmgr unix - - n 1000? 1 tlsmgr",
    "rewrite unix - - n - - trivial-rewrite",
    "bounce unix - - n - 0 bounce",
    "defer unix - - n - 0 bounce",
    "trace unix - - n - 0 bounce",
    "verify unix - - n - 1 verify",
    "proxymap unix - - n - - proxymap",
    "error unix - - n - - error",
    "retry unix - - n - - error",
    "discard unix - - n - - discard",
    "anvil unix - - n - 1 anvil",
    "scache unix - - n - 1 scache",
    "postlog unix-dgram n - n - 1 postlogd",
];

/// Writes `dir/etc/{main,master}.cf` with one smtpd per `(ADDR:PORT, smtpd -o options)` and
/// creates the queue; returns the config directory. Its log is `dir/maillog`.
pub(crate) fn configure(dir: &Path, listeners: &[(String, String)]) -> PathBuf {
    let d = dir.display();
    for sub in ["etc", "spool", "data"] {
        fs::create_dir_all(dir.join(sub)).unwrap();
    }
    // smtpd runs as the postfix user: it must reach the queue inside the temporary directory.
    let tmp = std::env::temp_dir();
    let mut up = Some(dir);
    while let Some(p) = up.filter(|p| p.starts_with(&tmp) && *p != tmp) {
        ok(Command::new("chmod").arg("755").arg(p));
        up = p.parent();
    }
    ok(Command::new("chown").arg("postfix").arg(dir.join("data")));
    fs::write(
        dir.join("etc/main.cf"),
        format!(
            "compatibility_level = 3.6\nqueue_directory = {d}/spool\ndata_directory = {d}/data\n\
             mail_owner = postfix\nmyhostname = mx.test\nmydestination =\ninet_interfaces = all\n\
             inet_protocols = ipv4\nmaillog_file_prefixes = {d}\nmaillog_file = {d}/maillog\n\
             notify_classes =\nalias_maps =\nalias_database =\nsmtpd_tls_security_level = may\n"
        ),
    )
    .unwrap();
    let mut master = String::new();
    for (listen, options) in listeners {
        master.push_str(&format!("{listen} inet n - n - - smtpd {options}\n"));
    }
    for service in SERVICES {
        master.push_str(service);
        master.push('\n');
    }
    fs::write(dir.join("etc/master.cf"), master).unwrap();
    // `postfix check` creates the queue's directories with their owners.
    ok(Command::new("postfix")
        .arg("-c")
        .arg(dir.join("etc"))
        .arg("check"));
    dir.join("etc")
}

/// The master daemon in the foreground on `config` (stopped by SIGTERM).
pub(crate) fn master_args(config: &Path) -> (&'static str, Vec<String>) {
    (
        "/usr/lib/postfix/sbin/master",
        vec!["-c".into(), config.display().to_string(), "-d".into()],
    )
}

/// smtpd options serving `cert` and `key` over STARTTLS.
pub(crate) fn tls_options(cert: &Path, key: &Path) -> String {
    format!(
        "-o smtpd_tls_cert_file={} -o smtpd_tls_key_file={}",
        cert.display(),
        key.display()
    )
}

fn ok(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
