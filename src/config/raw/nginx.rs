//! The `[nginx]` table of the raw mirror: its fields with their spans, and the walker's
//! reading of it.

use toml::de::DeTable;

use super::{Sp, Walker};

/// The `[nginx]` table.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct RawNginx {
    pub(crate) listen: Option<Sp<Vec<Sp<String>>>>,
    pub(crate) certificate: Option<Sp<String>>,
    pub(crate) certificate_key: Option<Sp<String>>,
    pub(crate) webroot: Option<Sp<String>>,
    pub(crate) vhosts: Option<Sp<String>>,
    pub(crate) map_hash_sizes: Option<Sp<bool>>,
    pub(crate) require_certificates: Option<Sp<bool>>,
    pub(crate) acme_webroot: Option<Sp<String>>,
    pub(crate) acme_listen: Option<Sp<Vec<Sp<String>>>>,
    pub(crate) hosts_per_certificate: Option<Sp<i64>>,
    pub(crate) user: Option<Sp<String>>,
    pub(crate) receiver_host: Option<Sp<String>>,
    pub(crate) receiver_upstream: Option<Sp<String>>,
}

pub(super) const NGINX_KEYS: &[&str] = &[
    "hosts_per_certificate",
    "listen",
    "map_hash_sizes",
    "require_certificates",
    "acme_webroot",
    "acme_listen",
    "certificate",
    "certificate_key",
    "webroot",
    "vhosts",
    "user",
    "receiver_host",
    "receiver_upstream",
];

impl Walker {
    /// Reads `[nginx]`; an unknown key is a located problem naming the known ones.
    pub(super) fn nginx(&mut self, t: &DeTable<'_>) -> RawNginx {
        let mut n = RawNginx::default();
        for entry in t.iter() {
            match entry.0.get_ref().as_ref() {
                "listen" => n.listen = self.strings(entry),
                "certificate" => n.certificate = self.string(entry),
                "certificate_key" => n.certificate_key = self.string(entry),
                "webroot" => n.webroot = self.string(entry),
                "vhosts" => n.vhosts = self.string(entry),
                "map_hash_sizes" => n.map_hash_sizes = self.boolean(entry),
                "require_certificates" => n.require_certificates = self.boolean(entry),
                "acme_webroot" => n.acme_webroot = self.string(entry),
                "acme_listen" => n.acme_listen = self.strings(entry),
                "hosts_per_certificate" => n.hosts_per_certificate = self.integer(entry),
                "user" => n.user = self.string(entry),
                "receiver_host" => n.receiver_host = self.string(entry),
                "receiver_upstream" => n.receiver_upstream = self.string(entry),
                _ => self.unknown(entry, NGINX_KEYS, "in [nginx]"),
            }
        }
        n
    }
}
