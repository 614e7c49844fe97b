//! The one way every command that reads a project and writes nothing (`validate`, `status`,
//! `check`, `records`, `certificates`) loads it: the config with its warnings shown, the lock
//! (or, when `domains.lock` is lost, the ids the output's manifest implies, as `build` does),
//! the clock, and the plan a build would publish now with its certificates assigned. So those
//! commands agree with each other and with the next `build` on every id.

use chrono::{DateTime, Utc};

use crate::build::{Options, or_recovered, output_dir};
use crate::config;
use crate::error::Error;
use crate::lock::Lock;
use crate::paths::Paths;
use crate::plan::{self, Plan};
use crate::ui::Ui;

/// A loaded project.
pub(crate) struct Project {
    /// The config (its domains moved into `plan`).
    pub loaded: config::Loaded,
    /// The lock file's content, the lock recovered from the output's manifest, or empty.
    pub lock: Lock,
    /// What a build would publish now.
    pub plan: Plan,
    /// The clock the plan was made at.
    pub now: DateTime<Utc>,
}

impl Project {
    /// Loads the project of `ctx`; the config's warnings and a lock recovery go to `ui`.
    pub(crate) fn load(ctx: &Paths, ui: &mut dyn Ui) -> Result<Project, Error> {
        let mut loaded = config::load(&ctx.config, &ctx.config_name)?;
        for w in &loaded.warnings {
            ui.problem(w, &loaded.file);
        }
        let (lock_path, lock_name) = ctx.lock();
        let now = crate::clock::now()?;
        let lock = Lock::load(&lock_path, &lock_name)?;
        let out = output_dir(ctx, &Options::default());
        let lock = or_recovered(ctx, lock, &out, now, ui).unwrap_or_default();
        let plan = plan::of_config(&mut loaded.config, &lock, now, &[], ctx.config_dir())?;
        Ok(Project {
            loaded,
            lock,
            plan,
            now,
        })
    }
}
