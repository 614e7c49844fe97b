//! DNS as code: `records` and the octodns / dnscontrol / records-json targets, proven with the
//! real tools: octoDNS syncs our YAML into a zone file, real NSD serves it beside our own zone
//! fragment, and every record answers the same from both. DNSControl itself is not run: its
//! file is checked by `node --check` and evaluated against stand-ins of its record functions.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::harness::{Project, nsd, real_tool, run_ok};

/// The zone test's domains, with the DNS-as-code targets.
fn config() -> String {
    crate::zone::CONFIG.replace(
        "[domains.\"example.com\"]",
        "[output]\ntargets = [\"dns\", \"octodns\", \"dnscontrol\", \"records-json\"]\n\n[domains.\"example.com\"]",
    )
}

/// In name order, as `records` lists them.
const DOMAINS: [&str; 3] = ["example.com", "legacy.example", "xn--bcher-kva.example"];

/// The rows `records --format json` prints.
fn rows(p: &Project) -> Vec<serde_json::Value> {
    let json: serde_json::Value =
        serde_json::from_str(&p.run(&["records", "--format", "json"]).ok()).unwrap();
    json["records"].as_array().unwrap().clone()
}

#[test]
fn records_prints_the_plan_s_records_in_every_format_and_matches_records_json() {
    let p = Project::new(&config());
    // Before any build no id exists: no _mta-sts row (a clock id would be one no build wrote),
    // a warning, and --locked fails.
    let before = p.run(&["records", "--format", "json"]);
    let before_rows: serde_json::Value = serde_json::from_str(&before.ok()).unwrap();
    assert!(
        before.stderr().contains("never built"),
        "{}",
        before.stderr()
    );
    assert_eq!(p.run(&["records", "--locked"]).code(), 1);
    p.run(&["build"]).ok();
    let after = rows(&p);
    let without_sts: Vec<&serde_json::Value> = after
        .iter()
        .filter(|r| !r["name"].as_str().unwrap().starts_with("_mta-sts."))
        .collect();
    assert_eq!(
        before_rows["records"]
            .as_array()
            .unwrap()
            .iter()
            .collect::<Vec<_>>(),
        without_sts
    );
    p.run(&["records", "--locked"]).ok();
    let file: serde_json::Value = serde_json::from_str(&p.read("output/dns/records.json")).unwrap();
    assert_eq!(file["records"].as_array().unwrap(), &after);
    let id = p.lock_id("example.com");
    let sts = after
        .iter()
        .find(|r| r["name"] == "_mta-sts.example.com.")
        .unwrap();
    assert_eq!(sts["relative"], "_mta-sts");
    assert_eq!(sts["value"], format!("v=STSv1; id={id}"), "unquoted");
    // Text: a table to type from, values unquoted, one block per domain.
    let text = p.run(&["records", "example.com"]).ok();
    assert!(text.starts_with("example.com\n"), "{text}");
    assert!(
        text.contains(&format!("_mta-sts    TXT      3600  v=STSv1; id={id}\n")),
        "{text}"
    );
    assert!(!text.contains('"'), "{text}");
    // Zone lines are the fragment's records; CSV quotes the value with commas; IDN as A-labels.
    let zone = p
        .run(&["records", "--format", "zone", "bücher.example"])
        .ok();
    assert!(
        zone.contains("mta-sts.xn--bcher-kva.example.\t3600\tIN\tAAAA\t2001:db8::10\n"),
        "{zone}"
    );
    let csv = p.run(&["records", "--format", "csv"]).ok();
    assert!(
        csv.starts_with("domain,name,relative,type,ttl,value\n"),
        "{csv}"
    );
    assert!(
        csv.contains(",_smtp._tls,TXT,3600,\"v=TLSRPTv1; rua=mailto:tls-reports-00@"),
        "{csv}"
    );
    // An edit not built yet: the lock's id, marked pending, and --locked fails; a day later
    // the same (the clock makes no id).
    p.write(
        "domains.toml",
        &config().replacen("mode = \"enforce\"", "mode = \"testing\"", 1),
    );
    for epoch in ["1764288000", "1764374400"] {
        let run = p.run_env(
            &["records", "--format", "json"],
            &[("SOURCE_DATE_EPOCH", epoch)],
        );
        let doc: serde_json::Value = serde_json::from_str(&run.ok()).unwrap();
        let pending = doc["records"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "_mta-sts.example.com.")
            .unwrap();
        assert_eq!(pending["value"], format!("v=STSv1; id={id}"), "{pending}");
        assert_eq!(pending["pending"], true, "{pending}");
        assert!(run.stderr().contains("pending"), "{}", run.stderr());
    }
    assert_eq!(p.run(&["records", "--locked"]).code(), 1);
    p.write("domains.toml", &config());
    // Writes nothing, and a domain not configured is named.
    let before = p.files("output");
    let err = p.run(&["records", "nope.example"]).fails();
    assert!(err.contains("nope.example"), "{err}");
    assert_eq!(p.files("output"), before);
}

/// What `dig +short` answers, sorted.
fn dig(dig: &Path, port: u16, name: &str, rtype: &str) -> Vec<String> {
    let out = run_ok(
        Command::new(dig)
            .args(["+short", "+norecurse", "+time=5", "+tries=2", "-p"])
            .arg(port.to_string())
            .args(["@127.0.0.1", name, rtype]),
    );
    let mut lines: Vec<String> = out.lines().map(str::to_string).collect();
    lines.sort();
    lines
}

#[test]
fn srv_octodns_syncs_our_yaml_into_a_zone_that_nsd_serves_record_for_record_like_our_fragment() {
    let (Some(sync), Some(nsd_bin), Some(dig_bin)) = (
        real_tool("octodns-sync"),
        real_tool("nsd"),
        real_tool("dig"),
    ) else {
        return;
    };
    let p = Project::new(&config());
    p.run(&["build"]).ok();
    let root = p.path();
    // octoDNS: our zones as the source, a second source for the NS records every zone needs,
    // octodns-bind's ZoneFileProvider as the target.
    fs::create_dir_all(root.join("base")).unwrap();
    let mut zones_conf = String::new();
    for d in DOMAINS {
        fs::write(
            root.join(format!("base/{d}.yaml")),
            format!("---\n'':\n  type: NS\n  values:\n  - ns1.{d}.\n"),
        )
        .unwrap();
        zones_conf.push_str(&format!(
            "  {d}.:\n    sources: [mtasts, base]\n    targets: [bind]\n"
        ));
    }
    fs::write(
        root.join("octodns.yaml"),
        format!(
            "providers:\n  mtasts:\n    class: octodns.provider.yaml.YamlProvider\n    directory: ./output/octodns\n\
             \x20 base:\n    class: octodns.provider.yaml.YamlProvider\n    directory: ./base\n\
             \x20 bind:\n    class: octodns_bind.ZoneFileProvider\n    directory: ./synced\n    file_extension: .zone\n\
             zones:\n{zones_conf}"
        ),
    )
    .unwrap();
    fs::create_dir_all(root.join("synced")).unwrap();
    run_ok(
        Command::new(&sync)
            .args(["--config-file", "octodns.yaml", "--doit"])
            .current_dir(root),
    );
    let synced: Vec<(String, std::path::PathBuf)> = DOMAINS
        .iter()
        .map(|d| (d.to_string(), root.join(format!("synced/{d}.zone"))))
        .collect();
    // Our own fragments, each $INCLUDEd below an SOA and NS.
    let ours: Vec<(String, std::path::PathBuf)> = DOMAINS
        .iter()
        .map(|d| {
            let zone = root.join(format!("{d}.ours.zone"));
            fs::write(
                &zone,
                format!(
                    "$ORIGIN {d}.\n$TTL 3600\n@ IN SOA ns1 hostmaster 1 3600 600 86400 300\n@ IN NS ns1\n$INCLUDE {}\n",
                    root.join(format!("output/dns/{d}.zone")).display()
                ),
            )
            .unwrap();
            (d.to_string(), zone)
        })
        .collect();
    let (_octo, octo_port) = nsd(&nsd_bin, &root.join("nsd-octodns"), &synced);
    let (_mine, our_port) = nsd(&nsd_bin, &root.join("nsd-ours"), &ours);
    let rows = rows(&p);
    assert_eq!(rows.len(), 3 + 4 + 2);
    for row in &rows {
        let (name, rtype) = (row["name"].as_str().unwrap(), row["type"].as_str().unwrap());
        let theirs = dig(&dig_bin, octo_port, name, rtype);
        let mine = dig(&dig_bin, our_port, name, rtype);
        assert!(!mine.is_empty(), "{name} {rtype}: no answer from our zone");
        let value = row["value"].as_str().unwrap();
        if rtype == "TXT" {
            // A TXT value is its strings joined (RFC 8460 §3, RFC 8461 §3.1); octoDNS cuts a
            // long one at 255 characters of its escaped form (`\;` counts two), one octet
            // before we do, so the strings may split elsewhere and still mean the same.
            let text = |answers: &[String]| -> Vec<String> {
                answers
                    .iter()
                    .map(|a| mtasts::records::txt_value(a).unwrap())
                    .collect()
            };
            assert_eq!(
                text(&theirs),
                text(&mine),
                "{name}: octoDNS's zone answers otherwise"
            );
            assert_eq!(text(&mine), [value], "{name}");
        } else {
            assert_eq!(
                theirs, mine,
                "{name} {rtype}: octoDNS's zone answers otherwise"
            );
            assert!(mine.iter().any(|a| a == value), "{name} {rtype}: {mine:?}");
        }
    }
}

#[test]
fn dnscontrol_output_is_javascript_making_exactly_the_records_json_calls() {
    let Some(node) = real_tool("node") else {
        return;
    };
    let p = Project::new(&config());
    p.run(&["build"]).ok();
    let files: Vec<String> = DOMAINS
        .iter()
        .map(|d| {
            p.path()
                .join(format!("output/dnscontrol/{d}.js"))
                .display()
                .to_string()
        })
        .collect();
    for file in &files {
        run_ok(Command::new(&node).arg("--check").arg(file));
    }
    // Stand-ins for DNSControl's functions that record each call.
    let script = r#"
const fs = require("fs");
const vm = require("vm");
const calls = [];
const record = (type) => (name, value, ...mods) => {
  const ttl = mods.find((m) => m && m.ttl !== undefined);
  return { type, name, value, ttl: ttl ? ttl.ttl : null };
};
const sandbox = {
  TTL: (ttl) => ({ ttl }),
  TXT: record("TXT"), CNAME: record("CNAME"), A: record("A"), AAAA: record("AAAA"),
  D_EXTEND: (domain, ...records) => records.forEach((r) => calls.push({ domain, ...r })),
};
vm.createContext(sandbox);
// With -e, the arguments start right after the program name.
for (const file of process.argv.slice(1)) {
  vm.runInContext(fs.readFileSync(file, "utf8"), sandbox, { filename: file });
}
console.log(JSON.stringify(calls));
"#;
    let out = run_ok(
        Command::new(&node)
            .arg("-e")
            .arg(script)
            .arg("--")
            .args(&files),
    );
    let calls: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let want: Vec<serde_json::Value> = rows(&p)
        .iter()
        .map(|r| {
            serde_json::json!({
                "domain": r["domain"], "type": r["type"], "name": r["relative"],
                "value": r["value"], "ttl": r["ttl"],
            })
        })
        .collect();
    assert_eq!(calls, want);
}
