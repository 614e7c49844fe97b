//! Guards of the output directory: nothing written through a link, outside the tree, or over
//! something that is not the tool's; and the cleanup of what a killed build left.

use std::fs;
use std::path::{Component, Path, PathBuf};

use super::TEMP_PREFIX;
use crate::error::Error;

/// The output directory itself must not be a link (writing through it would land elsewhere)
/// nor a file.
pub(super) fn check_root(out: &Path) -> Result<(), Error> {
    match fs::symlink_metadata(out) {
        Ok(m) if m.file_type().is_symlink() => Err(unsafe_output(
            out,
            "it is a symbolic link; pass the real directory with -o",
        )),
        Ok(m) if !m.is_dir() => Err(unsafe_output(out, "it is a file, not a directory")),
        _ => Ok(()),
    }
}

/// Whether a real directory stands at `path` (`false`: nothing does); a link or a file there
/// is refused.
pub(super) fn existing_dir(path: &Path) -> Result<bool, Error> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(true),
        Ok(m) if m.file_type().is_symlink() => Err(unsafe_output(
            path,
            "it is a symbolic link; mtasts never writes through links",
        )),
        Ok(_) => Err(unsafe_output(
            path,
            "a file stands where a directory must be",
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path)(e)),
    }
}

/// The parent directories of a relative path, outermost first: `a`, `a/b` for `a/b/c`.
pub(super) fn parents(rel: &str) -> impl Iterator<Item = &str> {
    rel.match_indices('/').map(move |(i, _)| &rel[..i])
}

/// True when `path` is a regular file (not a link) holding exactly `bytes`.
pub(super) fn same_bytes(path: &Path, bytes: &[u8]) -> bool {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() && m.len() == bytes.len() as u64 => {
            fs::read(path).is_ok_and(|old| old == bytes)
        }
        _ => false,
    }
}

pub(super) fn no_links_below(out: &Path, rel: &str) -> bool {
    let mut dir = out.to_path_buf();
    let parts: Vec<_> = Path::new(rel).components().collect();
    parts[..parts.len().saturating_sub(1)].iter().all(|part| {
        dir.push(part);
        fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir())
    })
}

/// Removes directories that pruning emptied, up to (not including) the top-level category.
pub(super) fn remove_empty_parents(out: &Path, rel: &str) {
    let mut parent = Path::new(rel).parent();
    while let Some(dir) = parent {
        if dir.components().count() < 2 || fs::remove_dir(out.join(dir)).is_err() {
            break;
        }
        parent = dir.parent();
    }
}

/// Removes what a killed build left: temp files, and directories staged under temp names with
/// everything below them.
pub(super) fn remove_stale_temps(out: &Path) {
    let mut walk = walkdir::WalkDir::new(out)
        .min_depth(1)
        .follow_links(false)
        .into_iter();
    while let Some(entry) = walk.next() {
        let Ok(entry) = entry else { continue };
        if !entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
            continue;
        }
        if entry.file_type().is_dir() {
            walk.skip_current_dir();
            let _ = fs::remove_dir_all(entry.path());
        } else if entry.file_type().is_file() {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The path as a relative, `..`-free path, or `None`.
pub(super) fn safe_relative(p: &str) -> Option<PathBuf> {
    let path = Path::new(p);
    let ok = !p.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    ok.then(|| path.to_path_buf())
}

pub(super) fn unsafe_output(path: &Path, reason: &str) -> Error {
    Error::UnsafeOutput {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// The metadata of a target file (not following links), refusing a directory in its place
/// unless the place is `ours` (the previous build wrote a file there).
pub(super) fn target_meta(path: &Path, ours: bool) -> Result<Option<fs::Metadata>, Error> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() && !ours => Err(unsafe_output(
            path,
            "a directory stands where a file must be",
        )),
        Ok(m) => Ok(Some(m)),
        Err(_) => Ok(None),
    }
}
