//! `domains.lock`: the ids we published and the policy bytes they name; plus the process lock.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::diag::{Problem, SourceFile};
use crate::error::Error;
use crate::model::{Mode, valid_id};
use crate::parallel::on_threads;

mod fast;
pub mod recover;

/// Format version written by this build of mtasts.
pub const LOCK_VERSION: u32 = 1;

const HEADER: &str = "# domains.lock: written by `mtasts build`. Commit it with domains.toml.\n\
# It records, per domain, the MTA-STS policy id, the policy it names, and the history that\n\
# makes changes and retirement safe (RFC 8461 section 8.3). Do not edit by hand.\n\n";

/// The whole lock file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    /// Format version.
    pub version: u32,
    /// Per domain (A-label), sorted.
    #[serde(default)]
    pub domains: BTreeMap<String, Entry>,
}

/// Where a domain is in its MTA-STS life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Its configured policy is published.
    Active,
    /// `retire = true`: a `mode: none` policy is published until every older policy expired.
    Retiring,
    /// Retirement completed; nothing is published any more.
    Retired,
    /// Left the config when no testing/enforce policy of it could be cached any more.
    Removed,
}

impl Stage {
    /// The lower-case name used in the lock and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Active => "active",
            Stage::Retiring => "retiring",
            Stage::Retired => "retired",
            Stage::Removed => "removed",
        }
    }
}

/// A warning that matters until a date (for example while senders may hold an older policy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notice {
    /// When it stops mattering.
    pub until: DateTime<Utc>,
    /// What to keep in mind (shared with the entry of the next lock).
    pub text: std::sync::Arc<str>,
}

/// What was last published for one domain, and the history lifecycle rules need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The `_mta-sts` TXT id (shared with the entry of the next lock while it is unchanged).
    pub id: std::sync::Arc<str>,
    /// sha256 (hex) of the policy bytes the id names.
    pub policy_sha256: std::sync::Arc<str>,
    /// Lifecycle stage.
    pub stage: Stage,
    /// Mode of the policy the id names.
    pub mode: Mode,
    /// max_age of the policy the id names.
    pub max_age: u32,
    /// mx patterns of the policy the id names (shared by the entries that list the same ones).
    pub mx: std::sync::Arc<[String]>,
    /// When the policy the id names was first published.
    pub published: DateTime<Utc>,
    /// Largest max_age published since the domain last became active (RFC 8461 §8.3 step 3).
    pub max_age_high: u32,
    /// When a testing/enforce policy was last replaced by a `mode: none` one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sts_ended: Option<DateTime<Utc>>,
    /// When retirement started (the `mode: none` policy went out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retiring_since: Option<DateTime<Utc>>,
    /// When a retiring domain's records and files may go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remove_after: Option<DateTime<Utc>>,
    /// The id this one replaced: a sender may still see it while a deployment is under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_id: Option<std::sync::Arc<str>>,
    /// sha256 of the policy `previous_id` named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_sha256: Option<std::sync::Arc<str>>,
    /// The pinned `id` of the config that this policy was published under, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// Warnings that still matter until their date (shared with the entry of the next lock
    /// while they are the same).
    #[serde(default, skip_serializing_if = "<[Notice]>::is_empty")]
    pub notices: std::sync::Arc<[Notice]>,
}

impl Lock {
    /// An empty lock of the current version.
    pub fn new() -> Lock {
        Lock {
            version: LOCK_VERSION,
            domains: BTreeMap::new(),
        }
    }

    /// Writes the file text: header comment, then sorted TOML. Large locks are serialised in
    /// pieces on several threads, a batch of pieces at a time so that the text of 100,000
    /// domains is never in memory at once; the pieces join into the bytes one serialisation
    /// would give.
    pub fn write(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        if self.domains.is_empty() {
            let body = toml::to_string(self).expect("a version serialises");
            return write!(w, "{HEADER}{body}");
        }
        writeln!(w, "{HEADER}version = {}", self.version)?;
        let entries: Vec<(&String, &Entry)> = self.domains.iter().collect();
        for batch in entries.chunks(PIECE_DOMAINS * 16) {
            for piece in on_threads(batch.chunks(PIECE_DOMAINS).collect(), lock_piece) {
                w.write_all(piece.as_bytes())?;
            }
        }
        Ok(())
    }

    /// The file text.
    #[cfg(test)]
    pub fn to_text(&self) -> String {
        let mut bytes = Vec::new();
        self.write(&mut bytes).expect("a Vec takes every write");
        String::from_utf8(bytes).expect("the lock is UTF-8")
    }

    /// Parses and checks lock text; `name` is how diagnostics call the file.
    pub fn parse(text: &str, name: &str) -> Result<Lock, Error> {
        let lock = match Lock::parse_in_pieces(text) {
            Some(lock) => lock,
            None => Lock::parse_whole(text, name)?,
        };
        lock.check_entries(text, name)?;
        Ok(lock)
    }

    /// The fast path for the lock as mtasts writes it: the text is cut before each
    /// `[domains."..."]` header and the pieces are parsed on several threads, so that a lock of
    /// 100,000 domains never exists as one TOML document in memory. Anything unusual (a
    /// duplicate domain, a header inside a string, an error) returns `None`, and the whole text
    /// is parsed again for a precise diagnostic.
    fn parse_in_pieces(text: &str) -> Option<Lock> {
        let mut sections = Vec::new();
        let mut lock = Lock::head_and_pieces(text, &mut sections)?;
        lock.domains = into_map(sections)?;
        Some(lock)
    }

    /// The lock's head (its version) from `text`, which starts the file, and the sections that
    /// follow it, appended to `sections`.
    fn head_and_pieces(text: &str, sections: &mut Vec<(String, Entry)>) -> Option<Lock> {
        let head_end = text.find("\n[domains.").map_or(text.len(), |i| i + 1);
        let lock: Lock = toml::from_str(&text[..head_end]).ok()?;
        if lock.version != LOCK_VERSION {
            return None;
        }
        add_pieces(sections, &text[head_end..])?;
        Some(lock)
    }

    /// `parse_in_pieces` over a file read a block at a time, each block cut before a
    /// `[domains."..."]` header, so that the text of a large lock is never in memory whole.
    fn read_in_blocks(file: impl std::io::Read, block: usize) -> Option<Lock> {
        let mut lock: Option<Lock> = None;
        let mut sections = Vec::new();
        crate::parallel::read_in_blocks(
            file,
            block,
            |text| match memchr::memmem::rfind(text.as_bytes(), HEADER_AFTER_NEWLINE) {
                Some(i) if i > 0 => Some(i + 1),
                _ => None,
            },
            |text| match &lock {
                None => {
                    lock = Some(Lock::head_and_pieces(text, &mut sections)?);
                    Some(())
                }
                Some(_) => add_pieces(&mut sections, text),
            },
        )?;
        let mut lock = lock?;
        lock.domains = into_map(sections)?;
        Some(lock)
    }

    /// Differential check of the fast lock reader against the TOML parser, for the fuzz target
    /// and property tests: `Ok(true)` when the fast path (pieces, and `state/fast.rs` per
    /// section) took `text` and read exactly what the whole-document parser reads, `Ok(false)`
    /// when it declined, `Err` at a disagreement.
    #[doc(hidden)]
    pub fn fast_reader_agrees(text: &str) -> Result<bool, String> {
        for (from, to) in std::iter::once(0)
            .chain(headers(text))
            .zip(headers(text).chain(std::iter::once(text.len())))
        {
            let section = &text[from..to];
            if let Some(fast) = fast::section(section, &mut None) {
                let slow: Option<Part<String, Entry>> = toml::from_str(section).ok();
                let slow = slow.and_then(|p| p.domains.into_iter().next());
                if slow.as_ref() != Some(&fast) {
                    return Err(format!("section {section:?}: fast {fast:?}, TOML {slow:?}"));
                }
            }
        }
        let Some(fast) = Lock::parse_in_pieces(text) else {
            return Ok(false);
        };
        match Lock::parse_whole(text, "lock") {
            Ok(slow) if slow == fast => Ok(true),
            Ok(slow) => Err(format!("pieces {fast:?}\nwhole {slow:?}")),
            Err(e) => Err(format!("the fast path took what TOML refuses: {e}")),
        }
    }

    fn parse_whole(text: &str, name: &str) -> Result<Lock, Error> {
        /// Read first, so that a lock from another release gets the right message.
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let damaged = |e: toml::de::Error| {
            invalid(
                text,
                name,
                e.span().unwrap_or(0..0),
                format!("the lock file is damaged: {}", e.message().trim()),
                "cannot read this",
                "restore it from version control (git checkout -- domains.lock); deleting it gives every domain a new id",
            )
        };
        let version: Version = toml::from_str(text).map_err(damaged)?;
        if version.version != LOCK_VERSION {
            let at = text.find("version").unwrap_or(0);
            return Err(invalid(
                text,
                name,
                at..at + "version".len(),
                format!(
                    "lock file version {} is not supported (this mtasts writes version {LOCK_VERSION})",
                    version.version
                ),
                "unknown version",
                "it was written by another mtasts release; use that release, or restore the file from version control",
            ));
        }
        toml::from_str(text).map_err(damaged)
    }

    /// Refuses ids and hashes that mtasts never writes (a hand edit).
    fn check_entries(&self, text: &str, name: &str) -> Result<(), Error> {
        let Some((domain, id_ok)) = self.bad_entry() else {
            return Ok(());
        };
        let at = text.find(domain).unwrap_or(0);
        Err(invalid(
            text,
            name,
            at..at + domain.len(),
            format!(
                "the lock entry for {domain} has an invalid {}",
                if id_ok { "policy_sha256" } else { "id" }
            ),
            "edited by hand?",
            "ids are 1-32 letters and digits (RFC 8461 §3.1); restore the file from version control",
        ))
    }

    /// The first domain whose id or policy hash mtasts never writes, and whether its id is valid.
    fn bad_entry(&self) -> Option<(&str, bool)> {
        self.domains.iter().find_map(|(domain, entry)| {
            let id_ok = valid_id(&entry.id);
            let hash_ok = entry.policy_sha256.len() == 64
                && entry
                    .policy_sha256
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            (!id_ok || !hash_ok).then_some((domain.as_str(), id_ok))
        })
    }

    /// Reads the lock at `path`; a missing file is an empty lock.
    pub fn load(path: &Path, name: &str) -> Result<Option<Lock>, Error> {
        match File::open(path) {
            Ok(file) => {
                if let Some(lock) = Lock::read_in_blocks(file, LOCK_BLOCK)
                    && lock.bad_entry().is_none()
                {
                    return Ok(Some(lock));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io(path)(e)),
        }
        // Anything unusual is read whole, for the TOML parser and a precise diagnostic.
        match std::fs::read(path) {
            Ok(bytes) => {
                let text = String::from_utf8(bytes).map_err(|_| Error::Invalid {
                    file: SourceFile::new(name, ""),
                    problems: vec![
                        Problem::error(0..0, "the lock file is not UTF-8", "damaged")
                            .help("restore it from version control"),
                    ],
                })?;
                Lock::parse(&text, name).map(Some)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(path)(e)),
        }
    }
}

/// A located problem in the lock file.
fn invalid(
    text: &str,
    name: &str,
    span: std::ops::Range<usize>,
    message: String,
    label: &str,
    help: &str,
) -> Error {
    Error::Invalid {
        file: SourceFile::new(name, text),
        problems: vec![Problem::error(span, message, label).help(help)],
    }
}

/// The text of a run of entries, each section preceded by a blank line.
fn lock_piece(part: &[(&String, &Entry)]) -> String {
    let mut text = String::with_capacity(part.len() * 400);
    for (name, entry) in part {
        text.push('\n');
        if fast::write_section(name, entry, &mut text) {
            continue;
        }
        let one = Part {
            domains: BTreeMap::from([(*name, *entry)]),
        };
        let toml = toml::to_string(&one).expect("a lock of strings and integers serialises");
        // Alone, a part gets the parent table's header, which the whole lock has not.
        text.push_str(toml.strip_prefix("[domains]\n\n").unwrap_or(&toml));
    }
    text
}

/// One piece's entries, in order: each section by the strict reader of mtasts's own layout,
/// or, where it declines, by the TOML parser.
/// Appends the sections of `text`, which starts at a `[domains."..."]` header (or is empty),
/// parsed in pieces on several threads; `None` as for `parse_in_pieces`.
fn add_pieces(sections: &mut Vec<(String, Entry)>, text: &str) -> Option<()> {
    let headers: Vec<usize> = std::iter::once(0)
        .chain(headers(text))
        .filter(|&i| i < text.len())
        .collect();
    let bounds: Vec<usize> = headers
        .iter()
        .step_by(PIECE_DOMAINS)
        .copied()
        .chain(std::iter::once(text.len()))
        .collect();
    let pieces: Vec<&str> = bounds.windows(2).map(|w| &text[w[0]..w[1]]).collect();
    for part in on_threads(pieces, parse_piece) {
        sections.extend(part?);
    }
    Some(())
}

/// The map of the lock's sections; `None` if a domain has two. Sections in the order mtasts
/// writes them, strictly ascending, are built into the map in one pass instead of each being
/// searched for.
fn into_map(sections: Vec<(String, Entry)>) -> Option<BTreeMap<String, Entry>> {
    if sections.is_sorted_by(|a, b| a.0 < b.0) {
        return Some(sections.into_iter().collect());
    }
    let mut map = BTreeMap::new();
    for (domain, entry) in sections {
        map.insert(domain, entry).is_none().then_some(())?;
    }
    Some(map)
}

fn parse_piece(piece: &str) -> Option<Vec<(String, Entry)>> {
    let starts = std::iter::once(0).chain(headers(piece));
    let ends = starts.clone().skip(1).chain(std::iter::once(piece.len()));
    // Most domains list the mx of [defaults]: one copy per run of them.
    let mut mx: Option<std::sync::Arc<[String]>> = None;
    starts
        .zip(ends)
        .map(|(from, to)| {
            let section = &piece[from..to];
            fast::section(section, &mut mx).or_else(|| {
                let part: Part<String, Entry> = toml::from_str(section).ok()?;
                let mut entries = part.domains.into_iter();
                let first = entries.next()?;
                entries.next().is_none().then_some(first)
            })
        })
        .collect()
}

/// Where each `[domains.` header after the first line of `text` starts.
fn headers(text: &str) -> impl Iterator<Item = usize> + Clone + '_ {
    memchr::memmem::find_iter(text.as_bytes(), HEADER_AFTER_NEWLINE).map(|i| i + 1)
}

/// A section header at the start of a line.
const HEADER_AFTER_NEWLINE: &[u8] = b"\n[domains.";

/// Bytes of lock text read at a time.
const LOCK_BLOCK: usize = 4 << 20;

/// Domains per piece when the lock is parsed or written on several threads.
const PIECE_DOMAINS: usize = 1000;

/// A run of the lock's domains, parsed or serialised on its own.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Part<K: Ord, V> {
    domains: BTreeMap<K, V>,
}

/// Where the lock file of a config lives: beside it, same stem, `.lock`.
pub fn lock_path(config: &Path) -> PathBuf {
    config.with_extension("lock")
}

/// An exclusive lock on `.mtasts.lock` beside the config, held while a command writes.
#[derive(Debug)]
pub struct WorkLock {
    _file: File,
}

impl WorkLock {
    /// Takes the lock, waiting up to `wait` for another holder, else fails with [`Error::Busy`].
    pub fn acquire(config: &Path, wait: std::time::Duration) -> Result<WorkLock, Error> {
        let dir = config
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let path = dir.join(".mtasts.lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::io(&path))?;
        let deadline = std::time::Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(WorkLock { _file: file }),
                Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(std::fs::TryLockError::WouldBlock) => return Err(Error::Busy(path)),
                Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&path)(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, stage: Stage) -> Entry {
        Entry {
            id: id.into(),
            policy_sha256: "0".repeat(64).into(),
            stage,
            mode: Mode::Enforce,
            max_age: 604800,
            mx: vec!["mx.example.net".into()].into(),
            published: crate::clock::from_epoch("1700000000").unwrap(),
            max_age_high: 604800,
            sts_ended: None,
            retiring_since: None,
            remove_after: None,
            previous_id: None,
            previous_sha256: None,
            pin: None,
            notices: std::sync::Arc::default(),
        }
    }

    fn sample() -> Lock {
        let mut lock = Lock::new();
        lock.domains
            .insert("b.example".into(), entry("20250101000000", Stage::Active));
        lock.domains
            .insert("a.example".into(), entry("7", Stage::Removed));
        lock
    }

    proptest::proptest! {
        /// Line endings changed anywhere (CRLF, a lone CR, none), the text cut or extended at
        /// its end: the fast lock reader declines or agrees with the TOML parser.
        #[test]
        fn the_fast_reader_never_disagrees_with_toml(
            endings in proptest::collection::vec(
                (0usize..400, proptest::sample::select(vec!["\r\n", "\r", "", "\n\n", " \n"])),
                0..6),
            tail in proptest::sample::select(vec!["", "\r", "\n", "\r\n", " ", "x"]),
            cut in 0usize..4,
        ) {
            let text = sample().to_text();
            let lines: Vec<&str> = text.split_inclusive('\n').collect();
            let mut ends: Vec<&str> = vec!["\n"; lines.len()];
            for (at, end) in endings {
                ends[at % lines.len()] = end;
            }
            let mut changed = String::new();
            for (line, end) in lines.iter().zip(ends) {
                changed.push_str(line.strip_suffix('\n').unwrap_or(line));
                changed.push_str(end);
            }
            let keep = changed.len().saturating_sub(cut);
            changed.truncate(keep);
            changed.push_str(tail);
            if let Err(e) = Lock::fast_reader_agrees(&changed) {
                proptest::prop_assert!(false, "{e}\n{changed:?}");
            }
        }
    }

    #[test]
    fn the_fast_reader_takes_what_the_writer_writes() {
        assert_eq!(Lock::fast_reader_agrees(&sample().to_text()), Ok(true));
        assert_eq!(Lock::fast_reader_agrees(&big().to_text()), Ok(true));
    }

    #[test]
    fn text_is_sorted_and_round_trips() {
        let text = sample().to_text();
        assert!(text.find("a.example").unwrap() < text.find("b.example").unwrap());
        assert_eq!(text.matches("stage = \"removed\"").count(), 1);
        assert!(
            text.contains("published = \"2023-11-14T22:13:20Z\""),
            "{text}"
        );
        assert_eq!(Lock::parse(&text, "domains.lock").unwrap(), sample());
    }

    /// Enough domains for several pieces, with every optional field somewhere.
    fn big() -> Lock {
        let mut lock = Lock::new();
        for i in 0..2 * PIECE_DOMAINS + 7 {
            let mut e = entry(&format!("{}", 20250101000000u64 + i as u64), Stage::Active);
            if i % 7 == 0 {
                e.previous_id = Some("1".into());
                e.previous_sha256 = Some("1".repeat(64).into());
                e.notices = vec![Notice {
                    until: crate::clock::from_epoch("1800000000").unwrap(),
                    text: "a \"quoted\" note\nover [domains.\"x\"] two lines".into(),
                }]
                .into();
            }
            if i % 5 == 1 {
                let at = |s: &str| crate::clock::from_epoch(s).unwrap();
                e.stage = Stage::Retiring;
                e.mode = Mode::None;
                e.published = at("1700000000") + chrono::TimeDelta::nanoseconds(729_482_255);
                e.sts_ended = Some(at("1700000001"));
                e.retiring_since = Some(at("1700000002"));
                e.remove_after = Some(at("1700000003"));
                e.previous_id = Some("2".into());
                e.previous_sha256 = Some("2".repeat(64).into());
                e.pin = Some("pin1".into());
                e.mx = vec!["a.example.net".into(), "*.b.example.net".into()].into();
            }
            lock.domains.insert(format!("d{i}.example"), e);
        }
        // A name TOML writes bare, and one it must escape: both left to it.
        lock.domains
            .insert("bare-name".into(), entry("3", Stage::Active));
        lock.domains
            .insert("quote\"d.example".into(), entry("4", Stage::Active));
        lock
    }

    #[test]
    fn pieces_give_the_bytes_and_the_lock_of_one_whole_pass() {
        let lock = big();
        let text = lock.to_text();
        let whole = format!("{HEADER}{}", toml::to_string(&lock).unwrap());
        let at = text
            .bytes()
            .zip(whole.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(text.len().min(whole.len()));
        assert!(
            text == whole,
            "pieces differ from the whole at {at}: {:?} vs {:?}",
            &text[at.saturating_sub(80)..(at + 80).min(text.len())],
            &whole[at.saturating_sub(80)..(at + 80).min(whole.len())]
        );
        assert_eq!(Lock::parse_in_pieces(&text).as_ref(), Some(&lock));
        assert_eq!(Lock::parse(&text, "x").unwrap(), lock);
        // Blocks smaller than a section, of a few sections, and larger than the file.
        for block in [64, 1000, 100_000, text.len() + 1] {
            assert_eq!(
                Lock::read_in_blocks(text.as_bytes(), block).as_ref(),
                Some(&lock),
                "block {block}"
            );
        }
    }

    #[test]
    fn load_reads_a_lock_file_and_reports_a_hand_edit_at_its_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("domains.lock");
        assert_eq!(Lock::load(&path, "domains.lock").unwrap(), None);
        std::fs::write(&path, big().to_text()).unwrap();
        assert_eq!(Lock::load(&path, "domains.lock").unwrap(), Some(big()));
        let edited = big()
            .to_text()
            .replace("id = \"20250101000009\"", "id = \"2025-01-01\"");
        std::fs::write(&path, &edited).unwrap();
        let Err(Error::Invalid { problems, .. }) = Lock::load(&path, "domains.lock") else {
            panic!("a bad id must be refused");
        };
        let at = edited.find("d9.example").unwrap();
        assert_eq!(problems[0].span, at..at + "d9.example".len());
    }

    #[test]
    fn the_strict_reader_takes_every_section_the_writer_writes_without_notices() {
        let text = big().to_text();
        let first = text.find("\n[domains.").unwrap() + 1;
        let sections: Vec<String> = text[first..]
            .split("\n[domains.")
            .enumerate()
            .map(|(i, s)| {
                if i == 0 {
                    s.into()
                } else {
                    format!("[domains.{s}")
                }
            })
            .filter(|s| !s.contains("notices") && s.starts_with("[domains.\"d"))
            .collect();
        // All but the ones with notices and the two odd names.
        assert_eq!(
            sections.len(),
            big().domains.len() - (2 * PIECE_DOMAINS + 7).div_ceil(7) - 2
        );
        for section in &sections {
            assert!(fast::section(section, &mut None).is_some(), "{section}");
        }
    }

    #[test]
    fn a_duplicate_in_another_piece_is_the_whole_parser_s_error() {
        let text = big().to_text();
        let first = text.find("[domains.\"d0.example\"]").unwrap();
        let second = text[first + 1..].find("\n[domains.").unwrap() + first + 2;
        let doubled = format!("{text}\n{}", &text[first..second]);
        assert_eq!(Lock::parse_in_pieces(&doubled), None);
        assert_eq!(Lock::read_in_blocks(doubled.as_bytes(), 1000), None);
        assert!(matches!(
            Lock::parse(&doubled, "x"),
            Err(Error::Invalid { .. })
        ));
    }

    #[test]
    fn damaged_lock_is_an_error_not_an_empty_lock() {
        let text = sample().to_text();
        let truncated = &text[..text.len() - 20];
        assert!(matches!(
            Lock::parse(truncated, "x"),
            Err(Error::Invalid { .. })
        ));
        let future = text.replace("version = 1", "version = 2");
        assert!(matches!(
            Lock::parse(&future, "x"),
            Err(Error::Invalid { .. })
        ));
        let bad_id = text.replace("id = \"7\"", "id = \"2024-01-01\"");
        assert!(matches!(
            Lock::parse(&bad_id, "x"),
            Err(Error::Invalid { .. })
        ));
        let unknown = text.replace("version = 1", "version = 1\nextra = 3");
        assert!(matches!(
            Lock::parse(&unknown, "x"),
            Err(Error::Invalid { .. })
        ));
    }

    #[test]
    fn work_lock_is_exclusive() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("domains.toml");
        let no_wait = std::time::Duration::ZERO;
        let first = WorkLock::acquire(&config, no_wait).unwrap();
        assert!(matches!(
            WorkLock::acquire(&config, no_wait),
            Err(Error::Busy(_))
        ));
        drop(first);
        WorkLock::acquire(&config, no_wait).unwrap();
    }
}
