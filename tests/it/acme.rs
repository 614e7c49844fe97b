//! Certificates end to end: Pebble (Let's Encrypt's ACME test server) validates HTTP-01 through
//! the generated port-80 server, resolving names through NSD serving the generated zones; lego
//! and certbot each run exactly the commands `mtasts certificates` prints; the next build adds
//! the hosts whose certificates now exist (so the files landed where nginx looks), nginx is
//! restarted, and `mtasts check` trusts Pebble's root.

use std::fs;

use crate::check::healthy_mx;
use crate::e2e::{EXPECTED, Setup, tools};
use crate::harness::{Server, make_certs, real_tool};
use crate::system::{DnsTweaks, System};

#[test]
fn lego_issues_every_policy_host_through_the_generated_nginx_and_check_passes() {
    issue_every_host_with(
        "lego",
        "lego/certificates/{host}.crt",
        "lego/certificates/{host}.key",
    );
}

#[test]
fn certbot_issues_every_policy_host_through_the_generated_nginx_and_check_passes() {
    issue_every_host_with(
        "certbot",
        "letsencrypt/live/{certificate}/fullchain.pem",
        "letsencrypt/live/{certificate}/privkey.pem",
    );
}

/// The whole round trip with `client`, whose files `[nginx]` expects at `certificate` and
/// `key` (relative to the test's root): the client's own layout under a directory of the
/// test's, so the printed command must carry `--path` / `--config-dir` to land there.
fn issue_every_host_with(client: &str, certificate: &str, key: &str) {
    let Some((tools, openssl)) = tools() else {
        return;
    };
    let (Some(pebble), Some(acme), Some(curl)) =
        (real_tool("pebble"), real_tool(client), real_tool("curl"))
    else {
        return;
    };
    let setup = Setup::new(&openssl);
    let root = setup.root().to_path_buf();
    let r = root.display().to_string();
    // Certificates where the client keeps them; none exist yet, so nginx leaves every TLS
    // host out while the port-80 server answers challenges for all of them.
    let config = setup
        .project
        .read("domains.toml")
        .replace(
            &format!("{r}/tls/{{host}}/fullchain.pem"),
            &format!("{r}/{certificate}"),
        )
        .replace(
            &format!("{r}/tls/{{host}}/privkey.pem"),
            &format!("{r}/{key}"),
        )
        .replace(
            "[nginx]\n",
            &format!(
                "[nginx]\nacme_webroot = \"{r}/acme\"\nacme_listen = [\"127.0.0.1:80\", \"[::1]:80\"]\nrequire_certificates = true\n"
            ),
        );
    setup.project.write("domains.toml", &config);
    // The operator's directory, outside the output (mtasts writes nothing outside it).
    fs::create_dir_all(root.join("acme")).unwrap();
    let first = setup.project.run(&["build"]);
    assert!(
        first
            .stderr()
            .contains("left out of the nginx output until their certificate and key exist"),
        "{}",
        first.stderr()
    );
    let dns = DnsTweaks {
        extra: healthy_mx(),
        ..DnsTweaks::default()
    };
    let mut system = System::start_on(&tools, &root, &dns, 80).unwrap();

    // Pebble's own API certificate, for `localhost`, from a CA of its own.
    let api_dir = root.join("pebble-api");
    let api_ca = make_certs(&openssl, &api_dir, &["localhost".to_string()]);
    let api = api_dir.join("tls/localhost");
    fs::write(
        root.join("pebble.json"),
        serde_json::json!({"pebble": {
            "listenAddress": "127.0.0.1:14000",
            "managementListenAddress": "127.0.0.1:15000",
            "certificate": api.join("fullchain.pem"),
            "privateKey": api.join("privkey.pem"),
            "httpPort": 80,
            "tlsPort": 5001,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false
        }})
        .to_string(),
    )
    .unwrap();
    let log = root.join("pebble.log");
    let mut pebble_server = Server {
        child: system
            .exec(&pebble)
            .arg("-config")
            .arg(root.join("pebble.json"))
            .args(["-dnsserver", "127.0.0.1:53"])
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdout(fs::File::create(&log).unwrap())
            .stderr(fs::File::create(root.join("pebble.err")).unwrap())
            .spawn()
            .unwrap(),
        name: "pebble",
    };
    pebble_server.wait_until("pebble on 14000", &log, || {
        system
            .exec(&curl)
            .args(["-sf", "--cacert"])
            .arg(&api_ca)
            .arg("https://localhost:14000/dir")
            .output()
            .is_ok_and(|o| o.status.success())
    });

    // The commands exactly as printed, run one by one.
    let listed = system.mtasts(&[
        "certificates",
        "--client",
        client,
        "--email",
        "ops@mail.test",
        "--server",
        "https://localhost:14000/dir",
        "--format",
        "json",
    ]);
    let doc: serde_json::Value = serde_json::from_str(&listed.stdout())
        .unwrap_or_else(|e| panic!("{e}: {}{}", listed.stdout(), listed.stderr()));
    let certificates = doc["certificates"].as_array().unwrap();
    assert_eq!(certificates.len(), EXPECTED.len());
    for c in certificates {
        let argv: Vec<String> = c["command"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect();
        assert_eq!(argv[0], client);
        let mut run = system.exec(&acme);
        run.args(&argv[1..])
            // How each client is told to trust Pebble's API certificate.
            .env("LEGO_CA_CERTIFICATES", &api_ca)
            .env("REQUESTS_CA_BUNDLE", &api_ca);
        if client == "certbot" {
            // Its lock and log directories default to /var/lib and /var/log; the test keeps
            // everything in its own directory (a user running as root needs neither option).
            run.arg("--work-dir")
                .arg(root.join("certbot-work"))
                .arg("--logs-dir")
                .arg(root.join("certbot-logs"));
        }
        let out = run.output().unwrap();
        assert!(
            out.status.success(),
            "{argv:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let cert = c["certificate"].as_str().unwrap();
        assert!(fs::metadata(cert).is_ok(), "{client} wrote no {cert}");
    }

    // With every certificate in place, the next build puts every host back; nginx reloads.
    let second = setup.project.run(&["build"]);
    assert!(
        !second.stderr().contains("left out of the nginx output"),
        "{}",
        second.stderr()
    );
    system.nginx_port = 443;
    system.restart_nginx();
    let pebble_root = root.join("pebble-root.pem");
    let fetched = system
        .exec(&curl)
        .args(["-sf", "--cacert"])
        .arg(&api_ca)
        .arg("https://localhost:15000/roots/0")
        .arg("-o")
        .arg(&pebble_root)
        .status()
        .unwrap();
    assert!(fetched.success());
    let ca = pebble_root.display().to_string();
    let check = system.mtasts(&[
        "check",
        "--nameserver",
        "127.0.0.1",
        "--no-smtp",
        "--ca-file",
        &ca,
        "--format",
        "json",
    ]);
    let result: serde_json::Value = serde_json::from_str(&check.stdout())
        .unwrap_or_else(|e| panic!("{e}: {}{}", check.stdout(), check.stderr()));
    assert_eq!(check.code(), 0, "{result:#}");
    for d in result["domains"].as_array().unwrap() {
        let https = d["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "https")
            .unwrap_or_else(|| panic!("no https check: {d:#}"));
        assert_eq!(https["status"], "ok", "{d:#}");
        let cert = d["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "cert")
            .unwrap();
        assert_eq!(cert["status"], "ok", "{d:#}");
    }
    eprintln!(
        "pebble: {} certificate(s) issued by {client} over HTTP-01 through the generated nginx; check passed for {} domain(s)",
        certificates.len(),
        result["domains"].as_array().unwrap().len()
    );
}
