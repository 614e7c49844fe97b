//! `manifest.json`: the digest of the host set, every generated file (path, sha256, size, media
//! type) and every domain's id, mode and input digest. One entry per line, so that 100,000 domains stay readable with
//! `grep` and cheap to parse.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::Write;

use serde::Deserialize;

mod fast;

use crate::compact_map::Table;
pub use crate::digest::Digest;
use crate::digest::{hex, push_hex, unhex};
#[cfg(feature = "test-hooks")]
use crate::error::Disagreement;
use fast::{BLOCK, read_blocks};

/// The manifest's own path inside the output directory.
pub const PATH: &str = "manifest.json";

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

/// Why a manifest cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not the JSON document `write` gives.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A file entry whose sha256 is not 64 hex digits.
    #[error("{0}: bad sha256")]
    Sha256(String),
}

/// Reads the manifest at `path` and the sha256 of its bytes; `None` when it cannot be opened,
/// `Err` says why it cannot be used. The layout `write` gives is read a block at a time, each
/// block's lines parsed on every core while its bytes are hashed; anything else is read whole
/// and parsed as JSON.
pub fn read(path: &std::path::Path) -> Option<Result<(Recorded, Digest), ManifestError>> {
    let file = std::fs::File::open(path).ok()?;
    if let Some(read) = read_blocks(file, BLOCK) {
        return Some(Ok(read));
    }
    let bytes = std::fs::read(path).ok()?;
    Some(parse(&bytes).map(|r| (r, crate::digest::sha256(&bytes))))
}

/// Differential check of the block reader against serde_json, for the fuzz target and property
/// tests: `Ok(true)` when the block reader (with blocks of `block` bytes) took `bytes` and read
/// exactly what the whole-document parser reads, with the right sha256; `Ok(false)` when it
/// declined; `Err` at a disagreement.
#[cfg(feature = "test-hooks")]
pub fn fast_reader_agrees(bytes: &[u8], block: usize) -> Result<bool, Disagreement> {
    let Some((fast, sha)) = read_blocks(bytes, block.max(1)) else {
        return Ok(false);
    };
    let slow = parse(bytes)
        .map_err(|e| Disagreement(format!("the block reader took what JSON refuses: {e}")))?;
    let same = fast.hosts == slow.hosts
        && fast.files.iter().eq(slow.files.iter())
        && fast.inputs.iter().eq(slow.inputs.iter());
    if !same {
        return Err(Disagreement(format!(
            "block reader {fast:?}\nserde_json {slow:?}"
        )));
    }
    if sha != crate::digest::sha256(bytes) {
        return Err(Disagreement("the block reader hashed other bytes".into()));
    }
    Ok(true)
}

/// Parses a whole manifest as JSON; `Err` says why it cannot be used.
pub fn parse(bytes: &[u8]) -> Result<Recorded, ManifestError> {
    let doc: Doc = serde_json::from_slice(bytes)?;
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

fn file_value(f: &FileLine<'_>) -> Result<(Digest, u64), ManifestError> {
    let sha = unhex(&f.sha256).ok_or_else(|| ManifestError::Sha256(f.path.to_string()))?;
    Ok((sha, f.size))
}

/// A JSON string body that means itself: no quote, backslash or control character below
/// U+0020 (the only ones JSON must escape, and the only ones serde_json does).
fn plain(s: &str) -> bool {
    // Without an early exit the loop is vectorised; the strings are short.
    !s.bytes().fold(false, |bad, b| {
        bad | (b == b'"') | (b == b'\\') | (b < 0x20)
    })
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
    use fast::{PIECE_MIN, plain_domain, plain_file};

    /// A manifest as `write` lays it out, of `n` files and domains with awkward names.
    fn written(n: usize) -> Vec<u8> {
        let files: Vec<FileEntry> = (0..n)
            .map(|i| FileEntry {
                path: format!("dns/d{i:03}\"\\\u{e9}.zone"),
                sha256: [i as u8; 32],
                size: i as u64,
                media_type: "text/dns",
            })
            .collect();
        let domains: Vec<DomainEntry> = (0..n)
            .map(|i| DomainEntry {
                domain: format!("d{i:03}.example"),
                id: i.to_string(),
                mode: "testing",
                inputs: [i as u8; 32],
            })
            .collect();
        to_bytes(&[5; 32], &files, &domains)
    }

    proptest::proptest! {
        /// Line endings changed anywhere (CRLF, a lone CR, none), the text cut or extended at
        /// its end, read in blocks of any size: the block reader declines or agrees.
        #[test]
        fn the_block_reader_never_disagrees_with_serde_json(
            n in 0usize..6,
            endings in proptest::collection::vec(
                proptest::sample::select(vec!["\n", "\r\n", "\r", "", "\n\n"]), 0..40),
            tail in proptest::sample::select(vec!["", "\r", "\n", "\r\n", " ", "x"]),
            cut in 0usize..4,
            block in 1usize..300,
        ) {
            let text = String::from_utf8(written(n)).unwrap();
            let mut changed = String::new();
            for (i, line) in text.split_inclusive('\n').enumerate() {
                match endings.get(i) {
                    Some(end) => {
                        changed.push_str(line.strip_suffix('\n').unwrap_or(line));
                        changed.push_str(end);
                    }
                    None => changed.push_str(line),
                }
            }
            let keep = changed.len().saturating_sub(cut);
            let mut bytes = changed.into_bytes();
            bytes.truncate(keep);
            bytes.extend_from_slice(tail.as_bytes());
            if let Err(e) = fast_reader_agrees(&bytes, block) {
                proptest::prop_assert!(false, "{e}\n{}", String::from_utf8_lossy(&bytes));
            }
        }
    }

    #[test]
    fn the_block_reader_takes_its_own_layout() {
        for block in [1, 7, 4096] {
            assert_eq!(fast_reader_agrees(&written(5), block), Ok(true));
        }
    }

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
        for block in [1, 7, 64, bytes.len() + 1] {
            let (r, sha) = read_blocks(&bytes[..], block).expect("the writer's layout");
            assert_eq!(sha, crate::digest::sha256(&bytes));
            assert_eq!(r.files.len(), 2);
        }
        assert!(read_blocks(&pretty[..], 64).is_none());
        for text in [&bytes, &pretty] {
            std::fs::write(&path, text).unwrap();
            let (r, sha) = read(&path).unwrap().unwrap();
            assert_eq!(sha, crate::digest::sha256(text));
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
    fn a_large_manifest_is_read_in_pieces_as_the_json_parser_reads_it() {
        let files: Vec<FileEntry> = (0..6000u64)
            .map(|i| FileEntry {
                path: format!("dns/d{i:05}.example.zone"),
                sha256: [(i % 251) as u8; 32],
                size: i,
                media_type: "text/dns",
            })
            .collect();
        let domains: Vec<DomainEntry> = (0..2000u64)
            .map(|i| DomainEntry {
                domain: format!("d{i:05}.example"),
                id: i.to_string(),
                mode: "enforce",
                inputs: [(i % 7) as u8; 32],
            })
            .collect();
        let bytes = to_bytes(&[1; 32], &files, &domains);
        assert!(bytes.len() > 2 * PIECE_MIN, "more than one piece per block");
        let whole = parse(&bytes).unwrap();
        for block in [PIECE_MIN, BLOCK] {
            let (r, sha) = read_blocks(&bytes[..], block).expect("the writer's layout");
            assert_eq!(sha, crate::digest::sha256(&bytes));
            assert!(r.files.iter().eq(whole.files.iter()));
            assert!(r.inputs.iter().eq(whole.inputs.iter()));
            assert_eq!(r.files.len(), 6000);
            assert_eq!(
                r.inputs.get("d01999.example"),
                Some(&[(1999 % 7) as u8; 32])
            );
        }
        // Two paths out of order: the block reader refuses them, the JSON parser reads them.
        let text = String::from_utf8(bytes).unwrap();
        let swapped = text
            .replacen("dns/d00001.", "dns/d0000X.", 1)
            .replacen("dns/d00002.", "dns/d00001.", 1)
            .replacen("dns/d0000X.", "dns/d00002.", 1);
        assert!(read_blocks(swapped.as_bytes(), BLOCK).is_none());
        let r = parse(swapped.as_bytes()).unwrap();
        assert_eq!(r.files.get("dns/d00002.example.zone"), Some(&([1; 32], 1)));
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
