//! `mtasts watch`: one build, then a rebuild on every change of the config or a template, each
//! through the same code path as `build`. A bad edit is reported and the last good output and
//! lock stay as they are; the watcher keeps going until Ctrl-C or SIGTERM.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use notify_debouncer_full::{DebounceEventResult, Debouncer, FileIdCache, RecommendedCache};

use super::{Paths, Ui};
use crate::build::{Built, Cache, Options, build_locked, stamp};
use crate::cli::WatchArgs;
use crate::error::Error;
use crate::lock::WorkLock;
use crate::output::TEMP_PREFIX;
use crate::plan::Change;

/// Editors save in bursts (temp file, rename, chmod): wait this long for the burst to end.
const DEBOUNCE: Duration = Duration::from_millis(50);
/// How often `--poll` looks at the files.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

enum Message {
    Changed(DebounceEventResult),
    /// The config file was closed after writing or renamed into place: a finished save, built
    /// at once rather than after the debounce.
    Saved,
    Stop,
}

/// Holds whichever debouncer runs, so that more paths can be added later.
trait Watch {
    fn add(&mut self, path: &Path, mode: RecursiveMode) -> notify::Result<()>;
}

impl<T: Watcher, C: FileIdCache> Watch for Debouncer<T, C> {
    fn add(&mut self, path: &Path, mode: RecursiveMode) -> notify::Result<()> {
        self.watch(path, mode)
    }
}

/// Watches until stopped; returns only on a setup failure or after a clean stop.
/// Kept whole: the event loop's states (debounce, rebuild, a broken config) share its locals.
pub(crate) fn run(ctx: &Paths, args: &WatchArgs, ui: &mut dyn Ui) -> Result<(), Error> {
    let _guard = WorkLock::acquire(&ctx.config, Duration::from_secs(args.wait))?;
    let (tx, rx) = mpsc::channel();
    let stop = tx.clone();
    // Stop between rebuilds, never inside one: a rebuild always ends with its files renamed in.
    ctrlc::set_handler(move || {
        let _ = stop.send(Message::Stop);
    })
    .map_err(|e| Error::setup("cannot handle Ctrl-C and SIGTERM", e))?;
    let saves = tx.clone();
    let handler = move |result| {
        let _ = tx.send(Message::Changed(result));
    };
    let mut watcher = debouncer(args.poll, handler)?;
    let dir = absolute(ctx.config_dir());
    let templates = absolute(
        &ctx.templates
            .clone()
            .unwrap_or_else(|| ctx.config_dir().join("templates")),
    );
    let config_name = ctx
        .config
        .file_name()
        .map(PathBuf::from)
        .unwrap_or_default();
    // The directory, not the file: editors replace the file by rename, which a watch on the
    // file itself would lose.
    watcher
        .add(&dir, RecursiveMode::NonRecursive)
        .map_err(notify_error)?;
    let mut templates_watched =
        templates.is_dir() && watcher.add(&templates, RecursiveMode::Recursive).is_ok();
    let config_path = dir.join(&config_name);
    // Polling sees no close or rename events; there every change waits for the debounce.
    let _saves = if args.poll {
        None
    } else {
        Some(save_watcher(&dir, config_path.clone(), saves)?)
    };
    ui.out(&format!(
        "watching {} and {}/ (Ctrl-C to stop)",
        dir.join(&config_name).display(),
        templates.display()
    ));
    let build_args = Options {
        output: args.output.clone(),
        ..Options::default()
    };
    let mut cache = Cache::default();
    let mut built_from = stamp(&config_path);
    rebuild(ctx, &build_args, ui, &mut cache);
    for message in rx {
        match message {
            Message::Stop => break,
            Message::Saved => {
                built_from = stamp(&config_path);
                rebuild(ctx, &build_args, ui, &mut cache);
            }
            Message::Changed(Err(errors)) => {
                for e in errors {
                    ui.warn(&format!("watch: {e}"));
                }
            }
            Message::Changed(Ok(events)) => {
                // Reads (our own rebuild opens the config) are not changes.
                let inputs: Vec<&PathBuf> = events
                    .iter()
                    .filter(|e| !matches!(e.kind, EventKind::Access(_)))
                    .flat_map(|e| e.paths.iter())
                    .filter(|p| is_input(p, &dir, &config_name, &templates))
                    .collect();
                if !templates_watched && templates.is_dir() {
                    templates_watched = watcher.add(&templates, RecursiveMode::Recursive).is_ok();
                }
                // A save of the config was built when it was closed; the same burst, debounced,
                // finds the file as that build read it and is not built twice.
                let seen =
                    inputs.iter().all(|p| **p == config_path) && stamp(&config_path) == built_from;
                if !inputs.is_empty() && !seen {
                    built_from = stamp(&config_path);
                    rebuild(ctx, &build_args, ui, &mut cache);
                }
            }
        }
    }
    ui.out("watch stopped");
    Ok(())
}

/// The debounced watcher of the config's directory and the templates: notify's native one, or
/// with `poll` its poller.
fn debouncer(
    poll: bool,
    handler: impl notify_debouncer_full::DebounceEventHandler,
) -> Result<Box<dyn Watch>, Error> {
    if !poll {
        return Ok(Box::new(
            notify_debouncer_full::new_debouncer(DEBOUNCE, None, handler).map_err(notify_error)?,
        ));
    }
    // notify's poller compares mtimes in whole seconds; hashing the contents also catches two
    // saves within one second.
    let config = notify::Config::default()
        .with_poll_interval(POLL_INTERVAL)
        .with_compare_contents(true);
    Ok(Box::new(
        notify_debouncer_full::new_debouncer_opt::<_, notify::PollWatcher, _>(
            DEBOUNCE,
            None,
            handler,
            RecommendedCache::new(),
            config,
        )
        .map_err(notify_error)?,
    ))
}

/// A raw watcher that sends `Saved` the moment the config is closed after writing or renamed
/// into place, so a save is built without waiting for the debounce.
fn save_watcher(
    dir: &Path,
    config_path: PathBuf,
    saves: mpsc::Sender<Message>,
) -> Result<notify::RecommendedWatcher, Error> {
    let mut raw = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok_and(|e| is_save(&e, &config_path)) {
            let _ = saves.send(Message::Saved);
        }
    })
    .map_err(notify_error)?;
    raw.watch(dir, RecursiveMode::NonRecursive)
        .map_err(notify_error)?;
    Ok(raw)
}

fn rebuild(ctx: &Paths, args: &Options, ui: &mut dyn Ui, cache: &mut Cache) {
    match build_locked(ctx, args, ui, cache) {
        Ok(built) => {
            super::show_warnings(&built.plan.warnings, ui);
            ui.out(&line(&built));
        }
        Err(e) => {
            ui.error(&e);
            ui.out("rebuild failed; the previous output and lock are unchanged; waiting for the next edit");
        }
    }
}

/// Whether `event` ends a save of `config`: the file closed after writing, or another file
/// renamed onto it.
fn is_save(event: &notify::Event, config: &Path) -> bool {
    use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write))
        | EventKind::Modify(ModifyKind::Name(RenameMode::To)) => {
            event.paths.first().is_some_and(|p| p == config)
        }
        _ => false,
    }
}

/// Whether a changed path is the config file or a template (not a temp, swap or backup file).
fn is_input(path: &Path, dir: &Path, config_name: &Path, templates: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let scratch = name.starts_with(TEMP_PREFIX)
        || name.starts_with(".#")
        || (name.starts_with('#') && name.ends_with('#'))
        || name.ends_with('~')
        || [".swp", ".swx", ".swo", ".tmp", ".bak"]
            .iter()
            .any(|s| name.ends_with(s))
        || name == "4913";
    if scratch {
        return false;
    }
    (path.parent() == Some(dir) && Path::new(name) == config_name) || path.starts_with(templates)
}

fn absolute(path: &Path) -> PathBuf {
    let path = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()))
}

fn notify_error(e: notify::Error) -> Error {
    Error::setup("cannot watch for changes (try --poll)", e)
}

/// New or changed domains listed by name; the rest are counted.
const LISTED: usize = 50;

/// One line per rebuild: what changed (domains with their new ids), files, time.
fn line(built: &Built) -> String {
    let changed: Vec<String> = built
        .plan
        .domains
        .iter()
        .filter(|d| d.change != Change::Unchanged)
        .map(|d| format!("{} {}", d.domain.name, d.id))
        .collect();
    let domains = match changed.len() {
        0 => "no policy changed".to_string(),
        n if n <= LISTED => format!("changed: {}", changed.join(", ")),
        n => format!(
            "changed: {} and {} more",
            changed[..LISTED].join(", "),
            n - LISTED
        ),
    };
    format!(
        "rebuilt in {} ms: {domains}; {} file(s) written, {} unchanged, {} removed",
        built.millis,
        built.report.written.len(),
        built.report.unchanged,
        built.report.removed.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_config_and_templates_count() {
        let dir = Path::new("/p");
        let t = Path::new("/p/templates");
        let name = Path::new("domains.toml");
        let yes = |p: &str| is_input(Path::new(p), dir, name, t);
        assert!(yes("/p/domains.toml"));
        assert!(yes("/p/templates/zone.j2"));
        assert!(yes("/p/templates"));
        for no in [
            "/p/domains.lock",
            "/p/.mtasts.lock",
            "/p/output/dns/a.zone",
            "/p/domains.toml~",
            "/p/.domains.toml.swp",
            "/p/templates/.zone.j2.swp",
            "/p/templates/4913",
            "/p/.#domains.toml",
            "/p/other/domains.toml",
            "/p/.mtasts-tmp-abc",
        ] {
            assert!(!yes(no), "{no}");
        }
    }
}
