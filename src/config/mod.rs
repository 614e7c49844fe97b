//! Reading `domains.toml`: text → spanned raw mirror → validated [`Config`](crate::model::Config).

mod fast;
mod nginx;
mod raw;
mod uri;
mod validate;

use std::path::Path;

use crate::diag::{Problem, SourceFile};
#[cfg(feature = "test-hooks")]
use crate::error::Disagreement;
use crate::error::Error;
use crate::model::Config;

/// A validated config and the warnings found on the way.
#[derive(Debug)]
pub struct Loaded {
    /// The validated model.
    pub config: Config,
    /// Warnings to show (the config is usable).
    pub warnings: Vec<Problem>,
    /// The source, for rendering the warnings.
    pub file: SourceFile,
}

/// The error of a config without a domain table (`import --write` supplies them).
pub const NO_DOMAINS: &str = "no domains are configured";

/// Reads and validates the config at `path`; `name` is how diagnostics call it.
pub fn load(path: &Path, name: &str) -> Result<Loaded, Error> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NoConfig(name.to_string()),
        _ => Error::io(path)(e),
    })?;
    let text = decode(&bytes, name)?;
    let file = SourceFile::new(name, text);
    match parse(&file.text) {
        (Some(config), warnings) => Ok(Loaded {
            config,
            warnings,
            file,
        }),
        (None, problems) => Err(Error::Invalid { file, problems }),
    }
}

/// Pure: validates TOML text. Returns the config when there is no error, and every problem.
pub fn parse(text: &str) -> (Option<Config>, Vec<Problem>) {
    match read_raw(text) {
        Err(syntax) => (None, syntax),
        Ok((raw, schema)) => validate::validate(raw, schema),
    }
}

/// The raw mirror of `text`: by the fast reader when it reads the text exactly, else by the
/// TOML parser (which also reports every problem). The fast reader uses the raw mirror's
/// types; the raw module never calls it, so the two do not depend on each other both ways.
fn read_raw(text: &str) -> Result<(raw::RawConfig, Vec<Problem>), Vec<Problem>> {
    match fast::parse(text) {
        Some(read) => Ok(read),
        None => raw::by_toml(text),
    }
}

/// Every key `domains.toml` accepts, as (table, key), for the test that keeps the docs
/// complete.
#[cfg(feature = "test-hooks")]
pub fn known_keys() -> Vec<(&'static str, &'static str)> {
    raw::known_keys()
}

/// Differential check of the fast reader (`config/fast.rs`) against the TOML parser, for the
/// fuzz target and property tests: `Ok(true)` when the fast reader took `text` and gave exactly
/// what the TOML parser gives, `Ok(false)` when it declined, `Err` at a disagreement.
#[cfg(feature = "test-hooks")]
pub fn fast_reader_agrees(text: &str) -> Result<bool, Disagreement> {
    let Some(fast) = fast::parse(text) else {
        return Ok(false);
    };
    match raw::by_toml(text) {
        Ok(slow) if slow == fast => Ok(true),
        Ok(slow) => Err(Disagreement(format!("fast {fast:?}\nTOML {slow:?}"))),
        Err(problems) => Err(Disagreement(format!(
            "the fast reader took invalid TOML: {problems:?}"
        ))),
    }
}

/// UTF-8 text without a leading byte-order mark; invalid UTF-8 is reported at its position.
fn decode(bytes: &[u8], name: &str) -> Result<String, Error> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_string()),
        Err(e) => {
            let valid = e.valid_up_to();
            let text = String::from_utf8_lossy(bytes).into_owned();
            let offset = String::from_utf8_lossy(&bytes[..valid]).len();
            let end = text[offset..]
                .chars()
                .next()
                .map_or(offset, |c| offset + c.len_utf8());
            Err(Error::Invalid {
                file: SourceFile::new(name, text),
                problems: vec![
                    Problem::error(
                        offset..end,
                        "the file is not valid UTF-8",
                        "invalid byte here",
                    )
                    .help("save the file as UTF-8"),
                ],
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = super::parse(&text);
        }

        #[test]
        fn arbitrary_values_never_panic_and_errors_have_spans(
            name in "\\PC{0,40}", mx in "\\PC{0,40}", rua in "\\PC{0,40}", listen in "\\PC{0,30}",
        ) {
            let quote = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
            let text = format!(
                "[nginx]\nlisten = [\"{}\"]\n[domains.\"{}\"]\nmx = [\"{}\"]\npolicy_cname = \"a.example\"\ntlsrpt_rua = [\"{}\"]\n",
                quote(&listen), quote(&name), quote(&mx), quote(&rua)
            );
            let (config, problems) = super::parse(&text);
            prop_assert_eq!(config.is_none(), problems.iter().any(|p| p.level == crate::diag::Level::Error));
            for p in &problems {
                prop_assert!(p.span.end <= text.len() && p.span.start <= p.span.end);
            }
        }
    }
}
