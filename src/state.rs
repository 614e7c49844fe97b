//! `domains.lock`: the ids we published and the policy bytes they name; plus the process lock.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::diag::{Problem, SourceFile};
use crate::error::Error;

/// Format version written by this build of mtasts.
pub const LOCK_VERSION: u32 = 1;

const HEADER: &str = "# domains.lock: written by `mtasts build`. Commit it with domains.toml.\n\
# It records the MTA-STS policy id published for each domain and the sha256 of the policy\n\
# bytes that id names, so an id changes only when the policy does. Do not edit by hand.\n\n";

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

/// What was last published for one domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The `_mta-sts` TXT id.
    pub id: String,
    /// sha256 (hex) of the policy bytes the id names.
    pub policy_sha256: String,
    /// The domain has left the config; kept so that a returning domain gets a greater id.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
}

impl Lock {
    /// An empty lock of the current version.
    pub fn new() -> Lock {
        Lock {
            version: LOCK_VERSION,
            domains: BTreeMap::new(),
        }
    }

    /// The file text: header comment, then sorted TOML.
    pub fn to_text(&self) -> String {
        let body = toml::to_string(self).expect("a lock of strings and integers serialises");
        format!("{HEADER}{body}")
    }

    /// Parses and checks lock text; `name` is how diagnostics call the file.
    pub fn parse(text: &str, name: &str) -> Result<Lock, Error> {
        let invalid = |span: std::ops::Range<usize>, message: String, label: &str, help: &str| {
            Error::Invalid {
                file: SourceFile::new(name, text),
                problems: vec![Problem::error(span, message, label).help(help)],
            }
        };
        let lock: Lock = toml::from_str(text).map_err(|e| {
            invalid(
                e.span().unwrap_or(0..0),
                format!("the lock file is damaged: {}", e.message().trim()),
                "cannot read this",
                "restore it from version control (git checkout -- domains.lock); deleting it gives every domain a new id",
            )
        })?;
        if lock.version != LOCK_VERSION {
            let at = text.find("version").unwrap_or(0);
            return Err(invalid(
                at..at + "version".len(),
                format!(
                    "lock file version {} is not supported (this mtasts writes version {LOCK_VERSION})",
                    lock.version
                ),
                "unknown version",
                "it was written by another mtasts release; use that release, or restore the file from version control",
            ));
        }
        for (domain, entry) in &lock.domains {
            let id_ok = !entry.id.is_empty()
                && entry.id.len() <= 32
                && entry.id.bytes().all(|b| b.is_ascii_alphanumeric());
            let hash_ok = entry.policy_sha256.len() == 64
                && entry
                    .policy_sha256
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
            if !id_ok || !hash_ok {
                let at = text.find(domain.as_str()).unwrap_or(0);
                return Err(invalid(
                    at..at + domain.len(),
                    format!(
                        "the lock entry for {domain} has an invalid {}",
                        if id_ok { "policy_sha256" } else { "id" }
                    ),
                    "edited by hand?",
                    "ids are 1-32 letters and digits (RFC 8461 §3.1); restore the file from version control",
                ));
            }
        }
        Ok(lock)
    }

    /// Reads the lock at `path`; a missing file is an empty lock.
    pub fn load(path: &Path, name: &str) -> Result<Option<Lock>, Error> {
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
    /// Takes the lock or fails at once with [`Error::Busy`].
    pub fn acquire(config: &Path) -> Result<WorkLock, Error> {
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
        match file.try_lock() {
            Ok(()) => Ok(WorkLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::Busy(path)),
            Err(std::fs::TryLockError::Error(e)) => Err(Error::io(&path)(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lock {
        let mut lock = Lock::new();
        for (d, id) in [("b.example", "20250101000000"), ("a.example", "7")] {
            lock.domains.insert(
                d.into(),
                Entry {
                    id: id.into(),
                    policy_sha256: "0".repeat(64),
                    removed: d == "a.example",
                },
            );
        }
        lock
    }

    #[test]
    fn text_is_sorted_and_round_trips() {
        let text = sample().to_text();
        assert!(text.find("a.example").unwrap() < text.find("b.example").unwrap());
        assert_eq!(text.matches("removed = true").count(), 1);
        assert_eq!(Lock::parse(&text, "domains.lock").unwrap(), sample());
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
        let first = WorkLock::acquire(&config).unwrap();
        assert!(matches!(WorkLock::acquire(&config), Err(Error::Busy(_))));
        drop(first);
        WorkLock::acquire(&config).unwrap();
    }
}
