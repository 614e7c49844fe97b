//! SAN batches (`[nginx] hosts_per_certificate`): stable across builds, one certificate per
//! batch in the inventory and the `certificates` commands, and a real nginx (both layouts)
//! serving every host with its batch's certificate.

use std::fs;
use std::path::Path;
use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

use crate::harness::{
    Project, domains_config, free_port, keys_readable_by_workers, real_tool, serve_nginx,
    wait_for_port,
};

fn config(root: &Path, n: usize, extra: &str, port: u16) -> String {
    domains_config(
        n,
        &format!(
            "[defaults]\nmx = [\"mx.example.net\"]\npolicy_cname = \"mail.example.net\"\n\
             [nginx]\n{extra}hosts_per_certificate = 2\nlisten = [\"127.0.0.1:{port} ssl\"]\n\
             certificate = \"{r}/letsencrypt/live/{{certificate}}/fullchain.pem\"\n\
             certificate_key = \"{r}/letsencrypt/live/{{certificate}}/privkey.pem\"\nwebroot = \"{r}/output/webroot\"\n",
            r = root.display()
        ),
        "",
    )
}

/// The lock's batch of each domain.
fn batches(p: &Project) -> Vec<(String, String)> {
    let lock: toml::Table = toml::from_str(&p.read("domains.lock")).unwrap();
    lock["domains"]
        .as_table()
        .unwrap()
        .iter()
        .map(|(d, e)| (d.clone(), e["certificate"].as_str().unwrap().to_string()))
        .collect()
}

#[test]
fn batches_stay_put_as_domains_arrive_and_each_is_one_certificate() {
    let p = Project::for_nginx();
    let port = free_port();
    p.write("domains.toml", &config(p.path(), 3, "", port));
    p.run(&["build"]).ok();
    let first = batches(&p);
    assert_eq!(
        first,
        [
            ("d00000.example".into(), "mtasts-0001".into()),
            ("d00001.example".into(), "mtasts-0001".into()),
            ("d00002.example".into(), "mtasts-0002".into()),
        ]
    );
    let vhost = p.read("output/nginx/mta-sts.d00001.example.conf");
    assert!(
        vhost.contains("/letsencrypt/live/mtasts-0001/fullchain.pem"),
        "{vhost}"
    );
    // Two more domains: the first fills batch 2, the next opens batch 3; nobody moves.
    p.write("domains.toml", &config(p.path(), 5, "", port));
    p.run(&["build"]).ok();
    let second = batches(&p);
    assert_eq!(&second[..3], &first[..]);
    assert_eq!(second[3].1, "mtasts-0002");
    assert_eq!(second[4].1, "mtasts-0003");
    let inventory: serde_json::Value =
        serde_json::from_str(&p.read("output/certificates.json")).unwrap();
    let certs = inventory["certificates"].as_array().unwrap();
    assert_eq!(certs.len(), 3, "{inventory:#}");
    assert_eq!(
        certs[1]["hosts"],
        serde_json::json!(["mta-sts.d00002.example", "mta-sts.d00003.example"])
    );
    p.write(
        "domains.toml",
        &config(
            p.path(),
            5,
            &format!("acme_webroot = \"{}/acme\"\n", p.path().display()),
            port,
        ),
    );
    let listed: serde_json::Value = serde_json::from_str(
        &p.run(&[
            "certificates",
            "--email",
            "ops@example.net",
            "--format",
            "json",
        ])
        .ok(),
    )
    .unwrap();
    let second_cert = &listed["certificates"][1];
    assert_eq!(second_cert["name"], "mtasts-0002");
    let argv: Vec<&str> = second_cert["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let at = argv.iter().position(|a| *a == "--cert-name").unwrap();
    assert_eq!(argv[at + 1], "mtasts-0002");
    // certbot writes <config-dir>/live/<cert-name>/: the command names the config's directory.
    let dir = argv.iter().position(|a| *a == "--config-dir").unwrap();
    assert_eq!(argv[dir + 1], format!("{}/letsencrypt", p.path().display()));
    assert_eq!(
        argv[argv.len() - 4..],
        [
            "-d",
            "mta-sts.d00002.example",
            "-d",
            "mta-sts.d00003.example"
        ]
    );
    // lego names files after the first host, which a batch cannot keep: refused, with why.
    let lego = p.run(&[
        "certificates",
        "--client",
        "lego",
        "--email",
        "ops@example.net",
    ]);
    assert!(lego.fails().contains("--client certbot"));
    // {host} in the paths would give every host its own file: refused at the key.
    p.write(
        "domains.toml",
        &config(p.path(), 2, "", port).replace("{certificate}", "{host}"),
    );
    let bad = p.run(&["validate"]);
    assert!(
        bad.fails().contains(
            "hosts_per_certificate = 2 needs the certificate paths to name the certificate"
        ),
        "{}",
        bad.stderr()
    );
}

/// A SAN certificate for each batch of the inventory, from a CA of the test's own.
fn issue(root: &Path, inventory: &serde_json::Value) -> String {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.distinguished_name
        .push(DnType::CommonName, "batch test CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let issuer = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    for c in inventory["certificates"].as_array().unwrap() {
        let hosts: Vec<String> = c["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().to_string())
            .collect();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(hosts)
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let path = Path::new(c["certificate"].as_str().unwrap());
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, cert.pem()).unwrap();
        fs::write(c["certificate_key"].as_str().unwrap(), key.serialize_pem()).unwrap();
    }
    let ca_path = root.join("tls/ca.pem");
    fs::create_dir_all(root.join("tls")).unwrap();
    fs::write(&ca_path, issuer.pem()).unwrap();
    ca_path.display().to_string()
}

#[test]
fn srv_nginx_serves_every_host_with_its_batch_certificate_in_both_layouts() {
    let (Some(nginx), Some(curl)) = (real_tool("nginx"), real_tool("curl")) else {
        return;
    };
    for layout in ["per-host", "shared"] {
        let p = Project::for_nginx();
        let root = p.path();
        let port = free_port();
        p.write(
            "domains.toml",
            &config(root, 5, &format!("vhosts = \"{layout}\"\n"), port),
        );
        p.run(&["build"]).ok();
        let inventory: serde_json::Value =
            serde_json::from_str(&p.read("output/certificates.json")).unwrap();
        let ca = issue(root, &inventory);
        keys_readable_by_workers(root);
        let (_server, log) = serve_nginx(&nginx, root, "batches");
        assert!(wait_for_port(port), "{layout}: nginx did not listen");
        for i in 0..5 {
            let host = format!("mta-sts.d{i:05}.example");
            let out = Command::new(&curl)
                .args(["-sS", "--max-time", "10", "--cacert", &ca])
                .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
                .arg(format!("https://{host}:{port}/.well-known/mta-sts.txt"))
                .output()
                .unwrap();
            let body = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && body.starts_with("version: STSv1"),
                "{layout} {host}: {body}{}{}",
                String::from_utf8_lossy(&out.stderr),
                fs::read_to_string(&log).unwrap_or_default()
            );
        }
    }
}
