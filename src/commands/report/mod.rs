//! `mtasts report`: read TLS-RPT reports from files, emails and Maildirs; summarise them per
//! policy domain; judge which `testing` domains are ready for `enforce`.

use std::path::{Path, PathBuf};

use super::{Paths, Ui};
use crate::cli::ReportArgs;
use crate::config;
use crate::error::Error;
use crate::report::{self, Report};

mod rows;
use rows::{Counts, Row, aliases_count_for_primaries, print};

/// Reads every input, prints the summary; malformed inputs are listed and skipped.
pub(crate) fn run(ctx: &Paths, args: &ReportArgs, ui: &mut dyn Ui) -> Result<(), Error> {
    let config = if ctx.config.exists() {
        Some(config::load(&ctx.config, &ctx.config_name)?.config)
    } else {
        None
    };
    let base = ctx.config.parent().unwrap_or(Path::new("."));
    let files = inputs(&args.paths);
    // Keys are looked up only when a mail is to be verified: JSON files need no resolver.
    let dkim = if args.no_dkim || (args.imap.is_empty() && !files.iter().any(|f| f.email)) {
        None
    } else {
        let timeout = std::time::Duration::from_secs(args.timeout.max(1));
        Some(
            report::dkim::Dkim::new(args.nameserver, timeout)
                .map_err(|e| Error::setup("the DKIM key resolver", e))?,
        )
    };
    let mut reading = Reading {
        sink: match &args.store {
            Some(spec) => Sink::Store {
                store: report::store::open(spec, base)?,
                pending: Vec::new(),
                read: 0,
                new: 0,
            },
            None => Sink::Sum,
        },
        sums: Collected {
            summaries: report::Summaries::default(),
            read: 0,
            since: args.since,
        },
        skipped: Vec::new(),
        dkim,
    };
    reading.files(&files)?;
    if !args.imap.is_empty() {
        reading.mailboxes(args)?;
    }
    let Reading {
        sink,
        mut sums,
        skipped,
        ..
    } = reading;
    let stored = sink.judge_from_history(&mut sums, args.keep_days)?;
    let read_count = sums.read;
    let summaries = sums.summaries.finish();
    let mut rows: Vec<Row> = summaries
        .iter()
        .map(|s| Row::new(s, config.as_ref(), args.days))
        .collect();
    aliases_count_for_primaries(&mut rows, config.as_ref());
    print(
        args.format,
        &summaries,
        &rows,
        Counts {
            judged: read_count,
            stored,
        },
        &skipped,
        ui,
    );
    let alarms = rows.iter().filter(|r| !r.alarms.is_empty()).count();
    if read_count == 0 && !skipped.is_empty() {
        return Err(Error::NothingRead(skipped.len()));
    }
    if alarms > 0 || !skipped.is_empty() {
        return Err(Error::ReportFindings {
            unreadable: skipped.len(),
            alarms,
        });
    }
    Ok(())
}

/// Input files read and parsed at once (on every core) before their reports are summed.
const CHUNK: usize = 1024;

/// What a run has read so far, and where it goes.
struct Reading {
    sink: Sink,
    sums: Collected,
    /// (input, reason) of every input that yielded no report.
    skipped: Vec<(String, String)>,
    /// `None`: mails count unchecked (`--no-dkim`, or no mail among the inputs).
    dkim: Option<report::dkim::Dkim>,
}

impl Reading {
    /// Reads and parses the files on every core, a chunk at a time: the reports stream into
    /// the sums (or the store), and only a chunk's are in memory at once.
    fn files(&mut self, files: &[Input]) -> Result<(), Error> {
        let dkim = self.dkim.as_ref();
        for chunk in files.chunks(CHUNK) {
            let parsed = crate::parallel::pool(chunk, crate::parallel::threads(), |input| {
                if input.walked {
                    report::read_regular(&input.path, input.email, dkim)
                } else {
                    report::read_file(&input.path, input.email, dkim)
                }
            });
            for (input, result) in chunk.iter().zip(parsed) {
                match result {
                    Ok(found) => self.sink.add(found, &mut self.sums),
                    Err(reason) => self
                        .skipped
                        .push((input.path.display().to_string(), reason.to_string())),
                }
            }
            self.sink.flush()?;
        }
        Ok(())
    }

    /// Reads the report mails of every `--imap` mailbox; with a store, only those past its mark.
    fn mailboxes(&mut self, args: &ReportArgs) -> Result<(), Error> {
        let password = imap_password(args)?;
        let options = crate::imap::Options {
            ca_file: args.ca_file.as_deref(),
            timeout: std::time::Duration::from_secs(args.timeout.max(1)),
            deadline: std::time::Duration::from_secs(args.imap_deadline.max(1)),
            max_message: report::MAX_INPUT_BYTES,
        };
        for mailbox in &args.imap {
            let key = mailbox.to_string();
            let after = self.sink.mark(&key)?;
            let Reading {
                sink,
                sums,
                skipped,
                dkim,
            } = self;
            let result = crate::imap::read(
                mailbox,
                &password,
                &args.imap_done,
                &options,
                after,
                |name, bytes| {
                    let parsed = bytes.map_err(|e| (e.to_string(), false)).and_then(|b| {
                        report::reports_in(b, true, dkim.as_ref()).map_err(|e| {
                            let again =
                                matches!(&e, report::ReportError::Dkim(d) if d.is_temporary());
                            (e.to_string(), again)
                        })
                    });
                    match parsed {
                        Ok(found) => {
                            sink.add(found, sums);
                            crate::imap::Handled::Read
                        }
                        Err((reason, again)) => {
                            skipped.push((name.to_string(), reason));
                            if again {
                                crate::imap::Handled::Again
                            } else {
                                crate::imap::Handled::Skipped
                            }
                        }
                    }
                },
            );
            // What was read is stored before the mark moves past it.
            self.sink.flush()?;
            match result {
                Ok(Some(mark)) => self.sink.set_mark(&key, mark)?,
                Ok(None) => {}
                Err(reason) => self.skipped.push((mailbox.to_string(), reason.to_string())),
            }
        }
        Ok(())
    }
}

/// Where the reports read go: straight into the sums, or into the store first.
enum Sink {
    /// Summed as read.
    Sum,
    /// Stored a chunk at a time (one transaction each), then judged from all the store holds.
    Store {
        store: Box<dyn report::store::Store>,
        pending: Vec<Report>,
        /// Reports read from the inputs this run (stored before or not).
        read: usize,
        /// Of those, the ones the store did not hold yet.
        new: usize,
    },
}

impl Sink {
    fn add(&mut self, found: Vec<Report>, sums: &mut Collected) {
        match self {
            Sink::Sum => sums.add(found),
            Sink::Store { pending, read, .. } => {
                *read = read.saturating_add(found.len());
                pending.extend(found);
            }
        }
    }

    /// Stores what was read since the last flush.
    fn flush(&mut self) -> Result<(), Error> {
        if let Sink::Store {
            store,
            pending,
            new,
            ..
        } = self
        {
            let added = store.insert(pending)?.into_iter().filter(|n| *n).count();
            *new = new.saturating_add(added);
            pending.clear();
        }
        Ok(())
    }

    fn mark(&mut self, mailbox: &str) -> Result<Option<crate::imap::Mark>, Error> {
        match self {
            Sink::Sum => Ok(None),
            Sink::Store { store, .. } => Ok(store.mark(mailbox)?),
        }
    }

    fn set_mark(&mut self, mailbox: &str, mark: crate::imap::Mark) -> Result<(), Error> {
        match self {
            Sink::Sum => Ok(()),
            Sink::Store { store, .. } => Ok(store.set_mark(mailbox, mark)?),
        }
    }

    /// With a store: applies the retention (`--keep-days`), sums everything it holds, and
    /// returns how many reports were read from the inputs and how many of them were new.
    fn judge_from_history(
        self,
        sums: &mut Collected,
        keep_days: Option<u32>,
    ) -> Result<Option<(usize, usize)>, Error> {
        let Sink::Store {
            mut store,
            read,
            new,
            ..
        } = self
        else {
            return Ok(None);
        };
        if let Some(days) = keep_days {
            let now = crate::clock::now()?;
            let before = now
                .checked_sub_signed(chrono::Duration::days(i64::from(days)))
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
            store.forget_before(before)?;
        }
        let since = sums
            .since
            .map_or(chrono::DateTime::<chrono::Utc>::MIN_UTC, |d| {
                d.and_time(chrono::NaiveTime::MIN).and_utc()
            });
        store.reports(since, &mut |r| sums.add([r]))?;
        Ok(Some((read, new)))
    }
}

/// The sums of the reports read so far, and how many were read.
struct Collected {
    summaries: report::Summaries,
    read: usize,
    since: Option<chrono::NaiveDate>,
}

impl Collected {
    /// Counts each report in range (`--since`).
    fn add(&mut self, found: impl IntoIterator<Item = Report>) {
        for r in found {
            if self.since.is_none_or(|since| r.end.date_naive() >= since) {
                self.read += 1;
                self.summaries.add(&r);
            }
        }
    }
}

/// The IMAP password: the first line of `--imap-password-file`, else `MTASTS_IMAP_PASSWORD`.
fn imap_password(args: &ReportArgs) -> Result<String, Error> {
    if let Some(file) = &args.imap_password_file {
        let text = std::fs::read_to_string(file)
            .map_err(|e| Error::setup(format!("--imap-password-file {}", file.display()), e))?;
        return Ok(text.lines().next().unwrap_or_default().to_string());
    }
    std::env::var("MTASTS_IMAP_PASSWORD").map_err(|_| {
        Error::Setup(
            "--imap needs a password: set MTASTS_IMAP_PASSWORD or pass --imap-password-file FILE (never on the command line)"
                .into(),
        )
    })
}

struct Input {
    path: PathBuf,
    email: bool,
    /// Found by walking a directory, which saw a regular file (not a path the user named).
    walked: bool,
}

/// Every file to read: named files, and the report-looking files under named directories.
fn inputs(paths: &[PathBuf]) -> Vec<Input> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found: Vec<Input> = walkdir::WalkDir::new(path)
                .follow_links(false)
                .into_iter()
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .filter_map(|e| classify(e.path(), false))
                .map(|i| Input { walked: true, ..i })
                .collect();
            found.sort_by(|a, b| a.path.cmp(&b.path));
            out.extend(found);
        } else if let Some(input) = classify(path, true) {
            out.push(input);
        }
    }
    out
}

fn classify(path: &Path, named: bool) -> Option<Input> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let in_maildir = path
        .parent()
        .and_then(|p| p.file_name())
        .is_some_and(|d| d == "cur" || d == "new");
    let email = name.ends_with(".eml") || in_maildir;
    let report = name.ends_with(".json") || name.ends_with(".json.gz") || name.ends_with(".gz");
    (email || report || named).then(|| Input {
        path: path.to_path_buf(),
        email: email || (named && !report),
        walked: false,
    })
}
