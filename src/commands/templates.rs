//! `mtasts templates eject`: copy the built-in templates out for customisation.

use std::path::PathBuf;

use super::{Paths, Ui};
use crate::error::Error;
use crate::render::BUILTIN;

/// Writes every built-in template into `dir` (default `templates/` beside the config); refuses
/// if any of them already exists there, before writing anything.
pub(crate) fn eject(ctx: &Paths, dir: Option<PathBuf>, ui: &mut dyn Ui) -> Result<(), Error> {
    let dir = dir.unwrap_or_else(|| ctx.config_dir().join("templates"));
    if let Some(existing) = BUILTIN
        .iter()
        .map(|(name, _)| dir.join(name))
        .find(|p| p.exists())
    {
        return Err(Error::Exists(existing));
    }
    std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
    for (name, text) in BUILTIN {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(Error::io(&path))?;
        ui.out(&format!("wrote {}", path.display()));
    }
    ui.out(
        "edit them; `mtasts build` uses a file there instead of the built-in one of the same name",
    );
    Ok(())
}
