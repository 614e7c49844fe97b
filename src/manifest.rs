//! `manifest.json`: the digest of the host set, every generated file (path, sha256, size, media
//! type) and every domain's id, mode and input digest. One entry per line, so that 100,000 domains stay readable with
//! `grep` and cheap to parse.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;

use serde::Deserialize;

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

/// The manifest text: `hosts` (the digest of everything the files made from all hosts were
/// rendered from), `files` sorted by path, `domains` by name; no timestamps, so the same
/// inputs give the same bytes.
pub fn to_bytes(hosts: &Digest, files: &[FileEntry], domains: &[DomainEntry]) -> Vec<u8> {
    let mut s = String::with_capacity(files.len() * 140 + domains.len() * 160 + 160);
    let _ = write!(
        s,
        "{{\n  \"generator\": \"mtasts\",\n  \"hosts\": \"{}\",\n  \"files\": [",
        hex(hosts)
    );
    for (i, f) in files.iter().enumerate() {
        s.push_str(if i == 0 {
            "\n    {\"path\": "
        } else {
            ",\n    {\"path\": "
        });
        push_json_string(&mut s, &f.path);
        s.push_str(", \"sha256\": \"");
        push_hex(&mut s, &f.sha256);
        let _ = write!(
            s,
            "\", \"size\": {}, \"media_type\": \"{}\"}}",
            f.size, f.media_type
        );
    }
    s.push_str("\n  ],\n  \"domains\": [");
    for (i, d) in domains.iter().enumerate() {
        s.push_str(if i == 0 {
            "\n    {\"domain\": "
        } else {
            ",\n    {\"domain\": "
        });
        push_json_string(&mut s, &d.domain);
        s.push_str(", \"id\": ");
        push_json_string(&mut s, &d.id);
        let _ = write!(s, ", \"mode\": \"{}\", \"inputs\": \"", d.mode);
        push_hex(&mut s, &d.inputs);
        s.push_str("\"}");
    }
    s.push_str("\n  ]\n}\n");
    s.into_bytes()
}

/// What a previous manifest recorded, in the form lookups need.
#[derive(Debug, Default)]
pub struct Recorded {
    /// Per path: sha256 and size.
    pub files: HashMap<String, (Digest, u64)>,
    /// Per domain: the input digest its files were rendered from.
    pub inputs: HashMap<String, Digest>,
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

/// One entry line of the layout `to_bytes` writes.
enum Line<'a> {
    File(FileLine<'a>),
    Domain(DomainLine<'a>),
}

/// Parses a previous manifest; `Err` says why it cannot be used.
pub fn parse(bytes: &[u8]) -> Result<Recorded, String> {
    let doc = match std::str::from_utf8(bytes).ok().and_then(parse_lines) {
        Some(doc) => doc,
        None => serde_json::from_slice(bytes).map_err(|e| e.to_string())?,
    };
    let mut recorded = Recorded {
        files: HashMap::with_capacity(doc.files.len()),
        inputs: HashMap::with_capacity(doc.domains.len()),
        // A manifest of an older release has none: its global files are rendered again.
        hosts: doc.hosts.as_deref().and_then(unhex),
    };
    for f in doc.files {
        let sha = unhex(&f.sha256).ok_or_else(|| format!("{}: bad sha256", f.path))?;
        recorded.files.insert(f.path.into_owned(), (sha, f.size));
    }
    for d in doc.domains {
        // A manifest of an older release has no input digests: its domains are rendered again.
        if let Some(inputs) = d.inputs.as_deref().and_then(unhex) {
            recorded.inputs.insert(d.domain.into_owned(), inputs);
        }
    }
    Ok(recorded)
}

/// The fast path for a manifest in the layout `to_bytes` writes: its entry lines are parsed
/// on several threads. Anything else gives `None`, and the document is parsed as a whole.
fn parse_lines(text: &str) -> Option<Doc<'_>> {
    let rest = text.strip_prefix("{\n  \"generator\": \"mtasts\",\n  \"hosts\": \"")?;
    let (hosts, rest) = rest.split_once("\",\n")?;
    let body = rest.strip_prefix("  \"files\": [")?;
    let (files, rest) = body.split_once("\n  ],\n  \"domains\": [")?;
    let domains = rest.strip_suffix("\n  ]\n}\n")?;
    let lines: Vec<(bool, &str)> = files
        .lines()
        .skip(1)
        .map(|l| (true, l))
        .chain(domains.lines().skip(1).map(|l| (false, l)))
        .collect();
    let parsed = crate::state::on_threads(lines, |(file, line)| {
        let line = line.strip_prefix("    ")?;
        let line = line.strip_suffix(',').unwrap_or(line);
        if file {
            plain_file(line)
                .or_else(|| serde_json::from_str(line).ok())
                .map(Line::File)
        } else {
            plain_domain(line)
                .or_else(|| serde_json::from_str(line).ok())
                .map(Line::Domain)
        }
    });
    let mut doc = Doc {
        hosts: plain(hosts).then_some(Cow::Borrowed(hosts)),
        files: Vec::new(),
        domains: Vec::new(),
    };
    for line in parsed {
        match line? {
            Line::File(f) => doc.files.push(f),
            Line::Domain(d) => doc.domains.push(d),
        }
    }
    Some(doc)
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
        assert_eq!(back.files["dns/a\"b.zone"], ([7; 32], 12));
        assert_eq!(back.inputs["a.example"], [9; 32]);
        assert_eq!(back.hosts, Some([5; 32]));
        assert!(
            parse(b"{\"files\": [{\"path\": \"x\", \"sha256\": \"zz\", \"size\": 1}]}").is_err()
        );
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
        assert_eq!(back.files["dns/a\"b.zone"], ([7; 32], 1));
    }
}
