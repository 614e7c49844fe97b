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

/// Every policy host a Worker Custom Domain: no `policy_cname` or `policy_addresses` anywhere.
fn custom_domains() -> String {
    with_targets("\"cloudflare-worker\"").replace("policy_cname = \"mail.example.net\"\n", "")
}

/// wrangler itself (the pinned npm package, offline) accepts the generated project: its
/// configuration schema, the Custom Domain routes (no path, no wildcard) and the bundle of
/// `worker.js`; a route it must refuse is refused, so the acceptance means something.
#[test]
fn wrangler_accepts_the_generated_worker_project_with_custom_domains() {
    let Some(wrangler) = real_tool("wrangler") else {
        return;
    };
    let p = Project::new(&custom_domains());
    let run = p.run(&["build"]);
    run.ok();
    assert_eq!(run.stderr(), "", "custom domains need no warning");
    let dir = p.path().join("output/cloudflare-worker");
    let dry_run = |outdir: &str| {
        let out = Command::new(&wrangler)
            .current_dir(&dir)
            .args(["deploy", "--dry-run", "--outdir"])
            .arg(p.path().join(outdir))
            // Its logs and settings go under $HOME: the test's own directory.
            .env("HOME", p.path())
            .env("WRANGLER_SEND_METRICS", "false")
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    };
    let (ok, text) = dry_run("dist");
    assert!(ok, "{text}");
    for word in ["Unexpected fields", "WARNING", "ERROR", "Invalid"] {
        assert!(!text.contains(word), "{word}: {text}");
    }
    assert!(text.contains("--dry-run: exiting now"), "{text}");
    let bundle = fs::read_to_string(p.path().join("dist/worker.js")).unwrap();
    for host in ["mta-sts.a.example", "mta-sts.xn--bcher-kva.example"] {
        assert!(bundle.contains(host), "{host} not in the bundle");
    }
    // The same project with a route a Custom Domain cannot have.
    let toml = fs::read_to_string(dir.join("wrangler.toml")).unwrap();
    fs::write(
        dir.join("wrangler.toml"),
        toml.replace("\"mta-sts.a.example\"", "\"mta-sts.a.example/*\""),
    )
    .unwrap();
    let (ok, text) = dry_run("dist2");
    assert!(!ok && text.contains("Invalid Routes"), "{text}");
}

/// The generated Worker in workerd, Cloudflare's runtime: every host's exact bytes with 200 and
/// text/plain for GET and HEAD; 404 for other paths, methods and hosts; never a redirect; and
/// the hostile Host values of the nginx test reach no policy but their own. The hosts are
/// Custom Domains (no DNS record of ours), as a Cloudflare user deploys them.
#[test]
fn srv_the_worker_in_workerd_serves_each_policy_exactly_and_nothing_else() {
    let (Some(workerd), Some(curl)) = (real_tool("workerd"), real_tool("curl")) else {
        return;
    };
    let p = Project::new(&custom_domains());
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
/// forced 200 rewrite per host to a file holding its policy, a forced 404 for the files asked
/// for directly, and `text/plain` on both paths; then requests answered by Netlify's redirect
/// engine (`netlify-redirector`) with `netlify dev`'s static-file rule.
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
    assert_eq!(redirects.len(), 3);
    let (hosts, last) = redirects.split_at(2);
    assert_eq!(
        (&last[0]["path"], &last[0]["status"], &last[0]["force"]),
        (&"/policies/*".into(), &404.into(), &true.into()),
        "{parsed}"
    );
    for r in hosts {
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

    // Requests answered by Netlify's redirect engine, as `netlify dev` answers them: each
    // host's policy on its own host only; the files direct, and every other host and path, 404.
    let a = fs::read_to_string(site.join("policies/mta-sts.a.example.txt")).unwrap();
    let b = fs::read_to_string(site.join("policies/mta-sts.xn--bcher-kva.example.txt")).unwrap();
    let requests = [
        (
            "mta-sts.a.example",
            "/.well-known/mta-sts.txt",
            200,
            Some(&a),
        ),
        (
            "mta-sts.xn--bcher-kva.example",
            "/.well-known/mta-sts.txt",
            200,
            Some(&b),
        ),
        (
            "mta-sts.a.example",
            "/policies/mta-sts.a.example.txt",
            404,
            None,
        ),
        (
            "mta-sts.a.example",
            "/policies/mta-sts.xn--bcher-kva.example.txt",
            404,
            None,
        ),
        (
            "mtasts-site.netlify.app",
            "/policies/mta-sts.a.example.txt",
            404,
            None,
        ),
        (
            "mtasts-site.netlify.app",
            "/.well-known/mta-sts.txt",
            404,
            None,
        ),
        (
            "mta-sts.other.example",
            "/.well-known/mta-sts.txt",
            404,
            None,
        ),
        ("mta-sts.a.example", "/", 404, None),
    ];
    let list: Vec<(&str, &str)> = requests.iter().map(|r| (r.0, r.1)).collect();
    let out = crate::harness::run_ok(
        Command::new(real_tool("node").unwrap())
            .arg(tools.join("netlify-serve.mjs"))
            .arg(&site)
            .arg(serde_json::to_string(&list).unwrap()),
    );
    let answers: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    for ((host, path, status, body), got) in requests.iter().zip(&answers) {
        assert_eq!(got["status"], *status, "{host}{path}: {got}");
        if let Some(body) = body {
            assert_eq!(got["body"].as_str(), Some(body.as_str()), "{host}{path}");
        }
    }
}

/// The S3 recipe (`contrib/s3-publish.sh`) run for real against an S3-compatible server on
/// loopback (moto), at a hoster's 1,000 hosts: every host in ONE bucket under its prefix, each
/// policy read back byte for byte with `text/plain`; unchanged policies not uploaded again; the
/// keys of a host whose retirement completed removed; other keys of the bucket (another
/// config's policy host among them) untouched; no bucket created.
#[test]
fn srv_the_s3_recipe_publishes_every_host_into_one_bucket_and_cleans_only_its_own() {
    let (Some(moto), Some(aws)) = (real_tool("moto_server"), real_tool("aws")) else {
        return;
    };
    let config = crate::harness::domains_config(
        997,
        &format!("{CONFIG}\n[domains.\"gone.example\"]\nmax_age = 86400\n"),
        "",
    );
    let p = Project::new(&config);
    let hour = |h: i64| (crate::harness::EPOCH.parse::<i64>().unwrap() + h * 3600).to_string();
    p.run(&["build"]).ok();
    p.write(
        "domains.toml",
        &config.replace(
            "[domains.\"gone.example\"]\n",
            "[domains.\"gone.example\"]\nretire = true\n",
        ),
    );
    p.run_env(&["build"], &[("SOURCE_DATE_EPOCH", &hour(1))])
        .ok();
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
    let aws_env = |cmd: &mut Command| {
        cmd.env("AWS_ENDPOINT_URL", &endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_DEFAULT_REGION", "us-east-1");
    };
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/s3-publish.sh");
    let publish = || {
        let mut cmd = Command::new("sh");
        cmd.arg(&script).arg("policies").current_dir(p.path());
        aws_env(&mut cmd);
        cmd.output().unwrap()
    };
    // No bucket: refused, none made.
    let refused = publish();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("create it once"));
    let aws_run = |args: &[&str]| {
        let mut cmd = Command::new(&aws);
        cmd.args(args).current_dir(p.path());
        aws_env(&mut cmd);
        crate::harness::run_ok(&mut cmd)
    };
    aws_run(&["s3", "mb", "s3://policies"]);
    p.write("keep.txt", "another config's file\n");
    aws_run(&["s3", "cp", "keep.txt", "s3://policies/other/keep.txt"]);
    let foreign = "s3://policies/mta-sts.foreign.example/.well-known/mta-sts.txt";
    aws_run(&["s3", "cp", "keep.txt", foreign]);
    let out = publish();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text.matches("uploaded s3://policies/").count(),
        1000,
        "{text}"
    );
    assert!(!text.contains("published https://"), "{text}");
    for host in [
        "mta-sts.a.example",
        "mta-sts.xn--bcher-kva.example",
        "mta-sts.gone.example",
    ] {
        let want = fs::read(
            p.path()
                .join(format!("output/webroot/{host}/.well-known/mta-sts.txt")),
        )
        .unwrap();
        let key = format!("{host}/.well-known/mta-sts.txt");
        let meta = aws_run(&[
            "s3api",
            "get-object",
            "--bucket",
            "policies",
            "--key",
            &key,
            "fetched",
        ]);
        let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
        assert_eq!(meta["ContentType"], "text/plain", "{host}: {meta}");
        assert_eq!(meta["CacheControl"], "max-age=60", "{host}: {meta}");
        assert_eq!(fs::read(p.path().join("fetched")).unwrap(), want, "{host}");
    }
    // Nothing changed: nothing uploaded again.
    let again = String::from_utf8_lossy(&publish().stdout).into_owned();
    assert!(!again.contains("uploaded"), "{again}");
    // The retirement completes: the build drops the host, the script its keys, nothing else.
    p.run_env(&["build"], &[("SOURCE_DATE_EPOCH", &hour(72))])
        .ok();
    assert!(
        !p.path()
            .join("output/webroot/mta-sts.gone.example")
            .exists()
    );
    assert!(
        p.read("domains.lock")
            .contains("[domains.\"gone.example\"]")
    );
    let cleaned = String::from_utf8_lossy(&publish().stdout).into_owned();
    assert!(
        cleaned.contains("removed s3://policies/mta-sts.gone.example/.well-known/mta-sts.txt"),
        "{cleaned}"
    );
    let keys = aws_run(&["s3", "ls", "--recursive", "s3://policies/"]);
    assert!(keys.contains("other/keep.txt"), "{keys}");
    assert!(keys.contains("mta-sts.foreign.example/"), "{keys}");
    assert_eq!(keys.lines().count(), 999 + 2, "{keys}");
    assert!(
        keys.contains("mta-sts.a.example/.well-known/mta-sts.txt"),
        "{keys}"
    );
    assert!(!keys.contains("gone.example"), "{keys}");
    let buckets = aws_run(&["s3", "ls"]);
    assert_eq!(buckets.lines().count(), 1, "{buckets}");
}

/// `cloudfront/function.js` run in Node (the CloudFront runtime itself has no offline build):
/// each generated host's policy path maps to its key prefix, anything else is a 404.
#[test]
fn the_cloudfront_function_maps_each_host_to_its_prefix_and_nothing_else() {
    let Some(node) = real_tool("node") else {
        return;
    };
    let p = Project::new(&with_targets("\"webroot\", \"cloudfront\""));
    p.run(&["build"]).ok();
    let script = r#"
const fs = require("fs"), vm = require("vm");
const ctx = {};
vm.runInNewContext(fs.readFileSync("output/cloudfront/function.js", "utf8"), ctx);
const ask = (method, host, uri) => {
  const headers = host === null ? {} : { host: { value: host } };
  const r = ctx.handler({ request: { method, uri, headers } });
  return r.statusCode ? String(r.statusCode) : r.uri;
};
console.log([
  ask("GET", "mta-sts.a.example", "/.well-known/mta-sts.txt"),
  ask("HEAD", "MTA-STS.xn--bcher-kva.example", "/.well-known/mta-sts.txt"),
  ask("GET", "mta-sts.other.example", "/.well-known/mta-sts.txt"),
  ask("GET", "mta-sts.a.example", "/"),
  ask("GET", "mta-sts.a.example", "/.well-known/mta-sts.txt/../../x"),
  ask("POST", "mta-sts.a.example", "/.well-known/mta-sts.txt"),
  ask("GET", null, "/.well-known/mta-sts.txt"),
].join("\n"));
"#;
    let out = crate::harness::run_ok(
        Command::new(node)
            .args(["-e", script])
            .current_dir(p.path()),
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "/mta-sts.a.example/.well-known/mta-sts.txt",
            "/mta-sts.xn--bcher-kva.example/.well-known/mta-sts.txt",
            "404",
            "404",
            "404",
            "404",
            "404"
        ]
    );
    assert!(p.path().join("output/webroot/mta-sts.a.example").is_dir());
    let text = p.read("output/cloudfront/function.js");
    assert!(text.len() <= 10 * 1024, "over CloudFront's 10 KB");
    assert!(text.contains("\"mta-sts.a.example\": true"), "{text}");
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

/// A retirement that completes says, per CDN target, what only the user can remove there (the
/// build already dropped the host's files); the notes of many domains group into one line.
#[test]
fn a_completed_retirement_names_what_to_remove_on_each_cdn() {
    let hour = |h: i64| (crate::harness::EPOCH.parse::<i64>().unwrap() + h * 3600).to_string();
    let config = format!(
        "{}\n[domains.\"gone.example\"]\nmax_age = 86400\n[domains.\"left.example\"]\nmax_age = 86400\n",
        with_targets("\"cloudflare-worker\", \"netlify\", \"github-pages\", \"cloudfront\"")
    );
    let p = Project::new(&config);
    p.run(&["build"]).ok();
    let retiring = config
        .replace(
            "[domains.\"gone.example\"]\n",
            "[domains.\"gone.example\"]\nretire = true\n",
        )
        .replace(
            "[domains.\"left.example\"]\n",
            "[domains.\"left.example\"]\nretire = true\n",
        );
    p.write("domains.toml", &retiring);
    let first = p.run_env(&["build"], &[("SOURCE_DATE_EPOCH", &hour(1))]);
    assert!(!first.ok().contains("cloudflare-worker:"), "{}", first.ok());
    let done = p.run_env(&["build"], &[("SOURCE_DATE_EPOCH", &hour(72))]);
    let out = done.ok();
    for step in [
        "2 domains (gone.example, left.example): cloudflare-worker: wrangler deploy stops",
        "2 domains (gone.example, left.example): netlify: deploying netlify/ drops",
        "2 domains (gone.example, left.example): github-pages: the build removed",
        "2 domains (gone.example, left.example): cloudfront: contrib/s3-publish.sh deletes",
    ] {
        assert!(out.contains(step), "{step}: {out}");
    }
    assert!(
        !p.path()
            .join("output/github-pages/mta-sts.gone.example")
            .exists()
    );
    let json = p.run_env(
        &["build", "--format", "json"],
        &[("SOURCE_DATE_EPOCH", &hour(73))],
    );
    assert!(
        !json.ok().contains("cloudflare-worker:"),
        "said once, when it completes: {}",
        json.ok()
    );
}
