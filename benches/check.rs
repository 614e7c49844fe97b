//! `cargo bench --bench check`: `mtasts check` of a hoster's fleet. N domains (default 10,000;
//! `MTASTS_BENCH_CHECK_SIZES`) published by a real NSD (one zone holding every fragment), a
//! real nginx (the shared vhost, one certificate per policy host) and two MX hosts served by a
//! real Postfix, all on loopback high ports. Reports wall time, domains/s, user CPU and peak
//! RSS (GNU time), the median of `MTASTS_BENCH_RUNS` (default 3), with the SMTP probe and with
//! `--no-smtp`. `MTASTS_BENCH_CHECK_BEFORE=/path/to/mtasts` also times another binary (an older
//! release) on the same fleet without the probe options it may lack.
//!
//! Needs root (Postfix's master), nsd, nginx and postfix; says why and stops otherwise.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

#[path = "../tests/support/postfix.rs"]
mod postfix;

/// Stops a server on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(port: u16) {
    let until = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tool(name: &str) -> Option<PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

fn domain(i: usize) -> String {
    format!("d{i}.fleet.test")
}

/// The project: config, certificates (a CA, each policy host, both MX hosts), then a build.
fn project(dir: &Path, n: usize, https_port: u16) -> PathBuf {
    let tls = dir.join("tls");
    fs::create_dir_all(&tls).unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "mtasts fleet bench CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let issuer = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut hosts: Vec<String> = (0..n).map(|i| format!("mta-sts.{}", domain(i))).collect();
    hosts.extend(["mx1.fleet.test".into(), "mx2.fleet.test".into()]);
    for host in &hosts {
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec![host.clone()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        fs::write(tls.join(format!("{host}.pem")), cert.pem()).unwrap();
        fs::write(tls.join(format!("{host}.key")), key.serialize_pem()).unwrap();
    }
    let ca_file = tls.join("ca.pem");
    fs::write(&ca_file, issuer.pem()).unwrap();
    let t = tls.display();
    let webroot = dir.join("output/webroot");
    let mut config = format!(
        "[defaults]\nmx = [\"mx1.fleet.test\", \"mx2.fleet.test\"]\npolicy_cname = \"web.fleet.test\"\n\
         tlsrpt_rua = [\"mailto:tls@fleet.test\"]\n\n[nginx]\nvhosts = \"shared\"\n\
         listen = [\"127.0.0.1:{https_port} ssl\"]\ncertificate = \"{t}/{{host}}.pem\"\n\
         certificate_key = \"{t}/{{host}}.key\"\nwebroot = \"{}\"\n\n",
        webroot.display()
    );
    for i in 0..n {
        let mode = ["testing", "enforce"][i % 2];
        let _ = writeln!(config, "[domains.\"{}\"]\nmode = \"{mode}\"\n", domain(i));
    }
    fs::write(dir.join("domains.toml"), config).unwrap();
    let build = Command::new(env!("CARGO_BIN_EXE_mtasts"))
        .args(["build", "-q"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(build.status.success(), "{build:?}");
    ca_file
}

/// NSD with one zone, fleet.test: every generated fragment, two MX per domain, the hosts.
/// Response rate limiting is off: from one address, NSD's default (200 answers a second of
/// one kind, such as the AAAA "no data" of every policy host) drops answers, and the check
/// then waits out its DNS timeout, which would measure NSD's limiter, not the check.
fn nsd(dir: &Path, n: usize, port: u16) -> Running {
    let d = dir.join("nsd");
    fs::create_dir_all(&d).unwrap();
    let mut zone = String::from(
        "$ORIGIN fleet.test.\n$TTL 3600\n@ IN SOA ns.fleet.test. hostmaster.fleet.test. 1 60 60 60 60\n\
         @ IN NS ns\nns IN A 127.0.0.1\nweb IN A 127.0.0.1\nmx1 IN A 127.0.0.1\nmx2 IN A 127.0.0.1\n",
    );
    for i in 0..n {
        let name = domain(i);
        let fragment = fs::read_to_string(dir.join(format!("output/dns/{name}.zone"))).unwrap();
        zone.push_str(&fragment);
        let _ = writeln!(
            zone,
            "{name}. IN MX 10 mx1.fleet.test.\n{name}. IN MX 20 mx2.fleet.test."
        );
    }
    fs::write(d.join("fleet.zone"), zone).unwrap();
    let p = d.display();
    fs::write(
        d.join("nsd.conf"),
        format!(
            "server:\n  ip-address: 127.0.0.1\n  port: {port}\n  username: \"\"\n  chroot: \"\"\n  database: \"\"\n\
             \x20 zonelistfile: \"{p}/zone.list\"\n  xfrdfile: \"{p}/xfrd.state\"\n  xfrdir: \"{p}\"\n\
             \x20 pidfile: \"{p}/nsd.pid\"\n  logfile: \"{p}/nsd.log\"\n  server-count: 1\n\
             \x20 rrl-ratelimit: 0\n  rrl-whitelist-ratelimit: 0\n\
             remote-control:\n  control-enable: no\nzone:\n  name: fleet.test\n  zonefile: {p}/fleet.zone\n"
        ),
    )
    .unwrap();
    let child = Command::new(tool("nsd").unwrap())
        .arg("-d")
        .arg("-c")
        .arg(d.join("nsd.conf"))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let running = Running(child);
    // NSD answers TCP once the zone is loaded.
    wait_for(port);
    running
}

fn nginx(dir: &Path, port: u16) -> Running {
    let r = dir.display();
    fs::create_dir_all(dir.join("nginx-tmp")).unwrap();
    fs::write(
        dir.join("nginx.conf"),
        format!(
            "daemon off;\nworker_processes 2;\nuser root;\npid {r}/nginx.pid;\nerror_log {r}/nginx-error.log warn;\n\
             events {{ worker_connections 4096; }}\nhttp {{\n  access_log off;\n\
             \x20 client_body_temp_path {r}/nginx-tmp/body;\n  proxy_temp_path {r}/nginx-tmp/proxy;\n\
             \x20 fastcgi_temp_path {r}/nginx-tmp/fastcgi;\n  uwsgi_temp_path {r}/nginx-tmp/uwsgi;\n\
             \x20 scgi_temp_path {r}/nginx-tmp/scgi;\n  include {r}/output/nginx/*.conf;\n}}\n"
        ),
    )
    .unwrap();
    let child = Command::new(tool("nginx").unwrap())
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("nginx-error.log"))
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .spawn()
        .unwrap();
    let running = Running(child);
    wait_for(port);
    running
}

struct Figures {
    wall: Duration,
    user: f64,
    rss_mib: f64,
}

fn run(binary: &Path, dir: &Path, args: &[String]) -> Figures {
    let report = tempfile::NamedTempFile::new().unwrap();
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%U %M", "-o"])
        .arg(report.path())
        .arg(binary)
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let wall = started.elapsed();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(doc["ok"], true, "the fleet must check clean: {doc:#}");
    let text = fs::read_to_string(report.path()).unwrap();
    let mut parts = text.split_whitespace();
    let user = parts.next().unwrap().parse().unwrap();
    let rss_kib: f64 = parts.next().unwrap().parse().unwrap();
    Figures {
        wall,
        user,
        rss_mib: rss_kib / 1024.0,
    }
}

fn main() {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n");
    if !is_root
        || ["nsd", "nginx", "postfix"]
            .iter()
            .any(|t| tool(t).is_none())
    {
        eprintln!("check bench: needs root, nsd, nginx and postfix (run .ci/run); skipped");
        return;
    }
    if !Path::new("/usr/bin/time").exists() {
        eprintln!("check bench: needs GNU time (/usr/bin/time, Debian package time); skipped");
        return;
    }
    let sizes: Vec<usize> = std::env::var("MTASTS_BENCH_CHECK_SIZES")
        .unwrap_or_else(|_| "10000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("MTASTS_BENCH_CHECK_SIZES: numbers"))
        .collect();
    let runs: usize = std::env::var("MTASTS_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let before = std::env::var_os("MTASTS_BENCH_CHECK_BEFORE").map(PathBuf::from);
    println!("| domains | binary | SMTP probe | wall | domains/s | user CPU | peak RSS |");
    println!("|---:|---|---|---:|---:|---:|---:|");
    for n in sizes {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (dns_port, https_port) = (free_port(), free_port());
        let (mx1, mx2) = (free_port(), free_port());
        let ca = project(root, n, https_port);
        let _nsd = nsd(root, n, dns_port);
        let _nginx = nginx(root, https_port);
        let tls = root.join("tls");
        let listeners: Vec<(String, String)> = [(mx1, "mx1"), (mx2, "mx2")]
            .iter()
            .map(|(port, h)| {
                let host = format!("{h}.fleet.test");
                (
                    format!("127.0.0.1:{port}"),
                    postfix::tls_options(
                        &tls.join(format!("{host}.pem")),
                        &tls.join(format!("{host}.key")),
                    ),
                )
            })
            .collect();
        let config = postfix::configure(&root.join("postfix"), &listeners);
        let (master, master_args) = postfix::master_args(&config);
        let _postfix = Running(Command::new(master).args(master_args).spawn().unwrap());
        wait_for(mx1);
        wait_for(mx2);
        let common: Vec<String> = [
            "check",
            "--format",
            "json",
            "--nameserver",
            &format!("127.0.0.1:{dns_port}"),
            "--connect-to",
            &format!("::127.0.0.1:{https_port}"),
            "--ca-file",
            &ca.display().to_string(),
        ]
        .map(String::from)
        .to_vec();
        let mut common = common;
        common.extend(
            std::env::var("MTASTS_BENCH_CHECK_ARGS")
                .unwrap_or_default()
                .split_whitespace()
                .map(String::from),
        );
        let mut probe = common.clone();
        probe.extend([
            "--smtp-connect".into(),
            format!("mx1.fleet.test:25:127.0.0.1:{mx1}"),
            "--smtp-connect".into(),
            format!("mx2.fleet.test:25:127.0.0.1:{mx2}"),
        ]);
        let mut no_probe = common.clone();
        no_probe.push("--no-smtp".into());
        let this = PathBuf::from(env!("CARGO_BIN_EXE_mtasts"));
        if std::env::var_os("MTASTS_BENCH_CHECK_HOLD").is_some() {
            // For profiling by hand: the fleet stays up while one probes it.
            eprintln!(
                "cd {} && {} {}",
                root.display(),
                this.display(),
                probe.join(" ")
            );
            std::thread::sleep(Duration::from_secs(3600));
        }
        let mut variants = vec![
            ("this", "on", &this, probe),
            ("this", "off", &this, no_probe),
        ];
        if let Some(b) = &before {
            variants.push(("before", "none", b, common.clone()));
        }
        for (name, smtp, binary, args) in variants {
            let figures: Vec<Figures> = (0..runs).map(|_| run(binary, root, &args)).collect();
            let mut walls: Vec<Duration> = figures.iter().map(|f| f.wall).collect();
            walls.sort();
            let mut users: Vec<f64> = figures.iter().map(|f| f.user).collect();
            users.sort_by(f64::total_cmp);
            let rss = figures.iter().map(|f| f.rss_mib).fold(0.0, f64::max);
            let wall = walls[walls.len() / 2];
            println!(
                "| {n} | {name} | {smtp} | {:.2} s | {:.0} | {:.2} s | {rss:.0} MiB |",
                wall.as_secs_f64(),
                n as f64 / wall.as_secs_f64(),
                users[users.len() / 2]
            );
        }
    }
}
