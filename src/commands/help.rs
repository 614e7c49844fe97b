//! `mtasts completions` and `mtasts man`: generated from the same clap definitions as the
//! command line, so they cannot drift from it.

use clap::CommandFactory;

use super::Ui;
use crate::cli::Cli;
use crate::error::Error;

/// Prints the completion script for `shell`.
pub fn completions(shell: clap_complete::Shell, ui: &mut dyn Ui) -> Result<(), Error> {
    let mut command = Cli::command();
    ui.out_streamed(&mut |w| {
        clap_complete::generate(shell, &mut command, "mtasts", w);
        Ok(())
    });
    Ok(())
}

/// Prints the man page: synopsis, every option, and the subcommands.
pub fn man(ui: &mut dyn Ui) -> Result<(), Error> {
    let command = Cli::command();
    ui.out_streamed(&mut |w| clap_mangen::Man::new(command.clone()).render(w));
    Ok(())
}
