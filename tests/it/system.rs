//! The whole published system on loopback, for end-to-end tests: a private network namespace
//! whose /etc/resolv.conf points at a real NSD serving the generated zone fragments, a real
//! nginx running the generated vhosts on port 443, and a real MTA-STS client.
//!
//! A namespace (not high ports) because senders always fetch `https://mta-sts.<domain>/` on
//! port 443 and resolve names through the system resolver; inside the namespace both are ours.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Server, nginx_args, nginx_test_conf, real_tool, run_ok};

/// Name and addresses every `policy_cname` of the e2e fixture points at.
pub(crate) const GLUE_ZONE: &str = "glue.test";

/// Whether this process may create network namespaces (root).
pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout == b"0\n")
}

/// Skips loudly, or fails under `MTASTS_REQUIRE_REAL=1`.
fn unavailable(what: &str) -> Option<std::convert::Infallible> {
    if std::env::var("MTASTS_REQUIRE_REAL").as_deref() == Ok("1") {
        panic!("{what} (required: MTASTS_REQUIRE_REAL=1); run .ci/run");
    }
    eprintln!("\n!!!!!!!! SKIPPED: {what}; the end-to-end test did not run !!!!!!!!\n");
    None
}

/// A private network namespace with its own resolv.conf; deleted on drop.
pub(crate) struct Netns {
    name: String,
}

impl Netns {
    pub(crate) fn create() -> Option<Netns> {
        if !is_root() {
            unavailable("network namespaces need root")?;
        }
        let name = format!("mtasts-e2e-{}-{}", std::process::id(), rand_suffix());
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name };
        let etc = ns.etc();
        fs::create_dir_all(&etc).unwrap();
        fs::write(
            etc.join("resolv.conf"),
            "nameserver 127.0.0.1\noptions timeout:2 attempts:2\n",
        )
        .unwrap();
        run_ok(ns.exec("ip").args(["link", "set", "lo", "up"]));
        Some(ns)
    }

    pub(crate) fn etc(&self) -> PathBuf {
        Path::new("/etc/netns").join(&self.name)
    }

    /// A command that runs `program` inside the namespace (`ip netns exec` execs it, so the
    /// child's pid is the program's).
    pub(crate) fn exec(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Waits until a TCP port inside the namespace accepts connections.
    fn wait_for(&self, server: &mut Server, port: u16, log: &Path) {
        server.wait_until(&format!("port {port} in the namespace"), log, || {
            self.exec("bash")
                .arg("-c")
                .arg(format!("exec 3<>/dev/tcp/127.0.0.1/{port}"))
                .output()
                .is_ok_and(|o| o.status.success())
        });
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
        let _ = fs::remove_dir_all(self.etc());
    }
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

/// How the DNS side deviates from the generated fragments (to prove the client can fail).
#[derive(Default)]
pub(crate) struct DnsTweaks {
    /// Extra lines appended to a domain's zone.
    pub(crate) extra: Vec<(String, String)>,
    /// Domains whose fragment is left out of their zone.
    pub(crate) omit: Vec<String>,
}

/// The real tools the system needs, found once.
pub(crate) struct Tools {
    nsd: PathBuf,
    nginx: PathBuf,
    pub(crate) python: PathBuf,
}

impl Tools {
    /// All tools, or `None` after a loud skip (a failure under `MTASTS_REQUIRE_REAL=1`).
    pub(crate) fn find() -> Option<Tools> {
        let nsd = real_tool("nsd")?;
        let nginx = real_tool("nginx")?;
        real_tool("ip")?;
        real_tool("bash")?;
        let python = std::env::var_os("MTASTS_E2E_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"));
        let has_client = Command::new(&python)
            .args(["-c", "import postfix_mta_sts_resolver"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !has_client {
            unavailable(&format!(
                "postfix-mta-sts-resolver is not importable by {} (set MTASTS_E2E_PYTHON or run .ci/run)",
                python.display()
            ))?;
        }
        Some(Tools { nsd, nginx, python })
    }
}

/// One running system: NSD and nginx inside a namespace. Everything stops on drop, servers
/// first (fields drop in declaration order), then the namespace.
pub(crate) struct System<'a> {
    /// The port whose answer says nginx is up (443; 80 while every TLS host waits for its
    /// certificate).
    pub(crate) nginx_port: u16,
    nginx: Option<Server>,
    _nsd: Server,
    netns: Netns,
    tools: &'a Tools,
    root: PathBuf,
}

impl<'a> System<'a> {
    /// Serves `<root>/output` (zones from `output/dns`, vhosts from `output/nginx`).
    pub(crate) fn start(tools: &'a Tools, root: &Path, dns: &DnsTweaks) -> Option<System<'a>> {
        System::start_on(tools, root, dns, 443)
    }

    /// As [`System::start`], nginx counted as up once `nginx_port` answers.
    pub(crate) fn start_on(
        tools: &'a Tools,
        root: &Path,
        dns: &DnsTweaks,
        nginx_port: u16,
    ) -> Option<System<'a>> {
        let netns = Netns::create()?;
        let nsd = start_nsd(&netns, &tools.nsd, root, dns);
        let mut system = System {
            nginx_port,
            nginx: None,
            _nsd: nsd,
            netns,
            tools,
            root: root.to_path_buf(),
        };
        system.restart_nginx();
        Some(system)
    }

    /// (Re)starts nginx on the current `output/nginx/*.conf`.
    pub(crate) fn restart_nginx(&mut self) {
        self.nginx = None;
        let root = &self.root;
        let (conf, log) = nginx_test_conf(root, "e2e-nginx");
        let mut cmd = self.netns.exec(&self.tools.nginx);
        cmd.args(nginx_args(root, &conf, &log));
        let mut server = Server {
            child: cmd.spawn().unwrap(),
            name: "nginx",
        };
        self.netns.wait_for(&mut server, self.nginx_port, &log);
        self.nginx = Some(server);
    }

    /// A command that runs `program` inside the namespace.
    pub(crate) fn exec(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        self.netns.exec(program)
    }

    /// Runs `mtasts ARGS` inside the namespace, in the project directory, with the test clock.
    pub(crate) fn mtasts(&self, args: &[&str]) -> crate::harness::Run {
        let mut cmd = self.netns.exec(env!("CARGO_BIN_EXE_mtasts"));
        cmd.args(args)
            .current_dir(&self.root)
            .env("SOURCE_DATE_EPOCH", crate::harness::EPOCH)
            .env("NO_COLOR", "1");
        crate::harness::Run(cmd.output().unwrap())
    }

    /// Asks the real client for each domain's policy; one outcome per domain.
    pub(crate) fn resolve(&self, ca: &Path, domains: &[&str]) -> BTreeMap<String, Outcome> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/query.py");
        let out = run_ok(
            self.netns
                .exec(&self.tools.python)
                .env("SSL_CERT_FILE", ca)
                .arg(script)
                .args(domains),
        );
        out.lines()
            .map(|l| {
                let v: serde_json::Value =
                    serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
                let policy = &v["policy"];
                (
                    v["domain"].as_str().unwrap().to_string(),
                    Outcome {
                        result: v["result"].as_str().unwrap().to_string(),
                        id: v["id"].as_str().map(str::to_string),
                        mode: policy["mode"].as_str().map(str::to_string),
                        mx: policy["mx"]
                            .as_array()
                            .map(|a| a.iter().map(|m| m.as_str().unwrap().to_string()).collect())
                            .unwrap_or_default(),
                        max_age: policy["max_age"].as_u64(),
                    },
                )
            })
            .collect()
    }
}

/// What the client concluded about one domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// `VALID`, `NONE` or `FETCH_ERROR` (the client's STSFetchResult).
    pub(crate) result: String,
    pub(crate) id: Option<String>,
    pub(crate) mode: Option<String>,
    pub(crate) mx: Vec<String>,
    pub(crate) max_age: Option<u64>,
}

fn start_nsd(netns: &Netns, nsd: &Path, root: &Path, dns: &DnsTweaks) -> Server {
    let dir = root.join("e2e-nsd");
    fs::create_dir_all(&dir).unwrap();
    let soa = format!(
        "@ IN SOA ns1.{GLUE_ZONE}. hostmaster.{GLUE_ZONE}. 1 60 60 60 60\n@ IN NS ns1.{GLUE_ZONE}.\n"
    );
    let mut zones = vec![(GLUE_ZONE.to_string(), dir.join("glue.zone"))];
    fs::write(
        &zones[0].1,
        format!("$ORIGIN {GLUE_ZONE}.\n$TTL 60\n{soa}ns1 IN A 127.0.0.1\nweb IN A 127.0.0.1\nweb IN AAAA ::1\n"),
    )
    .unwrap();
    for entry in fs::read_dir(root.join("output/dns")).unwrap() {
        let fragment = entry.unwrap().path();
        let domain = crate::harness::zone_domain(&fragment);
        let mut text = format!("$ORIGIN {domain}.\n$TTL 60\n{soa}");
        if !dns.omit.contains(&domain) {
            text.push_str(&format!("$INCLUDE {}\n", fragment.display()));
        }
        for (d, line) in &dns.extra {
            if *d == domain {
                text.push_str(line);
                text.push('\n');
            }
        }
        let zone = dir.join(format!("{domain}.zone"));
        fs::write(&zone, text).unwrap();
        zones.push((domain, zone));
    }
    let d = dir.display();
    let mut conf = [
        "server:".to_string(),
        "  ip-address: 127.0.0.1".into(),
        "  ip-address: ::1".into(),
        "  port: 53".into(),
        "  username: \"\"".into(),
        "  chroot: \"\"".into(),
        "  database: \"\"".into(),
        format!("  zonelistfile: \"{d}/zone.list\""),
        format!("  xfrdfile: \"{d}/xfrd.state\""),
        format!("  xfrdir: \"{d}\""),
        format!("  pidfile: \"{d}/nsd.pid\""),
        format!("  logfile: \"{d}/nsd.log\""),
        "remote-control:".into(),
        "  control-enable: no".into(),
        String::new(),
    ]
    .join("\n");
    for (name, file) in &zones {
        conf.push_str(&format!(
            "zone:\n  name: {name}\n  zonefile: {}\n",
            file.display()
        ));
    }
    let conf_path = dir.join("nsd.conf");
    fs::write(&conf_path, conf).unwrap();
    let log = dir.join("nsd.log");
    let mut server = Server {
        child: netns
            .exec(nsd)
            .arg("-d")
            .arg("-c")
            .arg(&conf_path)
            .spawn()
            .unwrap(),
        name: "nsd",
    };
    netns.wait_for(&mut server, 53, &log);
    server
}
