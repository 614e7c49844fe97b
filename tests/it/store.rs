//! The report store, both backends through the same command: SQLite (bundled) and a real
//! PostgreSQL from Debian's packages, started here on a loopback high port in a temp dir.
//! Two "machines" (two project directories) share one PostgreSQL; each report is stored once
//! whoever read it, and a name full of SQL is only data.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{Project, Server, free_port, real_tool, run_ok, wait_for_port};
use crate::report::{CONFIG, domain, google_day};

/// Debian's PostgreSQL programs live outside PATH, under /usr/lib/postgresql/<major>/bin.
pub(crate) fn pg_tool(name: &str) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop().or_else(|| real_tool(name))
}

/// A throwaway PostgreSQL: `initdb` with trust for the superuser `mtasts`, then the server on
/// 127.0.0.1:`port` and no Unix socket. As root it runs as the `postgres` user (it refuses
/// root), in a directory that user owns.
pub(crate) fn postgres(dir: &Path) -> Option<(Server, String)> {
    let (initdb, server) = (pg_tool("initdb")?, pg_tool("postgres")?);
    let data = dir.join("data");
    fs::create_dir_all(dir).unwrap();
    let as_postgres = |cmd: &mut Command| {
        if crate::system::is_root() {
            use std::os::unix::process::CommandExt;
            let id = |flag: &str| -> u32 {
                run_ok(Command::new("id").args([flag, "postgres"]))
                    .trim()
                    .parse()
                    .unwrap()
            };
            cmd.uid(id("-u")).gid(id("-g"));
        }
    };
    if crate::system::is_root() {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
        run_ok(Command::new("chown").arg("postgres:postgres").arg(dir));
    }
    let mut init = Command::new(&initdb);
    init.args([
        "-A",
        "trust",
        "-U",
        "mtasts",
        "-E",
        "UTF8",
        "--no-sync",
        "-D",
    ])
    .arg(&data);
    as_postgres(&mut init);
    run_ok(&mut init);
    let port = free_port();
    let mut start = Command::new(&server);
    start
        .arg("-D")
        .arg(&data)
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k", ""])
        .stdout(fs::File::create(dir.join("out.log")).unwrap())
        .stderr(fs::File::create(dir.join("postgres.log")).unwrap());
    as_postgres(&mut start);
    let server = Server {
        child: start.spawn().unwrap(),
        name: "postgres",
    };
    assert!(
        wait_for_port(port),
        "postgres did not start: {}",
        fs::read_to_string(dir.join("postgres.log")).unwrap_or_default()
    );
    // The port opens before recovery ends; until then a client gets "the database system is
    // starting up" (a receiver started then exits, as it should). Wait for the server's word.
    let log = || fs::read_to_string(dir.join("postgres.log")).unwrap_or_default();
    let ready = (0..300).any(|_| {
        let up = log().contains("ready to accept connections");
        if !up {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        up
    });
    assert!(ready, "postgres did not become ready: {}", log());
    Some((
        server,
        format!("postgres://mtasts@127.0.0.1:{port}/postgres"),
    ))
}

/// A project holding the daily reports of `days` as JSON files under `reports/`.
fn machine(days: std::ops::RangeInclusive<u32>) -> Project {
    let p = Project::new(CONFIG);
    for day in days {
        p.write(
            &format!("reports/day{day:02}.json"),
            &google_day("testing.example", day, 100, &[]),
        );
    }
    p
}

fn json(p: &Project, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["report", "--format", "json"];
    all.extend_from_slice(args);
    let run = p.run(&all);
    assert_eq!(run.code(), 0, "{}{}", run.stdout(), run.stderr());
    serde_json::from_str(&run.stdout()).unwrap()
}

/// Two machines read overlapping days into `store`; the history holds each once.
fn two_machines_share(store: &str) -> serde_json::Value {
    let first = machine(1..=7);
    let second = machine(5..=14);
    let day1 = json(&first, &["--store", store, "reports"]);
    assert_eq!(
        (day1["read"].as_u64(), day1["stored"].as_u64()),
        (Some(7), Some(7))
    );
    assert_eq!(domain(&day1, "testing.example")["ready_for_enforce"], false);
    let day2 = json(&second, &["--store", store, "reports"]);
    assert_eq!(
        (day2["read"].as_u64(), day2["stored"].as_u64()),
        (Some(10), Some(7)),
        "days 5 to 7 were stored by the first machine: {day2:#}"
    );
    let t = domain(&day2, "testing.example");
    assert_eq!(
        (t["reports"].as_u64(), t["days"].as_u64()),
        (Some(14), Some(14))
    );
    assert_eq!(t["ready_for_enforce"], true, "{t:#}");
    // A name made of SQL is stored and read back as the name it is.
    let hostile = Project::new(CONFIG);
    hostile.write(
        "reports/evil.json",
        &google_day("testing.example", 15, 1, &[])
            .replace("Google Inc.", "x'); DROP TABLE mtasts_reports; --"),
    );
    let after = json(&hostile, &["--store", store, "reports"]);
    let t = domain(&after, "testing.example");
    assert_eq!(t["reports"].as_u64(), Some(15), "{after:#}");
    assert!(
        t["organizations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o == "x'); DROP TABLE mtasts_reports; --"),
        "{t:#}"
    );
    after
}

#[test]
fn sqlite_and_postgres_hold_the_same_history_for_two_machines_and_sql_in_a_report_is_data() {
    let sqlite_dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite_dir.path().join("shared.sqlite");
    let from_sqlite = two_machines_share(sqlite.to_str().unwrap());

    let Some(dir) = pg_tool("initdb").map(|_| {
        tempfile::Builder::new()
            .prefix("mtasts-pg")
            .tempdir_in("/tmp")
            .unwrap()
    }) else {
        return;
    };
    let Some((_pg, url)) = postgres(dir.path()) else {
        return;
    };
    let from_postgres = two_machines_share(&url);
    assert_eq!(
        from_sqlite["domains"], from_postgres["domains"],
        "one schema, one code path: the same judgement from either store"
    );

    // A store that cannot be reached is exit 2, kind store, the password never printed.
    let p = machine(1..=1);
    let dead = format!(
        "postgres://mtasts:hunter2@127.0.0.1:{}/postgres",
        free_port()
    );
    let run = p.run(&["report", "--format", "json", "--store", &dead, "reports"]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(
        run.stderr().contains("mtasts:***@127.0.0.1"),
        "{}",
        run.stderr()
    );
    assert!(!run.stderr().contains("hunter2"), "{}", run.stderr());
}
