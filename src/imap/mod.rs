//! TLS-RPT reports from a mailbox over IMAP (an adapter: network I/O, no judging): the mailbox
//! the `rua=mailto:` address delivers to, read over implicit TLS (`imaps://`, port 993), the
//! password never on the command line. Messages are fetched in batches after their sizes, so
//! a mailbox of any size is never in memory at once, a message over the size limit is named
//! and skipped unread, and a stalling or babbling server ends in an error within the timeout
//! and the byte budget.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use crate::net::{NetError, client_config};

pub mod url;
pub(crate) use url::{Done, Mailbox};

/// Messages whose sizes are asked for per command.
const BATCH: usize = 50;
/// Bytes a server may send in answer to anything but a message fetch (greeting, login, the
/// sizes of a batch, a search over a large mailbox).
const SMALL_ANSWERS: u64 = 4 * 1024 * 1024;

/// Why a mailbox could not be read, or one message of it. (The server's errors are boxed: an
/// `imap::Error` is large and most results are `Ok`.)
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    /// A `--imap` value that is not an `imaps://` URL we read.
    #[error("{url:?}: {why} (write imaps://USER@HOST[:PORT]/MAILBOX)")]
    Url {
        /// What was given.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// An `--imap-done` value that is none of the three.
    #[error("{0:?} is not keep, seen or move:FOLDER")]
    Done(String),
    /// The server's name does not resolve, or the connection failed.
    #[error("{server}: {source}")]
    Connect {
        /// `host:port`.
        server: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The server's name resolves to nothing.
    #[error("{0}: no address")]
    NoAddress(String),
    /// The trust roots cannot be read.
    #[error(transparent)]
    Net(#[from] NetError),
    /// rustls refused the server name or the connection.
    #[error("{0}")]
    Tls(String),
    /// The server did not greet as an IMAP server.
    #[error("{server}: greeting: {source}")]
    Greeting {
        /// `host:port`.
        server: String,
        /// What went wrong.
        source: Box<imap::Error>,
    },
    /// The login was refused.
    #[error("login as {user} failed: {source}")]
    Login {
        /// The login name.
        user: String,
        /// The server's answer.
        source: Box<imap::Error>,
    },
    /// A command failed (`what` names it).
    #[error("{what}: {source}")]
    Command {
        /// The command, for the message.
        what: String,
        /// The server's answer, or the transport's failure.
        source: Box<imap::Error>,
    },
    /// A message over the size limit, skipped unread.
    #[error("larger than {0} MiB")]
    TooLarge(u64),
    /// A fetch that returned no body.
    #[error("no body")]
    NoBody,
}

/// Reads fail once the server has sent more than `left` allows; the reader refills it before
/// each command it expects a large answer to.
struct Budget {
    inner: StreamOwned<ClientConnection, Timed>,
    left: Arc<AtomicU64>,
}

impl Read for Budget {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.left.load(Ordering::Relaxed);
        if left == 0 {
            return Err(std::io::Error::other(
                "the server sent more than the size limit allows",
            ));
        }
        let cap = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..cap])?;
        self.left.fetch_sub(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The TCP socket under TLS, each read bounded by the read timeout and by the mailbox's
/// deadline: a server that sends a byte just before each timeout (rustls reads the socket many
/// times per record) cannot keep a run alive for days.
struct Timed {
    tcp: TcpStream,
    deadline: Instant,
    per_read: Duration,
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the mailbox was not read within --imap-deadline",
            ));
        }
        self.tcp
            .set_read_timeout(Some(remaining.min(self.per_read)))?;
        self.tcp.read(buf)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tcp.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.tcp.flush()
    }
}

impl Write for Budget {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

type Stream = Budget;

/// Connection settings.
pub(crate) struct Options<'a> {
    /// PEM roots instead of Mozilla's.
    pub ca_file: Option<&'a Path>,
    /// Bound on connecting and on each read.
    pub timeout: Duration,
    /// Bound on reading the whole mailbox.
    pub deadline: Duration,
    /// Largest message read; larger ones are named and skipped.
    pub max_message: u64,
}

/// Where a mailbox was read up to: its UIDVALIDITY and the last UID read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// The mailbox's UIDVALIDITY when it was read; another value means its UIDs start over.
    pub uidvalidity: u32,
    /// Every message up to this UID was read, or skipped for a reason that will not pass.
    pub last_uid: u32,
}

/// What became of one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handled {
    /// Its reports were read: `done` applies to it.
    Read,
    /// Skipped for good (not a report, a bad signature): not read again after a mark.
    Skipped,
    /// Skipped for now (a DNS failure): the mark stays before it, the next run reads it again.
    Again,
}

/// Logs in, hands every message of the mailbox to `each` (`name`, bytes) in UID order (with
/// `after`, only those past its mark, unless UIDVALIDITY changed), and applies `done` to those
/// `each` read. Returns the mark to resume from (`None`: the server keeps no UIDVALIDITY).
/// `Err` names what failed.
pub(crate) fn read(
    at: &Mailbox,
    password: &str,
    done: &Done,
    options: &Options<'_>,
    after: Option<Mark>,
    mut each: impl FnMut(&str, Result<&[u8], ImapError>) -> Handled,
) -> Result<Option<Mark>, ImapError> {
    let budget = Arc::new(AtomicU64::new(SMALL_ANSWERS));
    let stream = connect(at, options, budget.clone())?;
    let mut client = imap::Client::new(stream);
    client
        .read_greeting()
        .map_err(|source| ImapError::Greeting {
            server: format!("{}:{}", at.host, at.port),
            source: Box::new(source),
        })?;
    let mut session = client
        .login(&at.user, password)
        .map_err(|(source, _)| ImapError::Login {
            user: at.user.clone(),
            source: Box::new(source),
        })?;
    let selected = session
        .select(&at.mailbox)
        .map_err(command(format!("mailbox {}", at.mailbox)))?;
    // A mark counts only for the same UIDVALIDITY: another one means the UIDs were reassigned
    // (the mailbox recreated), so all of it is read again; the store keeps each report once.
    let resume = after
        .filter(|m| Some(m.uidvalidity) == selected.uid_validity)
        .map_or(0, |m| m.last_uid);
    let search = if resume == 0 {
        "ALL".to_string()
    } else {
        format!("UID {}:*", resume.saturating_add(1))
    };
    let mut uids: Vec<u32> = session
        .uid_search(&search)
        .map_err(command("UID SEARCH".into()))?
        .into_iter()
        // `n:*` always matches the last message, even one below n (RFC 3501 §6.4.8).
        .filter(|uid| *uid > resume)
        .collect();
    uids.sort_unstable();
    let mut handled = Vec::new();
    let mut first_again: Option<u32> = None;
    let mut record = |uid: u32, outcome: Handled| match outcome {
        Handled::Read => handled.push(uid),
        Handled::Skipped => {}
        Handled::Again => {
            first_again.get_or_insert(uid);
        }
    };
    fetch_all(
        &mut session,
        at,
        &uids,
        options,
        &budget,
        &mut each,
        &mut record,
    )?;
    budget.store(SMALL_ANSWERS, Ordering::Relaxed);
    if !handled.is_empty() {
        apply(&mut session, done, &handled)?;
    }
    let _ = session.logout();
    let last_uid = match first_again {
        Some(uid) => uid.saturating_sub(1).max(resume),
        None => uids.last().copied().unwrap_or(resume),
    };
    Ok(selected.uid_validity.map(|uidvalidity| Mark {
        uidvalidity,
        last_uid,
    }))
}

/// Fetches `uids` in batches, sizes first: a message over the limit is named and skipped
/// unread; each other one is handed to `each`, and what became of it to `record`.
fn fetch_all(
    session: &mut imap::Session<Stream>,
    at: &Mailbox,
    uids: &[u32],
    options: &Options<'_>,
    budget: &AtomicU64,
    each: &mut impl FnMut(&str, Result<&[u8], ImapError>) -> Handled,
    record: &mut impl FnMut(u32, Handled),
) -> Result<(), ImapError> {
    for batch in uids.chunks(BATCH) {
        let set = batch
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        budget.store(SMALL_ANSWERS, Ordering::Relaxed);
        let sizes = session
            .uid_fetch(&set, "RFC822.SIZE")
            .map_err(command("UID FETCH sizes".into()))?;
        let mut small = Vec::new();
        for f in sizes.iter() {
            let Some(uid) = f.uid else { continue };
            let size = u64::from(f.size.unwrap_or(0));
            if size > options.max_message {
                let outcome = each(
                    &name(at, uid),
                    Err(ImapError::TooLarge(options.max_message / 1024 / 1024)),
                );
                record(uid, outcome);
            } else {
                small.push(uid);
            }
        }
        for uid in small {
            budget.store(options.max_message + SMALL_ANSWERS, Ordering::Relaxed);
            let fetched = session
                .uid_fetch(uid.to_string(), "BODY.PEEK[]")
                .map_err(command(format!("UID FETCH {uid}")))?;
            for f in fetched.iter() {
                let body = f.body().ok_or(ImapError::NoBody);
                let outcome = each(&name(at, uid), body);
                record(uid, outcome);
            }
        }
    }
    Ok(())
}

/// `--imap-done` for the messages whose reports were read: flag them `\Seen` or move them.
fn apply(
    session: &mut imap::Session<Stream>,
    done: &Done,
    handled: &[u32],
) -> Result<(), ImapError> {
    let set = handled
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    match done {
        Done::Keep => {}
        Done::Seen => {
            session
                .uid_store(&set, "+FLAGS.SILENT (\\Seen)")
                .map_err(command("UID STORE \\Seen".into()))?;
        }
        Done::Move(folder) => {
            // Made on first use; "already exists" is the usual answer and not an error.
            let _ = session.create(folder);
            session
                .uid_mv(&set, folder)
                .map_err(command(format!("UID MOVE to {folder}")))?;
        }
    }
    Ok(())
}

/// Wraps a failed command's error with its name.
fn command(what: String) -> impl FnOnce(imap::Error) -> ImapError {
    move |source| ImapError::Command {
        what,
        source: Box::new(source),
    }
}

fn name(at: &Mailbox, uid: u32) -> String {
    format!("{at};UID={uid}")
}

fn connect(at: &Mailbox, options: &Options<'_>, left: Arc<AtomicU64>) -> Result<Stream, ImapError> {
    let server = format!("{}:{}", at.host, at.port);
    let failed = |source| ImapError::Connect {
        server: server.clone(),
        source,
    };
    let addr = (at.host.as_str(), at.port)
        .to_socket_addrs()
        .map_err(failed)?
        .next()
        .ok_or_else(|| ImapError::NoAddress(server.clone()))?;
    let tcp = TcpStream::connect_timeout(&addr, options.timeout).map_err(failed)?;
    tcp.set_read_timeout(Some(options.timeout)).ok();
    tcp.set_write_timeout(Some(options.timeout)).ok();
    let deadline = Instant::now() + options.deadline;
    let config = client_config(options.ca_file)?;
    let server = ServerName::try_from(at.host.clone())
        .map_err(|e| ImapError::Tls(format!("{:?} is not a host name: {e}", at.host)))?;
    let conn = ClientConnection::new(Arc::new(config), server)
        .map_err(|e| ImapError::Tls(e.to_string()))?;
    let timed = Timed {
        tcp,
        deadline,
        per_read: options.timeout,
    };
    Ok(Budget {
        inner: StreamOwned::new(conn, timed),
        left,
    })
}
