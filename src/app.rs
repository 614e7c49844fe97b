//! Dispatch: the one place that prints diagnostics and chooses exit codes.

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{Cli, Command, TemplatesCommand};
use crate::commands::{self, Context, Ui};
use crate::diag::{self, Level, Problem, SourceFile};
use crate::error::Error;

/// Runs a parsed command line; 0 on success, 1 on any failure (clap already used 2 for usage).
pub fn run(cli: Cli) -> ExitCode {
    let ctx = Context {
        config_name: cli.config.display().to_string(),
        config: cli.config,
        templates: cli.templates,
    };
    let mut ui = Terminal;
    let result = match &cli.command {
        Command::Init => commands::init::run(&ctx, &mut ui),
        Command::Validate => commands::validate::run(&ctx, &mut ui),
        Command::Build(args) => commands::build::run(&ctx, args, &mut ui),
        Command::Status(args) => commands::status::run(&ctx, args, &mut ui),
        Command::Watch(args) => commands::watch::run(&ctx, args, &mut ui),
        Command::Check(args) => commands::check::run(&ctx, args, &mut ui),
        Command::Report(args) => commands::report::run(&ctx, args, &mut ui),
        Command::Templates(TemplatesCommand::Eject { dir }) => {
            commands::templates::eject(&ctx, dir.clone(), &mut ui)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            report(&e);
            ExitCode::from(1)
        }
    }
}

/// Prints a failure: every located problem of an invalid file, or the error with its help.
fn report(error: &Error) {
    let mut err = std::io::stderr().lock();
    if let Error::Invalid { file, problems } = error {
        for p in problems {
            let _ = write!(err, "{}", diag::render_problem(p, file));
        }
        let errors = problems.iter().filter(|p| p.level == Level::Error).count();
        let _ = writeln!(
            err,
            "error: {}: {errors} error(s); nothing was written",
            file.name
        );
    } else if let Error::Refused(reasons) = error {
        // One unwrapped line per reason: each names its domain, so scripts can grep for it.
        let _ = writeln!(err, "error: refusing to build; nothing was written:");
        for reason in reasons {
            let _ = writeln!(err, "  - {reason}");
        }
    } else {
        let _ = write!(err, "{}", diag::render(error));
    }
}

/// stdout for results, stderr for warnings.
struct Terminal;

impl Ui for Terminal {
    fn out(&mut self, line: &str) {
        let _ = writeln!(std::io::stdout().lock(), "{line}");
    }

    fn out_streamed(
        &mut self,
        write: &mut dyn FnMut(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let _ = write(&mut out).and_then(|()| writeln!(out));
    }

    fn problem(&mut self, problem: &Problem, file: &SourceFile) {
        let _ = write!(
            std::io::stderr().lock(),
            "{}",
            diag::render_problem(problem, file)
        );
    }

    fn warn(&mut self, message: &str) {
        let _ = writeln!(std::io::stderr().lock(), "warning: {message}");
    }

    fn error(&mut self, error: &Error) {
        report(error);
    }
}
