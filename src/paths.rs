//! The paths every command derives from the global options: the config, the lock beside it,
//! the template directory.

use std::path::{Path, PathBuf};

/// Paths every command derives from the global options.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    /// The config file.
    pub config: PathBuf,
    /// The config path as the user wrote it, for diagnostics.
    pub config_name: String,
    /// Explicit template override directory.
    pub templates: Option<PathBuf>,
}

impl Paths {
    /// The directory holding the config (empty for a bare file name: the current directory).
    pub(crate) fn config_dir(&self) -> &Path {
        self.config.parent().unwrap_or(Path::new(""))
    }

    /// The lock file beside the config, and its name for diagnostics.
    pub(crate) fn lock(&self) -> (PathBuf, String) {
        // Beside the config, same stem, `.lock`.
        let name = Path::new(&self.config_name).with_extension("lock");
        (
            self.config.with_extension("lock"),
            name.display().to_string(),
        )
    }

    /// `--templates`, else `templates/` beside the config when it exists.
    pub(crate) fn template_dir(&self) -> Option<PathBuf> {
        self.templates
            .clone()
            .or_else(|| Some(self.config_dir().join("templates")).filter(|d| d.is_dir()))
    }
}
