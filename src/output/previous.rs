//! What the previous build left: its manifest, and how far the files on disk can be taken to
//! be what it lists (the stat index's scan, the in-progress marker, `--verify`).

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::Path;

use super::IN_PROGRESS;
use super::index;
use crate::manifest::{Digest, DomainEntry, FileEntry, Recorded};

/// What the previous build left: its manifest, and whether the disk can be assumed to match it.
#[derive(Default)]
pub struct Previous {
    pub(super) recorded: Recorded,
    pub(super) manifest_sha: Option<Digest>,
    pub(super) trusted: bool,
    /// Files the manifest lists whose stat differs from the stat index's record: they are
    /// read before anything is taken for granted about them.
    pub(super) changed: HashSet<String>,
    /// Whether the stat index vouched for every file, so that a build writing nothing need
    /// not write it again.
    pub(super) indexed: bool,
}

impl Previous {
    /// Reads `out`'s manifest. The previous build's files are trusted to be as it recorded them
    /// unless `verify` is set, that build did not finish, or a directory it wrote into is gone;
    /// an untrusted tree is compared byte for byte. The warning says why a manifest that exists
    /// cannot be used.
    pub fn load(out: &Path, verify: bool) -> (Previous, Option<String>) {
        Previous::load_scanned(out, verify, None)
    }

    /// `load`, with the stat index's scan of the tree when it was made beforehand (beside other
    /// work: it is 300,000 `lstat` calls at 100,000 domains).
    pub fn load_scanned(
        out: &Path,
        verify: bool,
        scan: Option<Option<index::Scan>>,
    ) -> (Previous, Option<String>) {
        let path = out.join(crate::manifest::PATH);
        let regular = fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
        let (recorded, manifest_sha, warning) = match regular
            .then(|| crate::manifest::read(&path))
            .flatten()
        {
            Some(Ok((r, sha))) => (Some(r), Some(sha), None),
            Some(Err(e)) => (
                None,
                None,
                Some(format!(
                    "{} is damaged ({e}); treating it as missing, so no stale file is pruned this time",
                    path.display()
                )),
            ),
            None => (None, None, None),
        };
        let mut previous = Previous {
            recorded: recorded.unwrap_or_default(),
            manifest_sha,
            ..Previous::default()
        };
        previous.vouch(out, verify, scan);
        (previous, warning)
    }

    /// The same manifest, still in memory, for the next build of a long-running `watch`; whether
    /// the tree is trusted is decided again.
    pub fn reuse(mut self, out: &Path, verify: bool) -> Previous {
        self.vouch(out, verify, None);
        self
    }

    /// Decides how far the files on disk are as the manifest says: not at all when asked to
    /// verify, after a build that did not finish, when a directory it lists is gone or when no
    /// stat index describes this manifest; else every file but those whose stat changed.
    /// `scan` is the index's scan when it was already made.
    fn vouch(&mut self, out: &Path, verify: bool, scan: Option<Option<index::Scan>>) {
        self.trusted = false;
        self.indexed = false;
        self.changed.clear();
        let Some(sha) = self.manifest_sha else {
            return;
        };
        if !trust(&self.recorded, out, verify) {
            return;
        }
        // The index is bound to the manifest by its sha256: the same bytes list the same files.
        if let Some(scan) = scan.unwrap_or_else(|| index::scan(out))
            && scan.manifest == sha
        {
            self.indexed = scan.changed.is_empty();
            self.changed = scan.changed.into_iter().collect();
            self.trusted = true;
        }
    }

    /// Whether the manifest's record of `path` cannot be taken for what is on disk.
    pub(super) fn doubted(&self, path: &str) -> bool {
        !self.trusted || (!self.changed.is_empty() && self.changed.contains(path))
    }

    /// Whether files the manifest lists with the planned hash are taken as they are, unread.
    pub fn trusted(&self) -> bool {
        self.trusted
    }

    /// The input digest the manifest recorded for `domain`, looked for first where `near` says
    /// (see `Table::get_near`).
    pub fn inputs_near(&self, domain: &str, near: &mut usize) -> Option<&Digest> {
        self.recorded.inputs.get_near(domain, near)
    }

    /// The manifest's entry for `path`, as (sha256, size).
    pub fn file(&self, path: &str) -> Option<(Digest, u64)> {
        self.recorded.files.get(path).copied()
    }

    /// The manifest's entry for `path`, to be kept as it is.
    pub fn entry(&self, path: &str, media_type: &'static str) -> Option<FileEntry> {
        let mut anywhere = usize::MAX;
        self.entry_near(path, media_type, &mut anywhere)
    }

    /// `entry`, looked for first where `near` says (see `Table::get_near`).
    pub fn entry_near(
        &self,
        path: &str,
        media_type: &'static str,
        near: &mut usize,
    ) -> Option<FileEntry> {
        let &(sha256, size) = self.recorded.files.get_near(path, near)?;
        if self.doubted(path) {
            return None;
        }
        Some(FileEntry {
            path: path.to_string(),
            sha256,
            size,
            media_type,
        })
    }

    /// The digest the manifest recorded for the files made from every host.
    pub fn hosts(&self) -> Option<&Digest> {
        self.recorded.hosts.as_ref()
    }

    /// Whether `files` (sorted by path) and `domains` (by name) are exactly what the manifest
    /// lists, in its order, so that the manifest would be written again byte for byte (and
    /// nothing is stale).
    pub(super) fn lists_exactly(
        &self,
        hosts: &Digest,
        files: &[FileEntry],
        domains: &[DomainEntry],
    ) -> bool {
        let r = &self.recorded;
        self.trusted
            && r.hosts.as_ref() == Some(hosts)
            && files.len() == r.files.len()
            && domains.len() == r.inputs.len()
            && domains
                .iter()
                .zip(r.inputs.iter())
                .all(|(d, (name, inputs))| d.domain == name && d.inputs == *inputs)
            && files
                .iter()
                .zip(r.files.iter())
                .all(|(f, (path, v))| f.path == path && (f.sha256, f.size) == *v)
    }
}

/// Whether the files `r` lists can be taken to be as it says without reading them: not when
/// asked to verify, after a build that did not finish, or when a directory it lists is gone.
pub(super) fn trust(r: &Recorded, out: &Path, verify: bool) -> bool {
    !verify
        && !out.join(IN_PROGRESS).exists()
        && top_dirs(r)
            .iter()
            .all(|d| fs::symlink_metadata(out.join(d)).is_ok_and(|m| m.is_dir()))
}

/// The top-level directories a manifest lists files under.
pub(super) fn top_dirs(r: &Recorded) -> BTreeSet<&str> {
    r.files
        .keys()
        .filter_map(|p| p.split_once('/').map(|(top, _)| top))
        .collect()
}
