//! The lock file's text: written sorted and stable, read on several threads in pieces (the
//! strict `fast` reader per section, TOML for anything else), every problem located.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::diag::{Problem, SourceFile};
#[cfg(feature = "test-hooks")]
use crate::error::Disagreement;
use crate::error::Error;
use crate::model::valid_id;
use crate::parallel::on_threads;

use super::{Entry, LOCK_VERSION, Lock, fast};

pub(super) const HEADER: &str = "# domains.lock: written by `mtasts build`. Commit it with domains.toml.\n\
# It records, per domain, the MTA-STS policy id, the policy it names, and the history that\n\
# makes changes and retirement safe (RFC 8461 section 8.3). Do not edit by hand.\n\n";

impl Lock {
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
        if !self.dane.is_empty() {
            // Before the domains: the head the piecewise reader parses whole holds them.
            #[derive(Serialize)]
            struct Dane<'a> {
                dane: &'a BTreeMap<String, super::DaneEntry>,
            }
            let toml = toml::to_string(&Dane { dane: &self.dane })
                .expect("a lock of strings and integers serialises");
            write!(w, "\n{}", toml.strip_prefix("[dane]\n\n").unwrap_or(&toml))?;
        }
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
    pub(super) fn parse_in_pieces(text: &str) -> Option<Lock> {
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
        // A domain table in the head (an indented header, which TOML allows and the split at
        // line starts misses) is left to the whole-document parser: the fuzz harness found
        // the pieces dropping it.
        if lock.version != LOCK_VERSION || !lock.domains.is_empty() {
            return None;
        }
        add_pieces(sections, &text[head_end..])?;
        Some(lock)
    }

    /// `parse_in_pieces` over a file read a block at a time, each block cut before a
    /// `[domains."..."]` header, so that the text of a large lock is never in memory whole.
    pub(super) fn read_in_blocks(file: impl std::io::Read, block: usize) -> Option<Lock> {
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
    #[cfg(feature = "test-hooks")]
    pub fn fast_reader_agrees(text: &str) -> Result<bool, Disagreement> {
        for (from, to) in std::iter::once(0)
            .chain(headers(text))
            .zip(headers(text).chain(std::iter::once(text.len())))
        {
            let section = &text[from..to];
            if let Some(fast) = fast::section(section, &mut None) {
                let slow: Option<Part<String, Entry>> = toml::from_str(section).ok();
                let slow = slow.and_then(|p| p.domains.into_iter().next());
                if slow.as_ref() != Some(&fast) {
                    return Err(Disagreement(format!(
                        "section {section:?}: fast {fast:?}, TOML {slow:?}"
                    )));
                }
            }
        }
        let Some(fast) = Lock::parse_in_pieces(text) else {
            return Ok(false);
        };
        match Lock::parse_whole(text, "lock") {
            Ok(slow) if slow == fast => Ok(true),
            Ok(slow) => Err(Disagreement(format!("pieces {fast:?}\nwhole {slow:?}"))),
            Err(e) => Err(Disagreement(format!(
                "the fast path took what TOML refuses: {e}"
            ))),
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
        let bad_dane = self.dane.iter().find(|(_, e)| {
            e.keys.is_empty()
                || e.keys
                    .iter()
                    .any(|k| !hex64(&k.sha256) || !matches!(k.tlsa.as_str(), "3 1 1" | "2 1 1"))
        });
        if let Some((host, _)) = bad_dane {
            let at = text.find(host.as_str()).unwrap_or(0);
            return Err(invalid(
                text,
                name,
                at..at + host.len(),
                format!("the DANE entry for {host} has a digest mtasts never writes"),
                "edited by hand?",
                "digests are 64 lower-case hex digits with TLSA parameters \"3 1 1\" or \"2 1 1\"; restore the file from version control",
            ));
        }
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
            let hash_ok = hex64(&entry.policy_sha256);
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
pub(super) fn invalid(
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
pub(super) fn lock_piece(part: &[(&String, &Entry)]) -> String {
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

/// Whether `s` is a SHA-256 as mtasts writes it: 64 lower-case hex digits.
fn hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// One piece's entries, in order: each section by the strict reader of mtasts's own layout,
/// or, where it declines, by the TOML parser.
/// Appends the sections of `text`, which starts at a `[domains."..."]` header (or is empty),
/// parsed in pieces on several threads; `None` as for `parse_in_pieces`.
pub(super) fn add_pieces(sections: &mut Vec<(String, Entry)>, text: &str) -> Option<()> {
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
pub(super) fn into_map(sections: Vec<(String, Entry)>) -> Option<BTreeMap<String, Entry>> {
    if sections.is_sorted_by(|a, b| a.0 < b.0) {
        return Some(sections.into_iter().collect());
    }
    let mut map = BTreeMap::new();
    for (domain, entry) in sections {
        map.insert(domain, entry).is_none().then_some(())?;
    }
    Some(map)
}

pub(super) fn parse_piece(piece: &str) -> Option<Vec<(String, Entry)>> {
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
pub(super) fn headers(text: &str) -> impl Iterator<Item = usize> + Clone + '_ {
    memchr::memmem::find_iter(text.as_bytes(), HEADER_AFTER_NEWLINE).map(|i| i + 1)
}

/// A section header at the start of a line.
pub(super) const HEADER_AFTER_NEWLINE: &[u8] = b"\n[domains.";

/// Bytes of lock text read at a time.
pub(super) const LOCK_BLOCK: usize = 4 << 20;

/// Domains per piece when the lock is parsed or written on several threads.
pub(super) const PIECE_DOMAINS: usize = 1000;

/// A run of the lock's domains, parsed or serialised on its own.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Part<K: Ord, V> {
    pub(super) domains: BTreeMap<K, V>,
}
