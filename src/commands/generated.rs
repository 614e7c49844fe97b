//! `mtasts completions` and `mtasts man`: generated from the same clap definitions as the
//! command line, so they cannot drift from it.

use clap::CommandFactory;

use super::Ui;
use crate::cli::{Cli, ManArgs};
use crate::error::Error;

/// Prints the completion script for `shell`.
pub(crate) fn completions(shell: clap_complete::Shell, ui: &mut dyn Ui) -> Result<(), Error> {
    let mut command = Cli::command();
    ui.out_streamed(&mut |w| {
        clap_complete::generate(shell, &mut command, "mtasts", w);
        Ok(())
    });
    Ok(())
}

/// Prints the main man page, or with `--dir` writes it and one page per subcommand (the pages
/// its SEE ALSO names) into that directory.
pub(crate) fn man(args: &ManArgs, ui: &mut dyn Ui) -> Result<(), Error> {
    let mut command = Cli::command();
    command.build();
    let Some(dir) = &args.dir else {
        ui.out_streamed(&mut |w| clap_mangen::Man::new(command.clone()).render(w));
        return Ok(());
    };
    std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    let mut pages = vec![("mtasts.1".to_string(), command.clone())];
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("mtasts-{}", sub.get_name());
        pages.push((
            format!("{name}.1"),
            sub.clone()
                .name(name)
                .display_name(format!("mtasts {}", sub.get_name())),
        ));
    }
    for (file, page) in pages {
        let mut roff = Vec::new();
        clap_mangen::Man::new(page)
            .render(&mut roff)
            .map_err(Error::io(dir.join(&file)))?;
        std::fs::write(dir.join(&file), &roff).map_err(Error::io(dir.join(&file)))?;
        ui.out(&dir.join(&file).display().to_string());
    }
    Ok(())
}
