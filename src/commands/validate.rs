//! `mtasts validate`: check the config, the lock file and the templates, and plan against the
//! lock as `build --dry-run` would, to report every warning and refusal; write nothing.

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
    let lock = Lock::load(&lock_path, &lock_name)?.unwrap_or_else(Lock::new);
    Templates::load(ctx.template_dir().as_deref())?;
    let count = loaded.config.domains.len();
    let mut loaded = loaded;
    let domains = std::mem::take(&mut loaded.config.domains);
    let plan = crate::plan::plan(domains, &lock, crate::clock::now()?, &[]);
    super::show_warnings(&plan.warnings, ui);
    let scale = crate::build::scale_warning(&plan, &loaded.config);
    if let Some(w) = &scale {
        ui.warn(w);
    }
    if !plan.refusals.is_empty() {
        return Err(Error::Refused(plan.refusals));
    }
    ui.out(&format!(
        "{}: {count} domain(s), no errors, {} warning(s)",
        ctx.config_name,
        loaded.warnings.len() + plan.warnings.len() + usize::from(scale.is_some())
    ));
    Ok(())
}
