//! The `mtasts` command: parse the command line, run, exit with the code `app` chose.

use clap::Parser;

/// A build of 100,000 domains makes millions of small allocations on several threads; glibc's
/// allocator spent a quarter of a build's CPU on them, mimalloc a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let cli = mtasts::cli::Cli::parse();
    mtasts::app::run(cli)
}
