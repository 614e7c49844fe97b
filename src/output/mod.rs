//! Writing the output tree: everything checked before the first write, each file replaced
//! atomically (temp file + rename), identical files left alone, stale generated files pruned,
//! nothing written outside the output directory or through a symlink inside it.

mod atomic;
mod guards;
pub mod index;
mod previous;
mod writer;

pub use atomic::{Staged, stage_atomic};
pub use previous::Previous;
pub use writer::{Batch, Writer};

/// Prefix of the tool's temp files; leftovers of a killed build are removed by the next one.
pub const TEMP_PREFIX: &str = ".mtasts-tmp-";

/// Present in the output directory while a build writes into it; left behind only by a build
/// that died, which tells the next one to look for its temp files.
pub(super) const IN_PROGRESS: &str = ".mtasts-tmp-build-in-progress";

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

#[cfg(test)]
mod tests;
