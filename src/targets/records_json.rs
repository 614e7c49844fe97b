//! `records-json`: `dns/records.json`, the `records --format json` document of every published
//! domain.

use super::{AllHosts, Emitter, Global};
use crate::error::Error;
use crate::model::{Nginx, Target};
use crate::output::Class;

/// The `records-json` target.
pub(crate) struct RecordsJson;

/// Its one file.
pub(crate) const RECORDS_JSON: Global = (Class::Dns, "dns/records.json", "application/json");

impl Emitter for RecordsJson {
    fn target(&self) -> Target {
        Target::RecordsJson
    }

    fn globals(&self, _: &Nginx) -> &'static [Global] {
        &[RECORDS_JSON]
    }

    fn global_bytes(&self, _: usize, all: &AllHosts<'_>) -> Result<Vec<u8>, Error> {
        let mut json = b"{\"records\": [".to_vec();
        let mut first = true;
        let dane = all.dane.iter().flat_map(super::dane_rows);
        for row in all
            .published
            .iter()
            .flat_map(|d| super::rows(d))
            .chain(dane)
        {
            {
                json.extend_from_slice(if first { b"\n  " } else { b",\n  " });
                first = false;
                serde_json::to_writer(&mut json, &row).expect("a row serialises");
            }
        }
        json.extend_from_slice(b"\n]}\n");
        Ok(json)
    }

    fn holds_every_domain(&self) -> bool {
        true
    }
}
