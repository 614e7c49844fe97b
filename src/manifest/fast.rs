//! The reader of the layout `write` gives: a manifest of 100,000 domains read a block at a
//! time, each block's lines parsed on every core while its bytes are hashed, without a JSON
//! parser for lines whose strings need no unescaping. Anything else is declined, and
//! `serde_json` reads the whole document (`fast_reader_agrees` proves the two agree).

use std::borrow::Cow;
use std::io::Read;

use sha2::{Digest as _, Sha256};

use super::{DomainLine, FileLine, Recorded, plain};
use crate::compact_map::Sorted;
use crate::digest::{Digest, unhex};

/// A block is parsed in one piece below this size: a thread costs more than it saves.
pub(super) const PIECE_MIN: usize = 256 << 10;

/// Bytes of a manifest read, hashed and parsed at a time.
pub(super) const BLOCK: usize = 4 << 20;

/// The layout `write` gives, with the sha256 of its bytes; `None` at the first line that
/// differs from it, at a bad hash, or at a path or domain out of order (the whole-document
/// parser then says why, or takes them as they are).
pub(super) fn read_blocks(file: impl Read, block: usize) -> Option<(Recorded, Digest)> {
    let mut hasher = Sha256::new();
    let mut layout = Layout::default();
    crate::parallel::read_in_blocks(
        file,
        block,
        |text| text.rfind('\n').map(|i| i + 1),
        |text| {
            // A line without its newline can only be the last, and is not the layout's.
            (text.is_empty() || text.ends_with('\n')).then_some(())?;
            let pieces = crate::parallel::pieces(text, crate::parallel::threads(), PIECE_MIN);
            let parsed = if pieces.len() > 1 {
                std::thread::scope(|s| {
                    let hashed = s.spawn(|| hasher.update(text));
                    let parsed = crate::parallel::on_threads(pieces, parse_lines);
                    hashed
                        .join()
                        .unwrap_or_else(|p| std::panic::resume_unwind(p));
                    parsed
                })
            } else {
                hasher.update(text);
                pieces.into_iter().map(parse_lines).collect()
            };
            parsed
                .into_iter()
                .try_for_each(|lines| lines?.into_iter().try_for_each(|l| layout.take(l)))
        },
    )?;
    Some((layout.finish()?, hasher.finalize().into()))
}

/// One line of a manifest in the layout `write` gives.
enum Line<'a> {
    File(Cow<'a, str>, (Digest, u64)),
    Domain(Cow<'a, str>, Digest),
    /// A line that is not an entry: a bracket, a key, or something else.
    Other(&'a str),
}

/// Every line of `text`, which ends with a newline; `None` at an entry that cannot be read.
fn parse_lines(text: &str) -> Option<Vec<Line<'_>>> {
    text.split_terminator('\n').map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Line<'_>> {
    let Some(entry) = line.strip_prefix("    ") else {
        return Some(Line::Other(line));
    };
    let entry = entry.strip_suffix(',').unwrap_or(entry);
    if let Some(f) = plain_file(entry) {
        return Some(Line::File(f.path, (unhex(&f.sha256)?, f.size)));
    }
    if let Some(d) = plain_domain(entry) {
        return Some(Line::Domain(d.domain, unhex(d.inputs.as_deref()?)?));
    }
    if let Ok(f) = serde_json::from_str::<FileLine>(entry) {
        return Some(Line::File(f.path, (unhex(&f.sha256)?, f.size)));
    }
    let d: DomainLine = serde_json::from_str(entry).ok()?;
    Some(Line::Domain(d.domain, unhex(d.inputs.as_deref()?)?))
}

/// Where the reader is in the layout `write` gives, and what it has read.
#[derive(Default)]
struct Layout {
    at: Stage,
    hosts: Option<Digest>,
    files: Sorted<(Digest, u64)>,
    inputs: Sorted<Digest>,
}

/// The line a `Layout` expects next.
#[derive(Default, Clone, Copy, PartialEq)]
enum Stage {
    #[default]
    Open,
    Generator,
    Hosts,
    FilesKey,
    Files,
    DomainsKey,
    Domains,
    Close,
    Done,
}

impl Layout {
    /// Takes the next line; `None` where it does not belong.
    fn take(&mut self, line: Line<'_>) -> Option<()> {
        self.at = match (self.at, line) {
            (Stage::Open, Line::Other("{")) => Stage::Generator,
            (Stage::Generator, Line::Other("  \"generator\": \"mtasts\",")) => Stage::Hosts,
            (Stage::Hosts, Line::Other(line)) => {
                // Exactly the digest the writer writes; anything else is for the JSON parser
                // (the fuzz harness found a line it took that JSON refuses).
                let hosts = line.strip_prefix("  \"hosts\": \"")?;
                self.hosts = Some(unhex(hosts.strip_suffix("\",")?)?);
                Stage::FilesKey
            }
            (Stage::FilesKey, Line::Other("  \"files\": [")) => Stage::Files,
            (Stage::Files, Line::File(path, value)) => {
                self.files.push(&path, value)?;
                Stage::Files
            }
            (Stage::Files, Line::Other("  ],")) => Stage::DomainsKey,
            (Stage::DomainsKey, Line::Other("  \"domains\": [")) => Stage::Domains,
            (Stage::Domains, Line::Domain(domain, inputs)) => {
                self.inputs.push(&domain, inputs)?;
                Stage::Domains
            }
            (Stage::Domains, Line::Other("  ]")) => Stage::Close,
            (Stage::Close, Line::Other("}")) => Stage::Done,
            _ => return None,
        };
        Some(())
    }

    /// What was read, if the layout was read to its end.
    fn finish(self) -> Option<Recorded> {
        (self.at == Stage::Done).then_some(())?;
        Some(Recorded {
            files: self.files.finish(),
            inputs: self.inputs.finish(),
            hosts: self.hosts,
        })
    }
}

/// A file line as `to_bytes` writes it, read without a JSON parser when no string in it has
/// an escape; `None` leaves the line to serde_json.
pub(super) fn plain_file(line: &str) -> Option<FileLine<'_>> {
    let (path, rest) = quoted(line.strip_prefix("{\"path\": \"")?)?;
    let (sha256, rest) = quoted(rest.strip_prefix(", \"sha256\": \"")?)?;
    let rest = rest.strip_prefix(", \"size\": ")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (size, rest) = rest.split_at(digits);
    let (media_type, rest) = quoted(rest.strip_prefix(", \"media_type\": \"")?)?;
    let plain_size = !size.is_empty() && (size == "0" || !size.starts_with('0'));
    // The hash is checked by `unhex`.
    (plain_size && rest == "}" && plain(path) && plain(media_type)).then_some(())?;
    Some(FileLine {
        path: Cow::Borrowed(path),
        sha256: Cow::Borrowed(sha256),
        size: size.parse().ok()?,
    })
}

/// A domain line as `to_bytes` writes it, like `plain_file`.
pub(super) fn plain_domain(line: &str) -> Option<DomainLine<'_>> {
    let (domain, rest) = quoted(line.strip_prefix("{\"domain\": \"")?)?;
    let (id, rest) = quoted(rest.strip_prefix(", \"id\": \"")?)?;
    let (mode, rest) = quoted(rest.strip_prefix(", \"mode\": \"")?)?;
    let (inputs, rest) = quoted(rest.strip_prefix(", \"inputs\": \"")?)?;
    (rest == "}" && plain(domain) && plain(id) && plain(mode)).then_some(())?;
    Some(DomainLine {
        domain: Cow::Borrowed(domain),
        inputs: Some(Cow::Borrowed(inputs)),
    })
}

/// The text up to the next double quote, and what follows that quote. A backslash before it
/// makes the string one `plain` refuses, so the quote found is the closing one whenever it
/// matters.
fn quoted(text: &str) -> Option<(&str, &str)> {
    let end = text.find('"')?;
    Some((&text[..end], &text[end + 1..]))
}
