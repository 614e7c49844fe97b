//! Outputs for CDNs and static hosts, made from the published policies: one Cloudflare Worker
//! for every host, one Netlify site for every host, and a GitHub Pages site root per host.

pub mod acme;
pub mod cloudflare;
pub mod dns;
pub mod inventory;
pub mod netlify;

/// One published policy host and the bytes it serves.
pub struct Hosted {
    /// `mta-sts.<domain>` (A-labels).
    pub host: String,
    /// The policy file's bytes.
    pub policy: String,
}

/// The policy path every host serves (RFC 8461 §3.2).
pub const POLICY_PATH: &str = "/.well-known/mta-sts.txt";
