//! Output targets: what each writes, what leaving one out prunes, and the Cloudflare Worker in
//! Cloudflare's own runtime (workerd) on loopback.

use std::fs;
use std::process::Command;

use crate::harness::{Project, Server, free_port, real_tool};

const CONFIG: &str = r#"
[defaults]
mx = ["mx.example.net"]
policy_cname = "mail.example.net"

[domains."a.example"]
mode = "enforce"

[domains."bücher.example"]
"#;

fn with_targets(targets: &str) -> String {
    CONFIG.replace(
        "[domains.\"a.example\"]",
        &format!("[output]\ntargets = [{targets}]\n\n[domains.\"a.example\"]"),
    )
}

#[test]
fn a_target_left_out_writes_nothing_says_nothing_and_its_files_are_pruned() {
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    assert!(p.path().join("output/nginx").is_dir());
    p.write(
        "domains.toml",
        &with_targets("\"cloudflare-worker\", \"github-pages\""),
    );
    let run = p.run(&["build"]);
    let out = run.ok();
    let files: Vec<String> = p.files("output").into_keys().collect();
    assert_eq!(
        files,
        [
            "cloudflare-worker/worker.js",
            "cloudflare-worker/wrangler.toml",
            "github-pages/mta-sts.a.example/.nojekyll",
            "github-pages/mta-sts.a.example/.well-known/mta-sts.txt",
            "github-pages/mta-sts.a.example/CNAME",
            "github-pages/mta-sts.xn--bcher-kva.example/.nojekyll",
            "github-pages/mta-sts.xn--bcher-kva.example/.well-known/mta-sts.txt",
            "github-pages/mta-sts.xn--bcher-kva.example/CNAME",
            "manifest.json",
        ]
    );
    for gone in ["nginx", "webroot", "dns"] {
        assert!(!p.path().join("output").join(gone).exists(), "{gone}/ left");
    }
    assert!(
        !out.contains("nginx") && !run.stderr().contains("nginx"),
        "{out}"
    );
    assert_eq!(
        p.read("output/github-pages/mta-sts.a.example/CNAME"),
        "mta-sts.a.example\n"
    );
    assert_eq!(
        p.read("output/github-pages/mta-sts.a.example/.well-known/mta-sts.txt"),
        "version: STSv1\r\nmode: enforce\r\nmx: mx.example.net\r\nmax_age: 604800\r\n"
    );
    // Back to the defaults: the CDN files go, the others come back.
    p.write("domains.toml", CONFIG);
    p.run(&["build"]).ok();
    assert!(!p.path().join("output/cloudflare-worker").exists());
    assert!(
        p.path()
            .join("output/nginx/mta-sts.a.example.conf")
            .is_file()
    );
}

#[test]
fn an_unknown_target_is_a_config_error_with_a_suggestion() {
    let p = Project::new(&with_targets("\"cloudflare_worker\", \"s3\""));
    let err = p.run(&["validate"]).fails();
    assert!(
        err.contains("unknown output target \"cloudflare_worker\""),
        "{err}"
    );
    assert!(err.contains("did you mean \"cloudflare-worker\"?"), "{err}");
    assert!(err.contains("unknown output target \"s3\""), "{err}");
}

#[test]
fn nginx_warnings_are_only_for_builds_with_the_nginx_target() {
    let config = crate::harness::domains_config(
        1001,
        "[defaults]\nmx = [\"mx.example.net\"]\npolicy_cname = \"mail.example.net\"\n\
         [nginx]\nrequire_certificates = true\n[output]\ntargets = [\"webroot\", \"dns\"]\n",
        "",
    );
    let p = Project::new(&config);
    let run = p.run(&["build"]);
    run.ok();
    assert_eq!(run.stderr(), "", "a CDN build warned about nginx");
}

/// The generated Worker in workerd, Cloudflare's runtime: every host's exact bytes with 200 and
/// text/plain for GET and HEAD; 404 for other paths, methods and hosts; never a redirect; and
/// the hostile Host values of the nginx test reach no policy but their own.
#[test]
fn srv_the_worker_in_workerd_serves_each_policy_exactly_and_nothing_else() {
    let (Some(workerd), Some(curl)) = (real_tool("workerd"), real_tool("curl")) else {
        return;
    };
    let p = Project::new(&with_targets("\"cloudflare-worker\""));
    p.run(&["build"]).ok();
    let dir = p.path().join("output/cloudflare-worker");
    let port = free_port();
    fs::write(
        dir.join("config.capnp"),
        format!(
            "using Workerd = import \"/workerd/workerd.capnp\";\n\
             const config :Workerd.Config = (\n\
             \x20 services = [ (name = \"main\", worker = .mtasts) ],\n\
             \x20 sockets = [ (name = \"http\", address = \"127.0.0.1:{port}\", http = (), service = \"main\") ],\n\
             );\n\
             const mtasts :Workerd.Worker = (\n\
             \x20 modules = [ (name = \"worker.js\", esModule = embed \"worker.js\") ],\n\
             \x20 compatibilityDate = \"2024-09-23\",\n\
             );\n"
        ),
    )
    .unwrap();
    let _server = Server {
        child: Command::new(&workerd)
            .arg("serve")
            .arg(dir.join("config.capnp"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
        name: "workerd",
    };
    let request = |method: &str, host: &str, path: &str| -> (String, String, String) {
        let out = Command::new(&curl)
            .args(["-sS", "--max-time", "10", "-X", method])
            .args(if method == "HEAD" { vec!["-I"] } else { vec![] })
            .args(["-H", &format!("Host: {host}"), "-D", "-", "-o", "-"])
            .args(["-w", "\n%{http_code}"])
            .arg(format!("http://127.0.0.1:{port}{path}"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (rest, code) = text.rsplit_once('\n').unwrap_or(("", ""));
        let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
        (code.to_string(), head.to_lowercase(), body.to_string())
    };
    assert!(
        crate::harness::wait_for_port(port),
        "the server did not listen"
    );
    for (host, mode) in [
        ("mta-sts.a.example", "enforce"),
        ("mta-sts.xn--bcher-kva.example", "testing"),
    ] {
        let (code, head, body) = request("GET", host, "/.well-known/mta-sts.txt");
        assert_eq!(code, "200", "{host}: {head}");
        assert!(head.contains("content-type: text/plain"), "{head}");
        assert_eq!(
            body,
            format!("version: STSv1\r\nmode: {mode}\r\nmx: mx.example.net\r\nmax_age: 604800\r\n")
        );
        let (code, head, body) = request("HEAD", host, "/.well-known/mta-sts.txt");
        // curl -I prints the head twice (-D - as well): what follows it must be empty.
        assert_eq!(code, "200", "{head}");
        assert!(head.contains("content-type: text/plain"), "{head}");
        assert!(
            !body.contains("STSv1"),
            "a HEAD answer carried the body: {body:?}"
        );
        for (method, path) in [
            ("GET", "/"),
            ("GET", "/.well-known/"),
            ("POST", "/.well-known/mta-sts.txt"),
        ] {
            let (code, head, _) = request(method, host, path);
            assert_eq!(code, "404", "{method} {path}: {head}");
            assert!(!head.contains("location:"), "{head}");
        }
    }
    let a_policy = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.net\r\nmax_age: 604800\r\n";
    for host in crate::harness::HOSTILE_HOSTS {
        let (code, head, body) = request("GET", host, "/.well-known/mta-sts.txt");
        assert!(!head.contains("location:"), "Host {host:?}: {head}");
        match code.as_str() {
            "200" => assert_eq!(body, a_policy, "Host {host:?}"),
            "400" | "404" => {}
            other => panic!("Host {host:?}: status {other}"),
        }
    }
}

/// The Netlify site's `_redirects` and `_headers`, read by Netlify's own parsers
/// (`@netlify/redirect-parser`, `@netlify/headers-parser`, pinned in `.ci/node`): no errors, a
/// forced 200 rewrite per host to a file holding its policy, and `text/plain` on both paths.
#[test]
fn netlify_files_are_what_netlifys_own_parsers_read() {
    let Some(node) = real_tool("node") else {
        return;
    };
    let tools = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/node");
    if !tools.join("node_modules/@netlify/redirect-parser").is_dir() {
        assert_ne!(
            std::env::var("MTASTS_REQUIRE_REAL").as_deref(),
            Ok("1"),
            "Netlify's parsers are required (MTASTS_REQUIRE_REAL=1): run .ci/run"
        );
        eprintln!("\n!!!!!!!! SKIPPED: .ci/node has no Netlify parsers (npm ci there) !!!!!!!!\n");
        return;
    }
    let p = Project::new(&with_targets("\"netlify\""));
    p.run(&["build"]).ok();
    let site = p.path().join("output/netlify");
    let out = crate::harness::run_ok(
        Command::new(node)
            .arg(tools.join("netlify-parse.mjs"))
            .arg(&site),
    );
    let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(parsed["rerrors"], serde_json::json!([]), "{parsed}");
    assert_eq!(parsed["herrors"], serde_json::json!([]), "{parsed}");
    let redirects = parsed["redirects"].as_array().unwrap();
    assert_eq!(redirects.len(), 2);
    for r in redirects {
        let host = r["host"].as_str().unwrap();
        assert_eq!(r["path"], "/.well-known/mta-sts.txt");
        assert_eq!(
            (&r["status"], &r["force"]),
            (&200.into(), &true.into()),
            "{r}"
        );
        let to = r["to"].as_str().unwrap();
        assert_eq!(to, format!("/policies/{host}.txt"));
        let policy = fs::read_to_string(site.join(to.trim_start_matches('/'))).unwrap();
        assert!(policy.starts_with("version: STSv1\r\n"), "{policy:?}");
    }
    for path in ["/.well-known/mta-sts.txt", "/policies/*"] {
        let rule = parsed["headers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["for"] == path)
            .unwrap_or_else(|| panic!("no header rule for {path}: {parsed}"));
        assert_eq!(rule["values"]["Content-Type"], "text/plain");
    }
}

/// The README's S3 recipe (`contrib/s3-publish.sh`) run for real against an S3-compatible
/// server on loopback (moto): one bucket per host, each policy read back byte for byte with
/// `text/plain`.
#[test]
fn srv_the_s3_recipe_publishes_every_policy_to_its_bucket() {
    let (Some(moto), Some(aws)) = (real_tool("moto_server"), real_tool("aws")) else {
        return;
    };
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    let port = free_port();
    let _server = Server {
        child: Command::new(moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
        name: "moto_server",
    };
    assert!(
        crate::harness::wait_for_port(port),
        "the server did not listen"
    );
    let endpoint = format!("http://127.0.0.1:{port}");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/s3-publish.sh");
    let out = crate::harness::run_ok(
        Command::new("sh")
            .arg(script)
            .arg("output")
            .current_dir(p.path())
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1"),
    );
    assert_eq!(out.lines().count(), 2, "{out}");
    // Read back as CloudFront would (signed: the buckets are not public).
    for host in ["mta-sts.a.example", "mta-sts.xn--bcher-kva.example"] {
        let want = fs::read(
            p.path()
                .join(format!("output/webroot/{host}/.well-known/mta-sts.txt")),
        )
        .unwrap();
        let body = p.path().join("fetched");
        let meta = crate::harness::run_ok(
            Command::new(&aws)
                .args(["s3api", "get-object", "--bucket", host, "--key"])
                .arg(".well-known/mta-sts.txt")
                .arg(&body)
                .env("AWS_ENDPOINT_URL", &endpoint)
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test")
                .env("AWS_DEFAULT_REGION", "us-east-1"),
        );
        let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
        assert_eq!(meta["ContentType"], "text/plain", "{host}: {meta}");
        assert_eq!(meta["CacheControl"], "max-age=60", "{host}: {meta}");
        assert_eq!(fs::read(&body).unwrap(), want, "{host}");
    }
}

#[test]
fn the_files_of_every_host_follow_a_policy_change_and_are_carried_otherwise() {
    let p = Project::new(&with_targets(
        "\"cloudflare-worker\", \"netlify\", \"records-json\"",
    ));
    p.run(&["build"]).ok();
    let out = p.run(&["build"]).ok();
    assert!(out.contains("wrote 0 file(s)"), "{out}");
    p.write(
        "domains.toml",
        &with_targets("\"cloudflare-worker\", \"netlify\", \"records-json\"")
            .replace("mode = \"enforce\"", "mode = \"testing\""),
    );
    let out = p
        .run_env(&["build"], &[("SOURCE_DATE_EPOCH", "1764374400")])
        .ok();
    for file in [
        "cloudflare-worker/worker.js",
        "netlify/policies/mta-sts.a.example.txt",
        "dns/records.json",
    ] {
        assert!(out.contains("wrote "), "{out}");
        let text = p.read(&format!("output/{file}"));
        assert!(
            text.contains("mode: testing") || text.contains("id=20251129000000"),
            "{file} not rebuilt: {text}"
        );
    }
    assert!(
        !p.read("output/cloudflare-worker/worker.js")
            .contains("mode: enforce")
    );
}
