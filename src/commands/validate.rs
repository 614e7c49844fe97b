//! `mtasts validate`: check the config, the lock file and the templates, and plan against the
//! lock as `build --dry-run` would, to report every warning and refusal; write nothing.

use super::{Paths, Ui};
use crate::error::Error;

/// Validates; warnings go to `ui`, the first failure is returned.
pub(crate) fn run(ctx: &Paths, ui: &mut dyn Ui) -> Result<(), Error> {
    let crate::project::Project { loaded, plan, .. } = crate::project::Project::load(ctx, ui)?;
    crate::build::templates(ctx)?;
    super::show_warnings(&plan.warnings, ui);
    let scale = crate::build::scale_warning(&plan, &loaded.config);
    if let Some(w) = &scale {
        ui.warn(w);
    }
    if !plan.refusals.is_empty() {
        return Err(Error::Refused(plan.refusals));
    }
    ui.out(&format!(
        "{}: {} domain(s), no errors, {} warning(s)",
        ctx.config_name,
        plan.domains.len(),
        loaded.warnings.len() + plan.warnings.len() + usize::from(scale.is_some())
    ));
    Ok(())
}
