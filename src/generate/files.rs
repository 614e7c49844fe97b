//! One domain's files in every enabled target, kept from the previous build when its inputs
//! are unchanged, else made by their targets and offered to the writer.

use crate::error::Error;
use crate::manifest::{DomainEntry, FileEntry};
use crate::model::Nginx;
use crate::output::{Batch, Previous, Writer};
use crate::plan::DomainPlan;
use crate::render::Templates;
use crate::targets::{DomainFiles, Emitter, Global, Kind};

/// One worker's share of the tree: its batch, its files by kind (in the order of
/// [`Build::kinds`]), and its domains' manifest entries, all in domain order.
pub(super) struct Part {
    pub(super) batch: Batch,
    pub(super) files: Vec<Vec<FileEntry>>,
    pub(super) domains: Vec<DomainEntry>,
    /// Where the next lookups in the previous manifest probably are: a worker's domains come
    /// in name order, and the manifest lists domains and each kind of file in about that order.
    pub(super) near: Near,
}

/// Positions in the previous manifest's tables: its domains, and each kind of file.
#[derive(Default)]
pub(super) struct Near {
    pub(super) inputs: usize,
    pub(super) files: Vec<usize>,
}

/// What every domain's files are made with.
pub(super) struct Build<'a> {
    /// The per-domain kinds of the enabled targets: the target, the kind's index among its
    /// own, and the kind.
    pub(super) kinds: Vec<(&'a dyn Emitter, usize, Kind)>,
    pub(super) nginx: &'a Nginx,
    pub(super) templates: &'a Templates,
    pub(super) writer: &'a Writer<'a>,
    pub(super) previous: &'a Previous,
}

/// Offers one of the files made from every host.
pub(super) fn offer_global(
    writer: &Writer,
    batch: &mut Batch,
    (class, path, media_type): Global,
    bytes: &[u8],
) -> Result<FileEntry, Error> {
    writer.offer(batch, class, path.into(), media_type, bytes)
}

impl Build<'_> {
    /// Offers `d`'s files and returns its manifest entry; `ready` says whether nginx gets its
    /// vhost.
    pub(super) fn domain(
        &self,
        d: &DomainPlan,
        ready: bool,
        part: &mut Part,
    ) -> Result<DomainEntry, Error> {
        let (nginx, writer, previous) = (self.nginx, self.writer, self.previous);
        let files = DomainFiles::new(d, nginx, self.templates, ready);
        let name = files.name;
        let entry = DomainEntry {
            domain: name.to_string(),
            id: d.id.clone(),
            mode: d.mode().as_str(),
            inputs: self.templates.digest(d, nginx),
        };
        // A host waiting for its certificate has other nginx text: its digest says so.
        let entry = if ready || !nginx.require_certificates {
            entry
        } else {
            let mut unready = entry.inputs.to_vec();
            unready.extend_from_slice(b"waiting for its certificate");
            DomainEntry {
                inputs: crate::digest::sha256(&unready),
                ..entry
            }
        };
        let paths: Vec<Option<String>> = self
            .kinds
            .iter()
            .map(|(target, kind, _)| target.path(*kind, &files))
            .collect();
        let batch = &mut part.batch;
        writer.forget_deep_dirs(batch);
        let near = &mut part.near;
        if previous.trusted() && previous.inputs_near(name, &mut near.inputs) == Some(&entry.inputs)
        {
            let mut kept: Vec<Option<FileEntry>> = vec![None; paths.len()];
            let mut all = true;
            for (i, path) in paths.iter().enumerate() {
                if let Some(path) = path {
                    let media_type = self.kinds[i].2.media_type;
                    kept[i] = previous.entry_near(path, media_type, &mut near.files[i]);
                    all &= kept[i].is_some();
                }
            }
            if all {
                for (i, file) in kept.into_iter().enumerate() {
                    if let Some(file) = file {
                        part.files[i].push(writer.keep(batch, file));
                    }
                }
                return Ok(entry);
            }
        }
        for (i, path) in paths.into_iter().enumerate() {
            let Some(path) = path else { continue };
            let (target, kind, Kind { class, media_type }) = self.kinds[i];
            let bytes = target.bytes(kind, &files)?;
            let file = writer.offer(batch, class, path, media_type, &bytes)?;
            part.files[i].push(file);
        }
        Ok(entry)
    }
}
