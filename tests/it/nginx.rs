//! The generated vhosts in a real nginx on loopback, fetched over TLS by a real client (curl).

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::harness::{
    Project, Server, domains_config, free_port, has_ipv6_loopback, keys_readable_by_workers,
    make_certs, nginx_args, nginx_test_conf, real_tool, run_ok, serve_nginx,
};

struct Fetched {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Fetched {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn fetch(
    curl: &Path,
    ca: &Path,
    host: &str,
    ip: &str,
    port: u16,
    path: &str,
    dir: &Path,
) -> Fetched {
    let body = dir.join("body");
    let headers = dir.join("headers");
    let _ = fs::remove_file(&body);
    run_ok(
        Command::new(curl)
            .args(["-sS", "--max-time", "10", "--proto", "=https", "--tlsv1.2"])
            .arg("--cacert")
            .arg(ca)
            .args(["--resolve", &format!("{host}:{port}:{ip}")])
            .arg("-D")
            .arg(&headers)
            .arg("-o")
            .arg(&body)
            .arg(format!("https://{host}:{port}{path}")),
    );
    let head = fs::read_to_string(&headers).unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Fetched {
        status,
        headers,
        body: fs::read(&body).unwrap_or_default(),
    }
}

#[test]
fn srv_real_nginx_serves_each_policy_with_200_text_plain_and_no_redirect() {
    let (Some(nginx), Some(openssl), Some(curl)) =
        (real_tool("nginx"), real_tool("openssl"), real_tool("curl"))
    else {
        return;
    };
    let p = Project::for_nginx();
    let root = p.path();
    let domains = ["example.com", "xn--bcher-kva.example", "legacy.example"];
    let hosts: Vec<String> = domains.iter().map(|d| format!("mta-sts.{d}")).collect();
    let ca = make_certs(&openssl, root, &hosts);
    let port = free_port();
    let ipv6 = has_ipv6_loopback();
    let mut listen = vec![format!("\"127.0.0.1:{port} ssl\"")];
    if ipv6 {
        listen.push(format!("\"[::1]:{port} ssl\""));
    }
    p.write(
        "domains.toml",
        &format!(
            r#"
[defaults]
mx = ["mx1.example.com", "*.mx.example.net"]
policy_cname = "mail.example.net"

[nginx]
listen = [{listen}]
certificate = "{root}/tls/{{host}}/fullchain.pem"
certificate_key = "{root}/tls/{{host}}/privkey.pem"
webroot = "{root}/output/webroot"

[domains."example.com"]
mode = "enforce"

[domains."bücher.example"]

[domains."legacy.example"]
mode = "none"
max_age = 86400
"#,
            listen = listen.join(", "),
            root = root.display()
        ),
    );
    p.run(&["build"]).ok();
    let (conf, log) = nginx_test_conf(root, "nginx-test");
    let base = |cmd: &mut Command| {
        cmd.args(nginx_args(root, &conf, &log));
    };
    let mut test = Command::new(&nginx);
    base(&mut test);
    run_ok(test.arg("-t"));

    let mut start = Command::new(&nginx);
    base(&mut start);
    let mut server = Server {
        child: start.spawn().unwrap(),
        name: "nginx",
    };
    server.wait_for(&format!("127.0.0.1:{port}"), &log);

    let mut addresses = vec!["127.0.0.1"];
    if ipv6 {
        addresses.push("[::1]");
    } else {
        eprintln!(
            "!!!!!!!! IPv6 loopback unavailable: the [::1] listen line was not exercised !!!!!!!!"
        );
    }
    for (domain, host) in domains.iter().zip(&hosts) {
        let policy =
            fs::read(root.join(format!("output/webroot/{host}/.well-known/mta-sts.txt"))).unwrap();
        for ip in &addresses {
            let got = fetch(&curl, &ca, host, ip, port, "/.well-known/mta-sts.txt", root);
            assert_eq!(got.status, 200, "{domain} via {ip}");
            assert_eq!(got.header("content-type"), Some("text/plain"), "{domain}");
            assert_eq!(got.header("location"), None, "{domain}");
            assert_eq!(
                got.body, policy,
                "{domain}: served bytes differ from the policy file"
            );
        }
        for other in [
            "/",
            "/.well-known/",
            "/.well-known",
            "/.well-known/mta-sts.txt/",
            "/index.html",
            "/mta-sts.txt",
        ] {
            let got = fetch(&curl, &ca, host, "127.0.0.1", port, other, root);
            assert_eq!(got.status, 404, "{domain}{other}");
            assert_eq!(got.header("location"), None, "{domain}{other}");
        }
    }
    let parsed = mtasts::policy::parse(
        &fetch(
            &curl,
            &ca,
            &hosts[0],
            "127.0.0.1",
            port,
            "/.well-known/mta-sts.txt",
            root,
        )
        .body,
    )
    .unwrap();
    assert_eq!(parsed.mode, mtasts::model::Mode::Enforce);
    assert_eq!(parsed.mx, ["mx1.example.com", "*.mx.example.net"]);
}

/// The subject CN of the certificate nginx presents for `sni`, or `None` when the handshake fails.
fn presented(openssl: &Path, port: u16, sni: &str) -> Option<String> {
    let out = Command::new(openssl)
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{port}"),
            "-servername",
            sni,
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines().find_map(|l| {
        l.strip_prefix("subject=").map(|s| {
            s.trim_start_matches("CN = ")
                .trim_start_matches("CN=")
                .to_string()
        })
    })
}

#[test]
fn shared_layout_serves_only_generated_hosts_with_their_own_certificates() {
    let (Some(nginx), Some(openssl), Some(curl)) =
        (real_tool("nginx"), real_tool("openssl"), real_tool("curl"))
    else {
        return;
    };
    let p = Project::for_nginx();
    let root = p.path();
    let domains = ["a.example", "xn--bcher-kva.example", "c.example"];
    let mut hosts: Vec<String> = domains.iter().map(|d| format!("mta-sts.{d}")).collect();
    // A certificate exists for this host, but mtasts does not generate it: it must not be served.
    hosts.push("mta-sts.stranger.example".into());
    let ca = make_certs(&openssl, root, &hosts);
    keys_readable_by_workers(root);
    let port = free_port();
    p.write(
        "domains.toml",
        &format!(
            r#"[defaults]
mx = ["mx.example.net"]
policy_cname = "mail.example.net"

[nginx]
vhosts = "shared"
listen = ["127.0.0.1:{port} ssl"]
certificate = "{root}/tls/{{host}}/fullchain.pem"
certificate_key = "{root}/tls/{{host}}/privkey.pem"
webroot = "{root}/output/webroot"

[domains."a.example"]
mode = "enforce"
[domains."bücher.example"]
[domains."c.example"]
mode = "none"
"#,
            root = root.display()
        ),
    );
    p.run(&["build"]).ok();
    fs::create_dir_all(root.join("output/webroot/mta-sts.stranger.example/.well-known")).unwrap();
    fs::write(
        root.join("output/webroot/mta-sts.stranger.example/.well-known/mta-sts.txt"),
        "secret",
    )
    .unwrap();
    let inventory = p.read("output/certificates.txt");
    assert!(
        inventory.contains(&format!(
            "{}/tls/mta-sts.a.example/fullchain.pem",
            root.display()
        )),
        "{inventory}"
    );
    let (conf, log) = nginx_test_conf(root, "nginx-shared");
    run_ok(
        Command::new(&nginx)
            .args(nginx_args(root, &conf, &log))
            .arg("-t"),
    );
    let mut server = Server {
        child: Command::new(&nginx)
            .args(nginx_args(root, &conf, &log))
            .spawn()
            .unwrap(),
        name: "nginx",
    };
    server.wait_for(&format!("127.0.0.1:{port}"), &log);
    for host in &hosts[..3] {
        assert_eq!(
            presented(&openssl, port, host).as_deref(),
            Some(host.as_str()),
            "certificate for {host}"
        );
        let policy =
            fs::read(root.join(format!("output/webroot/{host}/.well-known/mta-sts.txt"))).unwrap();
        let got = fetch(
            &curl,
            &ca,
            host,
            "127.0.0.1",
            port,
            "/.well-known/mta-sts.txt",
            root,
        );
        assert_eq!(
            (got.status, got.header("content-type")),
            (200, Some("text/plain")),
            "{host}"
        );
        assert_eq!(got.body, policy, "{host}");
        assert_eq!(
            fetch(&curl, &ca, host, "127.0.0.1", port, "/", root).status,
            404
        );
    }
    // A name we did not generate gets no certificate at all.
    assert_eq!(presented(&openssl, port, "mta-sts.stranger.example"), None);
    // Hostile Host headers over a valid TLS session never leave the generated roots.
    let a_policy =
        fs::read(root.join("output/webroot/mta-sts.a.example/.well-known/mta-sts.txt")).unwrap();
    for host in crate::harness::HOSTILE_HOSTS {
        let out = Command::new(&curl)
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(&ca)
            .args(["--resolve", &format!("mta-sts.a.example:{port}:127.0.0.1")])
            .args([
                "-H",
                &format!("Host: {host}"),
                "-o",
                "-",
                "-w",
                "\n%{http_code}",
            ])
            .arg(format!(
                "https://mta-sts.a.example:{port}/.well-known/mta-sts.txt"
            ))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        assert!(
            !body.contains("secret"),
            "Host {host:?} reached another root"
        );
        match code {
            "200" => assert_eq!(body.as_bytes(), a_policy.as_slice(), "Host {host:?}"),
            "400" | "404" => {}
            other => panic!("Host {host:?}: status {other}"),
        }
    }
}

/// The operator's nginx already serves `example.test` and `*.a.example` (a leading wildcard,
/// which nginx prefers to `mta-sts.*`) and has a `default_server`: the shared layout's exact
/// names still win every policy host, for the certificate (SNI) and for the request (Host).
#[test]
fn shared_layout_wins_its_names_over_an_operators_wildcard_and_default_server() {
    let (Some(nginx), Some(openssl), Some(curl)) =
        (real_tool("nginx"), real_tool("openssl"), real_tool("curl"))
    else {
        return;
    };
    let p = Project::for_nginx();
    let root = p.path();
    let hosts = [
        "mta-sts.a.example".to_string(),
        "mta-sts.c.example".to_string(),
        "www.a.example".to_string(),
    ];
    let ca = make_certs(&openssl, root, &hosts);
    keys_readable_by_workers(root);
    let port = free_port();
    p.write(
        "domains.toml",
        &format!(
            r#"[defaults]
mx = ["mx.example.net"]
policy_cname = "mail.example.net"

[nginx]
vhosts = "shared"
listen = ["127.0.0.1:{port} ssl"]
certificate = "{root}/tls/{{host}}/fullchain.pem"
certificate_key = "{root}/tls/{{host}}/privkey.pem"
webroot = "{root}/output/webroot"

[domains."a.example"]
[domains."c.example"]
"#,
            root = root.display()
        ),
    );
    p.run(&["build"]).ok();
    // The operator's own site, beside ours in the directory nginx includes (as sites-enabled/
    // would be); not generated, so no build touches it.
    let operator = format!(
        "server {{\n    listen 127.0.0.1:{port} ssl default_server;\n    server_name a.example *.a.example *.c.example ~^mta-sts\\. ;\n    ssl_certificate {r}/tls/www.a.example/fullchain.pem;\n    ssl_certificate_key {r}/tls/www.a.example/privkey.pem;\n    location / {{ return 200 \"operator site\\n\"; }}\n}}\n",
        r = root.display()
    );
    fs::write(root.join("output/nginx/00-operator.conf"), operator).unwrap();
    let (mut server, log) = serve_nginx(&nginx, root, "nginx-operator");
    server.wait_for(&format!("127.0.0.1:{port}"), &log);
    for host in &hosts[..2] {
        assert_eq!(
            presented(&openssl, port, host).as_deref(),
            Some(host.as_str()),
            "certificate for {host}"
        );
        let policy =
            fs::read(root.join(format!("output/webroot/{host}/.well-known/mta-sts.txt"))).unwrap();
        let got = fetch(
            &curl,
            &ca,
            host,
            "127.0.0.1",
            port,
            "/.well-known/mta-sts.txt",
            root,
        );
        assert_eq!(
            got.status,
            200,
            "{host}: {}",
            String::from_utf8_lossy(&got.body)
        );
        assert_eq!(got.body, policy, "{host}");
    }
    // The operator's sites are still theirs.
    let www = fetch(&curl, &ca, "www.a.example", "127.0.0.1", port, "/", root);
    assert_eq!(www.body, b"operator site\n");
}

#[test]
fn shared_layout_of_10k_domains_passes_nginx_t() {
    let Some(nginx) = real_tool("nginx") else {
        return;
    };
    let config = domains_config(
        10_000,
        "[defaults]\nmx = [\"mx.example.net\"]\npolicy_cname = \"mail.example.net\"\n[nginx]\nvhosts = \"shared\"\ncertificate = \"/etc/ssl/{host}.pem\"\ncertificate_key = \"/etc/ssl/{host}.key\"\n",
        "",
    );
    let p = Project::new(&config);
    p.run(&["build"]).ok();
    let conf = p.read("output/nginx/mta-sts.conf");
    assert_eq!(conf.matches("mta-sts.d09999.example ").count(), 3);
    let (wrapper, log) = nginx_test_conf(p.path(), "nginx-10k");
    run_ok(
        Command::new(&nginx)
            .args(nginx_args(p.path(), &wrapper, &log))
            .arg("-t"),
    );
}

/// A config of `n` domains whose `[nginx]` table has `extra` lines, loopback listen and the
/// test certificates under `root/tls`.
fn loopback_config(root: &Path, n: usize, extra: &str) -> String {
    domains_config(
        n,
        &format!(
            "[defaults]\nmx = [\"mx.example.net\"]\npolicy_cname = \"mail.example.net\"\n\
             [nginx]\n{extra}listen = [\"127.0.0.1:{} ssl\"]\n\
             certificate = \"{r}/tls/{{host}}/fullchain.pem\"\ncertificate_key = \"{r}/tls/{{host}}/privkey.pem\"\n",
            free_port(),
            r = root.display()
        ),
        "",
    )
}

/// `nginx -t` on the test configuration `conf`.
fn nginx_t(nginx: &Path, root: &Path, conf: &Path, log: &Path) -> std::process::Output {
    Command::new(nginx)
        .args(nginx_args(root, conf, log))
        .arg("-t")
        .output()
        .unwrap()
}

/// The shared server in an `http` block that already sets the map hash sizes, as many
/// existing servers do: with `map_hash_sizes = false` nginx accepts it; with the default it
/// refuses the duplicate directive (the reason for the key).
#[test]
fn srv_shared_output_includes_into_an_http_block_that_sizes_its_maps() {
    let Some(nginx) = real_tool("nginx") else {
        return;
    };
    let p = Project::for_nginx();
    let root = p.path();
    let config = |sizes: bool| {
        loopback_config(
            root,
            3,
            &format!("vhosts = \"shared\"\nmap_hash_sizes = {sizes}\n"),
        )
    };
    let (conf, log) = nginx_test_conf(root, "maps");
    let text = fs::read_to_string(&conf).unwrap().replace(
        "    access_log off;",
        "    access_log off;\n    map_hash_bucket_size 128;\n    map_hash_max_size 4096;",
    );
    fs::write(&conf, text).unwrap();
    let test = || nginx_t(&nginx, root, &conf, &log);
    p.write("domains.toml", &config(true));
    p.run(&["build"]).ok();
    let refused = test();
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("is duplicate"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    p.write("domains.toml", &config(false));
    p.run(&["build"]).ok();
    let shared = p.read("output/nginx/mta-sts.conf");
    assert!(!shared.contains("\nmap_hash_max_size"), "{shared}");
    assert!(
        shared.contains(
            "# map_hash_sizes = false: the http block must set at least: map_hash_max_size 2048;"
        ),
        "{shared}"
    );
    let accepted = test();
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
}

/// Per-host vhosts with a certificate not issued yet: without `require_certificates` nginx
/// refuses the whole configuration; with it the host is left out, named, and joins once its
/// certificate exists.
#[test]
fn srv_a_host_without_its_certificate_is_left_out_until_it_exists() {
    let (Some(nginx), Some(openssl)) = (real_tool("nginx"), real_tool("openssl")) else {
        return;
    };
    let p = Project::for_nginx();
    let root = p.path();
    make_certs(&openssl, root, &["mta-sts.d00000.example".to_string()]);
    let config =
        |require: bool| loopback_config(root, 2, &format!("require_certificates = {require}\n"));
    let (conf, log) = nginx_test_conf(root, "certs");
    let test = || nginx_t(&nginx, root, &conf, &log);
    p.write("domains.toml", &config(false));
    p.run(&["build"]).ok();
    let refused = test();
    assert!(
        !refused.status.success(),
        "one missing certificate fails every host"
    );
    p.write("domains.toml", &config(true));
    let run = p.run(&["build", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&run.ok()).unwrap();
    assert_eq!(
        json["left_out_of_nginx"],
        serde_json::json!(["mta-sts.d00001.example"])
    );
    assert!(
        run.stderr()
            .contains("1 policy host(s) left out of the nginx output until their certificate and key exist (require_certificates = true): mta-sts.d00001.example"),
        "{}",
        run.stderr()
    );
    assert!(
        !root
            .join("output/nginx/mta-sts.d00001.example.conf")
            .exists()
    );
    assert!(root.join("output/webroot/mta-sts.d00001.example").is_dir());
    let certificates = p.read("output/certificates.txt");
    assert!(
        certificates.contains("mta-sts.d00001.example"),
        "the inventory still asks for it"
    );
    let accepted = test();
    assert!(
        accepted.status.success(),
        "{}",
        String::from_utf8_lossy(&accepted.stderr)
    );
    // Issued: the next build publishes the host.
    make_certs(&openssl, root, &["mta-sts.d00001.example".to_string()]);
    let out = p.run(&["build"]).ok();
    assert!(out.contains("wrote 2 file(s)"), "{out}");
    assert!(
        root.join("output/nginx/mta-sts.d00001.example.conf")
            .is_file()
    );
    assert!(test().status.success());
}

/// `[nginx] acme_webroot` in both layouts, in the real nginx: the challenge file on port 80
/// for a generated host, 404 for the policy path, other paths and (shared) other hosts.
#[test]
fn srv_the_port_80_server_answers_acme_challenges_and_nothing_else() {
    let (Some(nginx), Some(openssl), Some(curl)) =
        (real_tool("nginx"), real_tool("openssl"), real_tool("curl"))
    else {
        return;
    };
    for layout in ["per-host", "shared"] {
        let p = Project::for_nginx();
        let root = p.path();
        make_certs(&openssl, root, &["mta-sts.d00000.example".to_string()]);
        keys_readable_by_workers(root);
        let port = free_port();
        p.write(
            "domains.toml",
            &loopback_config(
                root,
                2,
                &format!(
                    "vhosts = \"{layout}\"\nacme_webroot = \"{}/acme\"\nacme_listen = [\"127.0.0.1:{port}\"]\nrequire_certificates = true\n",
                    root.display()
                ),
            ),
        );
        p.run(&["build"]).ok();
        p.write(
            "acme/.well-known/acme-challenge/token123",
            "token123.thumbprint",
        );
        let (_server, _log) = serve_nginx(&nginx, root, "acme");
        assert!(
            crate::harness::wait_for_port(port),
            "{layout}: nginx did not listen"
        );
        let get = |host: &str, path: &str| -> (String, String) {
            let out = Command::new(&curl)
                .args(["-sS", "--max-time", "10", "-H", &format!("Host: {host}")])
                .args(["-o", "-", "-w", "\n%{http_code}"])
                .arg(format!("http://127.0.0.1:{port}{path}"))
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let (body, code) = text.rsplit_once('\n').unwrap();
            (code.to_string(), body.to_string())
        };
        let host = "mta-sts.d00000.example";
        assert_eq!(
            get(host, "/.well-known/acme-challenge/token123"),
            ("200".to_string(), "token123.thumbprint".to_string()),
            "{layout}"
        );
        assert_eq!(
            get(host, "/.well-known/acme-challenge/nope").0,
            "404",
            "{layout}"
        );
        assert_eq!(
            get(host, "/.well-known/mta-sts.txt").0,
            "404",
            "{layout}: policy over HTTP"
        );
        assert_eq!(get(host, "/").0, "404", "{layout}");
        // d00001 has no certificate yet: left out of HTTPS, but its challenge is answered,
        // which is how it gets its first certificate.
        assert_eq!(
            get(
                "mta-sts.d00001.example",
                "/.well-known/acme-challenge/token123"
            )
            .0,
            "200",
            "{layout}: the host waiting for its certificate"
        );
        if layout == "shared" {
            let other = get(
                "mta-sts.stranger.example",
                "/.well-known/acme-challenge/token123",
            );
            assert_eq!(other.0, "404", "a host we did not generate");
        } else {
            // Issued: the next build gives the host its HTTPS server beside the port-80 one.
            let vhost = "output/nginx/mta-sts.d00001.example.conf";
            assert!(!p.read(vhost).contains(" ssl;"), "{}", p.read(vhost));
            make_certs(&openssl, root, &["mta-sts.d00001.example".to_string()]);
            p.run(&["build"]).ok();
            assert!(p.read(vhost).contains(" ssl;"), "{}", p.read(vhost));
            assert!(p.read(vhost).contains("acme-challenge"));
        }
    }
}

/// certbot's layout (archive/ 0700, keys 0600, owned by root) in the shared layout, where
/// nginx's workers load each key per handshake as `[nginx] user`: the build warns, with the
/// fix; readable by the user's group, it does not; the per-host layout never needs it.
#[cfg(unix)]
#[test]
fn a_key_nginx_workers_cannot_read_is_a_build_warning_in_the_shared_layout() {
    use std::os::unix::fs::PermissionsExt;
    if !crate::system::is_root()
        || !fs::read_to_string("/etc/passwd")
            .unwrap()
            .contains("\nwww-data:")
    {
        eprintln!("SKIPPED: needs root and a www-data user");
        return;
    }
    let p = Project::for_nginx();
    let root = p.path();
    let live = root.join("le/live/mta-sts.a.example");
    let archive = root.join("le/archive/mta-sts.a.example");
    fs::create_dir_all(&live).unwrap();
    fs::create_dir_all(&archive).unwrap();
    for (name, mode) in [("fullchain1.pem", 0o644), ("privkey1.pem", 0o600)] {
        fs::write(archive.join(name), "pem").unwrap();
        fs::set_permissions(archive.join(name), fs::Permissions::from_mode(mode)).unwrap();
    }
    std::os::unix::fs::symlink(
        "../../archive/mta-sts.a.example/fullchain1.pem",
        live.join("fullchain.pem"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "../../archive/mta-sts.a.example/privkey1.pem",
        live.join("privkey.pem"),
    )
    .unwrap();
    fs::set_permissions(root.join("le/archive"), fs::Permissions::from_mode(0o700)).unwrap();
    let config = |vhosts: &str| {
        format!(
            "[defaults]\nmx = [\"mx.example.net\"]\npolicy_cname = \"mail.example.net\"\n[nginx]\nvhosts = \"{vhosts}\"\ncertificate = \"{r}/le/live/{{host}}/fullchain.pem\"\ncertificate_key = \"{r}/le/live/{{host}}/privkey.pem\"\n[domains.\"a.example\"]\n",
            r = root.display()
        )
    };
    p.write("domains.toml", &config("shared"));
    let run = p.run(&["build"]);
    run.ok();
    assert!(
        run.stderr()
            .contains("nginx's workers run as www-data ([nginx] user)")
            && run.stderr().contains("cannot enter")
            && run.stderr().contains("le/archive"),
        "{}",
        run.stderr()
    );
    // Per host, the master process (root) loads them: nothing to say.
    p.write("domains.toml", &config("per-host"));
    assert!(!p.run(&["build"]).stderr().contains("[nginx] user"));
    // The fix the warning gives: the group of www-data may read.
    p.write("domains.toml", &config("shared"));
    run_ok(
        Command::new("chgrp")
            .args(["-R", "www-data"])
            .arg(root.join("le")),
    );
    run_ok(
        Command::new("chmod")
            .args(["-R", "g+rX"])
            .arg(root.join("le")),
    );
    let fixed = p.run(&["build"]);
    assert!(
        !fixed.stderr().contains("[nginx] user"),
        "{}",
        fixed.stderr()
    );
    // Another user: the same files are not theirs.
    p.write(
        "domains.toml",
        &config("shared").replace("[nginx]\n", "[nginx]\nuser = \"nobody\"\n"),
    );
    let nobody = p.run(&["build"]);
    assert!(
        nobody.stderr().contains("cannot read") || nobody.stderr().contains("cannot enter"),
        "{}",
        nobody.stderr()
    );
}
