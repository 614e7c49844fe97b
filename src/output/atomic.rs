//! Files replaced atomically: written in full beside their target, renamed over it.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{IN_PROGRESS, TEMP_PREFIX};
use crate::digest::{Digest, Hashing};
use crate::error::Error;

/// A file written in full beside its target, renamed over it by `commit` (and deleted if
/// dropped instead).
pub struct Staged {
    tmp: tempfile::TempPath,
    path: PathBuf,
}

impl Staged {
    /// Renames the file into place: the target is old or new, never partial.
    pub fn commit(self) -> Result<(), Error> {
        self.tmp
            .persist(&self.path)
            .map_err(|e| Error::io(&self.path)(e.error))?;
        crash_point();
        Ok(())
    }
}

/// Writes what `write` writes to a temp file in `path`'s directory, to replace `path` when
/// committed. Temp files that a killed run left in that directory are removed first.
pub fn stage_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<Staged, Error> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(entries) = fs::read_dir(dir) {
        for e in entries.filter_map(Result::ok) {
            let name = e.file_name();
            if name.to_string_lossy().starts_with(TEMP_PREFIX) && name != IN_PROGRESS {
                let _ = fs::remove_file(e.path());
            }
        }
    }
    Ok(Staged {
        tmp: stage_with(path, write)?.0,
        path: path.to_path_buf(),
    })
}

/// Streams what `write` writes into a closed temp file beside `path` (deleted again if dropped
/// unrenamed); also returns the sha256 of those bytes.
pub(super) fn stage_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(tempfile::TempPath, Digest), Error> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Web servers read these files as another user; tempfile's default 0600 would hide them.
        builder.permissions(fs::Permissions::from_mode(0o644));
    }
    let tmp = builder.tempfile_in(dir).map_err(Error::io(dir))?;
    let (file, tmp) = tmp.into_parts();
    let mut w = std::io::BufWriter::with_capacity(1 << 16, Hashing::new(file));
    write(&mut w).map_err(Error::io(path))?;
    let hashing = w
        .into_inner()
        .map_err(|e| Error::io(path)(e.into_error()))?;
    Ok((tmp, hashing.digest()))
}

/// Test hook for the crash-safety test: with `MTASTS_CRASH_AFTER_WRITES=N` the process dies
/// (abort: no destructors, no cleanup, like SIGKILL) right after its N-th rename. Only in debug
/// builds (those `cargo test` runs): a release binary has no such switch.
#[cfg(debug_assertions)]
pub(super) fn crash_point() {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicUsize, Ordering};
    static LIMIT: OnceLock<Option<usize>> = OnceLock::new();
    static DONE: AtomicUsize = AtomicUsize::new(0);
    let limit = LIMIT.get_or_init(|| {
        std::env::var("MTASTS_CRASH_AFTER_WRITES")
            .ok()
            .and_then(|v| v.parse().ok())
    });
    if let Some(limit) = limit
        && DONE.fetch_add(1, Ordering::SeqCst) + 1 >= *limit
    {
        std::process::abort();
    }
}

/// Release builds carry no crash hook.
#[cfg(not(debug_assertions))]
pub(super) fn crash_point() {}
