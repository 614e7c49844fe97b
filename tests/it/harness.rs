//! Shared test helpers: run the real binary in a temp project, compare trees, find real tools.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The clock every test build uses (2025-11-28 00:00:00 UTC).
pub(crate) const EPOCH: &str = "1764288000";

/// A temp directory holding a config, where `mtasts` runs with that directory as cwd.
pub(crate) struct Project {
    pub(crate) dir: tempfile::TempDir,
}

impl Project {
    pub(crate) fn new(config: &str) -> Project {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("domains.toml"), config).unwrap();
        Project { dir }
    }

    /// An empty project that nginx workers (which drop privileges) can traverse.
    pub(crate) fn for_nginx() -> Project {
        use std::os::unix::fs::PermissionsExt;
        let p = Project::new("");
        fs::set_permissions(p.path(), fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    /// Copies a fixture directory (config, optional lock and templates) into a new project.
    pub(crate) fn from_fixture(fixture: &Path) -> Project {
        let dir = tempfile::tempdir().unwrap();
        for entry in walkdir::WalkDir::new(fixture) {
            let entry = entry.unwrap();
            let rel = entry.path().strip_prefix(fixture).unwrap();
            if rel.starts_with("expected") || rel.as_os_str() == "expected.stderr" {
                continue;
            }
            let target = dir.path().join(rel);
            if entry.file_type().is_dir() {
                fs::create_dir_all(&target).unwrap();
            } else {
                fs::copy(entry.path(), &target).unwrap();
            }
        }
        Project { dir }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }

    pub(crate) fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.path().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Runs `mtasts ARGS` in the project with the fixed clock.
    pub(crate) fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[("SOURCE_DATE_EPOCH", EPOCH)])
    }

    pub(crate) fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mtasts"));
        cmd.args(args)
            .current_dir(self.path())
            .env_remove("SOURCE_DATE_EPOCH")
            .env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run(cmd.output().unwrap())
    }

    /// The id the lock records for `domain`.
    pub(crate) fn lock_id(&self, domain: &str) -> String {
        let lock = mtasts::lock::Lock::parse(&self.read("domains.lock"), "domains.lock").unwrap();
        lock.domains[domain].id.to_string()
    }

    /// Every file below the project (relative path → bytes), optionally under one subdirectory.
    pub(crate) fn files(&self, under: &str) -> BTreeMap<String, Vec<u8>> {
        tree(&self.path().join(under))
    }
}

/// The output's stat index: a cache of inodes and times, which differ between runs by design.
pub(crate) const INDEX: &str = ".mtasts-index";

/// Every regular file below `root` but stat indexes, relative path with `/` → bytes.
pub(crate) fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    if !root.exists() {
        return out;
    }
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.file_type().is_file() && entry.file_name() != INDEX {
            let rel = entry.path().strip_prefix(root).unwrap();
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            out.insert(rel, fs::read(entry.path()).unwrap());
        }
    }
    out
}

/// The domain a zone fragment `output/dns/<domain>.zone` is for.
pub(crate) fn zone_domain(fragment: &Path) -> String {
    let name = fragment.file_name().unwrap().to_str().unwrap();
    name.strip_suffix(".zone").unwrap().to_string()
}

/// The paths whose bytes differ between two trees (added, changed or removed), sorted.
pub(crate) fn changed_files(
    before: &BTreeMap<String, Vec<u8>>,
    after: &BTreeMap<String, Vec<u8>>,
) -> Vec<String> {
    let mut keys: Vec<String> = before.keys().chain(after.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    keys.retain(|k| before.get(k) != after.get(k));
    keys
}

/// Modification times of every file below `root`.
pub(crate) fn mtimes(root: &Path) -> BTreeMap<String, std::time::SystemTime> {
    tree(root)
        .keys()
        .map(|k| {
            (
                k.clone(),
                fs::metadata(root.join(k)).unwrap().modified().unwrap(),
            )
        })
        .collect()
}

/// A finished process.
pub(crate) struct Run(pub(crate) Output);

impl Run {
    pub(crate) fn code(&self) -> i32 {
        self.0.status.code().expect("exited normally")
    }
    pub(crate) fn stdout(&self) -> String {
        String::from_utf8(self.0.stdout.clone()).unwrap()
    }
    pub(crate) fn stderr(&self) -> String {
        String::from_utf8(self.0.stderr.clone()).unwrap()
    }
    /// Asserts success and returns stdout.
    pub(crate) fn ok(&self) -> String {
        assert_eq!(
            self.code(),
            0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self.stdout()
    }
    /// Asserts exit code 1 and returns stderr.
    pub(crate) fn fails(&self) -> String {
        assert_eq!(
            self.code(),
            1,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self.stderr()
    }
}

/// Replaces the run-time figure so summaries can be compared.
pub(crate) fn without_timing(s: &str) -> String {
    s.lines()
        .map(|l| match (l.rfind(" ("), l.ends_with(" ms)")) {
            (Some(i), true) => format!("{} (<time>)", &l[..i]),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

/// Compares `actual` with the snapshot directory; `MTASTS_BLESS=1` rewrites it instead.
pub(crate) fn assert_tree_matches(expected_dir: &Path, actual: &BTreeMap<String, Vec<u8>>) {
    if std::env::var_os("MTASTS_BLESS").is_some() {
        let _ = fs::remove_dir_all(expected_dir);
        for (rel, bytes) in actual {
            let p = expected_dir.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, bytes).unwrap();
        }
        return;
    }
    let expected = tree(expected_dir);
    let names = |m: &BTreeMap<String, Vec<u8>>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(actual),
        names(&expected),
        "file set differs from {}",
        expected_dir.display()
    );
    for (rel, bytes) in actual {
        assert!(
            &expected[rel] == bytes,
            "{rel} differs from the snapshot in {}:\n--- expected\n{}\n--- actual\n{}",
            expected_dir.display(),
            String::from_utf8_lossy(&expected[rel]),
            String::from_utf8_lossy(bytes)
        );
    }
}

/// The fixtures directory.
pub(crate) fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Finds a real tool; when it is missing, skips loudly or fails under `MTASTS_REQUIRE_REAL=1`.
pub(crate) fn real_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var("MTASTS_REQUIRE_REAL").as_deref() == Ok("1") {
            panic!(
                "{name} is required (MTASTS_REQUIRE_REAL=1) but not installed; run .ci/run or install it"
            );
        }
        eprintln!(
            "\n!!!!!!!! SKIPPED: {name} is not installed; this real-component test did not run !!!!!!!!\n"
        );
    }
    found
}

/// A free TCP port on loopback (bound then released).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Host header values that must never reach another host's policy (nginx, the Worker).
pub(crate) const HOSTILE_HOSTS: [&str; 9] = [
    "mta-sts.stranger.example",
    "..",
    "mta-sts.a.example/..",
    "mta-sts.a.example%2f..",
    "../../etc",
    "mta-sts.a.example.",
    "MTA-STS.A.EXAMPLE",
    "mta-sts.a.example:443",
    "",
];

/// Waits up to ten seconds until something listens on loopback `port`; whether it does.
pub(crate) fn wait_for_port(port: u16) -> bool {
    // Up to 30 s: a loaded CI machine starts workerd or moto slowly; a listening server ends
    // the wait at once.
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

/// Runs a command and asserts it succeeded, returning stdout.
pub(crate) fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A throwaway CA and, per host, `tls/<host>/fullchain.pem` + `privkey.pem` signed by it.
/// Returns the CA certificate path.
pub(crate) fn make_certs(openssl: &Path, dir: &Path, hosts: &[String]) -> PathBuf {
    let tls = dir.join("tls");
    fs::create_dir_all(&tls).unwrap();
    let ca = tls.join("ca.pem");
    let ca_key = tls.join("ca.key");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run_ok(
        Command::new(openssl)
            .args(["req", "-x509"])
            .args(ec)
            .arg("-keyout")
            .arg(&ca_key)
            .arg("-out")
            .arg(&ca)
            .args(["-days", "90", "-subj", "/CN=mtasts test CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE"])
            .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
    );
    for (serial, host) in hosts.iter().enumerate() {
        let d = tls.join(host);
        fs::create_dir_all(&d).unwrap();
        let ext = d.join("ext.cnf");
        fs::write(
            &ext,
            format!("subjectAltName=DNS:{host}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
        )
        .unwrap();
        run_ok(
            Command::new(openssl)
                .arg("req")
                .args(ec)
                .arg("-keyout")
                .arg(d.join("privkey.pem"))
                .arg("-out")
                .arg(d.join("req.csr"))
                .args(["-subj", &format!("/CN={host}")]),
        );
        run_ok(
            Command::new(openssl)
                .args(["x509", "-req", "-in"])
                .arg(d.join("req.csr"))
                .arg("-CA")
                .arg(&ca)
                .arg("-CAkey")
                .arg(&ca_key)
                .args([
                    "-set_serial",
                    &(serial + 2).to_string(),
                    "-days",
                    "90",
                    "-extfile",
                ])
                .arg(&ext)
                .arg("-out")
                .arg(d.join("fullchain.pem")),
        );
    }
    ca
}

/// `-p ROOT -e LOG -c CONF`: nginx running in the test's directory with the test's files.
pub(crate) fn nginx_args(root: &Path, conf: &Path, log: &Path) -> [std::ffi::OsString; 6] {
    [
        "-p".into(),
        root.into(),
        "-e".into(),
        log.into(),
        "-c".into(),
        conf.into(),
    ]
}

/// A config of `n` domains `d00000.example`...: `head`, then each domain's table with `body`.
pub(crate) fn domains_config(n: usize, head: &str, body: &str) -> String {
    let mut c = head.to_string();
    for i in 0..n {
        c.push_str(&format!("[domains.\"d{i:05}.example\"]\n{body}"));
    }
    c
}

/// Lets nginx workers (an unprivileged user) read the test keys: with `vhosts = "shared"`
/// certificates are loaded per handshake by the worker, not at start by the master.
pub(crate) fn keys_readable_by_workers(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for entry in walkdir::WalkDir::new(root.join("tls")) {
        let entry = entry.unwrap();
        if entry.file_name() == "privkey.pem" {
            fs::set_permissions(entry.path(), fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

/// nginx on the test configuration of `root` (see [`nginx_test_conf`]), stopped on drop; its
/// error log beside it.
pub(crate) fn serve_nginx(nginx: &Path, root: &Path, tag: &str) -> (Server, PathBuf) {
    let (conf, log) = nginx_test_conf(root, tag);
    let server = Server {
        child: Command::new(nginx)
            .args(nginx_args(root, &conf, &log))
            .spawn()
            .unwrap(),
        name: "nginx",
    };
    (server, log)
}

/// A child process stopped (TERM, then KILL) when dropped, also when a test fails.
pub(crate) struct Server {
    pub(crate) child: std::process::Child,
    pub(crate) name: &'static str,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        for _ in 0..50 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Waits until `addr` accepts TCP connections; panics with `log` if the server died.
    pub(crate) fn wait_for(&mut self, addr: &str, log: &Path) {
        self.wait_until(addr, log, || std::net::TcpStream::connect(addr).is_ok());
    }

    /// Polls `ready` (bounded: 10 s) until it holds; panics with `log` if the server died or
    /// never became ready for `what`.
    pub(crate) fn wait_until(&mut self, what: &str, log: &Path, mut ready: impl FnMut() -> bool) {
        let log_text = || fs::read_to_string(log).unwrap_or_default();
        for _ in 0..100 {
            if ready() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited with {status}:\n{}", self.name, log_text());
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("{} was not ready for {what}:\n{}", self.name, log_text());
    }
}

/// Whether this machine can bind IPv6 loopback.
pub(crate) fn has_ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

/// Writes a minimal nginx main config (temp paths under `root`, named by `tag`) that includes
/// the generated vhosts unmodified, beside whatever "the operator's own" configuration a test
/// puts in `root/operator/main/*.conf` (main context) and `root/operator/sites-enabled/*`
/// (http context; globs that match nothing include nothing); returns the config and
/// error-log paths.
pub(crate) fn nginx_test_conf(root: &Path, tag: &str) -> (PathBuf, PathBuf) {
    let tmp = root.join(format!("{tag}-tmp"));
    fs::create_dir_all(&tmp).unwrap();
    let conf = root.join(format!("{tag}.conf"));
    let log = root.join(format!("{tag}-error.log"));
    let (r, t) = (root.display(), tmp.display());
    fs::write(
        &conf,
        format!(
            "daemon off;\nworker_processes 1;\npid {r}/{tag}.pid;\nerror_log {log} warn;\n\
             include {r}/operator/main/*.conf;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
             \x20   access_log off;\n\
             \x20   default_type application/octet-stream;\n\
             \x20   client_body_temp_path {t}/body;\n\
             \x20   proxy_temp_path {t}/proxy;\n\
             \x20   fastcgi_temp_path {t}/fastcgi;\n\
             \x20   uwsgi_temp_path {t}/uwsgi;\n\
             \x20   scgi_temp_path {t}/scgi;\n\
             \x20   include {r}/operator/sites-enabled/*;\n\
             \x20   include {r}/output/nginx/*.conf;\n\
             }}\n",
            log = log.display()
        ),
    )
    .unwrap();
    (conf, log)
}

/// A private NSD on a loopback high port serving `zones` (name, file).
pub(crate) fn nsd(nsd: &Path, dir: &Path, zones: &[(String, std::path::PathBuf)]) -> (Server, u16) {
    fs::create_dir_all(dir).unwrap();
    let port = free_port();
    let d = dir.display();
    let mut conf = format!(
        "server:\n  ip-address: 127.0.0.1\n  port: {port}\n  username: \"\"\n  chroot: \"\"\n\
         \x20 database: \"\"\n  zonelistfile: \"{d}/zone.list\"\n  xfrdfile: \"{d}/xfrd.state\"\n\
         \x20 xfrdir: \"{d}\"\n  pidfile: \"{d}/nsd.pid\"\n  logfile: \"{d}/nsd.log\"\n\
         remote-control:\n  control-enable: no\n"
    );
    for (name, file) in zones {
        conf.push_str(&format!(
            "zone:\n  name: {name}\n  zonefile: {}\n",
            file.display()
        ));
    }
    fs::write(dir.join("nsd.conf"), conf).unwrap();
    let server = Server {
        child: Command::new(nsd)
            .arg("-d")
            .arg("-c")
            .arg(dir.join("nsd.conf"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
        name: "nsd",
    };
    if wait_for_port(port) {
        return (server, port);
    }
    panic!(
        "nsd did not start: {}",
        fs::read_to_string(dir.join("nsd.log")).unwrap_or_default()
    );
}

/// Asserts that `promtool check metrics` (Prometheus's own linter) accepts `text`.
pub(crate) fn promtool_passes(text: &str) {
    let prom = tempfile::NamedTempFile::new().unwrap();
    fs::write(prom.path(), text).unwrap();
    let lint = Command::new(real_tool("promtool").unwrap())
        .args(["check", "metrics"])
        .stdin(fs::File::open(prom.path()).unwrap())
        .output()
        .unwrap();
    assert!(
        lint.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
}
