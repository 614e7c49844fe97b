//! Writing the output tree: everything checked before the first write, each file replaced
//! atomically (temp file + rename), identical files left alone, stale generated files pruned,
//! nothing written outside the output directory or through a symlink inside it.

pub mod index;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use crate::error::Error;
use crate::manifest::{Digest, DomainEntry, FileEntry, Hashing, Recorded};
use crate::table::Table;

/// Prefix of the tool's temp files; leftovers of a killed build are removed by the next one.
pub const TEMP_PREFIX: &str = ".mtasts-tmp-";

/// Present in the output directory while a build writes into it; left behind only by a build
/// that died, which tells the next one to look for its temp files.
const IN_PROGRESS: &str = ".mtasts-tmp-build-in-progress";

/// Which part of the tree a file belongs to: files are renamed into place in this order, so
/// that a policy is live before the vhost serving it and both before the DNS record naming its
/// id (RFC 8461 §8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// `webroot/...`: policy files.
    Policy,
    /// `nginx/...`: vhosts.
    Nginx,
    /// `dns/...`: zone fragments.
    Dns,
    /// Everything else but the manifest, which always comes last.
    Other,
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
    /// Of `written`, files the previous build wrote with these very bytes that were since
    /// deleted, replaced or edited.
    pub repaired: Vec<String>,
    /// Policy hosts left out of the nginx output until their certificate exists
    /// (`require_certificates`).
    pub left_out: Vec<String>,
}

/// What the previous build left: its manifest, and whether the disk can be assumed to match it.
#[derive(Default)]
pub struct Previous {
    recorded: Recorded,
    manifest_sha: Option<Digest>,
    trusted: bool,
    /// Files the manifest lists whose stat differs from the stat index's record: they are
    /// read before anything is taken for granted about them.
    changed: HashSet<String>,
    /// Whether the stat index vouched for every file, so that a build writing nothing need
    /// not write it again.
    indexed: bool,
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
    fn doubted(&self, path: &str) -> bool {
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
    fn lists_exactly(&self, hosts: &Digest, files: &[FileEntry], domains: &[DomainEntry]) -> bool {
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
fn trust(r: &Recorded, out: &Path, verify: bool) -> bool {
    !verify
        && !out.join(IN_PROGRESS).exists()
        && top_dirs(r)
            .iter()
            .all(|d| fs::symlink_metadata(out.join(d)).is_ok_and(|m| m.is_dir()))
}

/// The top-level directories a manifest lists files under.
fn top_dirs(r: &Recorded) -> BTreeSet<&str> {
    r.files
        .keys()
        .filter_map(|p| p.split_once('/').map(|(top, _)| top))
        .collect()
}

/// How a staged file or directory goes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Move {
    /// A file written under its temp name beside its target, renamed over it.
    File,
    /// A directory this build made under its temp name: everything below it is written in
    /// place, and one rename puts it all live. A first build renames three directories, not
    /// 300,000 files.
    Dir,
    /// A file written in place below such a directory.
    Within,
}

/// One worker's share of a build: the files (and directories) it staged and how many files it
/// found unchanged. Temp files not yet renamed are deleted when it is dropped.
pub struct Batch {
    staged: Vec<(Class, String, Move)>,
    repaired: Vec<String>,
    unchanged: usize,
    dirs: Dirs,
    out: PathBuf,
    dry_run: bool,
}

impl Drop for Batch {
    fn drop(&mut self) {
        if !self.dry_run {
            // Staged directories are the writer's to remove, once no worker writes into them.
            for (_, rel, _) in self.staged.iter().filter(|s| s.2 == Move::File) {
                let _ = fs::remove_file(temp_path(&self.out.join(rel)));
            }
        }
    }
}

/// Writes one output tree: files are offered one by one (from several threads), those that
/// differ from what is there are staged as temp files beside their targets, and `finish`
/// renames them into place, prunes stale files and writes the manifest last. A directory that
/// does not exist yet is made under a temp name, with everything below it written in place,
/// and renamed into place as a whole. A build that fails before `finish` removes its temp files
/// and the directories it created, leaving the previous tree as it was; a crash at any moment
/// leaves each file old or new, never partial.
pub struct Writer<'p> {
    out: PathBuf,
    previous: &'p Previous,
    dry_run: bool,
    /// Whether the in-progress marker is written, and whether this build made `out` itself.
    begun: std::sync::Mutex<Begun>,
    /// The directories made under their temp names, and the class of the files below them.
    staged_dirs: std::sync::Mutex<HashMap<String, Class>>,
    renamed: bool,
    finished: bool,
    remember: bool,
}

impl<'p> Writer<'p> {
    /// Checks `out` (not a link, not a file) and, after an unfinished build, removes its temp
    /// files.
    pub fn new(out: &Path, previous: &'p Previous, dry_run: bool) -> Result<Writer<'p>, Error> {
        check_root(out)?;
        // Only a build that did not finish can have left temp files: walk the tree only then.
        if !dry_run && out.join(IN_PROGRESS).exists() {
            remove_stale_temps(out);
        }
        Ok(Writer {
            out: out.to_path_buf(),
            previous,
            dry_run,
            begun: std::sync::Mutex::new(Begun::default()),
            staged_dirs: std::sync::Mutex::new(HashMap::new()),
            renamed: false,
            finished: false,
            remember: false,
        })
    }

    /// Makes `finish` return the manifest it writes, as the next build's `Previous`.
    pub fn remembering(mut self) -> Self {
        self.remember = true;
        self
    }

    /// An empty batch for one worker.
    pub fn batch(&self) -> Batch {
        Batch {
            staged: Vec::new(),
            repaired: Vec::new(),
            unchanged: 0,
            dirs: Dirs::new(),
            out: self.out.clone(),
            dry_run: self.dry_run,
        }
    }

    /// Offers one file; stages it unless the tree already holds these bytes. Returns its
    /// manifest entry.
    pub fn offer(
        &self,
        batch: &mut Batch,
        class: Class,
        path: String,
        media_type: &'static str,
        bytes: &[u8],
    ) -> Result<FileEntry, Error> {
        let entry = FileEntry {
            sha256: crate::plan::sha256(bytes),
            size: bytes.len() as u64,
            media_type,
            path,
        };
        if safe_relative(&entry.path).is_none() {
            return Err(unsafe_output(
                Path::new(&entry.path),
                "not a plain relative path",
            ));
        }
        let target = self.out.join(&entry.path);
        // Below a directory this build created there is nothing to compare or check.
        let fresh = parents(&entry.path).any(|d| batch.dirs.get(d).is_some_and(|d| d.made()));
        let listed = self.previous.file(&entry.path);
        let vouched = !self.previous.doubted(&entry.path);
        let same = if vouched {
            listed == Some((entry.sha256, entry.size))
        } else if fresh {
            false
        } else {
            target_meta(&target, listed.is_some())?;
            same_bytes(&target, bytes)
        };
        if same {
            batch.unchanged += 1;
            return Ok(entry);
        }
        let repaired = listed == Some((entry.sha256, entry.size));
        let mut how = Move::File;
        if !self.dry_run {
            self.begin()?;
            self.make_parents(&entry.path, class, batch)?;
            match self.staged_below(&entry.path, &batch.dirs) {
                Some(within) => {
                    write_new(&within, bytes)?;
                    how = Move::Within;
                }
                None => {
                    // A doubted file had its target checked before the comparison above.
                    if vouched {
                        target_meta(&target, listed.is_some())?;
                    }
                    write_new(&temp_path(&target), bytes)?;
                }
            }
        }
        if repaired {
            batch.repaired.push(entry.path.clone());
        }
        batch.staged.push((class, entry.path.clone(), how));
        Ok(entry)
    }

    /// Forgets the directories `batch` knows below the top level: every domain has its own,
    /// never needed again once its files are offered.
    pub fn forget_deep_dirs(&self, batch: &mut Batch) {
        batch.dirs.retain(|d, _| !d.contains('/'));
    }

    /// Takes over a file the previous build wrote, unchanged and unread.
    pub fn keep(&self, batch: &mut Batch, entry: FileEntry) -> FileEntry {
        batch.unchanged += 1;
        entry
    }

    /// Renames every staged file and directory into place (by class, then in offer order),
    /// removes the files the previous manifest lists and `files` lacks, then writes the
    /// manifest of `hosts`, `files` and `domains`. When remembering, a manifest written anew is
    /// returned as the next build's `Previous`.
    pub fn finish(
        mut self,
        mut batches: Vec<Batch>,
        mut files: Vec<FileEntry>,
        domains: &[DomainEntry],
        hosts: &Digest,
    ) -> Result<(Report, Option<Previous>), Error> {
        // Stable: it finds the long runs the generator's order has.
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let staged_any = batches.iter().any(|b| !b.staged.is_empty());
        if !staged_any && self.previous.lists_exactly(hosts, &files, domains) {
            self.finished = true;
            if !self.dry_run
                && !self.previous.indexed
                && let Some(sha) = self.previous.manifest_sha
            {
                self.index(&sha, &files)?;
            }
            let report = Report {
                unchanged: files.len() + 1,
                ..Report::default()
            };
            return Ok((report, None));
        }
        let mut report = Report {
            unchanged: batches.iter().map(|b| b.unchanged).sum::<usize>(),
            repaired: batches
                .iter_mut()
                .flat_map(|b| std::mem::take(&mut b.repaired))
                .collect(),
            ..Report::default()
        };
        report.repaired.sort();
        let mut staged: Vec<(Class, String, Move)> = batches
            .iter_mut()
            .flat_map(|b| std::mem::take(&mut b.staged))
            .collect();
        staged.sort_by_key(|(class, _, _)| *class);
        // New files go live first: the manifest and the pruning list are only needed after.
        if !self.dry_run && !staged.is_empty() {
            self.begin()?;
            if let Err(e) = rename_all(&self.out, &staged, self.previous, &mut self.renamed) {
                // Those already renamed have no temp left: removing it just fails.
                for (_, rel, how) in &staged {
                    let temp = temp_path(&self.out.join(rel));
                    let _ = match how {
                        Move::File => fs::remove_file(temp),
                        Move::Dir => fs::remove_dir_all(temp),
                        Move::Within => continue,
                    };
                }
                return Err(e);
            }
        }
        report.written = staged
            .into_iter()
            .filter(|s| s.2 != Move::Dir)
            .map(|(_, rel, _)| rel)
            .collect();
        let stale = self.stale(&files);
        let write = |w: &mut dyn Write| crate::manifest::write(w, hosts, &files, domains);
        let manifest_path = self.out.join(crate::manifest::PATH);
        if self.dry_run {
            let mut sink = Hashing::new(std::io::sink());
            write(&mut sink).map_err(Error::io(&manifest_path))?;
            if self.previous.manifest_sha != Some(sink.digest()) {
                report.written.push(crate::manifest::PATH.into());
            } else {
                report.unchanged += 1;
            }
            report.removed = stale;
            self.finished = true;
            return Ok((report, None));
        }
        // The manifest is staged before anything is pruned: whether it differs from the one
        // there is known once its bytes have streamed through a hash.
        self.begin()?;
        let (manifest, sha) = stage_with(&manifest_path, write)?;
        let manifest_same = self.previous.manifest_sha == Some(sha);
        report.unchanged += usize::from(manifest_same);
        for rel in stale {
            let path = self.out.join(&rel);
            fs::remove_file(&path).map_err(Error::io(&path))?;
            remove_empty_parents(&self.out, &rel);
            report.removed.push(rel);
        }
        if !manifest_same {
            manifest
                .persist(&manifest_path)
                .map_err(|e| Error::io(&manifest_path)(e.error))?;
            crash_point();
            report.written.push(crate::manifest::PATH.into());
        }
        // After every rename: the index's own time tells which files could have changed since.
        self.index(&sha, &files)?;
        let next = (self.remember && !manifest_same).then(|| {
            let mut recorded = Recorded {
                files: Table::with_capacity(files.len()),
                inputs: Table::with_capacity(domains.len()),
                hosts: Some(*hosts),
            };
            for f in files {
                recorded.files.insert(&f.path, (f.sha256, f.size));
            }
            for d in domains {
                recorded.inputs.insert(&d.domain, d.inputs);
            }
            Previous {
                recorded,
                manifest_sha: Some(sha),
                trusted: true,
                changed: HashSet::new(),
                indexed: true,
            }
        });
        self.finished = true;
        let _ = fs::remove_file(self.out.join(IN_PROGRESS));
        Ok((report, next))
    }

    /// Records the stat of every file in `files` (sorted by path, as the manifest whose sha256 is
    /// `manifest` lists them) for the next build.
    fn index(&self, manifest: &Digest, files: &[FileEntry]) -> Result<(), Error> {
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        index::write(&self.out, manifest, &paths).map_err(Error::io(&self.out.join(index::PATH)))
    }

    /// Creates the output directory and the in-progress marker before the first temp file.
    fn begin(&self) -> Result<(), Error> {
        let mut begun = self.begun.lock().unwrap_or_else(|p| p.into_inner());
        if !begun.marked {
            if !self.out.exists() {
                fs::create_dir_all(&self.out).map_err(Error::io(&self.out))?;
                begun.made_out = true;
            }
            let marker = self.out.join(IN_PROGRESS);
            fs::write(&marker, b"").map_err(Error::io(&marker))?;
            begun.marked = true;
        }
        Ok(())
    }

    /// Makes the missing parents of `rel`, a file of `class`: the outermost under its temp
    /// name (staged in `batch`, unless another worker staged it), those below it in place.
    fn make_parents(&self, rel: &str, class: Class, batch: &mut Batch) -> Result<(), Error> {
        for dir in parents(rel) {
            if batch.dirs.contains_key(dir) {
                continue;
            }
            // Every directory this build makes lies below one it staged.
            let state = if let Some(path) = self.staged_below(dir, &batch.dirs) {
                match fs::create_dir(&path) {
                    Ok(()) => Dir::Made,
                    // Perhaps made by another worker of this build.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                        existing_dir(&path)?;
                        Dir::Made
                    }
                    Err(e) => return Err(Error::io(&path)(e)),
                }
            } else {
                self.find_or_stage(dir, class, &mut batch.staged)?
            };
            batch.dirs.insert(dir.to_string(), state);
        }
        Ok(())
    }

    /// The directory `dir` as it stands, or else made under its temp name and staged.
    fn find_or_stage(
        &self,
        dir: &str,
        class: Class,
        staged: &mut Vec<(Class, String, Move)>,
    ) -> Result<Dir, Error> {
        let path = self.out.join(dir);
        if existing_dir(&path)? {
            return Ok(Dir::Found);
        }
        // Held while making it: another worker needing the same directory waits, then finds it.
        let mut staged_dirs = self.staged_dirs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(&theirs) = staged_dirs.get(dir) {
            // A directory goes live with its class: it must hold no other.
            debug_assert_eq!(theirs, class, "{dir} holds files of two classes");
            return Ok(Dir::Staged);
        }
        let temp = temp_path(&path);
        if let Err(e) = fs::create_dir(&temp) {
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                return Err(Error::io(&temp)(e));
            }
            // Left by a killed build, or planted: removed, never followed.
            let _ = match fs::symlink_metadata(&temp) {
                Ok(m) if m.is_dir() => fs::remove_dir_all(&temp),
                _ => fs::remove_file(&temp),
            };
            fs::create_dir(&temp).map_err(Error::io(&temp))?;
        }
        staged_dirs.insert(dir.to_string(), class);
        staged.push((class, dir.to_string(), Move::Dir));
        Ok(Dir::Staged)
    }

    /// Where `rel` is written in place, when it lies below a directory staged under its temp
    /// name.
    fn staged_below(&self, rel: &str, dirs: &Dirs) -> Option<PathBuf> {
        let dir = parents(rel).find(|d| dirs.get(*d) == Some(&Dir::Staged))?;
        let mut path = temp_path(&self.out.join(dir));
        path.push(&rel[dir.len() + 1..]);
        Some(path)
    }

    /// Files the previous manifest lists, `files` (sorted by path) lacks, and that are safe to
    /// delete.
    fn stale(&self, files: &[FileEntry]) -> Vec<String> {
        if self.previous.recorded.files.is_empty() {
            return Vec::new();
        }
        let mut stale: Vec<String> = self
            .previous
            .recorded
            .files
            .keys()
            .filter(|p| files.binary_search_by(|f| f.path.as_str().cmp(p)).is_err())
            .filter(|p| safe_relative(p).is_some() && no_links_below(&self.out, p))
            .filter(|p| fs::symlink_metadata(self.out.join(p)).is_ok_and(|m| m.is_file()))
            .map(str::to_string)
            .collect();
        stale.sort();
        stale
    }
}

impl Drop for Writer<'_> {
    /// A build that failed before renaming anything removes the directories it created and
    /// its marker; one that failed while renaming keeps the marker, so that the next build
    /// compares every file instead of trusting the manifest.
    fn drop(&mut self) {
        if self.finished || self.renamed {
            return;
        }
        let staged = std::mem::take(
            self.staged_dirs
                .get_mut()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for dir in staged.keys() {
            // Wholly this build's: made under the temp name, and every worker is done.
            let _ = fs::remove_dir_all(temp_path(&self.out.join(dir)));
        }
        let begun = *self.begun.get_mut().unwrap_or_else(|p| p.into_inner());
        if begun.marked {
            let _ = fs::remove_file(self.out.join(IN_PROGRESS));
        }
        if begun.made_out {
            let _ = fs::remove_dir(&self.out);
        }
    }
}

/// Renames the staged temp files and directories (sorted by class) into place, stopping at the
/// first failure; `renamed` tells whether any rename happened. One at a time: spread over two
/// threads, replacing 200,000 files took as long (the disk's work of freeing each replaced file
/// is the cost).
fn rename_all(
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
fn temp_path(target: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(TEMP_PREFIX);
    name.push(target.file_name().unwrap_or_default());
    target.with_file_name(name)
}

/// Creates `path` afresh (never opening what stands there: a planted link is removed, not
/// followed) and writes `bytes`, world-readable.
fn write_new(path: &Path, bytes: &[u8]) -> Result<(), Error> {
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

/// The metadata of a target file (not following links), refusing a directory in its place
/// unless the place is `ours` (the previous build wrote a file there).
fn target_meta(path: &Path, ours: bool) -> Result<Option<fs::Metadata>, Error> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() && !ours => Err(unsafe_output(
            path,
            "a directory stands where a file must be",
        )),
        Ok(m) => Ok(Some(m)),
        Err(_) => Ok(None),
    }
}

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
fn stage_with(
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

/// Directories (relative, `/`-separated) known to exist as real directories, and how.
type Dirs = HashMap<String, Dir>;

/// How a directory a build writes into came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    /// It was there before.
    Found,
    /// This build made it under its temp name, to be renamed into place.
    Staged,
    /// This build made it below a staged directory.
    Made,
}

impl Dir {
    /// Whether this build made it: nothing below it needs comparing.
    fn made(self) -> bool {
        self != Dir::Found
    }
}

/// What `Writer::begin` has done.
#[derive(Debug, Clone, Copy, Default)]
struct Begun {
    marked: bool,
    made_out: bool,
}

/// Whether a real directory stands at `path` (`false`: nothing does); a link or a file there
/// is refused.
fn existing_dir(path: &Path) -> Result<bool, Error> {
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
fn parents(rel: &str) -> impl Iterator<Item = &str> {
    rel.match_indices('/').map(move |(i, _)| &rel[..i])
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

/// Removes what a killed build left: temp files, and directories staged under temp names with
/// everything below them.
fn remove_stale_temps(out: &Path) {
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

    /// One build of `files` (path, body) into `out`.
    fn write(out: &Path, files: &[(&str, &str)], verify: bool) -> Result<Report, Error> {
        let (previous, _) = Previous::load(out, verify);
        let writer = Writer::new(out, &previous, false)?;
        let mut batch = writer.batch();
        let mut entries = Vec::new();
        for (path, body) in files {
            entries.push(writer.offer(
                &mut batch,
                Class::Other,
                path.to_string(),
                "text/plain",
                body.as_bytes(),
            )?);
        }
        writer
            .finish(vec![batch], entries, &[], &[0; 32])
            .map(|(report, _)| report)
    }

    #[test]
    fn writes_skips_identical_and_prunes_only_what_it_generated() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        let r = write(out, &[("webroot/a/x.txt", "1"), ("dns/a.zone", "2")], false).unwrap();
        assert_eq!(r.written.len(), 3, "{r:?}");
        fs::write(out.join("dns/mine.zone"), "user file").unwrap();
        // A manifest that lists paths outside the tree: they are never touched.
        let mut listed = crate::manifest::parse(&fs::read(out.join("manifest.json")).unwrap())
            .unwrap()
            .files;
        listed.insert("../evil", ([0; 32], 1));
        listed.insert("/etc/passwd", ([0; 32], 1));
        let entries: Vec<FileEntry> = listed
            .iter()
            .map(|(path, &(sha256, size))| FileEntry {
                path: path.to_string(),
                sha256,
                size,
                media_type: "text/plain",
            })
            .collect();
        fs::write(
            out.join("manifest.json"),
            crate::manifest::to_bytes(&[0; 32], &entries, &[]),
        )
        .unwrap();
        let r = write(out, &[("dns/a.zone", "2")], false).unwrap();
        assert_eq!(r.unchanged, 1);
        assert_eq!(r.removed, ["webroot/a/x.txt"]);
        assert!(
            !out.join("webroot/a").exists(),
            "emptied directory left behind"
        );
        assert!(out.join("webroot").exists());
        assert!(out.join("dns/mine.zone").exists());
    }

    #[test]
    fn an_edited_file_is_repaired_without_verify_and_verify_reads_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        write(out, &[("dns/a.zone", "2"), ("dns/b.zone", "3")], false).unwrap();
        fs::write(out.join("dns/a.zone"), "edited by hand").unwrap();
        let r = write(out, &[("dns/a.zone", "2"), ("dns/b.zone", "3")], false).unwrap();
        assert_eq!(
            (&r.written[..], r.unchanged),
            (&["dns/a.zone".into()][..], 2)
        );
        assert_eq!(r.repaired, ["dns/a.zone"]);
        assert_eq!(fs::read_to_string(out.join("dns/a.zone")).unwrap(), "2");
        // The index is bound to the manifest: a file changed behind both is still found.
        fs::remove_file(out.join(index::PATH)).unwrap();
        fs::write(out.join("dns/b.zone"), "4").unwrap();
        let r = write(out, &[("dns/a.zone", "2"), ("dns/b.zone", "3")], true).unwrap();
        assert_eq!(r.written, ["dns/b.zone"]);
        assert_eq!(fs::read_to_string(out.join("dns/b.zone")).unwrap(), "3");
        // A deleted directory is noticed without --verify.
        fs::remove_dir_all(out.join("dns")).unwrap();
        let r = write(out, &[("dns/a.zone", "2"), ("dns/b.zone", "3")], false).unwrap();
        assert_eq!(r.written, ["dns/a.zone", "dns/b.zone"]);
    }

    #[test]
    fn an_unfinished_build_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        write(out, &[("dns/a.zone", "2")], false).unwrap();
        fs::write(out.join("dns/a.zone"), "half").unwrap();
        fs::write(out.join(IN_PROGRESS), "").unwrap();
        let r = write(out, &[("dns/a.zone", "2")], false).unwrap();
        assert_eq!(r.written, ["dns/a.zone"]);
        assert!(!out.join(IN_PROGRESS).exists());
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
            &[("dns/a.zone", "1"), ("webroot/a/x.txt", "1")],
            false,
        )
        .unwrap_err();
        assert!(matches!(err, Error::UnsafeOutput { .. }), "{err:?}");
        assert_eq!(fs::read_dir(elsewhere.path()).unwrap().count(), 0);
        let left: Vec<_> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["webroot"], "a failed build left files behind");
    }

    #[test]
    fn a_failed_build_removes_the_directories_it_created_and_only_those() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        fs::create_dir_all(out.join("z/y.txt")).unwrap();
        fs::create_dir_all(out.join("a/kept")).unwrap();
        let err = write(
            out,
            &[
                ("a/b/c/x.txt", "1"),
                ("d/e/f.txt", "1"),
                ("d/g/h.txt", "1"),
                ("z/y.txt", "1"),
            ],
            false,
        )
        .unwrap_err();
        assert!(matches!(err, Error::UnsafeOutput { .. }), "{err:?}");
        let mut left: Vec<String> = walkdir::WalkDir::new(out)
            .min_depth(1)
            .into_iter()
            .map(|e| {
                e.unwrap()
                    .path()
                    .strip_prefix(out)
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        left.sort();
        assert_eq!(left, ["a", "a/kept", "z", "z/y.txt"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_link_at_the_temp_name_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "keep").unwrap();
        let out = dir.path().join("out");
        fs::create_dir_all(out.join("dns")).unwrap();
        std::os::unix::fs::symlink(&victim, out.join(format!("dns/{TEMP_PREFIX}a.zone"))).unwrap();
        write(&out, &[("dns/a.zone", "1")], false).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "keep");
        assert_eq!(fs::read_to_string(out.join("dns/a.zone")).unwrap(), "1");
    }

    #[cfg(unix)]
    #[test]
    fn a_planted_link_at_a_directory_temp_name_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::create_dir(&victim).unwrap();
        let out = dir.path().join("out");
        fs::create_dir(&out).unwrap();
        std::os::unix::fs::symlink(&victim, out.join(format!("{TEMP_PREFIX}dns"))).unwrap();
        let report = write(&out, &[("dns/a.zone", "1"), ("dns/b.zone", "2")], false).unwrap();
        assert_eq!(
            report.written,
            ["dns/a.zone", "dns/b.zone", "manifest.json"]
        );
        assert_eq!(fs::read_dir(&victim).unwrap().count(), 0);
        assert_eq!(fs::read_to_string(out.join("dns/b.zone")).unwrap(), "2");
        assert!(!out.join(format!("{TEMP_PREFIX}dns")).exists());
    }

    #[cfg(unix)]
    #[test]
    fn files_are_world_readable_and_no_temp_is_left() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        // What a killed build leaves: a temp file, a staged directory, and the in-progress marker.
        fs::write(dir.path().join(format!("{TEMP_PREFIX}old")), "stale").unwrap();
        fs::create_dir_all(dir.path().join(format!("{TEMP_PREFIX}c/deep"))).unwrap();
        fs::write(
            dir.path().join(format!("{TEMP_PREFIX}c/deep/b.txt")),
            "stale",
        )
        .unwrap();
        fs::write(dir.path().join(IN_PROGRESS), "").unwrap();
        write(dir.path(), &[("a/b.txt", "x")], false).unwrap();
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
