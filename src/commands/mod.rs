//! Thin adapters from parsed arguments to the library; they report through [`Ui`].

pub mod build;
pub mod check;
pub mod init;
pub mod report;
pub mod status;
pub mod templates;
pub mod validate;
pub mod watch;

use std::path::{Path, PathBuf};

use crate::diag::{Problem, SourceFile};

/// Where commands send what a person (or a script) should see.
pub trait Ui {
    /// A line of the command's result (stdout).
    fn out(&mut self, line: &str);
    /// A result too large to build as one string first, streamed by `write` to stdout; a
    /// newline follows it.
    fn out_streamed(
        &mut self,
        write: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>,
    );
    /// A located warning about a source file (stderr).
    fn problem(&mut self, problem: &Problem, file: &SourceFile);
    /// A free-standing warning (stderr).
    fn warn(&mut self, message: &str);
    /// A failure that does not end the command (`watch` keeps going), shown like a fatal one.
    fn error(&mut self, error: &crate::error::Error);
}

/// Paths every command derives from the global options.
#[derive(Debug, Clone)]
pub struct Context {
    /// The config file.
    pub config: PathBuf,
    /// The config path as the user wrote it, for diagnostics.
    pub config_name: String,
    /// Explicit template override directory.
    pub templates: Option<PathBuf>,
}

impl Context {
    /// The directory holding the config (empty for a bare file name: the current directory).
    pub fn config_dir(&self) -> &Path {
        self.config.parent().unwrap_or(Path::new(""))
    }

    /// The lock file beside the config, and its name for diagnostics.
    pub fn lock(&self) -> (PathBuf, String) {
        let name = crate::state::lock_path(Path::new(&self.config_name));
        (
            crate::state::lock_path(&self.config),
            name.display().to_string(),
        )
    }

    /// `--templates`, else `templates/` beside the config when it exists.
    pub fn template_dir(&self) -> Option<PathBuf> {
        self.templates
            .clone()
            .or_else(|| Some(self.config_dir().join("templates")).filter(|d| d.is_dir()))
    }
}

/// Above this many hosts, the per-host nginx layout gets a warning pointing at `shared`.
const PER_HOST_LIMIT: usize = 1000;

/// The warning a plan deserves for its size: too many per-host nginx server blocks.
pub fn scale_warning(plan: &crate::plan::Plan, nginx: &crate::model::Nginx) -> Option<String> {
    let hosts = plan.domains.iter().filter(|d| d.published()).count();
    (nginx.vhosts == crate::model::Vhosts::PerHost && hosts > PER_HOST_LIMIT).then(|| {
        format!(
            "{hosts} policy hosts with one nginx server block each: nginx needs seconds and hundreds of MB to load them; set `vhosts = \"shared\"` in [nginx] (see the README)"
        )
    })
}

/// Names shown for a group of warnings; the rest are counted.
const NAMED: usize = 3;

/// Prints a plan's warnings (notes on stdout, warnings on stderr). Warnings of one kind with
/// one cause (the text after `<domain>: `) are one line, with their count and at most three
/// domains: 3,000 domains sharing a wildcard mx make one line, not 3,000.
pub fn show_warnings(warnings: &[crate::plan::Warning], ui: &mut dyn Ui) {
    let mut groups: Vec<(&crate::plan::Warning, &str, Vec<&str>)> = Vec::new();
    let mut index: std::collections::HashMap<(crate::plan::WarningKind, &str), usize> =
        std::collections::HashMap::new();
    for w in warnings {
        let cause = w
            .text
            .strip_prefix(w.domain.as_str())
            .and_then(|t| t.strip_prefix(": "))
            .unwrap_or(&w.text);
        let at = *index.entry((w.kind, cause)).or_insert_with(|| {
            groups.push((w, cause, Vec::new()));
            groups.len() - 1
        });
        groups[at].2.push(&w.domain);
    }
    for (first, cause, domains) in groups {
        let line = match domains.len() {
            1 => first.text.clone(),
            n => {
                let names = domains[..n.min(NAMED)].join(", ");
                let more = if n > NAMED {
                    format!(" and {} more", n - NAMED)
                } else {
                    String::new()
                };
                format!("{n} domains ({names}{more}): {cause}")
            }
        };
        if first.kind.is_note() {
            ui.out(&line);
        } else {
            ui.warn(&line);
        }
    }
}
