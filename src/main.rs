//! The `mtasts` command: parse the command line, run, exit with the code `app` chose.

use clap::Parser;

/// A build of 100,000 domains makes millions of small allocations on several threads; glibc's
/// allocator spent a quarter of a build's CPU on them, mimalloc a fraction of that.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc's `mi_option_e` (the -sys crate names no constant for
/// it): how long freed memory stays mapped before it goes back to the system.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> std::process::ExitCode {
    // A build frees each phase's data (config tables, the old lock) before the next phase
    // allocates; returning it at once instead of after mimalloc's default second keeps the
    // peak RSS of 100,000 domains about a quarter lower, for no measurable CPU.
    // SAFETY: sets one integer option; mimalloc allows it at any time.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    let cli = mtasts::cli::Cli::parse();
    mtasts::app::run(cli)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_purge_delay_option_is_the_one_mimalloc_documents() {
        // mimalloc 3's default purge delay is 1000 ms (src/options.c); another option at this
        // index would have another value (unless set from the environment).
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: reads one integer option.
            let value = unsafe { libmimalloc_sys::mi_option_get(super::MI_OPTION_PURGE_DELAY) };
            assert_eq!(value, 1000);
        }
    }
}
