//! `manifest.json`: every generated file (path, sha256, size, media type) and every domain's id.

use serde::{Deserialize, Serialize};

/// The manifest's own path inside the output directory.
pub const PATH: &str = "manifest.json";

/// The whole manifest. It carries no timestamps: the same inputs give the same bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `mtasts`.
    pub generator: String,
    /// Every generated file except the manifest, sorted by path.
    pub files: Vec<FileEntry>,
    /// Every domain, sorted by A-label name.
    pub domains: Vec<DomainEntry>,
}

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Relative to the output directory, `/`-separated.
    pub path: String,
    /// Lower-case hex sha256 of the bytes.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Media type to serve it with.
    pub media_type: String,
}

/// One domain's published state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainEntry {
    /// A-label name.
    pub domain: String,
    /// The `_mta-sts` id.
    pub id: String,
    /// Policy mode.
    pub mode: String,
}

impl Manifest {
    /// Pretty JSON with a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("manifest serialises");
        out.push(b'\n');
        out
    }

    /// Parses a previous manifest; `Err` says why it cannot be used.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}
