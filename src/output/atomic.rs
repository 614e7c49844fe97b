//! Files replaced atomically: written in full beside their target, renamed over it; and the
//! staged temp files and directories of a build renamed into place.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Class, IN_PROGRESS, Previous, TEMP_PREFIX};
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

/// Renames the staged temp files and directories (sorted by class) into place, stopping at the
/// first failure; `renamed` tells whether any rename happened. One at a time: spread over two
/// threads, replacing 200,000 files took as long (the disk's work of freeing each replaced file
/// is the cost).
pub(super) fn rename_all(
    out: &Path,
    staged: &[(Class, String, Move)],
    previous: &Previous,
    renamed: &mut bool,
) -> Result<(), Error> {
    for (_, rel, how) in staged.iter().filter(|s| s.2 != Move::Within) {
        let target = out.join(rel);
        let temp = temp_path(&target);
        if let Err(e) = fs::rename(&temp, &target) {
            // A directory put where a file of the previous build stood: that place is ours.
            let ours = *how == Move::File && previous.file(rel).is_some();
            if !(ours && fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir())) {
                return Err(Error::io(&target)(e));
            }
            fs::remove_dir_all(&target).map_err(Error::io(&target))?;
            fs::rename(&temp, &target).map_err(Error::io(&target))?;
        }
        *renamed = true;
        crash_point();
    }
    Ok(())
}

/// The fixed temp name beside `target`; the work lock keeps two builds from sharing it.
pub(super) fn temp_path(target: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(TEMP_PREFIX);
    name.push(target.file_name().unwrap_or_default());
    target.with_file_name(name)
}

/// Creates `path` afresh (never opening what stands there: a planted link is removed, not
/// followed) and writes `bytes`, world-readable.
pub(super) fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let open = || {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            // Web servers read these files as another user.
            options.mode(0o644);
        }
        options.open(path)
    };
    let mut file = match open() {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            fs::remove_file(path).map_err(Error::io(path))?;
            open()
        }
        other => other,
    }
    .map_err(Error::io(path))?;
    if let Err(e) = file.write_all(bytes) {
        drop(file);
        let _ = fs::remove_file(path);
        return Err(Error::io(path)(e));
    }
    Ok(())
}

/// How a staged file or directory goes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Move {
    /// A file written under its temp name beside its target, renamed over it.
    File,
    /// A directory this build made under its temp name: everything below it is written in
    /// place, and one rename puts it all live. A first build renames three directories, not
    /// 300,000 files.
    Dir,
    /// A file written in place below such a directory.
    Within,
}

/// Directories (relative, `/`-separated) known to exist as real directories, and how.
pub(super) type Dirs = HashMap<String, Dir>;

/// How a directory a build writes into came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dir {
    /// It was there before.
    Found,
    /// This build made it under its temp name, to be renamed into place.
    Staged,
    /// This build made it below a staged directory.
    Made,
}

impl Dir {
    /// Whether this build made it: nothing below it needs comparing.
    pub(super) fn made(self) -> bool {
        self != Dir::Found
    }
}
