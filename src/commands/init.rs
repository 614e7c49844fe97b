//! `mtasts init`: write the commented sample config, never over an existing file.

use std::io::Write;

use super::{Context, Ui};
use crate::error::Error;

/// The sample config shipped at the repository root.
pub const SAMPLE: &str = include_str!("../../domains.toml");

/// Creates the config file; fails if anything is already there.
pub fn run(ctx: &Context, ui: &mut dyn Ui) -> Result<(), Error> {
    let mut file = std::fs::File::create_new(&ctx.config).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            Error::Exists(ctx.config.clone())
        } else {
            Error::io(&ctx.config)(e)
        }
    })?;
    file.write_all(SAMPLE.as_bytes())
        .map_err(Error::io(&ctx.config))?;
    ui.out(&format!(
        "wrote {}; edit it, then run `mtasts build`",
        ctx.config_name
    ));
    Ok(())
}
