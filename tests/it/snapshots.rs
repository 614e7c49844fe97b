//! Fixture projects: every generated file of each valid case, and the diagnostics of each
//! invalid case, compared with committed snapshots (`MTASTS_BLESS=1 cargo test` rewrites them).

use std::collections::BTreeMap;
use std::fs;

use crate::harness::{Project, assert_tree_matches, fixtures, without_timing};

fn cases(group: &str) -> Vec<std::path::PathBuf> {
    let mut dirs: Vec<_> = fs::read_dir(fixtures().join(group))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn valid_fixtures_generate_exactly_the_snapshot() {
    let cases = cases("valid");
    assert!(cases.len() >= 6, "fixtures missing");
    for case in cases {
        let project = Project::from_fixture(&case);
        let stdout = project.run(&["build"]).ok();
        let mut actual: BTreeMap<String, Vec<u8>> = project
            .files("output")
            .into_iter()
            .map(|(k, v)| (format!("output/{k}"), v))
            .collect();
        actual.insert(
            "domains.lock".into(),
            project.read("domains.lock").into_bytes(),
        );
        actual.insert("stdout.txt".into(), without_timing(&stdout).into_bytes());
        assert_tree_matches(&case.join("expected"), &actual);
    }
}

#[test]
fn invalid_fixtures_fail_with_the_snapshot_diagnostics_and_write_nothing() {
    let cases = cases("invalid");
    assert!(
        cases.len() >= 25,
        "need at least 25 invalid configs, have {}",
        cases.len()
    );
    for case in cases {
        let project = Project::from_fixture(&case);
        let before = project.files("");
        let stderr = project.run(&["build"]).fails();
        let expected = case.join("expected.stderr");
        if std::env::var_os("MTASTS_BLESS").is_some() {
            fs::write(&expected, &stderr).unwrap();
        } else {
            let want = fs::read_to_string(&expected).unwrap_or_default();
            assert_eq!(stderr, want, "diagnostics of {} changed", case.display());
        }
        let located = stderr.lines().any(|l| {
            (l.starts_with("domains.toml:") || l.starts_with("domains.lock:"))
                && l.contains(": error: ")
        });
        assert!(located, "{}: no file:line:col\n{stderr}", case.display());
        // The work lock's empty file may appear when only the lock file is damaged.
        let after: BTreeMap<_, _> = project
            .files("")
            .into_iter()
            .filter(|(k, _)| k != ".mtasts.lock")
            .collect();
        assert_eq!(before, after, "{} changed files", case.display());
        let validate = project.run(&["validate"]);
        assert_eq!(
            validate.fails(),
            stderr,
            "validate and build disagree on {}",
            case.display()
        );
    }
}
