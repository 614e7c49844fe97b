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
