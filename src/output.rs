//! Writing the output tree: everything checked before the first write, each file replaced
//! atomically (temp file + rename), identical files left alone, stale generated files pruned,
//! nothing written outside the output directory or through a symlink inside it.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use crate::error::Error;
use crate::manifest::Manifest;

/// Prefix of the tool's temp files; leftovers of a killed build are removed by the next one.
pub const TEMP_PREFIX: &str = ".mtasts-tmp-";

/// Present in the output directory while a build writes into it; left behind only by a build
/// that died, which tells the next one to look for its temp files.
const IN_PROGRESS: &str = ".mtasts-tmp-build-in-progress";

/// One file to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutFile {
    /// Relative path with `/` separators.
    pub path: String,
    /// Contents.
    pub bytes: Vec<u8>,
    /// Media type recorded in the manifest.
    pub media_type: &'static str,
}

/// What a write did (or, for a dry run, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Files created or replaced, in write order.
    pub written: Vec<String>,
    /// Files already identical.
    pub unchanged: usize,
    /// Previously generated files removed.
    pub removed: Vec<String>,
}

/// The previous build's manifest, if it can be used; a warning when it exists but cannot.
pub fn previous_manifest(out: &Path) -> (Option<Manifest>, Option<String>) {
    let path = out.join(crate::manifest::PATH);
    match fs::read(&path) {
        Ok(bytes) => match Manifest::parse(&bytes) {
            Ok(m) => (Some(m), None),
            Err(e) => (
                None,
                Some(format!(
                    "{} is damaged ({e}); treating it as missing, so no stale file is pruned this time",
                    path.display()
                )),
            ),
        },
        Err(_) => (None, None),
    }
}

/// Compares the plan with the disk without writing anything.
pub fn diff(out: &Path, files: &[OutFile], previous: Option<&Manifest>) -> Result<Report, Error> {
    check_root(out)?;
    preflight(out, files)?;
    let mut report = Report::default();
    for f in files {
        target_meta(&out.join(&f.path))?;
        if same_bytes(&out.join(&f.path), &f.bytes) {
            report.unchanged += 1;
        } else {
            report.written.push(f.path.clone());
        }
    }
    report.removed = stale(out, files, previous);
    Ok(report)
}

/// Writes `files` (in order) under `out`, then prunes what `previous` listed and `files` lacks.
///
/// Two phases: every changed file is first written to a temp file beside its target; only
/// when all of them are on disk are they renamed into place, in order. A failure while staging
/// (disk full, read-only directory) removes the temp files and leaves the previous tree as it
/// was; a crash at any moment leaves each file old or new, never partial.
pub fn write(out: &Path, files: &[OutFile], previous: Option<&Manifest>) -> Result<Report, Error> {
    check_root(out)?;
    fs::create_dir_all(out).map_err(Error::io(out))?;
    let marker = out.join(IN_PROGRESS);
    // Only a build that did not finish can have left temp files: walk the tree only then.
    if marker.exists() {
        remove_stale_temps(out);
    }
    let dirs = preflight(out, files)?;
    let mut report = Report::default();
    let known = Known::new(out, previous);
    let mut changed = Vec::new();
    for f in files {
        if !known.unchanged(&out.join(&f.path), f)? {
            changed.push(f);
        }
    }
    report.unchanged = files.len() - changed.len();
    let stale = stale(out, files, previous);
    if changed.is_empty() && stale.is_empty() {
        return Ok(report);
    }
    fs::write(&marker, b"").map_err(Error::io(&marker))?;
    let result = replace_and_prune(out, &changed, &dirs, stale, report);
    // A failure (unlike a crash) has already deleted its temp files when it returns here.
    let _ = fs::remove_file(&marker);
    result
}

/// Stages `changed`, renames everything into place in order, then removes `stale`.
fn replace_and_prune(
    out: &Path,
    changed: &[&OutFile],
    dirs: &Dirs,
    stale: Vec<String>,
    mut report: Report,
) -> Result<Report, Error> {
    let staged = stage_all(out, changed, dirs)?;
    for (tmp, path, rel) in staged {
        tmp.persist(&path).map_err(|e| Error::io(&path)(e.error))?;
        crash_point();
        report.written.push(rel.clone());
    }
    for rel in stale {
        let path = out.join(&rel);
        fs::remove_file(&path).map_err(Error::io(&path))?;
        remove_empty_parents(out, &rel);
        report.removed.push(rel);
    }
    Ok(report)
}

/// Stages `files` as temp files, on several threads: on a slow filesystem, creating files and
/// directories dominates, and the kernel overlaps them well. The result keeps the input order.
fn stage_all<'f>(
    out: &Path,
    files: &[&'f OutFile],
    dirs: &Dirs,
) -> Result<Vec<(tempfile::TempPath, PathBuf, &'f String)>, Error> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 8);
    let chunk = files.len().div_ceil(threads).max(64);
    std::thread::scope(|s| {
        let workers: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut dirs = dirs.clone();
                    part.iter()
                        .map(|f| {
                            let path = out.join(&f.path);
                            make_parents(out, &f.path, &mut dirs)?;
                            Ok((stage(&path, &f.bytes)?, path, &f.path))
                        })
                        .collect::<Result<Vec<_>, Error>>()
                })
            })
            .collect();
        let mut staged = Vec::with_capacity(files.len());
        let mut first_error = None;
        for w in workers {
            match w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)) {
                Ok(part) => staged.extend(part),
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        // On error, `staged` drops here and its temp files are deleted.
        first_error.map_or(Ok(staged), Err)
    })
}

/// What the previous build recorded, to skip reading files that cannot have changed.
struct Known<'m> {
    files: std::collections::HashMap<&'m str, (&'m str, u64)>,
    manifest_time: Option<std::time::SystemTime>,
}

impl<'m> Known<'m> {
    fn new(out: &Path, previous: Option<&'m Manifest>) -> Known<'m> {
        Known {
            files: previous
                .map(|m| {
                    m.files
                        .iter()
                        .map(|f| (f.path.as_str(), (f.sha256.as_str(), f.size)))
                        .collect()
                })
                .unwrap_or_default(),
            manifest_time: fs::metadata(out.join(crate::manifest::PATH))
                .and_then(|m| m.modified())
                .ok(),
        }
    }

    /// True when `path` already holds `f`'s bytes. A file the previous manifest lists with the
    /// same hash and size, and not modified after that manifest was written, is trusted without
    /// reading it (the manifest is renamed into place after every other file); anything else is
    /// compared byte for byte.
    fn unchanged(&self, path: &Path, f: &OutFile) -> Result<bool, Error> {
        let Some(meta) = target_meta(path)? else {
            return Ok(false);
        };
        if !meta.is_file() || meta.len() != f.bytes.len() as u64 {
            return Ok(false);
        }
        let recorded = self.files.get(f.path.as_str()).is_some_and(|(sha, size)| {
            *size == meta.len()
                && meta
                    .modified()
                    .ok()
                    .zip(self.manifest_time)
                    .is_some_and(|(m, t)| m <= t)
                && *sha == crate::plan::sha256_hex(&f.bytes)
        });
        Ok(recorded || same_bytes(path, &f.bytes))
    }
}

/// The metadata of a target file (not following links), refusing a directory in its place.
fn target_meta(path: &Path) -> Result<Option<fs::Metadata>, Error> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Err(unsafe_output(
            path,
            "a directory stands where a file must be",
        )),
        Ok(m) => Ok(Some(m)),
        Err(_) => Ok(None),
    }
}

/// Replaces `path` atomically: a temp file in the same directory, renamed over it. Temp files
/// that a killed run left in that directory are removed first.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
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
    stage(path, bytes)?
        .persist(path)
        .map_err(|e| Error::io(path)(e.error))?;
    crash_point();
    Ok(())
}

/// Writes `bytes` to a closed temp file beside `path` (deleted again if dropped unrenamed).
fn stage(path: &Path, bytes: &[u8]) -> Result<tempfile::TempPath, Error> {
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
    let mut tmp = builder.tempfile_in(dir).map_err(Error::io(dir))?;
    tmp.write_all(bytes).map_err(Error::io(path))?;
    Ok(tmp.into_temp_path())
}

/// Test hook for the crash-safety test: with `MTASTS_CRASH_AFTER_WRITES=N` the process dies
/// (abort: no destructors, no cleanup, like SIGKILL) right after its N-th rename.
fn crash_point() {
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

/// The output directory itself must not be a link (writing through it would land elsewhere)
/// nor a file.
fn check_root(out: &Path) -> Result<(), Error> {
    match fs::symlink_metadata(out) {
        Ok(m) if m.file_type().is_symlink() => Err(unsafe_output(
            out,
            "it is a symbolic link; pass the real directory with -o",
        )),
        Ok(m) if !m.is_dir() => Err(unsafe_output(out, "it is a file, not a directory")),
        _ => Ok(()),
    }
}

/// Directories (relative, `/`-separated) known to exist as real directories.
type Dirs = HashSet<String>;

/// The parent directories of a relative path, outermost first: `a`, `a/b` for `a/b/c`.
fn parents(rel: &str) -> impl Iterator<Item = &str> {
    rel.match_indices('/').map(move |(i, _)| &rel[..i])
}

/// Checks every target before anything is written: no symlinked or non-directory parents,
/// no directory where a file goes. Returns the parent directories that already exist.
fn preflight(out: &Path, files: &[OutFile]) -> Result<Dirs, Error> {
    let mut checked = HashSet::new();
    let mut existing = Dirs::new();
    for f in files {
        if safe_relative(&f.path).is_none() {
            return Err(unsafe_output(
                Path::new(&f.path),
                "not a plain relative path",
            ));
        }
        for dir in parents(&f.path) {
            // Below a missing directory nothing exists; checking the first is enough.
            if !checked.insert(dir) {
                continue;
            }
            let path = out.join(dir);
            match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(unsafe_output(
                        &path,
                        "it is a symbolic link; mtasts never writes through links",
                    ));
                }
                Ok(m) if !m.is_dir() => {
                    return Err(unsafe_output(
                        &path,
                        "a file stands where a directory must be",
                    ));
                }
                Ok(_) => {
                    existing.insert(dir.to_string());
                }
                Err(_) => {}
            }
        }
    }
    Ok(existing)
}

/// Creates the missing parents of `rel`; `dirs` holds those known to exist (checked, not links).
fn make_parents(out: &Path, rel: &str, dirs: &mut Dirs) -> Result<(), Error> {
    for dir in parents(rel) {
        if dirs.contains(dir) {
            continue;
        }
        let path = out.join(dir);
        match fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if fs::symlink_metadata(&path)
                    .map(|m| !m.is_dir())
                    .unwrap_or(true)
                {
                    return Err(unsafe_output(
                        &path,
                        "it changed into something other than a directory",
                    ));
                }
            }
            Err(e) => return Err(Error::io(&path)(e)),
        }
        dirs.insert(dir.to_string());
    }
    Ok(())
}

/// True when `path` is a regular file (not a link) holding exactly `bytes`.
fn same_bytes(path: &Path, bytes: &[u8]) -> bool {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() && m.len() == bytes.len() as u64 => {
            fs::read(path).is_ok_and(|old| old == bytes)
        }
        _ => false,
    }
}

/// Files the previous manifest lists, the new plan lacks, and that are safe to delete.
fn stale(out: &Path, files: &[OutFile], previous: Option<&Manifest>) -> Vec<String> {
    let Some(previous) = previous else {
        return Vec::new();
    };
    let keep: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    previous
        .files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| !keep.contains(p))
        .filter(|p| safe_relative(p).is_some() && no_links_below(out, p))
        .filter(|p| fs::symlink_metadata(out.join(p)).is_ok_and(|m| m.is_file()))
        .map(str::to_string)
        .collect()
}

fn no_links_below(out: &Path, rel: &str) -> bool {
    let mut dir = out.to_path_buf();
    let parts: Vec<_> = Path::new(rel).components().collect();
    parts[..parts.len().saturating_sub(1)].iter().all(|part| {
        dir.push(part);
        fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir())
    })
}

/// Removes directories that pruning emptied, up to (not including) the top-level category.
fn remove_empty_parents(out: &Path, rel: &str) {
    let mut parent = Path::new(rel).parent();
    while let Some(dir) = parent {
        if dir.components().count() < 2 || fs::remove_dir(out.join(dir)).is_err() {
            break;
        }
        parent = dir.parent();
    }
}

fn remove_stale_temps(out: &Path) {
    let temps = walkdir::WalkDir::new(out)
        .follow_links(false)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| {
            e.file_type().is_file() && e.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
        });
    for entry in temps {
        let _ = fs::remove_file(entry.path());
    }
}

/// The path as a relative, `..`-free path, or `None`.
fn safe_relative(p: &str) -> Option<PathBuf> {
    let path = Path::new(p);
    let ok = !p.is_empty() && path.components().all(|c| matches!(c, Component::Normal(_)));
    ok.then(|| path.to_path_buf())
}

fn unsafe_output(path: &Path, reason: &str) -> Error {
    Error::UnsafeOutput {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::FileEntry;

    fn file(path: &str, body: &str) -> OutFile {
        OutFile {
            path: path.into(),
            bytes: body.as_bytes().to_vec(),
            media_type: "text/plain",
        }
    }

    fn manifest(paths: &[&str]) -> Manifest {
        Manifest {
            generator: "mtasts".into(),
            files: paths
                .iter()
                .map(|p| FileEntry {
                    path: p.to_string(),
                    sha256: String::new(),
                    size: 0,
                    media_type: "text/plain".into(),
                })
                .collect(),
            domains: vec![],
        }
    }

    #[test]
    fn writes_skips_identical_and_prunes_only_what_it_generated() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let first = [file("webroot/a/x.txt", "1"), file("dns/a.zone", "2")];
        let r = write(out, &first, None).unwrap();
        assert_eq!(r.written.len(), 2);
        fs::write(out.join("dns/mine.zone"), "user file").unwrap();
        let second = [file("dns/a.zone", "2")];
        let r = write(
            out,
            &second,
            Some(&manifest(&[
                "webroot/a/x.txt",
                "dns/a.zone",
                "../evil",
                "/etc/passwd",
            ])),
        )
        .unwrap();
        assert_eq!(r.unchanged, 1);
        assert_eq!(r.removed, ["webroot/a/x.txt"]);
        assert!(
            !out.join("webroot/a").exists(),
            "emptied directory left behind"
        );
        assert!(out.join("webroot").exists());
        assert!(out.join("dns/mine.zone").exists());
    }

    #[cfg(unix)]
    #[test]
    fn never_writes_through_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), out.join("webroot")).unwrap();
        let err = write(
            &out,
            &[file("dns/a.zone", "1"), file("webroot/a/x.txt", "1")],
            None,
        )
        .unwrap_err();
        assert!(matches!(err, Error::UnsafeOutput { .. }), "{err:?}");
        assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
        assert!(!out.join("dns").exists(), "wrote before the check finished");
    }

    #[cfg(unix)]
    #[test]
    fn files_are_world_readable_and_no_temp_is_left() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // What a killed build leaves: a temp file, and the in-progress marker.
        fs::write(dir.path().join(format!("{TEMP_PREFIX}old")), "stale").unwrap();
        fs::write(dir.path().join(IN_PROGRESS), "").unwrap();
        write(dir.path(), &[file("a/b.txt", "x")], None).unwrap();
        let mode = fs::metadata(dir.path().join("a/b.txt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o044, 0o044, "mode {mode:o}");
        let names: Vec<_> = walkdir::WalkDir::new(dir.path())
            .into_iter()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names.iter().any(|n| n.starts_with(TEMP_PREFIX)),
            "{names:?}"
        );
    }
}
