//! The TLS handshake of a probe. The handshake itself accepts any certificate (a verifier that
//! only records the chain) so that one connection tells everything at once: whether TLS works,
//! which version, and then, judged apart, whether the chain is trusted, the name covered and
//! the dates valid. Signatures are still checked, so the server proved it holds the key.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{AlertDescription, ClientConfig, ClientConnection, DigitallySignedStruct};

use super::{Fault, Prober, Seen, certificate};

/// Records the chain the server presents; trust is judged after the handshake.
#[derive(Debug)]
struct Recorder {
    chain: Mutex<Vec<CertificateDer<'static>>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = self.chain.lock().unwrap_or_else(|p| p.into_inner());
        chain.push(end_entity.clone().into_owned());
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A TLS handshake for `host` over `stream`; then `goodbye` (SMTP's QUIT) and close_notify.
pub(super) fn handshake(
    prober: &Prober,
    mut stream: TcpStream,
    host: &str,
    deadline: Instant,
    now: i64,
    goodbye: &[u8],
) -> Seen {
    let recorder = Arc::new(Recorder {
        chain: Mutex::new(Vec::new()),
        algorithms: prober.provider.signature_verification_algorithms,
    });
    let config = match ClientConfig::builder_with_provider(prober.provider.clone())
        .with_safe_default_protocol_versions()
    {
        Ok(b) => b
            .dangerous()
            .with_custom_certificate_verifier(recorder.clone())
            .with_no_client_auth(),
        Err(e) => return Seen::TlsFailed(e.to_string()),
    };
    let name = match ServerName::try_from(host.to_string()) {
        Ok(n) => n,
        Err(e) => {
            return Seen::Failed(Fault::HostName {
                host: host.to_string(),
                reason: e.to_string(),
            });
        }
    };
    let mut conn = match ClientConnection::new(Arc::new(config), name) {
        Ok(c) => c,
        Err(e) => return Seen::TlsFailed(e.to_string()),
    };
    while conn.is_handshaking() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Seen::TlsFailed("the handshake did not finish in time".to_string());
        }
        stream.set_read_timeout(Some(left.min(prober.step))).ok();
        stream.set_write_timeout(Some(left.min(prober.step))).ok();
        match conn.complete_io(&mut stream) {
            Ok((0, 0)) if conn.is_handshaking() => {
                return Seen::TlsFailed("the server closed the connection".to_string());
            }
            Ok(_) => {}
            Err(e) => return failed(e),
        }
    }
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        _ => "TLSv1.2",
    };
    if !goodbye.is_empty() {
        let _ = conn.writer().write_all(goodbye);
    }
    conn.send_close_notify();
    let _ = conn.complete_io(&mut stream);
    let _ = stream.shutdown(Shutdown::Both);
    let chain = std::mem::take(&mut *recorder.chain.lock().unwrap_or_else(|p| p.into_inner()));
    match certificate::examine(&chain, host, prober.verifier.as_ref(), now) {
        Ok(certificate) => Seen::Tls {
            version,
            certificate,
        },
        Err(e) => Seen::TlsFailed(e.to_string()),
    }
}

fn failed(e: std::io::Error) -> Seen {
    let too_old = |e: &rustls::Error| {
        matches!(
            e,
            rustls::Error::AlertReceived(AlertDescription::ProtocolVersion)
                | rustls::Error::PeerIncompatible(
                    rustls::PeerIncompatible::ServerDoesNotSupportTls12Or13
                )
        )
    };
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(inner) if too_old(inner) => Seen::TlsTooOld(inner.to_string()),
        Some(inner) => Seen::TlsFailed(inner.to_string()),
        None if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) =>
        {
            Seen::TlsFailed("no answer during the handshake".to_string())
        }
        None => Seen::TlsFailed(e.to_string()),
    }
}
