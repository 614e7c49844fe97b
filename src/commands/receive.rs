//! `mtasts receive`: runs the HTTPS report receiver; its access log is this command's output.

use super::{Paths, Ui};
use crate::cli::ReceiveArgs;
use crate::error::Error;

/// Opens the store, serves until SIGTERM or SIGINT, and prints each access log line as it comes.
pub(crate) fn run(ctx: &Paths, args: &ReceiveArgs, ui: &mut dyn Ui) -> Result<(), Error> {
    let base = ctx.config.parent().unwrap_or(std::path::Path::new("."));
    let store = crate::report::store::open(&args.store, base)?;
    let options = crate::receive::Options {
        listen: args.listen,
        tls: args.tls_certificate.clone().zip(args.tls_key.clone()),
        metrics_path: args.metrics_path.clone(),
        max_connections: args.max_connections,
        client_timeout: std::time::Duration::from_secs(args.client_timeout.max(1)),
    };
    let (log, lines) = std::sync::mpsc::channel();
    // The server runs on its own thread so that this one, the only printer, writes the log.
    let server = std::thread::spawn(move || crate::receive::serve(&options, store, log));
    for line in lines {
        ui.out(&line);
    }
    server
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
    Ok(())
}
