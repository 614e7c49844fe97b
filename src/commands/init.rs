//! `mtasts init`: write the commented sample config, never over an existing file.

use std::io::Write;

use super::{Paths, Ui};
use crate::cli::{Ci, InitArgs};
use crate::error::Error;

/// The sample config shipped at the repository root.
pub(crate) const SAMPLE: &str = include_str!("../../domains.toml");

/// Creates the config file; fails if anything is already there.
pub(crate) fn run(ctx: &Paths, args: &InitArgs, ui: &mut dyn Ui) -> Result<(), Error> {
    let workflow = ctx.config_dir().join(WORKFLOW);
    if args.ci == Some(Ci::Github) && workflow.exists() {
        return Err(Error::Exists(workflow));
    }
    create_new(&ctx.config, SAMPLE)?;
    ui.out(&format!(
        "wrote {}; edit it, then run `mtasts build`",
        ctx.config_name
    ));
    if let Some(note) = gitignore(ctx)? {
        ui.out(&note);
    }
    if args.ci == Some(Ci::Github) {
        if let Some(dir) = workflow.parent() {
            std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
        }
        create_new(&workflow, GITHUB_WORKFLOW)?;
        ui.out(&format!(
            "wrote {}: it builds with --locked, then deploys the policies before the DNS; fill in its deploy steps",
            workflow.display()
        ));
    }
    Ok(())
}

/// Where `init --ci github` writes the workflow, beside the config.
const WORKFLOW: &str = ".github/workflows/mtasts.yml";

/// The workflow `init --ci github` writes.
const GITHUB_WORKFLOW: &str = include_str!("../../templates/ci/github.yml");

/// Writes `text` to a new file at `path`, never over an existing one.
fn create_new(path: &std::path::Path, text: &str) -> Result<(), Error> {
    let mut file = std::fs::File::create_new(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Exists(path.to_path_buf())
        } else {
            Error::io(path)(e)
        }
    })?;
    file.write_all(text.as_bytes()).map_err(Error::io(path))
}

/// What git must not track beside the config: the generated output (made again by every
/// build) and the work lock's file. `domains.lock` is tracked: it is the published ids.
const IGNORED: [&str; 2] = ["/output/", "/.mtasts.lock"];

/// Adds the `IGNORED` lines a `.gitignore` beside the config lacks (creating it if need be);
/// says what it did.
fn gitignore(ctx: &Paths) -> Result<Option<String>, Error> {
    let path = ctx.config_dir().join(".gitignore");
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(Error::io(&path)(e)),
    };
    let missing: Vec<&str> = IGNORED
        .iter()
        .copied()
        .filter(|line| !existing.lines().any(|l| l.trim() == *line))
        .collect();
    if missing.is_empty() {
        return Ok(None);
    }
    let mut text = existing.clone();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(
        "# mtasts: the generated output and the work lock (the lock file of ids is committed)\n",
    );
    for line in &missing {
        text.push_str(line);
        text.push('\n');
    }
    std::fs::write(&path, text).map_err(Error::io(&path))?;
    let verb = if existing.is_empty() {
        "wrote"
    } else {
        "added to"
    };
    Ok(Some(format!(
        "{verb} {}: {}",
        path.display(),
        missing.join(" ")
    )))
}
