//! `manifest.json`: the digest of the host set, every generated file (path, sha256, size, media
//! type) and every domain's id, mode and input digest. One entry per line, so that 100,000 domains stay readable with
//! `grep` and cheap to parse.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};

use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::table::Table;

/// The manifest's own path inside the output directory.
pub const PATH: &str = "manifest.json";

/// A sha256 digest.
pub type Digest = [u8; 32];

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative to the output directory, `/`-separated.
    pub path: String,
    /// sha256 of the bytes.
    pub sha256: Digest,
    /// Size in bytes.
    pub size: u64,
    /// Media type to serve it with.
    pub media_type: &'static str,
}

/// One domain's published state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainEntry {
    /// A-label name.
    pub domain: String,
    /// The `_mta-sts` id.
    pub id: String,
    /// Policy mode.
    pub mode: &'static str,
    /// sha256 over everything the domain's files were rendered from: when it is unchanged, the
    /// next build copies the domain's file entries instead of rendering them again.
    pub inputs: Digest,
}

/// Writes the manifest text: `hosts` (the digest of everything the files made from all hosts
/// were rendered from), `files` sorted by path, `domains` by name; no timestamps, so the same
/// inputs give the same bytes. It is streamed: at 100,000 domains it is 70 MB.
pub fn write(
    w: &mut (impl Write + ?Sized),
    hosts: &Digest,
    files: &[FileEntry],
    domains: &[DomainEntry],
) -> std::io::Result<()> {
    write!(
        w,
        "{{\n  \"generator\": \"mtasts\",\n  \"hosts\": \"{}\",\n  \"files\": [",
        hex(hosts)
    )?;
    let mut line = String::with_capacity(256);
    for (i, f) in files.iter().enumerate() {
        line.clear();
        line.push_str(if i == 0 { "\n" } else { ",\n" });
        line.push_str("    {\"path\": ");
        push_json_string(&mut line, &f.path);
        line.push_str(", \"sha256\": \"");
        push_hex(&mut line, &f.sha256);
        let _ = write!(
            line,
            "\", \"size\": {}, \"media_type\": \"{}\"}}",
            f.size, f.media_type
        );
        w.write_all(line.as_bytes())?;
    }
    w.write_all(b"\n  ],\n  \"domains\": [")?;
    for (i, d) in domains.iter().enumerate() {
        line.clear();
        line.push_str(if i == 0 { "\n" } else { ",\n" });
        line.push_str("    {\"domain\": ");
        push_json_string(&mut line, &d.domain);
        line.push_str(", \"id\": ");
        push_json_string(&mut line, &d.id);
        let _ = write!(line, ", \"mode\": \"{}\", \"inputs\": \"", d.mode);
        push_hex(&mut line, &d.inputs);
        line.push_str("\"}");
        w.write_all(line.as_bytes())?;
    }
    w.write_all(b"\n  ]\n}\n")
}

/// The manifest text as bytes.
#[cfg(test)]
pub fn to_bytes(hosts: &Digest, files: &[FileEntry], domains: &[DomainEntry]) -> Vec<u8> {
    let mut bytes = Vec::new();
    write(&mut bytes, hosts, files, domains).expect("a Vec takes every write");
    bytes
}

/// What a previous manifest recorded, in the form lookups need.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Per path: sha256 and size, in manifest order.
    pub files: Table<(Digest, u64)>,
    /// Per domain: the input digest its files were rendered from, in manifest order.
    pub inputs: Table<Digest>,
    /// The digest the files made from every host were rendered from.
    pub hosts: Option<Digest>,
}

#[derive(Deserialize)]
struct Doc<'a> {
    #[serde(default, borrow)]
    hosts: Option<Cow<'a, str>>,
    #[serde(borrow)]
    files: Vec<FileLine<'a>>,
    #[serde(default, borrow)]
    domains: Vec<DomainLine<'a>>,
}

#[derive(Deserialize)]
struct FileLine<'a> {
    #[serde(borrow)]
    path: Cow<'a, str>,
    #[serde(borrow)]
    sha256: Cow<'a, str>,
    size: u64,
}

#[derive(Deserialize)]
struct DomainLine<'a> {
    #[serde(borrow)]
    domain: Cow<'a, str>,
    #[serde(default, borrow)]
    inputs: Option<Cow<'a, str>>,
}

/// Reads the manifest at `path` and the sha256 of its bytes; `None` when it cannot be opened,
/// `Err` says why it cannot be used. The layout `write` gives is read line by line as it
/// streams in; anything else is read whole and parsed as JSON.
pub fn read(path: &std::path::Path) -> Option<Result<(Recorded, Digest), String>> {
    let file = std::fs::File::open(path).ok()?;
    let mut reader = BufReader::with_capacity(1 << 16, Hashing::new(file));
    if let Some(recorded) = read_lines(&mut reader) {
        return Some(Ok((recorded, reader.into_inner().digest())));
    }
    let bytes = std::fs::read(path).ok()?;
    Some(parse(&bytes).map(|r| (r, crate::plan::sha256(&bytes))))
}

/// Parses a whole manifest as JSON; `Err` says why it cannot be used.
pub fn parse(bytes: &[u8]) -> Result<Recorded, String> {
    let doc: Doc = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let mut recorded = Recorded {
        files: Table::with_capacity(doc.files.len()),
        inputs: Table::with_capacity(doc.domains.len()),
        // A manifest of an older release has none: its global files are rendered again.
        hosts: doc.hosts.as_deref().and_then(unhex),
    };
    for f in doc.files {
        recorded.files.insert(&f.path, file_value(&f)?);
    }
    for d in doc.domains {
        // A manifest of an older release has no input digests: its domains are rendered again.
        if let Some(inputs) = d.inputs.as_deref().and_then(unhex) {
            recorded.inputs.insert(&d.domain, inputs);
        }
    }
    Ok(recorded)
}

fn file_value(f: &FileLine<'_>) -> Result<(Digest, u64), String> {
    let sha = unhex(&f.sha256).ok_or_else(|| format!("{}: bad sha256", f.path))?;
    Ok((sha, f.size))
}

/// The layout `write` gives, line by line; `None` at the first line that differs from it, or
/// at a bad hash (the whole-document parser then says why).
fn read_lines(reader: &mut impl BufRead) -> Option<Recorded> {
    let mut line = String::with_capacity(256);
    expect_line(reader, &mut line, "{")?;
    expect_line(reader, &mut line, "  \"generator\": \"mtasts\",")?;
    next_line(reader, &mut line)?;
    let hosts = line
        .strip_prefix("  \"hosts\": \"")?
        .strip_suffix("\",")
        .filter(|h| plain(h))
        .and_then(unhex);
    let mut recorded = Recorded {
        hosts,
        ..Recorded::default()
    };
    expect_line(reader, &mut line, "  \"files\": [")?;
    loop {
        next_line(reader, &mut line)?;
        if line == "  ]," {
            break;
        }
        let entry = entry_line(&line)?;
        let f = plain_file(entry).or_else(|| serde_json::from_str(entry).ok())?;
        recorded.files.insert(&f.path, file_value(&f).ok()?);
    }
    expect_line(reader, &mut line, "  \"domains\": [")?;
    loop {
        next_line(reader, &mut line)?;
        if line == "  ]" {
            break;
        }
        let entry = entry_line(&line)?;
        let d: DomainLine = plain_domain(entry).or_else(|| serde_json::from_str(entry).ok())?;
        recorded
            .inputs
            .insert(&d.domain, unhex(d.inputs.as_deref()?)?);
    }
    expect_line(reader, &mut line, "}")?;
    // Nothing may follow.
    (next_line(reader, &mut line).is_none() && line.is_empty()).then_some(())?;
    recorded.files.shrink_to_fit();
    recorded.inputs.shrink_to_fit();
    Some(recorded)
}

/// The next line, which must be `want`.
fn expect_line(reader: &mut impl BufRead, line: &mut String, want: &str) -> Option<()> {
    next_line(reader, line).filter(|()| line == want)
}

/// The next line into `line`, without its newline; `None` at the end or at a line without one.
fn next_line(reader: &mut impl BufRead, line: &mut String) -> Option<()> {
    line.clear();
    reader.read_line(line).ok()?;
    line.strip_suffix('\n')?;
    line.pop();
    Some(())
}

/// An entry line without its indent and trailing comma.
fn entry_line(line: &str) -> Option<&str> {
    let line = line.strip_prefix("    ")?;
    Some(line.strip_suffix(',').unwrap_or(line))
}

/// A reader or writer that hashes what passes through it.
pub struct Hashing<T> {
    inner: T,
    hasher: Sha256,
}

impl<T> Hashing<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The sha256 of everything read or written so far.
    pub fn digest(self) -> Digest {
        self.hasher.finalize().into()
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A file line as `to_bytes` writes it, read without a JSON parser when no string in it has
/// an escape; `None` leaves the line to serde_json.
fn plain_file(line: &str) -> Option<FileLine<'_>> {
    let (path, rest) = quoted(line.strip_prefix("{\"path\": \"")?)?;
    let (sha256, rest) = quoted(rest.strip_prefix(", \"sha256\": \"")?)?;
    let rest = rest.strip_prefix(", \"size\": ")?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (size, rest) = rest.split_at(digits);
    let (media_type, rest) = quoted(rest.strip_prefix(", \"media_type\": \"")?)?;
    let plain_size = !size.is_empty() && (size == "0" || !size.starts_with('0'));
    (plain_size && rest == "}" && [path, sha256, media_type].iter().all(|s| plain(s)))
        .then_some(())?;
    Some(FileLine {
        path: Cow::Borrowed(path),
        sha256: Cow::Borrowed(sha256),
        size: size.parse().ok()?,
    })
}

/// A domain line as `to_bytes` writes it, like `plain_file`.
fn plain_domain(line: &str) -> Option<DomainLine<'_>> {
    let (domain, rest) = quoted(line.strip_prefix("{\"domain\": \"")?)?;
    let (id, rest) = quoted(rest.strip_prefix(", \"id\": \"")?)?;
    let (mode, rest) = quoted(rest.strip_prefix(", \"mode\": \"")?)?;
    let (inputs, rest) = quoted(rest.strip_prefix(", \"inputs\": \"")?)?;
    (rest == "}" && [domain, id, mode, inputs].iter().all(|s| plain(s))).then_some(())?;
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

/// A JSON string body that means itself: no quote, backslash or control character.
fn plain(s: &str) -> bool {
    !s.chars().any(|c| c == '"' || c == '\\' || c.is_control())
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    s
}

/// Appends `bytes` in lower-case hex.
fn push_hex(s: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
}

fn unhex(s: &str) -> Option<Digest> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let bytes = s.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// Appends `text` as a JSON string, as serde_json writes it.
fn push_json_string(s: &mut String, text: &str) {
    if plain(text) {
        s.push('"');
        s.push_str(text);
        s.push('"');
    } else {
        s.push_str(&serde_json::to_string(text).expect("a string serialises"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_is_json() {
        let files = vec![FileEntry {
            path: "dns/a\"b.zone".into(),
            sha256: [7; 32],
            size: 12,
            media_type: "text/dns",
        }];
        let domains = vec![DomainEntry {
            domain: "a.example".into(),
            id: "1".into(),
            mode: "enforce",
            inputs: [9; 32],
        }];
        let bytes = to_bytes(&[5; 32], &files, &domains);
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["files"][0]["path"], "dns/a\"b.zone");
        assert_eq!(value["files"][0]["sha256"], hex(&[7; 32]));
        assert_eq!(value["domains"][0]["mode"], "enforce");
        let back = parse(&bytes).unwrap();
        assert_eq!(back.files.get("dns/a\"b.zone"), Some(&([7; 32], 12)));
        assert_eq!(back.inputs.get("a.example"), Some(&[9; 32]));
        assert_eq!(back.hosts, Some([5; 32]));
        assert!(
            parse(b"{\"files\": [{\"path\": \"x\", \"sha256\": \"zz\", \"size\": 1}]}").is_err()
        );
    }

    #[test]
    fn read_streams_its_own_layout_and_parses_any_other_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PATH);
        let files: Vec<FileEntry> = ["a", "b\\c"]
            .iter()
            .enumerate()
            .map(|(i, p)| FileEntry {
                path: format!("dns/{p}.zone"),
                sha256: [i as u8; 32],
                size: i as u64,
                media_type: "text/dns",
            })
            .collect();
        let domains = [DomainEntry {
            domain: "a.example".into(),
            id: "1".into(),
            mode: "testing",
            inputs: [4; 32],
        }];
        let bytes = to_bytes(&[5; 32], &files, &domains);
        let pretty = serde_json::to_vec_pretty(
            &serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
        )
        .unwrap();
        assert!(read_lines(&mut &bytes[..]).is_some());
        assert!(read_lines(&mut &pretty[..]).is_none());
        for text in [&bytes, &pretty] {
            std::fs::write(&path, text).unwrap();
            let (r, sha) = read(&path).unwrap().unwrap();
            assert_eq!(sha, crate::plan::sha256(text));
            assert_eq!(r.hosts, Some([5; 32]));
            assert_eq!(
                r.files.iter().collect::<Vec<_>>(),
                [
                    ("dns/a.zone", &([0; 32], 0)),
                    ("dns/b\\c.zone", &([1; 32], 1))
                ]
            );
            assert_eq!(r.inputs.get("a.example"), Some(&[4; 32]));
        }
        let mut trailing = bytes.clone();
        trailing.extend_from_slice(b"{}");
        std::fs::write(&path, &trailing).unwrap();
        assert!(read(&path).unwrap().is_err());
        assert!(read(&dir.path().join("missing")).is_none());
    }

    #[test]
    fn plain_lines_are_read_as_serde_json_reads_them() {
        let files = [
            ("dns/a.example.zone", [1; 32], 0),
            (
                "webroot/mta-sts.xn--bcher-kva.example/.well-known/mta-sts.txt",
                [2; 32],
                448,
            ),
        ];
        for (path, sha, size) in files {
            let f = FileEntry {
                path: path.into(),
                sha256: sha,
                size,
                media_type: "text/plain",
            };
            let text = String::from_utf8(to_bytes(&[0; 32], &[f], &[])).unwrap();
            let line = text.lines().nth(4).unwrap().trim_start();
            let fast = plain_file(line).expect("a plain line");
            let slow: FileLine = serde_json::from_str(line).unwrap();
            assert_eq!(
                (fast.path, fast.sha256, fast.size),
                (slow.path, slow.sha256, slow.size)
            );
        }
        let d = DomainEntry {
            domain: "a.example".into(),
            id: "7".into(),
            mode: "none",
            inputs: [3; 32],
        };
        let text = String::from_utf8(to_bytes(&[0; 32], &[], &[d])).unwrap();
        let line = text.lines().nth(6).unwrap().trim_start();
        let fast = plain_domain(line).expect("a plain line");
        let slow: DomainLine = serde_json::from_str(line).unwrap();
        assert_eq!((fast.domain, fast.inputs), (slow.domain, slow.inputs));
        for line in [
            r#"{"path": "a\u0062", "sha256": "00", "size": 1, "media_type": "text/plain"}"#,
            r#"{"path": "a", "sha256": "00", "size": -1, "media_type": "text/plain"}"#,
            r#"{"path": "a", "size": 1, "sha256": "00", "media_type": "text/plain"}"#,
        ] {
            assert!(plain_file(line).is_none(), "{line}");
        }
        let escaped = FileEntry {
            path: "dns/a\"b.zone".into(),
            sha256: [7; 32],
            size: 1,
            media_type: "text/dns",
        };
        let back = parse(&to_bytes(&[0; 32], &[escaped], &[])).unwrap();
        assert_eq!(back.files.get("dns/a\"b.zone"), Some(&([7; 32], 1)));
    }
}
