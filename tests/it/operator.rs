//! The operator's own nginx, Debian-like, with the generated output included beside it: a
//! `default_server` on ports 80 and 443, a site that claims `testing.test *.testing.test` (a
//! leading wildcard, which nginx prefers to any other pattern) and redirects port 80 to
//! HTTPS, a regex server, workers running as `www-data`, and certbot's layout (archive/ 0700,
//! keys 0600, owned by root). Inside the e2e namespace (NSD serving the generated zones), in
//! both layouts: every policy host serves its policy over HTTPS and its ACME challenge over
//! HTTP, the real MTA-STS client accepts every domain, `check` passes, and the operator's own
//! names still reach the operator's sites. In the shared layout the unreadable key is first a
//! build warning and a `check` failure that say what to fix; the fix they give makes it work.

use std::fs;
use std::path::Path;

use crate::check::{check, healthy_mx, problems};
use crate::e2e::{EXPECTED, Setup, assert_valid, domains, tools};
use crate::harness::{make_certs, real_tool, run_ok};
use crate::system::{DnsTweaks, System};

#[test]
fn operators_nginx_serves_every_policy_host_in_the_shared_layout() {
    operators_nginx("shared");
}

#[test]
fn operators_nginx_serves_every_policy_host_in_the_per_host_layout() {
    operators_nginx("per-host");
}

fn operators_nginx(layout: &str) {
    let Some((tools, openssl)) = tools() else {
        return;
    };
    let Some(curl) = real_tool("curl") else {
        return;
    };
    if !fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .contains("\nwww-data:")
    {
        assert!(
            std::env::var_os("MTASTS_REQUIRE_REAL").is_none(),
            "no www-data user, which MTASTS_REQUIRE_REAL=1 requires"
        );
        eprintln!("SKIPPED: the operator's nginx runs its workers as www-data; no such user");
        return;
    }
    let setup = Setup::with_nginx(
        &openssl,
        &format!(
            "vhosts = \"{layout}\"\nuser = \"www-data\"\nacme_webroot = \"@ROOT@/acme\"\n\
             acme_listen = [\"127.0.0.1:80\", \"[::1]:80\"]\n"
        ),
    );
    let root = setup.root().to_path_buf();
    certbot_layout(&root);
    let config = setup
        .project
        .read("domains.toml")
        .replace("/tls/{host}/", "/le/live/{host}/");
    setup.project.write("domains.toml", &config);
    let operator_ca = operators_sites(&openssl, &root);

    let first = setup.project.run(&["build"]);
    first.ok();
    let warned = first.stderr().contains("nginx's workers run as www-data");
    assert_eq!(warned, layout == "shared", "{layout}: {}", first.stderr());
    let dns = DnsTweaks {
        extra: healthy_mx(),
        ..DnsTweaks::default()
    };
    let system = System::start(&tools, &root, &dns).unwrap();
    if layout == "shared" {
        // Workers load each key per handshake and cannot: check names the cause.
        let (code, doc, _) = check(&system, &setup, &["testing.test"]);
        assert_eq!(code, 1, "{doc:#}");
        let fails = problems(&doc, "testing.test");
        assert!(
            fails.iter().any(|(_, _, fix)| fix
                .contains("no usable certificate for mta-sts.testing.test")
                && fix.contains("[nginx] user can read")),
            "{fails:#?}"
        );
        // The fix the warning gives, word for word in spirit: the group of www-data reads.
        run_ok(
            std::process::Command::new("chgrp")
                .args(["-R", "www-data"])
                .arg(root.join("le")),
        );
        run_ok(
            std::process::Command::new("chmod")
                .args(["-R", "g+rX"])
                .arg(root.join("le")),
        );
        let again = setup.project.run(&["build"]);
        again.ok();
        assert!(
            !again.stderr().contains("[nginx] user"),
            "{}",
            again.stderr()
        );
    }

    let (code, doc, _) = check(&system, &setup, &[]);
    assert_eq!(code, 0, "{layout}: {doc:#}");
    let got = system.resolve(&setup.ca, &domains());
    let id = setup.id();
    for (domain, mode, mx, max_age) in EXPECTED {
        assert_valid(&got[*domain], domain, mode, mx, *max_age, &id);
    }

    let webroot = root.join("output/webroot");
    let hosts: Vec<String> = fs::read_dir(&webroot)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(hosts.len() >= EXPECTED.len(), "{hosts:?}");
    fs::create_dir_all(root.join("acme/.well-known/acme-challenge")).unwrap();
    fs::write(
        root.join("acme/.well-known/acme-challenge/tok-1"),
        "tok-1.thumbprint",
    )
    .unwrap();
    let get = |url: &str, host: &str, port: u16, ca: &Path| -> (String, String) {
        let out = system
            .exec(&curl)
            .args(["-sS", "--max-time", "10", "--cacert"])
            .arg(ca)
            .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
            .args(["-o", "-", "-w", "\n%{http_code}"])
            .arg(url)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (code.to_string(), body.to_string())
    };
    for host in &hosts {
        let policy =
            fs::read_to_string(webroot.join(host).join(".well-known/mta-sts.txt")).unwrap();
        assert_eq!(
            get(
                &format!("https://{host}/.well-known/mta-sts.txt"),
                host,
                443,
                &setup.ca
            ),
            ("200".to_string(), policy),
            "{layout}: {host} over HTTPS"
        );
        assert_eq!(
            get(
                &format!("http://{host}/.well-known/acme-challenge/tok-1"),
                host,
                80,
                &setup.ca
            ),
            ("200".to_string(), "tok-1.thumbprint".to_string()),
            "{layout}: {host}'s ACME challenge over HTTP"
        );
    }
    // The operator's own names are still the operator's.
    let site = |url: &str, host: &str, port: u16| get(url, host, port, &operator_ca);
    assert_eq!(
        site("https://www.testing.test/", "www.testing.test", 443),
        ("200".to_string(), "operator site\n".to_string())
    );
    assert_eq!(
        site("http://www.testing.test/x", "www.testing.test", 80).0,
        "301",
        "the operator's redirect to HTTPS"
    );
    assert_eq!(
        site("https://shop.none.test/", "shop.none.test", 443),
        ("200".to_string(), "regex site\n".to_string())
    );
    assert_eq!(
        site("http://stranger.example/", "stranger.example", 80),
        ("200".to_string(), "default site\n".to_string())
    );
}

/// certbot's layout under `root/le`, from the test certificates in `root/tls`: each file in
/// `archive/<host>/` (the directory 0700, keys 0600, owned by root), linked from `live/<host>/`.
fn certbot_layout(root: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for entry in fs::read_dir(root.join("tls")).unwrap() {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_dir() {
            continue;
        }
        let host = entry.file_name().into_string().unwrap();
        let archive = root.join("le/archive").join(&host);
        let live = root.join("le/live").join(&host);
        fs::create_dir_all(&archive).unwrap();
        fs::create_dir_all(&live).unwrap();
        for (file, mode) in [("fullchain", 0o644), ("privkey", 0o600)] {
            let kept = archive.join(format!("{file}1.pem"));
            fs::copy(
                root.join("tls").join(&host).join(format!("{file}.pem")),
                &kept,
            )
            .unwrap();
            fs::set_permissions(&kept, fs::Permissions::from_mode(mode)).unwrap();
            std::os::unix::fs::symlink(
                format!("../../archive/{host}/{file}1.pem"),
                live.join(format!("{file}.pem")),
            )
            .unwrap();
        }
    }
    fs::set_permissions(root.join("le/archive"), fs::Permissions::from_mode(0o700)).unwrap();
}

/// The operator's configuration, as Debian's nginx package and a typical site leave it; returns
/// the CA of the operator's own certificate.
fn operators_sites(openssl: &Path, root: &Path) -> std::path::PathBuf {
    let dir = root.join("operator");
    let ca = make_certs(
        openssl,
        &dir,
        &["www.testing.test".to_string(), "shop.none.test".to_string()],
    );
    fs::create_dir_all(dir.join("main")).unwrap();
    fs::write(dir.join("main/user.conf"), "user www-data;\n").unwrap();
    fs::create_dir_all(dir.join("sites-enabled")).unwrap();
    let certificate = |name: &str| {
        format!(
            "    ssl_certificate {d}/tls/{name}/fullchain.pem;\n    ssl_certificate_key {d}/tls/{name}/privkey.pem;\n",
            d = dir.display()
        )
    };
    let tls = certificate("www.testing.test");
    let both = |port: &str, extra: &str| {
        format!("    listen 127.0.0.1:{port}{extra};\n    listen [::1]:{port}{extra};\n")
    };
    fs::write(
        dir.join("sites-enabled/default"),
        format!(
            "server {{\n{}{}    server_name _;\n{tls}    location / {{ return 200 \"default site\\n\"; }}\n}}\n",
            both("80", " default_server"),
            both("443", " ssl default_server"),
        ),
    )
    .unwrap();
    let names = "testing.test *.testing.test enforce.test *.enforce.test";
    fs::write(
        dir.join("sites-enabled/example"),
        format!(
            "server {{\n{}    server_name {names};\n    return 301 https://$host$request_uri;\n}}\n\
             server {{\n{}    server_name {names};\n{tls}    location / {{ return 200 \"operator site\\n\"; }}\n}}\n",
            both("80", ""),
            both("443", " ssl"),
        ),
    )
    .unwrap();
    fs::write(
        dir.join("sites-enabled/regex"),
        format!(
            "server {{\n{}    server_name ~^mta-sts\\. ~\\.none\\.test$;\n{}    location / {{ return 200 \"regex site\\n\"; }}\n}}\n",
            both("443", " ssl"),
            certificate("shop.none.test"),
        ),
    )
    .unwrap();
    ca
}
