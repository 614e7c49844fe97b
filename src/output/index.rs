//! The stat index: what every generated file looked like on disk (size, inode, mtime, ctime)
//! right after the build that wrote it, as git's index records its work tree. A later build
//! stats each file and reads back only those that differ, so a deleted, replaced or edited
//! file is found without reading 300,000 files. It lives in the output directory's top level,
//! outside every directory a user syncs, and is bound to the manifest it describes by that
//! manifest's sha256: any other manifest makes it void.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::manifest::Digest;

/// The index file, relative to the output directory.
pub const PATH: &str = ".mtasts-index";

/// First bytes of the file: its format and version.
const MAGIC: &[u8; 16] = b"mtasts-index v1\n";

/// Bytes per file entry.
const ENTRY: usize = 32;

/// What a file's metadata says about its identity and content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    size: u64,
    inode: u64,
    /// Nanoseconds since the epoch.
    mtime: i64,
    /// Nanoseconds since the epoch; nobody can set it, so `touch -r` after an edit still shows.
    ctime: i64,
}

impl Stat {
    /// The stat of a regular file; `None` for anything else (a link, a directory, nothing).
    pub fn of(path: &Path) -> Option<Stat> {
        let meta = fs::symlink_metadata(path).ok()?;
        meta.is_file().then(|| Stat::from_meta(&meta))
    }

    #[cfg(unix)]
    fn from_meta(meta: &fs::Metadata) -> Stat {
        use std::os::unix::fs::MetadataExt;
        let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
        Stat {
            size: meta.len(),
            inode: meta.ino(),
            mtime: ns(meta.mtime(), meta.mtime_nsec()),
            ctime: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }

    #[cfg(not(unix))]
    fn from_meta(meta: &fs::Metadata) -> Stat {
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        Stat {
            size: meta.len(),
            inode: 0,
            mtime,
            ctime: mtime,
        }
    }

    /// Whether the file may have changed in the same clock tick as the index was written, so
    /// its stat cannot vouch for its bytes (git's "racily clean" entries).
    fn racy(&self, written: i64) -> bool {
        self.mtime >= written || self.ctime >= written
    }
}

/// The stats of the files at `paths` (relative to `out`), on every core, in order.
pub fn stat_all(out: &Path, paths: &[&str]) -> Vec<Option<Stat>> {
    let chunk = paths.len().div_ceil(crate::parallel::threads()).max(4096);
    let dir = Dir::open(out);
    crate::parallel::on_threads(paths.chunks(chunk).collect(), |run| {
        run.iter()
            .map(|p| {
                dir.as_ref()
                    .map_or_else(|| Stat::of(&out.join(p)), |d| d.stat(p))
            })
            .collect::<Vec<_>>()
    })
    .into_iter()
    .flatten()
    .collect()
}

/// The output directory, open: each file is looked up from it, not from `/` (a no-op build
/// of 100,000 domains makes 300,000 lookups, and the path down to `out` was most of each).
#[cfg(unix)]
struct Dir(rustix::fd::OwnedFd);

#[cfg(unix)]
impl Dir {
    fn open(path: &Path) -> Option<Dir> {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        rustix::fs::open(path, flags, Mode::empty()).ok().map(Dir)
    }

    fn stat(&self, rel: &str) -> Option<Stat> {
        use rustix::fs::{AtFlags, FileType};
        let st = rustix::fs::statat(&self.0, rel, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
        // Casts: the kernel's widths, which differ between targets.
        #[allow(clippy::unnecessary_cast)]
        let stat = Stat {
            size: st.st_size as u64,
            inode: st.st_ino as u64,
            mtime: ns(st.st_mtime as i64, st.st_mtime_nsec as i64),
            ctime: ns(st.st_ctime as i64, st.st_ctime_nsec as i64),
        };
        FileType::from_raw_mode(st.st_mode as _)
            .is_file()
            .then_some(stat)
    }
}

/// Elsewhere each file is looked up by its whole path.
#[cfg(not(unix))]
struct Dir;

#[cfg(not(unix))]
impl Dir {
    fn open(_: &Path) -> Option<Dir> {
        None
    }

    fn stat(&self, _: &str) -> Option<Stat> {
        None
    }
}

/// Writes the index of the files at `paths` (the manifest's order), bound to the manifest
/// whose sha256 is `manifest`: temp file and rename, so it is old or new, never partial. The
/// paths are in it too, so that the next build can check the tree before it has read the
/// manifest.
pub fn write(out: &Path, manifest: &Digest, paths: &[&str]) -> std::io::Result<()> {
    let stats = stat_all(out, paths);
    let names: usize = paths.iter().map(|p| p.len() + 1).sum();
    let mut bytes = Vec::with_capacity(MAGIC.len() + 40 + stats.len() * ENTRY + names);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(manifest);
    bytes.extend_from_slice(&(stats.len() as u64).to_le_bytes());
    for stat in &stats {
        // A file that vanished already is recorded as impossible, so it reads as changed.
        let s = stat.unwrap_or(Stat {
            size: u64::MAX,
            inode: 0,
            mtime: i64::MAX,
            ctime: i64::MAX,
        });
        bytes.extend_from_slice(&s.size.to_le_bytes());
        bytes.extend_from_slice(&s.inode.to_le_bytes());
        bytes.extend_from_slice(&s.mtime.to_le_bytes());
        bytes.extend_from_slice(&s.ctime.to_le_bytes());
    }
    for p in paths {
        bytes.extend_from_slice(p.as_bytes());
        bytes.push(0);
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(super::TEMP_PREFIX)
        .tempfile_in(out)?;
    tmp.write_all(&bytes)?;
    tmp.persist(out.join(PATH)).map_err(|e| e.error)?;
    Ok(())
}

/// What the stat index says of the tree now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// The sha256 of the manifest the index describes: the scan vouches for nothing else.
    pub manifest: Digest,
    /// The files that are not as the index recorded them (or were written in the tick of the
    /// index itself, so that their stat cannot vouch for their bytes).
    pub changed: Vec<String>,
}

/// Stats every file the index in `out` lists and compares; `None` when there is no usable
/// index (then nothing can be vouched for).
pub fn scan(out: &Path) -> Option<Scan> {
    let path = out.join(PATH);
    let meta = fs::symlink_metadata(&path).ok().filter(|m| m.is_file())?;
    let written = Stat::from_meta(&meta).mtime;
    let bytes = fs::read(&path).ok()?;
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let (manifest, rest) = rest.split_at_checked(32)?;
    let (count, rest) = rest.split_at_checked(8)?;
    let count = usize::try_from(u64::from_le_bytes(count.try_into().ok()?)).ok()?;
    let (entries, names) = rest.split_at_checked(count.checked_mul(ENTRY)?)?;
    // Every path ends with a NUL: a file cut short anywhere does not parse.
    let names = std::str::from_utf8(names).ok()?;
    let paths: Vec<&str> = names.split_terminator('\0').collect();
    if paths.len() != count || !(names.is_empty() || names.ends_with('\0')) {
        return None;
    }
    let now = stat_all(out, &paths);
    let word = |e: &[u8], i: usize| -> [u8; 8] { e[i * 8..i * 8 + 8].try_into().expect("8 bytes") };
    let changed = paths
        .iter()
        .zip(now)
        .zip(entries.chunks_exact(ENTRY))
        .filter(|((_, now), e)| {
            let recorded = Stat {
                size: u64::from_le_bytes(word(e, 0)),
                inode: u64::from_le_bytes(word(e, 1)),
                mtime: i64::from_le_bytes(word(e, 2)),
                ctime: i64::from_le_bytes(word(e, 3)),
            };
            now.is_none_or(|now| now != recorded || now.racy(written))
        })
        .map(|((p, _), _)| p.to_string())
        .collect();
    Some(Scan {
        manifest: manifest.try_into().ok()?,
        changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: Digest = [7; 32];

    fn changed(out: &Path) -> Option<Vec<String>> {
        scan(out).map(|s| s.changed)
    }

    fn tree(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for f in files {
            fs::write(dir.path().join(f), f.as_bytes()).expect("write");
        }
        dir
    }

    /// Makes every file older than the index, as a real build's files are.
    fn age(out: &Path, files: &[&str]) {
        let past = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        for f in files {
            let file = fs::File::options()
                .write(true)
                .open(out.join(f))
                .expect("open");
            file.set_modified(past).expect("set mtime");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    #[test]
    fn an_untouched_tree_has_no_change_and_each_kind_of_change_is_found() {
        let files = ["a", "b", "c", "d"];
        let dir = tree(&files);
        let out = dir.path();
        age(out, &files);
        write(out, &SHA, &files).expect("index");
        assert_eq!(changed(out), Some(vec![]));
        fs::remove_file(out.join("a")).expect("rm");
        // Same size and mtime after the edit: only ctime tells.
        let before = fs::metadata(out.join("b"))
            .expect("meta")
            .modified()
            .expect("mtime");
        fs::write(out.join("b"), b"B").expect("edit");
        fs::File::options()
            .write(true)
            .open(out.join("b"))
            .expect("open")
            .set_modified(before)
            .expect("touch -r");
        fs::remove_file(out.join("c")).expect("rm");
        std::os::unix::fs::symlink("d", out.join("c")).expect("link");
        let abc = ["a", "b", "c"].map(String::from).to_vec();
        assert_eq!(changed(out), Some(abc));
    }

    #[test]
    fn a_missing_or_damaged_index_vouches_for_nothing() {
        let files = ["a"];
        let dir = tree(&files);
        let out = dir.path();
        assert_eq!(scan(out), None);
        write(out, &SHA, &files).expect("index");
        assert_eq!(scan(out).map(|s| s.manifest), Some(SHA));
        let bytes = fs::read(out.join(PATH)).expect("read");
        for cut in [1, 3, 40] {
            fs::write(out.join(PATH), &bytes[..bytes.len() - cut]).expect("cut");
            assert_eq!(scan(out), None, "cut {cut}");
        }
    }

    #[test]
    fn a_file_written_in_the_tick_of_the_index_is_racy() {
        let files = ["a"];
        let dir = tree(&files);
        let out = dir.path();
        write(out, &SHA, &files).expect("index");
        let index = fs::File::options()
            .write(true)
            .open(out.join(PATH))
            .expect("open");
        let a = fs::metadata(out.join("a"))
            .expect("meta")
            .modified()
            .expect("mtime");
        index.set_modified(a).expect("set");
        assert_eq!(changed(out), Some(vec!["a".into()]));
    }
}
