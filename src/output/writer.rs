//! The writer: files offered from several threads, staged where they differ, renamed into
//! place by class, stale files pruned, the manifest and the stat index written last.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::atomic::{Dir, Dirs, Move, crash_point, rename_all, stage_with, temp_path, write_new};
use super::guards::{
    check_root, existing_dir, no_links_below, parents, remove_empty_parents, remove_stale_temps,
    safe_relative, same_bytes, target_meta, unsafe_output,
};
use super::{Class, IN_PROGRESS, Previous, Report, index};
use crate::compact_map::Table;
use crate::digest::Hashing;
use crate::error::Error;
use crate::manifest::{Digest, DomainEntry, FileEntry, Recorded};

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
            sha256: crate::digest::sha256(bytes),
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
    /// Kept whole: the go-live order (files by class, then pruning, then the manifest last).
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
            self.go_live(&staged)?;
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
        report.removed = self.prune(stale, &files)?;
        if !manifest_same {
            manifest
                .persist(&manifest_path)
                .map_err(|e| Error::io(&manifest_path)(e.error))?;
            crash_point();
            report.written.push(crate::manifest::PATH.into());
        }
        // After every rename: the index's own time tells which files could have changed since.
        self.index(&sha, &files)?;
        let next =
            (self.remember && !manifest_same).then(|| remembered(&files, domains, hosts, sha));
        self.finished = true;
        let _ = fs::remove_file(self.out.join(IN_PROGRESS));
        Ok((report, next))
    }

    /// Renames every staged file into place; on a failure, removes the temps not yet renamed.
    fn go_live(&mut self, staged: &[(Class, String, Move)]) -> Result<(), Error> {
        self.begin()?;
        if let Err(e) = rename_all(&self.out, staged, self.previous, &mut self.renamed) {
            // Those already renamed have no temp left: removing it just fails.
            for (_, rel, how) in staged {
                let temp = temp_path(&self.out.join(rel));
                let _ = match how {
                    Move::File => fs::remove_file(temp),
                    Move::Dir => fs::remove_dir_all(temp),
                    Move::Within => continue,
                };
            }
            return Err(e);
        }
        Ok(())
    }

    /// Removes the `stale` files (and the directories they leave empty); a top-level directory
    /// none of whose files is made any more (a target left out) goes too. Returns what went.
    fn prune(&self, stale: Vec<String>, files: &[FileEntry]) -> Result<Vec<String>, Error> {
        let mut removed = Vec::with_capacity(stale.len());
        for rel in stale {
            let path = self.out.join(&rel);
            fs::remove_file(&path).map_err(Error::io(&path))?;
            remove_empty_parents(&self.out, &rel);
            removed.push(rel);
        }
        let kept_tops: HashSet<&str> = files
            .iter()
            .filter_map(|f| f.path.split_once('/').map(|(top, _)| top))
            .collect();
        let gone_tops: HashSet<&str> = removed
            .iter()
            .filter_map(|r| r.split_once('/').map(|(top, _)| top))
            .filter(|top| !kept_tops.contains(top))
            .collect();
        for top in gone_tops {
            let _ = fs::remove_dir(self.out.join(top));
        }
        Ok(removed)
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

/// What the next build in this process starts from: the files and inputs just written.
fn remembered(
    files: &[FileEntry],
    domains: &[DomainEntry],
    hosts: &Digest,
    sha: Digest,
) -> Previous {
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

/// What `Writer::begin` has done.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Begun {
    marked: bool,
    made_out: bool,
}
