//! `mtasts validate`: check the config, the lock file and the templates; write nothing.

use super::{Context, Ui};
use crate::config;
use crate::error::Error;
use crate::render::Templates;
use crate::state::Lock;

/// Validates; warnings go to `ui`, the first failure is returned.
pub fn run(ctx: &Context, ui: &mut dyn Ui) -> Result<(), Error> {
    let loaded = config::load(&ctx.config, &ctx.config_name)?;
    for w in &loaded.warnings {
        ui.problem(w, &loaded.file);
    }
    let (lock_path, lock_name) = ctx.lock();
    Lock::load(&lock_path, &lock_name)?;
    Templates::load(ctx.template_dir().as_deref())?;
    ui.out(&format!(
        "{}: {} domain(s), no errors, {} warning(s)",
        ctx.config_name,
        loaded.config.domains.len(),
        loaded.warnings.len()
    ));
    Ok(())
}
