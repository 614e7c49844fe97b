//! Properties over generated configs: whatever validates renders output that our own strict
//! parsers and the zone-quoting rules accept.

use proptest::prelude::*;

use mtasts::generate::write_tree;
use mtasts::lock::Lock;
use mtasts::output::Previous;
use mtasts::plan::plan;
use mtasts::records::{parse_sts, parse_tlsrpt, txt_value};
use mtasts::render::Templates;

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?",
        Just("bücher".to_string()),
        Just("ÉCOLE".to_string()),
        Just("ab--cd".to_string()),
        "[a-zA-Z0-9_ .;\"\\\\{}$-]{1,6}",
    ]
}

fn name() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(label(), 1..3),
        prop_oneof![Just("example"), Just("test"), Just("com")],
    )
        .prop_map(|(labels, tld)| format!("{}.{tld}", labels.join(".")))
}

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn config() -> impl Strategy<Value = String> {
    (
        proptest::collection::vec(name(), 1..4),
        proptest::collection::vec((any::<bool>(), name()), 1..4),
        prop::sample::select(vec!["none", "testing", "enforce"]),
        0u32..=31_557_600,
        proptest::collection::vec("(mailto:[a-z%0-9.+]{1,12}@[a-z]{1,8}\\.example|https://[a-z]{1,8}\\.example/[a-z%0-9/?=]{0,40})", 0..12),
        any::<bool>(),
    )
        .prop_map(|(domains, mx, mode, max_age, rua, cname)| {
            let mx: Vec<String> = mx.iter().map(|(w, n)| toml_str(&if *w { format!("*.{n}") } else { n.clone() })).collect();
            let rua: Vec<String> = rua.iter().map(|r| toml_str(r)).collect();
            let host = if cname { "policy_cname = \"web.example.net\"".to_string() } else { "policy_addresses = [\"192.0.2.1\", \"2001:db8::1\"]".to_string() };
            let mut c = format!(
                "[defaults]\nmode = \"{mode}\"\nmax_age = {max_age}\nmx = [{}]\n{host}\ntlsrpt_rua = [{}]\n",
                mx.join(", "),
                rua.join(", ")
            );
            for d in domains {
                c.push_str(&format!("[domains.{}]\n", toml_str(&d)));
            }
            c
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn whatever_validates_renders_output_our_parsers_accept(text in config()) {
        let (config, _) = mtasts::config::parse(&text);
        let Some(config) = config else { return Ok(()) };
        let now = mtasts::clock::from_epoch("1764288000").unwrap();
        let plan = plan(config.domains.clone(), &Lock::new(), now, &[]);
        let templates = Templates::compile(&[]).unwrap();
        let out = tempfile::tempdir().unwrap();
        let (previous, _) = Previous::load(out.path(), false);
        write_tree(&mtasts::generate::Sources { plan: &plan, nginx: &config.nginx, targets: &config.targets, templates: &templates }, out.path(), &previous, false, &indicatif::ProgressBar::hidden()).unwrap();
        for entry in walkdir::WalkDir::new(out.path()) {
            let entry = entry.unwrap();
            if !entry.file_type().is_file() || entry.file_name() == crate::harness::INDEX {
                continue;
            }
            let path = entry.path().to_string_lossy().into_owned();
            let bytes = std::fs::read(entry.path()).unwrap();
            prop_assert!(bytes.is_ascii(), "{} is not ASCII", path);
            let text = std::str::from_utf8(&bytes).unwrap();
            if path.ends_with("mta-sts.txt") {
                let policy = mtasts::policy::parse(&bytes).unwrap();
                prop_assert!(!policy.mx.is_empty());
            } else if path.ends_with(".zone") {
                for line in text.lines().filter(|l| !l.starts_with(';')) {
                    let fields: Vec<&str> = line.splitn(5, '\t').collect();
                    prop_assert_eq!(fields.len(), 5, "{}", line);
                    prop_assert!(fields[0].ends_with('.'));
                    if fields[3] == "TXT" {
                        let value = txt_value(fields[4]).unwrap();
                        prop_assert!(fields[4].split("\" \"").all(|s| s.trim_matches('"').len() <= 255));
                        if fields[0].starts_with("_mta-sts.") {
                            prop_assert!(parse_sts(&value).is_ok(), "{}", value);
                        } else {
                            prop_assert!(parse_tlsrpt(&value).is_ok(), "{}", value);
                        }
                    }
                }
            } else if path.ends_with(".conf") {
                prop_assert!(text.contains("server_name mta-sts."));
                prop_assert!(!text.contains("return 30") && !text.contains("rewrite"));
                prop_assert_eq!(text.matches('{').count(), text.matches('}').count());
            }
        }
    }
}
