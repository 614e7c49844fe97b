//! The documentation cannot drift: the README's quick start is run as written, and every
//! subcommand clap knows and every key the config accepts is documented.

use std::fs;
use std::path::Path;

use crate::harness::Project;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Whether `actual` is `expected`, where `[..]` in `expected` stands for any text on its line.
fn matches(expected: &str, actual: &str) -> bool {
    let (e, a): (Vec<&str>, Vec<&str>) = (expected.lines().collect(), actual.lines().collect());
    e.len() == a.len()
        && e.iter().zip(&a).all(|(e, a)| {
            let parts: Vec<&str> = e.split("[..]").collect();
            let mut rest = *a;
            for (i, part) in parts.iter().enumerate() {
                if i == 0 {
                    let Some(r) = rest.strip_prefix(part) else {
                        return false;
                    };
                    rest = r;
                } else if i == parts.len() - 1 {
                    return rest.ends_with(part);
                } else {
                    let Some(at) = rest.find(part) else {
                        return false;
                    };
                    rest = &rest[at + part.len()..];
                }
            }
            rest.is_empty()
        })
}

/// The README's fenced blocks in order: (language, text).
fn blocks(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(lang) = line.strip_prefix("```") {
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            out.push((lang.to_string(), body.join("\n") + "\n"));
        }
    }
    out
}

/// The quick start, in an empty directory: each `$ mtasts ...` of a `console` block is run
/// and its output compared; the `toml` block after `init` is the edited config.
#[test]
fn the_readme_quick_start_runs_as_written() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("## Quick start").expect("a quick start");
    let p = Project::new("");
    fs::remove_file(p.path().join("domains.toml")).unwrap();
    let mut ran = 0;
    for (lang, body) in blocks(&readme[start..]) {
        match lang.as_str() {
            "toml" => p.write("domains.toml", &body),
            "console" => {
                let mut lines = body.lines().peekable();
                while let Some(line) = lines.next() {
                    let command = line.strip_prefix("$ mtasts ").expect("a command line");
                    let mut expected = String::new();
                    while let Some(out) = lines.next_if(|l| !l.starts_with("$ ")) {
                        expected.push_str(out);
                        expected.push('\n');
                    }
                    let args: Vec<&str> = command.split_whitespace().collect();
                    let run = p.run(&args);
                    let actual = run.stdout();
                    assert!(
                        matches(&expected, &actual),
                        "`mtasts {command}` printed:\n{actual}\nthe README shows:\n{expected}\nstderr:\n{}",
                        run.stderr()
                    );
                    ran += 1;
                }
            }
            _ => {}
        }
    }
    assert!(ran >= 3, "only {ran} commands found");
}

fn docs_text() -> String {
    let mut text = String::new();
    for entry in fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        // Pages only (docs/dashboard/ holds the dashboard's screenshots).
        if path.extension().is_some_and(|e| e == "md") {
            text.push_str(&fs::read_to_string(path).unwrap());
        }
    }
    text
}

#[test]
fn every_subcommand_and_option_is_in_the_command_reference() {
    use clap::CommandFactory;
    let reference = fs::read_to_string(root().join("docs/commands.md")).unwrap();
    let cli = mtasts::cli::Cli::command();
    for sub in cli.get_subcommands() {
        let name = sub.get_name();
        assert!(
            reference.contains(&format!("| `{name}")),
            "`{name}` missing from docs/commands.md"
        );
        for arg in sub.get_arguments() {
            if let Some(long) = arg.get_long() {
                assert!(
                    reference.contains(&format!("--{long}")),
                    "`{name} --{long}` missing from docs/commands.md"
                );
            }
        }
    }
}

#[test]
fn every_config_key_is_documented() {
    let docs = docs_text();
    for (table, key) in mtasts::config::known_keys() {
        assert!(
            docs.contains(&format!("`{key}`")) || docs.contains(&format!("[{key}]")),
            "key `{key}` of [{table}] is not documented in docs/"
        );
    }
    for target in mtasts::model::Target::ALL {
        assert!(
            docs.contains(&format!("`{}`", target.name())),
            "target {}",
            target.name()
        );
    }
}
