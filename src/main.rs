//! The `mtasts` command: parse the command line, run, exit with the code `app` chose.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = mtasts::cli::Cli::parse();
    mtasts::app::run(cli)
}
