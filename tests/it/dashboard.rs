//! `mtasts dashboard` in a real browser: Debian's Chromium, headless, renders the index and a
//! domain page at desktop and phone widths (screenshots kept under
//! `target/test-artefacts/dashboard/`), and the numbers the DOM shows equal the store's totals
//! as `report --store` gives them. A 10,000-domain index is rendered and its time printed.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::harness::{Project, domains_config, real_tool};
use crate::report::{CONFIG, domain, google_day};

/// Chromium as the machine's probe starts it: no sandbox (root), nothing from the network.
fn chromium(binary: &Path, profile: &Path, args: &[&str]) -> std::process::Output {
    Command::new(binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .output()
        .unwrap()
}

/// The DOM after rendering, and what the browser logged of the page's console.
fn dom(binary: &Path, profile: &Path, page: &Path) -> String {
    let out = chromium(
        binary,
        profile,
        &["--dump-dom", &format!("file://{}", page.display())],
    );
    let log = String::from_utf8_lossy(&out.stderr);
    let console: Vec<&str> = log.lines().filter(|l| l.contains("CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The number in the first element carrying `attribute`.
fn number(dom: &str, attribute: &str) -> u64 {
    let at = dom
        .find(attribute)
        .unwrap_or_else(|| panic!("{attribute} not in the DOM"));
    let text = &dom[at..];
    let start = text.find('>').unwrap() + 1;
    let end = text[start..].find('<').unwrap() + start;
    text[start..end].trim().parse().unwrap()
}

fn artefacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artefacts/dashboard");
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_dashboard_renders_in_chromium_and_its_numbers_are_the_stores() {
    let Some(browser) = real_tool("chromium") else {
        return;
    };
    let p = Project::new(CONFIG);
    p.run(&["build"]).ok();
    // Fourteen days for testing.example, failures from day 10 on; one name meant to inject.
    for day in 1..=14 {
        let failures: &[(&str, &str, u64)] = if day >= 10 {
            &[("certificate-expired", "<img src=x onerror=alert(1)>", 7)]
        } else {
            &[]
        };
        p.write(
            &format!("reports/d{day}.json"),
            &google_day("testing.example", day, 100 + u64::from(day), failures),
        );
    }
    p.run(&["report", "reports", "--store"]);
    let store: serde_json::Value =
        serde_json::from_str(&p.run(&["report", "--format", "json", "--store"]).stdout()).unwrap();
    let totals = domain(&store, "testing.example");
    // A check result in the shape `check --format json` writes: enforce.example fails, and
    // testing.example's MX certificate expires soon.
    p.write(
        "check.json",
        r#"{"ok": false, "smtp": "probed", "domains": [
          {"domain": "enforce.example", "checks": [{"check": "txt", "status": "fail", "detail": "no _mta-sts record", "fix": "publish it"}], "mx": []},
          {"domain": "testing.example", "checks": [{"check": "txt", "status": "ok", "detail": "", "fix": null}],
           "mx": [{"host": "mx.example.net", "address": "192.0.2.25", "starttls": true, "tls_version": "TLSv1.3", "trusted": true, "name_match": true,
                   "not_after": "2025-12-03T00:00:00Z", "days_left": 5, "status": "warn", "detail": "certificate expires in 5 days"}]}]}"#,
    );
    let first = p.run(&["dashboard", "--check", "check.json"]).ok();
    assert!(first.contains("page(s) written"), "{first}");
    let again = p.run(&["dashboard", "--check", "check.json"]).ok();
    assert!(
        again.starts_with("dashboard: 0 page(s) written"),
        "only changed pages: {again}"
    );

    let site = p.path().join("output/dashboard");
    let profile = p.path().join("chromium");
    let page = site.join("domains/testing.example.html");
    let html = dom(&browser, &profile, &page);
    assert_eq!(
        number(&html, "data-total=\"successful\""),
        totals["successful"].as_u64().unwrap()
    );
    assert_eq!(
        number(&html, "data-total=\"failed\""),
        totals["failed"].as_u64().unwrap()
    );
    // The table's days add up to the same totals (what the chart draws).
    let sum = |attr: &str| -> u64 {
        html.match_indices(attr)
            .map(|(i, _)| {
                let t = &html[i..];
                let s = t.find('>').unwrap() + 1;
                let e = t[s..].find('<').unwrap() + s;
                t[s..e].parse::<u64>().unwrap()
            })
            .sum()
    };
    assert_eq!(
        sum("data-day-successful"),
        totals["successful"].as_u64().unwrap()
    );
    assert_eq!(sum("data-day-failed"), totals["failed"].as_u64().unwrap());
    assert!(
        !html.contains("<img src=x"),
        "a reporter's name is text, not markup"
    );
    assert!(html.contains("&lt;img src=x"), "{html}");
    assert!(
        html.contains("Certificate expiry") && html.contains("2025-12-03T00:00:00Z"),
        "{html}"
    );
    // The index lists the failing domain first, then the one needing attention.
    let index = dom(&browser, &profile, &site.join("index.html"));
    let rows: Vec<&str> = index
        .match_indices("<th scope=\"row\">")
        .map(|(i, _)| &index[i..i + 120])
        .collect();
    assert!(rows[0].contains("enforce.example"), "{rows:?}");
    assert!(rows[1].contains("testing.example"), "{rows:?}");
    assert_eq!(number(&index, "data-count=\"fail\""), 1, "{index}");
    assert_eq!(number(&index, "data-count=\"attention\""), 1, "{index}");

    // Screenshots at desktop and phone widths, kept for people to look at.
    let out = artefacts();
    for (name, size) in [("desktop", "1280,900"), ("phone", "390,844")] {
        for (what, file) in [("index", site.join("index.html")), ("domain", page.clone())] {
            let shot = out.join(format!("{what}-{name}.png"));
            let run = chromium(
                &browser,
                &profile,
                &[
                    &format!("--window-size={size}"),
                    &format!("--screenshot={}", shot.display()),
                    &format!("file://{}", file.display()),
                ],
            );
            assert!(
                run.status.success() && shot.is_file(),
                "{}",
                String::from_utf8_lossy(&run.stderr)
            );
            eprintln!("screenshot: {}", shot.display());
        }
    }
}

#[test]
fn an_index_of_ten_thousand_domains_renders() {
    let Some(browser) = real_tool("chromium") else {
        return;
    };
    let p = Project::new(&domains_config(
        10_000,
        "[defaults]\nmx = [\"mx.example.net\"]\npolicy_cname = \"mail.example.net\"\n",
        "",
    ));
    let started = Instant::now();
    p.run(&["dashboard"]).ok();
    eprintln!(
        "dashboard of 10,000 domains written in {:?} (debug build)",
        started.elapsed()
    );
    let index = p.path().join("output/dashboard/index.html");
    let started = Instant::now();
    let html = dom(&browser, &p.path().join("chromium"), &index);
    eprintln!(
        "chromium rendered the 10,000-domain index in {:?} (startup included)",
        started.elapsed()
    );
    assert_eq!(html.matches("<th scope=\"row\">").count(), 10_000);
    // The page's own time, from navigation start until it is laid out, read by a probe in a
    // copy of it (the page itself has no script): the browser's startup is not the page's.
    let probe = "<script>addEventListener(\"load\",()=>{document.body.offsetHeight;\
                 document.title=\"rendered \"+performance.now().toFixed(0)+\" ms\";});</script>";
    let timed = p.path().join("output/dashboard/timed.html");
    fs::write(
        &timed,
        fs::read_to_string(&index)
            .unwrap()
            .replacen("</head>", &format!("{probe}</head>"), 1),
    )
    .unwrap();
    let html = dom(&browser, &p.path().join("chromium"), &timed);
    let title = html
        .split("<title>")
        .nth(1)
        .and_then(|t| t.split('<').next())
        .unwrap_or_default();
    eprintln!("the 10,000-domain index, in the page: {title} from navigation start to laid out");
    assert!(
        title.starts_with("rendered "),
        "the probe did not run: {title}"
    );
}
