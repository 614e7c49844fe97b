//! The keys a TLSA record names (RFC 6698 §2.1.2, selector 1): the SubjectPublicKeyInfo of a
//! certificate in a PEM chain, or of a key given as a PEM public key, certificate or private
//! key (PKCS#8, SEC1 `EC PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`). Only the public half is ever
//! kept: a private key is read to derive its public key and then dropped.

use std::path::Path;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::{PemObject, SectionKind};
use spki::der::asn1::BitString;
use spki::der::{Any, Decode, Encode};
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};
use x509_parser::prelude::{FromDer, X509Certificate};

/// rsaEncryption (RFC 8017 appendix C).
const RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-ecPublicKey (RFC 5480 §2.1.1).
const EC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// Why no public key could be read from a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The file cannot be read.
    #[error("cannot read {path}: {why}")]
    Read {
        /// The file.
        path: String,
        /// The operating system's words.
        why: String,
    },
    /// No PEM section of a kind that holds a key.
    #[error("{0} holds no PEM certificate, public key or private key")]
    NoPem(String),
    /// The DER inside the PEM does not parse.
    #[error("{path}: the {what} cannot be read: {why}")]
    Der {
        /// The file.
        path: String,
        /// What was being read.
        what: &'static str,
        /// The parser's words.
        why: String,
    },
    /// A private key whose public half cannot be derived without its curve or public point.
    #[error(
        "{0}: this private key does not carry its public key; give the public key instead (openssl pkey -in KEY -pubout -out next.pub)"
    )]
    NoPublicHalf(String),
    /// `dane-ta` needs the issuer, which the chain file lacks.
    #[error(
        "{0} holds only one certificate; usage = \"dane-ta\" pins the issuer: point `certificate` at the full chain (certbot's fullchain.pem)"
    )]
    NoIssuer(String),
}

/// The DER SubjectPublicKeyInfo of the certificate at `index` in the PEM chain at `path`
/// (0: the server's own, 1: its issuer).
pub(crate) fn chain_spki(path: &Path, index: usize) -> Result<Vec<u8>, KeyError> {
    let shown = path.display().to_string();
    let text = read(path)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<_, _>>()
        .map_err(|e| der(&shown, "PEM", e))?;
    match chain.get(index) {
        Some(cert) => certificate_spki(cert, &shown),
        None if chain.is_empty() => Err(KeyError::NoPem(shown)),
        None => Err(KeyError::NoIssuer(shown)),
    }
}

/// The DER SubjectPublicKeyInfo of the key at `path`: the first PEM section that is a public
/// key, a certificate or a private key.
pub(crate) fn key_spki(path: &Path) -> Result<Vec<u8>, KeyError> {
    let shown = path.display().to_string();
    let text = read(path)?;
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(&text) {
        let (kind, body) = section.map_err(|e| der(&shown, "PEM", e))?;
        return match kind {
            SectionKind::PublicKey => {
                SubjectPublicKeyInfoOwned::from_der(&body)
                    .map_err(|e| der(&shown, "public key", e))?;
                Ok(body)
            }
            SectionKind::Certificate => certificate_spki(&CertificateDer::from(body), &shown),
            SectionKind::PrivateKey => pkcs8(&body, &shown),
            SectionKind::EcPrivateKey => {
                let key = sec1::EcPrivateKey::from_der(&body)
                    .map_err(|e| der(&shown, "EC private key", e))?;
                let curve = key.parameters.and_then(|p| p.named_curve());
                match (curve, key.public_key) {
                    (Some(curve), Some(point)) => ec(curve, point, &shown),
                    _ => Err(KeyError::NoPublicHalf(shown)),
                }
            }
            SectionKind::RsaPrivateKey => rsa(&body, &shown),
            _ => continue,
        };
    }
    Err(KeyError::NoPem(shown))
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(path).map_err(|e| KeyError::Read {
        path: path.display().to_string(),
        why: e.to_string(),
    })
}

fn der(path: &str, what: &'static str, why: impl std::fmt::Display) -> KeyError {
    KeyError::Der {
        path: path.to_string(),
        what,
        why: why.to_string(),
    }
}

fn certificate_spki(cert: &CertificateDer<'_>, path: &str) -> Result<Vec<u8>, KeyError> {
    let (_, parsed) =
        X509Certificate::from_der(cert.as_ref()).map_err(|e| der(path, "certificate", e))?;
    Ok(parsed.tbs_certificate.subject_pki.raw.to_vec())
}

/// A PKCS#8 private key's public half: from its own public key field (v2), else from the RSA
/// or EC structure inside.
fn pkcs8(body: &[u8], path: &str) -> Result<Vec<u8>, KeyError> {
    let info =
        pkcs8::PrivateKeyInfo::from_der(body).map_err(|e| der(path, "PKCS#8 private key", e))?;
    let oid = info.algorithm.oid;
    if oid == RSA {
        return rsa(info.private_key, path);
    }
    if oid == EC {
        let curve = info
            .algorithm
            .parameters_oid()
            .map_err(|e| der(path, "EC curve", e))?;
        let key = sec1::EcPrivateKey::from_der(info.private_key)
            .map_err(|e| der(path, "EC private key", e))?;
        return match key.public_key.or(info.public_key) {
            Some(point) => ec(curve, point, path),
            None => Err(KeyError::NoPublicHalf(path.to_string())),
        };
    }
    match info.public_key {
        // Ed25519 and others: the public key as the algorithm's bit string, no parameters.
        Some(public) => encode(
            AlgorithmIdentifierOwned {
                oid,
                parameters: None,
            },
            public,
            path,
        ),
        None => Err(KeyError::NoPublicHalf(path.to_string())),
    }
}

fn rsa(body: &[u8], path: &str) -> Result<Vec<u8>, KeyError> {
    let key = pkcs1::RsaPrivateKey::from_der(body).map_err(|e| der(path, "RSA private key", e))?;
    let public = pkcs1::RsaPublicKey {
        modulus: key.modulus,
        public_exponent: key.public_exponent,
    }
    .to_der()
    .map_err(|e| der(path, "RSA public key", e))?;
    encode(
        AlgorithmIdentifierOwned {
            oid: RSA,
            parameters: Some(Any::null()),
        },
        &public,
        path,
    )
}

fn ec(curve: ObjectIdentifier, point: &[u8], path: &str) -> Result<Vec<u8>, KeyError> {
    let parameters = Any::encode_from(&curve).map_err(|e| der(path, "EC curve", e))?;
    encode(
        AlgorithmIdentifierOwned {
            oid: EC,
            parameters: Some(parameters),
        },
        point,
        path,
    )
}

fn encode(
    algorithm: AlgorithmIdentifierOwned,
    key: &[u8],
    path: &str,
) -> Result<Vec<u8>, KeyError> {
    let subject_public_key = BitString::from_bytes(key).map_err(|e| der(path, "public key", e))?;
    SubjectPublicKeyInfoOwned {
        algorithm,
        subject_public_key,
    }
    .to_der()
    .map_err(|e| der(path, "public key", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every form of one key names the same SubjectPublicKeyInfo as the certificate made from it.
    #[test]
    fn every_form_of_a_key_gives_the_certificates_spki() {
        let dir = tempfile::tempdir().unwrap();
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
        ] {
            let key = rcgen::KeyPair::generate_for(alg).unwrap();
            let cert = rcgen::CertificateParams::new(vec!["mx.example".to_string()])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            let write = |name: &str, text: String| {
                let path = dir.path().join(name);
                std::fs::write(&path, text).unwrap();
                path
            };
            let from_cert = chain_spki(&write("cert.pem", cert.pem()), 0).unwrap();
            assert_eq!(
                from_cert,
                rcgen::PublicKeyData::subject_public_key_info(&key)
            );
            assert_eq!(
                key_spki(&write("pub.pem", key.public_key_pem())).unwrap(),
                from_cert
            );
            assert_eq!(
                key_spki(&write("cert2.pem", cert.pem())).unwrap(),
                from_cert
            );
            if alg != &rcgen::PKCS_ED25519 {
                // rcgen's PKCS#8 carries the EC public point inside the SEC1 structure.
                assert_eq!(
                    key_spki(&write("key.pem", key.serialize_pem())).unwrap(),
                    from_cert
                );
            }
            assert!(matches!(
                chain_spki(&dir.path().join("cert.pem"), 1),
                Err(KeyError::NoIssuer(_))
            ));
        }
    }

    #[test]
    fn a_file_without_a_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not pem\n").unwrap();
        assert!(matches!(key_spki(&path), Err(KeyError::NoPem(_))));
        assert!(matches!(
            key_spki(&dir.path().join("missing.pem")),
            Err(KeyError::Read { .. })
        ));
    }
}
