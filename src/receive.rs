//! `mtasts receive`: the `rua=https:` endpoint (RFC 8460 §5.4) reporters POST their reports to.
//! Each report is validated, stored durably (committed to the report store), and only then
//! answered 201, or 200 when the store already held it; so a 2xx survives `kill -9`, and a
//! store that cannot write (a full disk) answers 503, never 2xx.
//!
//! Bounds: 1 MiB of body and 10 MiB inflated (413), a deadline for the headers and for the
//! body (a slowloris holds one connection slot for seconds, not forever), a cap on open
//! connections, and inflating/parsing limited to one report per core at a time, so memory stays
//! bounded however many clients post at once. SIGTERM or SIGINT stops accepting and lets the
//! requests in flight finish.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Semaphore, oneshot};

use crate::report::store::Store;
use crate::report::{self, Report, ReportError};

/// Largest compressed (or plain JSON) body accepted.
pub(crate) const MAX_BODY: usize = 1024 * 1024;
/// How long requests in flight may take to finish after SIGTERM.
const DRAIN: Duration = Duration::from_secs(30);
/// Reports committed in one store transaction at most (group commit: one fsync for many).
const BATCH: usize = 512;

/// How the receiver is set up.
pub(crate) struct Options {
    /// Where to listen.
    pub listen: SocketAddr,
    /// TLS certificate chain and key (PEM); plain HTTP behind a proxy without them.
    pub tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
    /// `GET` on this path answers the counters in Prometheus's text format.
    pub metrics_path: Option<String>,
    /// Connections open at once; further clients wait to be accepted.
    pub max_connections: usize,
    /// How long a client may take for the TLS handshake, then its headers, then its body.
    pub client_timeout: Duration,
}

/// Why the receiver could not start.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// Binding the address, or the runtime.
    #[error("cannot listen on {addr}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The certificate or key.
    #[error("TLS: {0}")]
    Tls(String),
}

/// The answers given, by kind, for the access log's totals and the metrics.
#[derive(Default)]
struct Counters {
    created: AtomicU64,
    duplicate: AtomicU64,
    invalid: AtomicU64,
    too_large: AtomicU64,
    method: AtomicU64,
    media_type: AtomicU64,
    unavailable: AtomicU64,
    timeout: AtomicU64,
}

impl Counters {
    fn count(&self, status: StatusCode) {
        let which = match status {
            StatusCode::CREATED => &self.created,
            StatusCode::OK => &self.duplicate,
            StatusCode::BAD_REQUEST => &self.invalid,
            StatusCode::PAYLOAD_TOO_LARGE => &self.too_large,
            StatusCode::METHOD_NOT_ALLOWED => &self.method,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => &self.media_type,
            StatusCode::REQUEST_TIMEOUT => &self.timeout,
            _ => &self.unavailable,
        };
        which.fetch_add(1, Ordering::Relaxed);
    }

    fn prometheus(&self) -> String {
        let mut out = String::from(
            "# HELP mtasts_receive_reports Report POSTs answered since the receiver started, by outcome.\n\
             # TYPE mtasts_receive_reports counter\n",
        );
        for (status, n) in [
            ("created", &self.created),
            ("duplicate", &self.duplicate),
            ("invalid", &self.invalid),
            ("too_large", &self.too_large),
            ("method_not_allowed", &self.method),
            ("unsupported_media_type", &self.media_type),
            ("timeout", &self.timeout),
            ("unavailable", &self.unavailable),
        ] {
            out.push_str(&format!(
                "mtasts_receive_reports{{status=\"{status}\"}} {}\n",
                n.load(Ordering::Relaxed)
            ));
        }
        out
    }
}

/// One report waiting for the store, and where its answer goes.
struct Job {
    report: Report,
    reply: oneshot::Sender<Result<bool, String>>,
}

/// What every connection shares.
struct Shared {
    store: tokio::sync::mpsc::Sender<Job>,
    decoding: Semaphore,
    counters: Counters,
    metrics_path: Option<String>,
    client_timeout: Duration,
    log: std::sync::mpsc::Sender<String>,
}

/// Serves until SIGTERM or SIGINT, then drains; each access log line goes to `log`.
pub(crate) fn serve(
    options: &Options,
    store: Box<dyn Store>,
    log: std::sync::mpsc::Sender<String>,
) -> Result<(), ReceiveError> {
    let listen_err = |source| ReceiveError::Listen {
        addr: options.listen,
        source,
    };
    let tls = options
        .tls
        .as_ref()
        .map(|(c, k)| acceptor(c, k))
        .transpose()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(listen_err)?;
    // The store is synchronous (SQLite, or PostgreSQL's blocking client, which must not run
    // inside this runtime): one thread owns it and commits what waits, a batch at a time.
    // Bounded: when the store falls behind, requests wait for room (without blocking a worker).
    let (jobs, queue) = tokio::sync::mpsc::channel::<Job>(4096);
    let writer = std::thread::spawn(move || write_batches(store, queue));
    let shared = Arc::new(Shared {
        store: jobs,
        decoding: Semaphore::new(crate::parallel::threads().max(1)),
        counters: Counters::default(),
        metrics_path: options.metrics_path.clone(),
        client_timeout: options.client_timeout,
        log,
    });
    let result = runtime.block_on(accept_loop(options, tls, shared));
    drop(runtime);
    // Every sender is gone with the runtime: the writer commits what is left and ends.
    let _ = writer.join();
    result
}

/// The store's thread: waits for a report, takes every other one already waiting (up to
/// [`BATCH`]), commits them in one transaction, then answers each.
fn write_batches(mut store: Box<dyn Store>, mut queue: tokio::sync::mpsc::Receiver<Job>) {
    while let Some(first) = queue.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let reports: Vec<Report> = batch.iter().map(|j| j.report.clone()).collect();
        match store.insert(&reports) {
            Ok(new) => {
                for (job, new) in batch.into_iter().zip(new) {
                    let _ = job.reply.send(Ok(new));
                }
            }
            Err(e) => {
                let reason = e.to_string();
                for job in batch {
                    let _ = job.reply.send(Err(reason.clone()));
                }
            }
        }
    }
}

async fn accept_loop(
    options: &Options,
    tls: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
) -> Result<(), ReceiveError> {
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|source| ReceiveError::Listen {
            addr: options.listen,
            source,
        })?;
    let _ = shared.log.send(format!(
        "{{\"event\":\"listening\",\"address\":\"{}\",\"tls\":{}}}",
        listener.local_addr().unwrap_or(options.listen),
        tls.is_some()
    ));
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|source| ReceiveError::Listen {
        addr: options.listen,
        source,
    })?;
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        };
        let Ok(slot) = slot else { break };
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                // Out of descriptors and the like: wait a moment (a busy loop would not free
                // any), then try again.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = terminate.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        };
        let shared = shared.clone();
        let service = hyper::service::service_fn(move |req| {
            let shared = shared.clone();
            async move { Ok::<_, std::convert::Infallible>(handle(req, remote, &shared).await) }
        });
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(TokioTimer::new())
            .header_read_timeout(options.client_timeout);
        match &tls {
            None => {
                let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
                tokio::spawn(async move {
                    let _ = conn.await;
                    drop(slot);
                });
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let watcher = graceful.watcher();
                let deadline = options.client_timeout;
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(deadline, acceptor.accept(stream)).await;
                    if let Ok(Ok(stream)) = handshake {
                        let conn = http.serve_connection(TokioIo::new(stream), service);
                        let _ = watcher.watch(conn).await;
                    }
                    drop(slot);
                });
            }
        }
    }
    drop(listener);
    let _ = shared.log.send("{\"event\":\"draining\"}".to_string());
    let _ = tokio::time::timeout(DRAIN, graceful.shutdown()).await;
    let _ = shared.log.send("{\"event\":\"stopped\"}".to_string());
    Ok(())
}

/// A TLS acceptor from PEM files (the certificate chain, then the key).
fn acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<tokio_rustls::TlsAcceptor, ReceiveError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let err = |what: &std::path::Path, e: &dyn std::fmt::Display| {
        ReceiveError::Tls(format!("{}: {e}", what.display()))
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| err(cert, &e))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| err(key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ReceiveError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| err(cert, &e))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// What became of one request, for the answer and the access log.
struct Outcome {
    status: StatusCode,
    reason: String,
    report: Option<String>,
}

impl Outcome {
    fn new(status: StatusCode, reason: impl Into<String>) -> Outcome {
        Outcome {
            status,
            reason: reason.into(),
            report: None,
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    remote: SocketAddr,
    shared: &Shared,
) -> Response<Full<Bytes>> {
    let started = Instant::now();
    let method = req.method().clone();
    // Behind nginx (`receiver_host`), the reporter's address comes in this header.
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let path = req.uri().path().to_string();
    if method == Method::GET && shared.metrics_path.as_deref() == Some(path.as_str()) {
        return Response::builder()
            .header("content-type", "text/plain; version=0.0.4")
            .body(Full::new(Bytes::from(shared.counters.prometheus())))
            .unwrap_or_default();
    }
    let (outcome, bytes) = receive(req, shared).await;
    shared.counters.count(outcome.status);
    let line = serde_json::json!({
        "remote": remote.ip().to_string(),
        "forwarded_for": forwarded,
        "method": method.as_str(),
        "path": path,
        "status": outcome.status.as_u16(),
        "bytes": bytes,
        "ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        "report": outcome.report,
        "reason": outcome.reason,
    });
    let _ = shared.log.send(line.to_string());
    let mut response = Response::builder()
        .status(outcome.status)
        .header("content-type", "text/plain; charset=utf-8");
    if outcome.status == StatusCode::METHOD_NOT_ALLOWED {
        response = response.header("allow", "POST");
    }
    response
        .body(Full::new(Bytes::from(format!("{}\n", outcome.reason))))
        .unwrap_or_default()
}

/// Validates, decodes and stores one POST; the outcome and the body's size.
async fn receive(req: Request<Incoming>, shared: &Shared) -> (Outcome, usize) {
    if req.method() != Method::POST {
        return (
            Outcome::new(StatusCode::METHOD_NOT_ALLOWED, "reports are POSTed"),
            0,
        );
    }
    let media = req
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    let gzip = match media.as_str() {
        "application/tlsrpt+gzip" => true,
        "application/tlsrpt+json" => false,
        _ => {
            return (
                Outcome::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "Content-Type must be application/tlsrpt+gzip or application/tlsrpt+json (RFC 8460 §5.4)",
                ),
                0,
            );
        }
    };
    let body = match body(req, shared.client_timeout).await {
        Ok(body) => body,
        Err(outcome) => return (outcome, 0),
    };
    let size = body.len();
    let Ok(_permit) = shared.decoding.acquire().await else {
        return (
            Outcome::new(StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
            size,
        );
    };
    let parsed = tokio::task::spawn_blocking(move || decode(&body, gzip))
        .await
        .unwrap_or_else(|e| Err(ReportError::Io(std::io::Error::other(e.to_string()))));
    drop(_permit);
    let report = match parsed {
        Ok(report) => report,
        Err(ReportError::TooLarge) => {
            let mut outcome = too_large();
            outcome.reason = format!(
                "the report inflates to more than {} MiB",
                report::MAX_REPORT_BYTES / 1024 / 1024
            );
            return (outcome, size);
        }
        Err(e) => return (Outcome::new(StatusCode::BAD_REQUEST, e.to_string()), size),
    };
    let name = format!("{}/{}", report.organization, report.report_id);
    let mut outcome = store(report, shared).await;
    outcome.report = Some(name);
    (outcome, size)
}

/// The answer a report too big gets.
fn too_large() -> Outcome {
    Outcome::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("a report body is at most {} MiB", MAX_BODY / 1024 / 1024),
    )
}

/// The whole body, at most [`MAX_BODY`] (refused by its Content-Length before any is read)
/// and within `deadline`; else the answer that says why not.
async fn body(req: Request<Incoming>, deadline: Duration) -> Result<Bytes, Outcome> {
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let body = Limited::new(req.into_body(), MAX_BODY);
    match tokio::time::timeout(deadline, body.collect()).await {
        Err(_) => Err(Outcome::new(
            StatusCode::REQUEST_TIMEOUT,
            "the body took too long",
        )),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(Outcome::new(StatusCode::BAD_REQUEST, e.to_string())),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// Hands the report to the store's thread and waits until it is committed: 201 new, 200
/// already there, 503 when it could not be (never a 2xx for a report not stored: the
/// reporter retries).
async fn store(report: Report, shared: &Shared) -> Outcome {
    let (reply, answer) = oneshot::channel();
    if shared.store.send(Job { report, reply }).await.is_err() {
        return Outcome::new(StatusCode::SERVICE_UNAVAILABLE, "the store is gone");
    }
    match answer.await {
        Ok(Ok(true)) => Outcome::new(StatusCode::CREATED, "stored"),
        Ok(Ok(false)) => Outcome::new(StatusCode::OK, "already stored"),
        Ok(Err(reason)) => Outcome::new(StatusCode::SERVICE_UNAVAILABLE, reason),
        Err(_) => Outcome::new(StatusCode::SERVICE_UNAVAILABLE, "the store is gone"),
    }
}

/// One report from a POST body: gzip inflated (at most 10 MiB), then parsed.
fn decode(body: &[u8], gzip: bool) -> Result<Report, ReportError> {
    if gzip && !body.starts_with(&[0x1f, 0x8b]) {
        return Err(ReportError::Gzip(std::io::Error::other(
            "the body is not gzip data, though the Content-Type says tlsrpt+gzip",
        )));
    }
    let mut found = report::reports_in(body, false, None)?;
    match found.len() {
        1 => Ok(found.remove(0)),
        _ => Err(ReportError::NotObject),
    }
}
