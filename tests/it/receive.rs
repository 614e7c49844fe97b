//! `mtasts receive`, the `rua=https:` endpoint, as a reporter and an operator meet it: real
//! senders' shapes posted with curl over TLS, every limit, a gzip bomb, a slowloris, 200
//! concurrent clients, `kill -9` under load, SIGTERM under load, a full disk, and two
//! receivers sharing one PostgreSQL. Every report answered 2xx must be in the store, once.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::{Project, Server, free_port, make_certs, real_tool, run_ok, wait_for_port};
use crate::report::{CONFIG, google_day};

/// A receiver on 127.0.0.1:`port` storing into `store`; its access log goes to `log`.
fn receiver(p: &Project, port: u16, store: &str, extra: &[&str], log: &Path) -> Server {
    let child = Command::new(env!("CARGO_BIN_EXE_mtasts"))
        .current_dir(p.path())
        .args([
            "receive",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--store",
            store,
        ])
        .args(extra)
        .stdout(
            fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .unwrap(),
        )
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let server = Server {
        child,
        name: "mtasts receive",
    };
    assert!(wait_for_port(port), "the receiver did not listen");
    server
}

/// A Google-shaped daily report with its own id.
fn report(id: &str) -> String {
    google_day("testing.example", 1, 100, &[]).replace(
        "\"report-id\":\"2025-11-01T00:00:00Z_testing.example\"",
        &format!("\"report-id\":\"{id}\""),
    )
}

/// POSTs `body` with `content_type` over a new plain connection; the status, or `None` when
/// the connection failed or closed without an answer.
fn post(port: u16, content_type: &str, body: &[u8]) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    let head = format!(
        "POST /tlsrpt HTTP/1.1\r\nHost: tlsrpt.example\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body).ok()?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).ok()?;
    let line = String::from_utf8_lossy(&answer);
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The report ids stored in a SQLite store.
fn stored_ids(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT report_key FROM mtasts_reports")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// `clients` threads post unique reports to the ports (round robin) until `stop`; each id
/// answered 2xx is recorded with its latency. Connection failures are retried with a new id,
/// as a reporter retries later.
struct Load {
    ok: Mutex<Vec<(String, Duration)>>,
    other: AtomicUsize,
    failed: AtomicUsize,
    stop: AtomicBool,
}

fn load(ports: &[u16], clients: usize, tag: &str) -> (Arc<Load>, Vec<std::thread::JoinHandle<()>>) {
    let state = Arc::new(Load {
        ok: Mutex::new(Vec::new()),
        other: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    });
    let handles = (0..clients)
        .map(|c| {
            let state = state.clone();
            let ports = ports.to_vec();
            let tag = tag.to_string();
            std::thread::spawn(move || {
                let mut n = 0usize;
                while !state.stop.load(Ordering::Relaxed) {
                    n += 1;
                    let id = format!("{tag}-{c}-{n}");
                    let started = Instant::now();
                    match post(
                        ports[n % ports.len()],
                        "application/tlsrpt+json",
                        report(&id).as_bytes(),
                    ) {
                        Some(200 | 201) => state.ok.lock().unwrap().push((id, started.elapsed())),
                        Some(_) => {
                            state.other.fetch_add(1, Ordering::Relaxed);
                        }
                        None => {
                            state.failed.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                }
            })
        })
        .collect();
    (state, handles)
}

fn finish(state: &Load, handles: Vec<std::thread::JoinHandle<()>>) -> Vec<(String, Duration)> {
    state.stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    std::mem::take(&mut *state.ok.lock().unwrap())
}

fn p99(ok: &[(String, Duration)]) -> Duration {
    let mut l: Vec<Duration> = ok.iter().map(|(_, d)| *d).collect();
    l.sort();
    l.get(l.len() * 99 / 100).copied().unwrap_or_default()
}

/// Peak resident memory of a process, in KiB.
fn peak_kib(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

fn seconds() -> u64 {
    std::env::var("MTASTS_RECEIVE_LOAD_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn senders_shapes_over_tls_get_201_then_200_and_every_limit_its_status() {
    let (Some(curl), Some(openssl)) = (real_tool("curl"), real_tool("openssl")) else {
        return;
    };
    let p = Project::new(CONFIG);
    let ca = make_certs(&openssl, p.path(), &["localhost".to_string()]);
    let tls = p.path().join("tls/localhost");
    let port = free_port();
    let log = p.path().join("access.log");
    let server = receiver(
        &p,
        port,
        "r.sqlite",
        &[
            "--tls-certificate",
            tls.join("fullchain.pem").to_str().unwrap(),
            "--tls-key",
            tls.join("privkey.pem").to_str().unwrap(),
            "--metrics-path",
            "/metrics",
            "--client-timeout",
            "2",
        ],
        &log,
    );
    let url = format!("https://localhost:{port}/v1/tlsrpt");
    let curl_post = |content_type: &str, file: &Path| -> String {
        run_ok(
            Command::new(&curl)
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
                .arg(&ca)
                .args([
                    "-H",
                    &format!("Content-Type: {content_type}"),
                    "--data-binary",
                ])
                .arg(format!("@{}", file.display()))
                .arg(&url),
        )
    };
    let write = |name: &str, bytes: &[u8]| -> PathBuf {
        let path = p.path().join(name);
        fs::write(&path, bytes).unwrap();
        path
    };
    // Google posts gzip, Microsoft plain JSON (RFC 8460 §5.4's two types).
    let google = write("google.json.gz", &gzip(report("google-1").as_bytes()));
    let microsoft = crate::harness::fixtures().join("reports/microsoft-like.json");
    assert_eq!(curl_post("application/tlsrpt+gzip", &google), "201");
    assert_eq!(
        curl_post("application/tlsrpt+gzip", &google),
        "200",
        "a duplicate"
    );
    assert_eq!(curl_post("application/tlsrpt+json", &microsoft), "201");
    assert_eq!(curl_post("application/json", &microsoft), "415");
    assert_eq!(
        curl_post("application/tlsrpt+gzip", &microsoft),
        "400",
        "not gzip"
    );
    let malformed = crate::harness::fixtures().join("reports/malformed.json");
    assert_eq!(curl_post("application/tlsrpt+json", &malformed), "400");
    let big = write("big.json", &vec![b' '; 2 * 1024 * 1024]);
    assert_eq!(curl_post("application/tlsrpt+json", &big), "413");
    // A bomb inside the 1 MiB: 11 MiB inflated, refused at 10.
    let bomb = write("bomb.json.gz", &gzip(&vec![b' '; 11 * 1024 * 1024]));
    assert_eq!(curl_post("application/tlsrpt+gzip", &bomb), "413");
    // A 10 GB bomb (10,240 gzip members of 1 MiB of zeros each, 10 MB), sent chunked, so no
    // length announces it: cut at the 1 MiB the body may have.
    let member = gzip(&vec![0u8; 1024 * 1024]);
    let ten_gb = write("10gb.json.gz", &member.repeat(10 * 1024));
    // curl may fail to send the rest once the receiver has answered and closed: any exit.
    let chunked = Command::new(&curl)
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(&ca)
        .args([
            "-H",
            "Content-Type: application/tlsrpt+gzip",
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
        ])
        .arg(format!("@{}", ten_gb.display()))
        .arg(&url)
        .output()
        .unwrap();
    let chunked = String::from_utf8_lossy(&chunked.stdout).to_string();
    assert!(chunked == "413" || chunked == "000", "{chunked}");
    let get = run_ok(
        Command::new(&curl)
            .args(["-s", "-i", "--cacert"])
            .arg(&ca)
            .arg(&url),
    );
    assert!(get.starts_with("HTTP/1.1 405"), "{get}");
    assert!(get.to_ascii_lowercase().contains("allow: post"), "{get}");

    // A slowloris: connections that dribble their headers are dropped after the client
    // timeout, while a real reporter is served meanwhile.
    let slow: Vec<std::thread::JoinHandle<bool>> = (0..20)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                for _ in 0..20 {
                    if s.write_all(b"X").is_err() {
                        return true;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                let mut buf = [0u8; 1];
                matches!(s.read(&mut buf), Ok(0) | Err(_))
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(curl_post("application/tlsrpt+json", &microsoft), "200");
    assert!(
        slow.into_iter().all(|h| h.join().unwrap()),
        "every slow client was dropped"
    );

    // Memory stayed bounded through all of it.
    let peak = peak_kib(server.child.id());
    assert!(peak < 64 * 1024, "peak RSS {peak} KiB");

    let metrics = run_ok(
        Command::new(&curl)
            .args(["-s", "--cacert"])
            .arg(&ca)
            .arg(format!("https://localhost:{port}/metrics")),
    );
    assert!(
        metrics.contains("mtasts_receive_reports{status=\"created\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mtasts_receive_reports{status=\"duplicate\"} 2"),
        "{metrics}"
    );
    drop(server);
    // SIGTERM (the drop) ended it cleanly, and the log has a JSON line per request.
    let lines = fs::read_to_string(&log).unwrap();
    assert!(lines.lines().last().unwrap().contains("stopped"), "{lines}");
    for line in lines.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap();
    }

    // What was received is history for `report --store`.
    let run = p.run(&["report", "--format", "json", "--store", "r.sqlite"]);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(doc["reports"], 2, "{doc:#}");
}

#[test]
fn under_load_kill_9_and_sigterm_every_2xx_report_is_stored_exactly_once() {
    let p = Project::new(CONFIG);
    let port = free_port();
    let log = p.path().join("access.log");
    let db = p.path().join("r.sqlite");
    let mut server = receiver(&p, port, "r.sqlite", &[], &log);

    // 200 clients for the load time (MTASTS_RECEIVE_LOAD_SECONDS, default 5).
    let secs = seconds();
    let (state, handles) = load(&[port], 200, "load");
    std::thread::sleep(Duration::from_secs(secs));
    let ok = finish(&state, handles);
    let rate = ok.len() as f64 / secs as f64;
    eprintln!(
        "receive load: {} reports in {secs} s = {rate:.0}/s, p99 {:?}, {} non-2xx, {} failed connections, peak RSS {} KiB",
        ok.len(),
        p99(&ok),
        state.other.load(Ordering::Relaxed),
        state.failed.load(Ordering::Relaxed),
        peak_kib(server.child.id())
    );
    assert_eq!(state.other.load(Ordering::Relaxed), 0);
    let stored: BTreeSet<String> = stored_ids(&db).into_iter().collect();
    let answered: BTreeSet<String> = ok.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(answered.len(), ok.len(), "each id answered once");
    assert!(answered.is_subset(&stored), "every 2xx report is stored");
    assert!(rate > 200.0, "{rate} reports/s");

    // kill -9 in the middle of the load, then a restart on the same port: no 2xx report is
    // lost, none is stored twice (the key forbids it; the count proves it).
    let (state, handles) = load(&[port], 50, "kill");
    std::thread::sleep(Duration::from_secs(1));
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut server = receiver(&p, port, "r.sqlite", &[], &log);
    std::thread::sleep(Duration::from_secs(1));
    let ok = finish(&state, handles);
    let stored = stored_ids(&db);
    let unique: BTreeSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "nothing stored twice");
    let missing: Vec<&String> = ok
        .iter()
        .map(|(id, _)| id)
        .filter(|id| !unique.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "answered 2xx, then lost by kill -9: {missing:?}"
    );
    eprintln!(
        "kill -9 under load: {} answered 2xx, all stored; {} connections failed while it was down",
        ok.len(),
        state.failed.load(Ordering::Relaxed)
    );

    // SIGTERM under load: requests in flight finish, the process exits 0.
    let (state, handles) = load(&[port], 50, "term");
    std::thread::sleep(Duration::from_millis(500));
    run_ok(
        Command::new("kill")
            .arg("-TERM")
            .arg(server.child.id().to_string()),
    );
    let status = server.child.wait().unwrap();
    let ok = finish(&state, handles);
    assert!(status.success(), "{status}");
    let stored: BTreeSet<String> = stored_ids(&db).into_iter().collect();
    assert!(ok.iter().all(|(id, _)| stored.contains(id)));
}

/// As root: the store on a 1 MiB tmpfs that fills up. A report that cannot be committed is
/// 503, never 2xx; with space again, the next one is stored.
#[test]
fn a_full_disk_answers_503_never_2xx() {
    if !crate::system::is_root() {
        if std::env::var("MTASTS_REQUIRE_REAL").as_deref() == Ok("1") {
            panic!("the full-disk test mounts a tmpfs as root (MTASTS_REQUIRE_REAL=1)");
        }
        eprintln!("\n!!!!!!!! SKIPPED: the full-disk test needs root to mount a tmpfs !!!!!!!!\n");
        return;
    }
    let p = Project::new(CONFIG);
    let disk = p.path().join("disk");
    fs::create_dir_all(&disk).unwrap();
    run_ok(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(&disk),
    );
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(disk.clone());
    let port = free_port();
    let log = p.path().join("access.log");
    let store = disk.join("r.sqlite");
    let _server = receiver(&p, port, store.to_str().unwrap(), &[], &log);
    assert_eq!(
        post(port, "application/tlsrpt+json", report("before").as_bytes()),
        Some(201)
    );
    // Fill the disk to the last byte.
    let mut filler = fs::File::create(disk.join("filler")).unwrap();
    let block = vec![0u8; 4096];
    while filler.write_all(&block).is_ok() {}
    let _ = filler.sync_all();
    let mut statuses = Vec::new();
    for i in 0..30 {
        // Reports large enough to need new pages.
        let big = report(&format!("full-{i}")).replace(
            "Google Inc.",
            &format!("Google Inc. {}", "x".repeat(20_000)),
        );
        statuses.push(post(port, "application/tlsrpt+json", big.as_bytes()));
    }
    assert!(
        statuses.iter().all(|s| *s != Some(201) && *s != Some(200)) || {
            // Whatever SQLite could still fit was stored; each 2xx must then be in the store.
            let ids = stored_ids(&store);
            statuses
                .iter()
                .enumerate()
                .filter(|(_, s)| matches!(s, Some(200 | 201)))
                .all(|(i, _)| ids.contains(&format!("full-{i}")))
        }
    );
    assert!(statuses.contains(&Some(503)), "{statuses:?}");
    drop(filler);
    fs::remove_file(disk.join("filler")).unwrap();
    assert_eq!(
        post(port, "application/tlsrpt+json", report("after").as_bytes()),
        Some(201)
    );
    let ids = stored_ids(&store);
    assert!(ids.contains(&"before".to_string()) && ids.contains(&"after".to_string()));
}

/// Two receivers share one real PostgreSQL under load: each report stored once whichever
/// receiver answered, every 2xx in the store.
#[test]
fn two_receivers_share_one_postgres_under_load() {
    let Some(dir) = crate::store::pg_tool("initdb").map(|_| {
        tempfile::Builder::new()
            .prefix("mtasts-pg")
            .tempdir_in("/tmp")
            .unwrap()
    }) else {
        return;
    };
    let Some((_pg, url)) = crate::store::postgres(dir.path()) else {
        return;
    };
    let p = Project::new(CONFIG);
    let log = p.path().join("access.log");
    let ports = [free_port(), free_port()];
    let _a = receiver(&p, ports[0], &url, &[], &log);
    let _b = receiver(&p, ports[1], &url, &[], &log);
    // The same report to both: one stores it (201), the other finds it (200).
    let body = report("both");
    let answers = [
        post(ports[0], "application/tlsrpt+json", body.as_bytes()),
        post(ports[1], "application/tlsrpt+json", body.as_bytes()),
    ];
    assert_eq!(answers, [Some(201), Some(200)]);
    let secs = seconds();
    let (state, handles) = load(&ports, 200, "pg");
    std::thread::sleep(Duration::from_secs(secs));
    let ok = finish(&state, handles);
    eprintln!(
        "two receivers on PostgreSQL: {} reports in {secs} s = {:.0}/s, p99 {:?}",
        ok.len(),
        ok.len() as f64 / secs as f64,
        p99(&ok)
    );
    assert_eq!(state.other.load(Ordering::Relaxed), 0);
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let stored: Vec<String> = client
        .query("SELECT report_key FROM mtasts_reports", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let unique: BTreeSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len());
    assert!(ok.iter().all(|(id, _)| unique.contains(id)));
    if state.failed.load(Ordering::Relaxed) == 0 {
        assert_eq!(
            stored.len(),
            ok.len() + 1,
            "the load's reports and \"both\""
        );
    }
}

/// `[nginx] receiver_host` + `receiver_upstream`: a real nginx terminates TLS for the report
/// host and proxies to the receiver; statuses and the reporter's address come through, and the
/// policy hosts are still served beside it.
#[test]
fn behind_nginx_the_receiver_host_gets_tls_and_reports_reach_the_store() {
    let (Some(nginx), Some(curl), Some(openssl)) =
        (real_tool("nginx"), real_tool("curl"), real_tool("openssl"))
    else {
        return;
    };
    let p = Project::for_nginx();
    let root = p.path();
    let ca = make_certs(
        &openssl,
        root,
        &[
            "tlsrpt.example.net".to_string(),
            "mta-sts.a.example".to_string(),
        ],
    );
    crate::harness::keys_readable_by_workers(root);
    let (port, upstream) = (free_port(), free_port());
    p.write(
        "domains.toml",
        &format!(
            r#"[defaults]
mx = ["mx.example.net"]
policy_cname = "mail.example.net"
tlsrpt_rua = ["https://tlsrpt.example.net/v1/tlsrpt"]

[nginx]
listen = ["127.0.0.1:{port} ssl"]
certificate = "{root}/tls/{{host}}/fullchain.pem"
certificate_key = "{root}/tls/{{host}}/privkey.pem"
webroot = "{root}/output/webroot"
receiver_host = "tlsrpt.example.net"
receiver_upstream = "127.0.0.1:{upstream}"

[domains."a.example"]
"#,
            root = root.display()
        ),
    );
    p.run(&["build"]).ok();
    let vhost = p.read("output/nginx/mta-sts-receiver.conf");
    assert!(vhost.contains("server_name tlsrpt.example.net;"), "{vhost}");
    let log = root.join("access.log");
    let _receiver = receiver(&p, upstream, "r.sqlite", &[], &log);
    let (mut server, error_log) = crate::harness::serve_nginx(&nginx, root, "receiver");
    server.wait_for(&format!("127.0.0.1:{port}"), &error_log);
    let body = root.join("google.json.gz");
    fs::write(&body, gzip(report("via-nginx").as_bytes())).unwrap();
    let send = |content_type: &str, host: &str, path: &str| -> String {
        run_ok(
            Command::new(&curl)
                .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
                .arg(&ca)
                .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
                .args([
                    "-H",
                    &format!("Content-Type: {content_type}"),
                    "--data-binary",
                ])
                .arg(format!("@{}", body.display()))
                .arg(format!("https://{host}:{port}{path}")),
        )
    };
    assert_eq!(
        send(
            "application/tlsrpt+gzip",
            "tlsrpt.example.net",
            "/v1/tlsrpt"
        ),
        "201"
    );
    assert_eq!(
        send(
            "application/tlsrpt+gzip",
            "tlsrpt.example.net",
            "/v1/tlsrpt"
        ),
        "200"
    );
    assert_eq!(
        send("text/plain", "tlsrpt.example.net", "/v1/tlsrpt"),
        "415"
    );
    // The policy host beside it is untouched by the receiver.
    let policy = run_ok(
        Command::new(&curl)
            .args(["-s", "--cacert"])
            .arg(&ca)
            .args(["--resolve", &format!("mta-sts.a.example:{port}:127.0.0.1")])
            .arg(format!(
                "https://mta-sts.a.example:{port}/.well-known/mta-sts.txt"
            )),
    );
    assert!(policy.starts_with("version: STSv1"), "{policy}");
    let lines = fs::read_to_string(&log).unwrap();
    assert!(lines.contains("\"forwarded_for\":\"127.0.0.1\""), "{lines}");
    assert_eq!(stored_ids(&root.join("r.sqlite")), ["via-nginx"]);
}

/// The systemd unit in contrib/ is one systemd itself accepts (with the built binary's path).
#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let Some(analyze) = real_tool("systemd-analyze") else {
        return;
    };
    let unit = fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/mtasts-receive.service"),
    )
    .unwrap();
    assert!(unit.contains("DynamicUser=yes") && unit.contains("ProtectSystem=strict"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mtasts-receive.service");
    fs::write(
        &path,
        unit.replace("/usr/local/bin/mtasts", env!("CARGO_BIN_EXE_mtasts")),
    )
    .unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    // Only the unit's own lines count (a container without a running systemd adds notes of its own).
    let about_unit: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("mtasts-receive.service"))
        .collect();
    assert!(about_unit.is_empty(), "{said}");
}
