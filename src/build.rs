//! The build as a library call: config + lock + clock → output tree and updated lock, in
//! RFC 8461 §8.1 order (policies, then vhosts, then DNS, then the lock). `build` and `watch`
//! both run it; they only print what it returns.

use std::path::PathBuf;
use std::time::Instant;

use crate::config;
use crate::error::Error;
use crate::generate::{write_tree, write_tree_remembering};
use crate::lock::{Lock, WorkLock};
use crate::model::Target;
use crate::output;
use crate::paths::Paths;
use crate::plan::{self, Plan};
use crate::render::{Override, Templates};
use crate::ui::Ui;

/// What a build is asked to do.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// Output directory (default: `output/` beside the config).
    pub output: Option<PathBuf>,
    /// Fail instead of changing the lock.
    pub locked: bool,
    /// Write nothing; say what would change.
    pub dry_run: bool,
    /// Compare every file byte for byte instead of trusting the manifest and stat index.
    pub verify: bool,
    /// Domains allowed to leave the lock although senders may still hold their policy.
    pub forget: Vec<String>,
    /// Seconds to wait for another process holding the work lock.
    pub wait: u64,
    /// Show a progress bar on stderr while writing, when it is a terminal and the run is large.
    pub progress: bool,
}

/// Below this many policy hosts a build is over before a bar would say anything.
const PROGRESS_FROM: usize = 2000;

/// Runs one build (or dry run) under the work lock; warnings go to `ui`. The manifest is read
/// beside the config and the lock, and the output tree's stat check beside the manifest.
pub(crate) fn build(ctx: &Paths, args: &Options, ui: &mut dyn Ui) -> Result<Built, Error> {
    let started = Instant::now();
    let out = output_dir(ctx, args);
    // The manifest is read beside the config and then the lock: each of those keeps little
    // more than one core of two busy, and a no-op build is mostly reading. Not when the lock
    // is the larger file (history and notices): holding it, its successor and the manifest at
    // once would cost more memory than the overlap saves time; the manifest is then read
    // after planning. Lock and manifest are read again below if another build replaced them
    // before this one held the work lock.
    let manifest_stamp = stamp(&out.join(crate::manifest::PATH));
    let lock_len = stamp(&ctx.lock().0).map_or(0, |s| s.0);
    let beside = manifest_stamp.is_some_and(|m| lock_len <= m.0);
    let (loaded, state) = std::thread::scope(|s| {
        let out = &out;
        let manifest = beside.then(|| {
            // The tree's stat check needs only the stat index: it runs beside the manifest read.
            let scan = (!args.verify).then(|| s.spawn(move || output::index::scan(out)));
            s.spawn(move || output::Previous::load_scanned(out, args.verify, scan.map(joined)))
        });
        let loaded = config::load(&ctx.config, &ctx.config_name);
        let state = State::read(ctx, out, args.verify, Cache::default(), false);
        let state = match manifest {
            Some(manifest) => State {
                previous: Some(joined(manifest)),
                manifest_stamp,
                ..state
            },
            None => state,
        };
        (loaded, state)
    });
    // Validate first: an invalid config is refused before anything, even the work lock's
    // file, is created.
    let loaded = loaded?;
    let _guard = if args.dry_run {
        None
    } else {
        Some(WorkLock::acquire(
            &ctx.config,
            std::time::Duration::from_secs(args.wait),
        )?)
    };
    let state = if state.current(ctx, &out) {
        state
    } else {
        State::read(ctx, &out, args.verify, Cache::default(), false)
    };
    build_loaded(ctx, args, loaded, ui, state, started, false)
}

/// The templates: the built-ins, each replaced by the file of its name in the template
/// directory (`--templates`, else `templates/` beside the config) when there is one.
pub(crate) fn templates(ctx: &Paths) -> Result<Templates, Error> {
    let mut overrides = Vec::new();
    if let Some(dir) = ctx.template_dir() {
        for &(name, _) in crate::render::BUILTIN {
            let path = dir.join(name);
            if path.is_file() {
                overrides.push(Override {
                    name,
                    source: std::fs::read_to_string(&path).map_err(Error::io(&path))?,
                    origin: path.display().to_string(),
                });
            }
        }
    }
    Templates::compile(&overrides)
}

/// The output directory: `-o`, else `output/` beside the config.
pub(crate) fn output_dir(ctx: &Paths, args: &Options) -> PathBuf {
    args.output
        .clone()
        .unwrap_or_else(|| ctx.config_dir().join("output"))
}

fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
}

/// What earlier builds left: the lock and (unless it is read later) the output's manifest,
/// with the identity their files had before they were read.
struct State {
    lock: Result<Option<Lock>, Error>,
    lock_stamp: Option<Stamp>,
    previous: Option<(output::Previous, Option<String>)>,
    manifest_stamp: Option<Stamp>,
}

impl State {
    /// Reads the lock and, with `manifest`, the manifest side by side, unless `cache` holds
    /// them as their files still are.
    fn read(
        ctx: &Paths,
        out: &std::path::Path,
        verify: bool,
        cache: Cache,
        manifest: bool,
    ) -> State {
        let (lock_path, lock_name) = ctx.lock();
        let manifest_path = out.join(crate::manifest::PATH);
        let lock_stamp = stamp(&lock_path);
        let manifest_stamp = stamp(&manifest_path);
        let cached_lock = cache.lock.filter(|(s, _)| Some(s) == lock_stamp.as_ref());
        let cached_manifest = cache
            .manifest
            .filter(|(s, _)| Some(s) == manifest_stamp.as_ref());
        std::thread::scope(|s| {
            let previous = manifest.then(|| {
                s.spawn(|| match cached_manifest {
                    Some((_, previous)) => (previous.reuse(out, verify), None),
                    None => output::Previous::load(out, verify),
                })
            });
            let lock = match cached_lock {
                Some((_, lock)) => Ok(Some(lock)),
                None => Lock::load(&lock_path, &lock_name),
            };
            State {
                lock,
                lock_stamp,
                previous: previous.map(joined),
                manifest_stamp,
            }
        })
    }

    /// Whether the lock and manifest files are still the ones that were read.
    fn current(&self, ctx: &Paths, out: &std::path::Path) -> bool {
        stamp(&ctx.lock().0) == self.lock_stamp
            && (self.previous.is_none()
                || stamp(&out.join(crate::manifest::PATH)) == self.manifest_stamp)
    }
}

/// What one build did.
pub(crate) struct Built {
    /// The plan it published (or, for a dry run, would publish).
    pub plan: Plan,
    /// What the writer did.
    pub report: output::Report,
    /// The output directory.
    pub out: PathBuf,
    /// Whether the lock file was (or would be) written.
    pub lock_changed: bool,
    /// Whether nothing was written.
    pub dry_run: bool,
    /// How long it took.
    pub millis: u128,
    /// The targets it built.
    pub targets: Vec<Target>,
    /// The manifest now in the output: the one this build wrote, or the one it found.
    manifest: output::Previous,
    /// What the build was made from, kept so that a one-shot `build` need not drop it.
    _inputs: (config::Loaded, Option<Lock>),
}

/// The lock and the manifest a long-running `watch` wrote last, with the identity their files
/// had then: while a file is unchanged the next rebuild uses this copy instead of parsing it
/// again.
#[derive(Default)]
pub(crate) struct Cache {
    lock: Option<(Stamp, Lock)>,
    manifest: Option<(Stamp, output::Previous)>,
}

/// Size, modification time and inode: a file replaced by rename or edited in place differs.
pub(crate) type Stamp = (u64, Option<std::time::SystemTime>, u64);

/// The identity of the file at `path` now, if there is one.
pub(crate) fn stamp(path: &std::path::Path) -> Option<Stamp> {
    #[cfg(unix)]
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| {
        #[cfg(unix)]
        let inode = m.ino();
        // Elsewhere size and mtime alone tell a replaced file.
        #[cfg(not(unix))]
        let inode = 0;
        (m.len(), m.modified().ok(), inode)
    })
}

/// The build itself, for `watch`, which already holds the work lock: reload config, lock and
/// templates (the lock from `cache` while its file is unchanged), plan, write, save the lock.
pub(crate) fn build_locked(
    ctx: &Paths,
    args: &Options,
    ui: &mut dyn Ui,
    cache: &mut Cache,
) -> Result<Built, Error> {
    let started = Instant::now();
    let loaded = config::load(&ctx.config, &ctx.config_name)?;
    let out = output_dir(ctx, args);
    let state = State::read(ctx, &out, args.verify, std::mem::take(cache), true);
    let mut built = build_loaded(ctx, args, loaded, ui, state, started, true)?;
    cache.lock = stamp(&ctx.lock().0).map(|s| (s, std::mem::take(&mut built.plan.lock)));
    cache.manifest =
        stamp(&out.join(crate::manifest::PATH)).map(|s| (s, std::mem::take(&mut built.manifest)));
    Ok(built)
}

/// The build of a loaded config and the state earlier builds left, in the RFC 8461 §8.1 order:
/// plan, stage the lock, write the tree, commit the lock.
fn build_loaded(
    ctx: &Paths,
    args: &Options,
    mut loaded: config::Loaded,
    ui: &mut dyn Ui,
    state: State,
    started: Instant,
    remember: bool,
) -> Result<Built, Error> {
    for w in &loaded.warnings {
        ui.problem(w, &loaded.file);
    }
    let (lock_path, _) = ctx.lock();
    let out = output_dir(ctx, args);
    let previous = state.lock?;
    let now = crate::clock::now()?;
    let had_lock = previous.is_some();
    let previous = or_recovered(ctx, previous, &out, now, ui);
    let forget: Vec<String> = args
        .forget
        .iter()
        .map(|d| crate::names::normalise_domain(d))
        .collect();
    let mut plan = plan::of_config(
        &mut loaded.config,
        previous.as_ref().unwrap_or(&Lock::new()),
        now,
        &forget,
        ctx.config_dir(),
    )?;
    if !plan.refusals.is_empty() {
        return Err(Error::Refused(plan.refusals));
    }
    if args.locked {
        locked(&plan, had_lock, lock_path.clone())?;
    }
    // A lock that plans to the same entries is left as it is, unserialised. A new one goes to
    // its temp file now and is renamed into place last (RFC 8461 §8.1); a one-shot build then
    // drops both locks instead of holding 100,000 entries twice while it writes the tree.
    let lock_unchanged = had_lock && plan.lock_changes.is_empty() && !plan.dane.changed;
    let staged_lock = if args.dry_run || lock_unchanged {
        None
    } else {
        Some(output::stage_atomic(&lock_path, |w| plan.lock.write(w))?)
    };
    let previous = if remember {
        previous
    } else {
        // Freed beside the next step: 200,000 entries take a while to free.
        let locks = (previous, std::mem::take(&mut plan.lock));
        std::thread::spawn(move || drop(locks));
        None
    };
    let (manifest, manifest_warning) = state
        .previous
        .unwrap_or_else(|| output::Previous::load(&out, args.verify));
    let (report, written) = write(ctx, args, &plan, &loaded.config, &manifest, remember, ui)?;
    if let Some(w) = manifest_warning {
        ui.warn(&w);
    }
    warn_left_out(&report.left_out, ui);
    if loaded.config.targets.contains(&Target::Nginx) {
        warn_unreadable(&loaded.config.nginx, &plan, ui);
    }
    if let Some(lock) = staged_lock {
        lock.commit()?;
    }
    let targets = loaded.config.targets.clone();
    cdn_cleanup(&mut plan, &targets);
    Ok(Built {
        plan,
        report,
        out,
        lock_changed: !lock_unchanged,
        manifest: written.unwrap_or(manifest),
        _inputs: (loaded, previous),
        dry_run: args.dry_run,
        millis: started.elapsed().as_millis(),
        targets,
    })
}

/// Writes (or, for a dry run, compares) the tree of `plan` against `manifest`, with a progress
/// bar for large trees; when `remember`ing, also returns the manifest written.
fn write(
    ctx: &Paths,
    args: &Options,
    plan: &Plan,
    config: &crate::model::Config,
    manifest: &output::Previous,
    remember: bool,
    ui: &mut dyn Ui,
) -> Result<(output::Report, Option<output::Previous>), Error> {
    let templates = templates(ctx)?;
    if let Some(w) = scale_warning(plan, config) {
        ui.warn(&w);
    }
    let out = output_dir(ctx, args);
    let hosts = plan.domains.iter().filter(|d| d.published()).count();
    let progress = crate::ui::progress_bar(args.progress, hosts, PROGRESS_FROM, "writing");
    let sources = crate::generate::Sources {
        plan,
        nginx: &config.nginx,
        targets: &config.targets,
        templates: &templates,
    };
    let written = if remember && !args.dry_run {
        write_tree_remembering(&sources, &out, manifest, &progress)?
    } else {
        (
            write_tree(&sources, &out, manifest, args.dry_run, &progress)?,
            None,
        )
    };
    progress.finish_and_clear();
    Ok(written)
}

/// `--locked`: the lock exists and the plan leaves it as it is; else why not (a due transition
/// is named as such, not as a config change).
fn locked(plan: &plan::Plan, had_lock: bool, lock: std::path::PathBuf) -> Result<(), Error> {
    if !had_lock {
        return Err(Error::LockMissing(lock));
    }
    if !plan.lock_changes.is_empty() && plan.lock_changes == plan.due {
        return Err(Error::TransitionDue(plan.due.clone()));
    }
    if !plan.lock_changes.is_empty() || plan.dane.changed {
        let dane = plan
            .dane
            .changed
            .then(|| plan.dane.hosts.iter().map(|h| format!("[dane] {}", h.host)));
        return Err(Error::LockedWouldChange {
            lock,
            domains: plan
                .lock_changes
                .iter()
                .cloned()
                .chain(dane.into_iter().flatten())
                .collect(),
        });
    }
    Ok(())
}

/// One warning for the hosts left out of the nginx output (`require_certificates`), naming
/// the first three.
fn warn_left_out(hosts: &[String], ui: &mut dyn Ui) {
    if hosts.is_empty() {
        return;
    }
    let more = match hosts.len() {
        n if n > 3 => format!(" and {} more", n - 3),
        _ => String::new(),
    };
    ui.warn(&format!(
        "{} policy host(s) left out of the nginx output until their certificate and key exist (require_certificates = true): {}{more}",
        hosts.len(),
        hosts[..hosts.len().min(3)].join(", ")
    ));
}

/// Per domain whose retirement completed in this build and per enabled target that keeps
/// something of it outside the output (a Pages site, a Custom Domain, a site alias, a bucket
/// prefix), a note saying what to remove there; the same words for every domain, so that
/// many retirements make one grouped line per target.
fn cdn_cleanup(plan: &mut Plan, targets: &[Target]) {
    let retired: Vec<String> = plan
        .warnings
        .iter()
        .filter(|w| w.kind == crate::plan::WarningKind::Retired)
        .map(|w| w.domain.clone())
        .collect();
    for emitter in crate::targets::REGISTRY
        .iter()
        .filter(|e| targets.contains(&e.target()))
    {
        let Some(step) = emitter.retired_step() else {
            continue;
        };
        plan.warnings
            .extend(retired.iter().map(|domain| crate::plan::Warning {
                domain: domain.clone(),
                kind: crate::plan::WarningKind::Retired,
                text: format!("{domain}: {step}"),
                until: None,
            }));
    }
}

/// Above this many hosts, the per-host nginx layout gets a warning pointing at `shared`.
const PER_HOST_LIMIT: usize = 1000;

/// The warning a plan deserves for its size: too many per-host nginx server blocks.
pub(crate) fn scale_warning(
    plan: &crate::plan::Plan,
    config: &crate::model::Config,
) -> Option<String> {
    let hosts = plan.domains.iter().filter(|d| d.published()).count();
    let per_host = config.targets.contains(&Target::Nginx)
        && config.nginx.vhosts == crate::model::Vhosts::PerHost;
    (per_host && hosts > PER_HOST_LIMIT).then(|| {
        format!(
            "{hosts} policy hosts with one nginx server block each: nginx needs seconds and hundreds of MB to load them; set `vhosts = \"shared\"` in [nginx] (see docs/nginx.md)"
        )
    })
}

/// Warns when nginx's workers cannot read certificates or keys they load per handshake: the
/// build (often as root) sees the files, while every handshake for those hosts would fail.
fn warn_unreadable(nginx: &crate::model::Nginx, plan: &Plan, ui: &mut dyn Ui) {
    let published: Vec<_> = plan.domains.iter().filter(|d| d.published()).collect();
    let unreadable = crate::targets::nginx::unreadable(nginx, &published);
    if let Some((path, why)) = unreadable.first() {
        let more = match unreadable.len() {
            1 => String::new(),
            n => format!(" (and {} more file(s))", n - 1),
        };
        ui.warn(&format!(
            "nginx's workers run as {user} ([nginx] user) and load certificates per handshake in the shared layout, but {user} {why}, so {path}{more} cannot be loaded and those handshakes will fail. Fix: let the group read them, e.g. chgrp -R {user} /etc/letsencrypt/live /etc/letsencrypt/archive && chmod -R g+rX /etc/letsencrypt/live /etc/letsencrypt/archive (certbot makes archive/ 0700 and keys 0600), or point [nginx] user at the user nginx runs as",
            user = nginx.user
        ));
    }
}

/// `lock` (the file's), or else the lock `out`'s manifest implies, with a warning naming the
/// lost lock file.
pub(crate) fn or_recovered(
    ctx: &Paths,
    lock: Option<Lock>,
    out: &std::path::Path,
    now: chrono::DateTime<chrono::Utc>,
    ui: &mut dyn Ui,
) -> Option<Lock> {
    lock.or_else(|| {
        let recovered = crate::lock::recover::from_manifest(out, now)?;
        ui.warn(&format!(
            "{} is missing: took the ids of {} published domain(s) from {}, so unchanged policies keep their ids and domains senders may cache stay guarded; commit the new lock",
            ctx.lock().1,
            recovered.domains.len(),
            out.join(crate::manifest::PATH).display()
        ));
        Some(recovered)
    })
}
