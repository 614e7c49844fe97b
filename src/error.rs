//! The central error type: every failure a command can report, each with a hint to fix it.

use std::io;
use std::path::PathBuf;

use crate::diag::{Level, Problem, SourceFile};

/// Everything that makes a command fail.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },

    /// A `[dane]` host's certificate or next key cannot be read.
    #[error("[dane.\"{host}\"]: {source}")]
    #[diagnostic(help(
        "point certificate at the PEM chain the MX host serves and next_key at the next key's PEM file (relative paths start at the config's directory); nothing was written"
    ))]
    DaneKey {
        /// The MX host.
        host: String,
        /// What went wrong.
        #[source]
        source: crate::dane::KeyError,
    },

    /// The config file does not exist.
    #[error("{0} not found")]
    #[diagnostic(help(
        "create one with `mtasts init`, or point at yours with `mtasts -c PATH <command>`"
    ))]
    NoConfig(String),

    /// A source file (config or lock) has problems; `app` prints each one located.
    #[error("{}: {} error(s); nothing was written", file.name, error_count(problems))]
    Invalid {
        /// The file the problems are in.
        file: SourceFile,
        /// All problems found (warnings included, for context).
        problems: Vec<Problem>,
    },

    /// `SOURCE_DATE_EPOCH` is set to something that is not a time.
    #[error("SOURCE_DATE_EPOCH={0:?} is not whole seconds since 1970, from 1970 to 9999")]
    #[diagnostic(help("unset it, or set it to an integer such as 1700000000"))]
    BadEpoch(String),

    /// The system clock reads a time outside 1970..=9999.
    #[error("the system clock reads {0} seconds since 1970, not a time from 1970 to 9999")]
    #[diagnostic(help("set the clock, or pin it with SOURCE_DATE_EPOCH"))]
    BadClock(String),

    /// Another process holds the work lock beside the config.
    #[error("another mtasts process is working on this configuration (lock {} is held)", .0.display())]
    #[diagnostic(help(
        "wait for the other `mtasts build` or `mtasts watch` to finish, then retry"
    ))]
    Busy(PathBuf),

    /// The plan would break senders that still hold a policy; `app` prints each reason.
    #[error("refusing to build: {}", .0.iter().map(Refusal::to_string).collect::<Vec<_>>().join("; "))]
    Refused(Vec<Refusal>),

    /// `check` found failures (already printed).
    #[error("{0} check(s) failed")]
    #[diagnostic(help("each FAIL line above says what to publish or deploy"))]
    CheckFailed(usize),

    /// `report` read its inputs, but some could not be read or the reports raise alarms (the
    /// summary is already printed).
    #[error("{}", report_findings(*.unreadable, *.alarms))]
    #[diagnostic(help(
        "the skipped inputs and each ALARM line above say what is wrong; `--format json` lists them"
    ))]
    ReportFindings {
        /// Inputs (files, messages, mailboxes) that could not be read.
        unreadable: usize,
        /// Domains with an alarm.
        alarms: usize,
    },

    /// `report` was given inputs and could read no report from any of them.
    #[error("no report could be read: {0} input(s) skipped")]
    #[diagnostic(help(
        "each skipped input is named above with the reason; check the paths and the mailbox URL"
    ))]
    NothingRead(usize),

    /// The resolver `check` uses gave no answer at all, so no domain could be judged.
    #[error("resolver {server} did not answer: {message}")]
    #[diagnostic(help(
        "check that the resolver is up and reachable, or name one with --nameserver IP"
    ))]
    Resolver {
        /// The `--nameserver` address, or "of the system" (resolv.conf).
        server: String,
        /// What the first failed lookup said.
        message: String,
    },

    /// The result could not be written (stdout or `--output FILE`).
    #[error("could not write the result: {0}")]
    #[diagnostic(help(
        "free space or fix the permissions where the result goes, then run the command again"
    ))]
    Output(String),

    /// Domains named on the command line are not in the config.
    #[error("not in the config: {}", .0.join(", "))]
    #[diagnostic(help("name domains as they appear in domains.toml (U-labels or A-labels)"))]
    NotConfigured(Vec<String>),

    /// A command could not run as asked (a missing setting, a domain not configured).
    #[error("{0}")]
    Setup(String),

    /// Something the command needs could not be set up: a resolver, a signal handler, a file
    /// watcher, a password file; the cause is kept.
    #[error("{what}")]
    SetupFailed {
        /// What could not be set up.
        what: String,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// `receive` could not start.
    #[error(transparent)]
    #[diagnostic(help(
        "choose a free address (or one this user may bind), and PEM files this user can read"
    ))]
    Receive(#[from] crate::receive::ReceiveError),

    /// The report store could not be opened, read or written; nothing was judged from it.
    #[error(transparent)]
    #[diagnostic(help(
        "check the store's path or URL, its permissions and free space; the inputs are still there to read again"
    ))]
    Store(#[from] crate::report::store::StoreError),

    /// `build --locked` would have changed the lock file.
    #[error("{} would change (--locked): {}", lock.display(), domains.join(", "))]
    #[diagnostic(help(
        "run `mtasts build` without --locked, review the new ids, and commit the lock file"
    ))]
    LockedWouldChange {
        /// The lock file.
        lock: PathBuf,
        /// Domains whose entry would be added, changed or marked as gone.
        domains: Vec<String>,
    },

    /// `build --locked` while a scheduled transition is due (a retirement whose date passed):
    /// the config did not change, but the lock must.
    #[error("{}", .0.iter().map(|d| crate::plan::Plan::due_message(d)).collect::<Vec<_>>().join("; "))]
    #[diagnostic(help(
        "a scheduled job runs a plain `mtasts build` and commits domains.lock (the workflow `mtasts init --ci github` writes does)"
    ))]
    TransitionDue(Vec<String>),

    /// `build --locked` with no lock file: one would be created.
    #[error("{} does not exist yet (--locked): building would create it (no lock file yet)", .0.display())]
    #[diagnostic(help(
        "run `mtasts build` without --locked once, review the ids, and commit the lock file"
    ))]
    LockMissing(PathBuf),

    /// A command refuses to overwrite a file the user owns.
    #[error("{} already exists; not overwriting it", .0.display())]
    #[diagnostic(help("move it away first, or pick another path"))]
    Exists(PathBuf),

    /// A template failed to compile or render.
    #[error("template {name}, line {line}: {message}")]
    #[diagnostic(help(
        "fix the template, or delete the override to fall back to the built-in one (`mtasts templates eject` shows it)"
    ))]
    Template {
        /// Where the template came from.
        name: String,
        /// 1-based line in that template (0 when unknown).
        line: usize,
        /// What minijinja said.
        message: String,
    },

    /// The output directory holds something the tool must not write through or over.
    #[error("refusing to write {}: {reason}", path.display())]
    #[diagnostic(help("remove or rename that path, or choose another output directory with -o"))]
    UnsafeOutput {
        /// The offending path.
        path: PathBuf,
        /// Why it is refused.
        reason: String,
    },
}

/// A fast reader read an input differently from the library parser: a bug in the fast reader,
/// found by its differential fuzz target or property test.
#[cfg(feature = "test-hooks")]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Disagreement(pub String);

fn report_findings(unreadable: usize, alarms: usize) -> String {
    match (unreadable, alarms) {
        (0, a) => format!("{a} domain(s) with an alarm"),
        (u, 0) => format!("{u} input(s) could not be read"),
        (u, a) => format!("{u} input(s) could not be read, {a} domain(s) with an alarm"),
    }
}

fn error_count(problems: &[Problem]) -> usize {
    problems.iter().filter(|p| p.level == Level::Error).count()
}

impl Error {
    /// [`Error::SetupFailed`]: `what` could not be set up, because of `source`.
    pub fn setup(
        what: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Error {
        Error::SetupFailed {
            what: what.into(),
            source: source.into(),
        }
    }

    /// A stable name for the kind of failure, for scripts (`{"error": {"kind": ...}}`).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Io { .. } => "io",
            Error::Invalid { .. } => "invalid-config",
            Error::NoConfig(_) => "no-config",
            Error::DaneKey { .. } => "dane-key",
            Error::BadEpoch(_) | Error::BadClock(_) => "invalid-environment",
            Error::Busy(_) => "busy",
            Error::Refused(_) => "refused",
            Error::CheckFailed(_) => "check-failed",
            Error::ReportFindings { .. } => "report-findings",
            Error::NothingRead(_) => "nothing-read",
            Error::Resolver { .. } => "resolver",
            Error::Output(_) => "output",
            Error::NotConfigured(_) => "not-configured",
            Error::Setup(_) | Error::SetupFailed { .. } => "setup",
            Error::Store(_) => "store",
            Error::Receive(crate::receive::ReceiveError::Tls(_)) => "tls",
            Error::Receive(_) => "listen",
            Error::LockedWouldChange { .. } | Error::LockMissing(_) | Error::TransitionDue(_) => {
                "locked"
            }
            Error::Exists(_) => "exists",
            Error::Template { .. } => "template",
            Error::UnsafeOutput { .. } => "unsafe-output",
        }
    }

    /// The command ran to the end and printed its result document (a check FAIL, a report with
    /// findings or with nothing read): no error document follows it.
    pub fn result_printed(&self) -> bool {
        matches!(
            self,
            Error::CheckFailed(_) | Error::ReportFindings { .. } | Error::NothingRead(_)
        )
    }

    /// The exit code: 2 when the run itself could not be done (nothing to judge, or the result
    /// could not be written), 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Resolver { .. }
            | Error::NothingRead(_)
            | Error::Output(_)
            | Error::Store(_)
            | Error::Receive(crate::receive::ReceiveError::Listen { .. }) => 2,
            _ => 1,
        }
    }

    /// The domains the failure is about, if it is about some.
    pub fn domains(&self) -> Vec<&str> {
        match self {
            Error::Refused(reasons) => reasons.iter().map(|r| r.domain.as_str()).collect(),
            Error::NotConfigured(names)
            | Error::TransitionDue(names)
            | Error::LockedWouldChange { domains: names, .. } => {
                names.iter().map(String::as_str).collect()
            }
            _ => Vec::new(),
        }
    }

    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}

/// One reason a plan must not be published; it prints as what is wrong and how to fix it,
/// naming the domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The domain it is about.
    pub domain: String,
    /// Why.
    pub reason: RefusalReason,
}

/// Why a plan must not be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalReason {
    /// A domain left the config while senders may still hold its policy (RFC 8461 §8.3).
    StillHeld {
        /// The mode of the policy senders hold.
        mode: String,
        /// When the last sender's copy expires (`YYYY-MM-DD HH:MM UTC`).
        until: String,
    },
    /// A pinned id that already names the previous, different policy (RFC 8461 §3.1).
    PinReused {
        /// The pinned id.
        pin: String,
    },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = &self.domain;
        match &self.reason {
            RefusalReason::StillHeld { mode, until } => write!(
                f,
                "{name} was removed from the config, but senders may hold its {mode} policy until \
                 {until}. RFC 8461 §8.3: put it back with `retire = true` so that a `mode: none` \
                 policy replaces it first; mtasts then removes it when that date has passed. To \
                 drop it anyway, pass --forget {name}."
            ),
            RefusalReason::PinReused { pin } => write!(
                f,
                "{name}: the pinned id {pin:?} already names the previous policy; an id must \
                 change whenever the policy does (RFC 8461 §3.1): remove `id` or pick another"
            ),
        }
    }
}
