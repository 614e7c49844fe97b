//! Matching TLSA records against the chain an SMTP server presents, as a DANE sender does
//! (RFC 7672 §3.1): DANE-EE (3) against the server's own certificate, DANE-TA (2) against a
//! certificate above it in the chain; PKIX usages (0, 1) are unusable for SMTP; selector 0
//! is the whole certificate, 1 its SubjectPublicKeyInfo; matching 0 exact, 1 SHA-256, 2
//! SHA-512. What DANE-TA also requires, a chain from the anchor to the server's certificate
//! naming the host, is left to the certificate checks `check` makes anyway.

use sha2::{Digest, Sha256, Sha512};
use x509_parser::prelude::{FromDer, X509Certificate};

/// One TLSA record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    /// Certificate usage.
    pub usage: u8,
    /// Selector.
    pub selector: u8,
    /// Matching type.
    pub matching: u8,
    /// Certificate association data.
    pub data: Vec<u8>,
}

impl Tlsa {
    /// `usage selector matching`, as the contract's JSON names a matched record.
    pub fn parameters(&self) -> String {
        format!("{} {} {}", self.usage, self.selector, self.matching)
    }

    /// Whether a sender can use this record at all (RFC 7672 §3.1.3: PKIX usages and
    /// unknown values are unusable).
    pub fn usable(&self) -> bool {
        matches!(self.usage, 2 | 3) && self.selector <= 1 && self.matching <= 2
    }

    fn matches(&self, cert: &[u8]) -> bool {
        let selected: Vec<u8> = match self.selector {
            0 => cert.to_vec(),
            _ => match X509Certificate::from_der(cert) {
                Ok((_, c)) => c.tbs_certificate.subject_pki.raw.to_vec(),
                Err(_) => return false,
            },
        };
        match self.matching {
            0 => selected == self.data,
            1 => Sha256::digest(&selected).as_slice() == self.data,
            _ => Sha512::digest(&selected).as_slice() == self.data,
        }
    }
}

/// The first usable record that `chain` (DER, the server's certificate first) matches.
pub(crate) fn matched<'a>(records: &'a [Tlsa], chain: &[Vec<u8>]) -> Option<&'a Tlsa> {
    records
        .iter()
        .filter(|r| r.usable())
        .find(|r| match r.usage {
            3 => chain.first().is_some_and(|leaf| r.matches(leaf)),
            _ => chain.iter().skip(1).any(|c| r.matches(c)),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain() -> (Vec<Vec<u8>>, Vec<u8>, Vec<u8>) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let issuer = rcgen::CertifiedIssuer::self_signed(ca, ca_key).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["mx.example".to_string()])
            .unwrap()
            .signed_by(&key, &issuer)
            .unwrap();
        let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
        let ca_spki = rcgen::PublicKeyData::subject_public_key_info(issuer.key());
        (
            vec![leaf.der().to_vec(), issuer.der().to_vec()],
            spki,
            ca_spki,
        )
    }

    fn tlsa(usage: u8, selector: u8, matching: u8, data: Vec<u8>) -> Tlsa {
        Tlsa {
            usage,
            selector,
            matching,
            data,
        }
    }

    #[test]
    fn each_usage_selector_and_matching_type_finds_its_certificate() {
        let (chain, spki, ca_spki) = chain();
        let ee = tlsa(3, 1, 1, Sha256::digest(&spki).to_vec());
        assert_eq!(
            matched(std::slice::from_ref(&ee), &chain)
                .unwrap()
                .parameters(),
            "3 1 1"
        );
        let ta = tlsa(2, 1, 1, Sha256::digest(&ca_spki).to_vec());
        assert!(matched(std::slice::from_ref(&ta), &chain).is_some());
        // The issuer's key as DANE-EE, or the server's as DANE-TA, matches nothing.
        assert!(matched(&[tlsa(3, 1, 1, Sha256::digest(&ca_spki).to_vec())], &chain).is_none());
        assert!(matched(&[tlsa(2, 1, 1, Sha256::digest(&spki).to_vec())], &chain).is_none());
        assert!(matched(&[tlsa(3, 0, 0, chain[0].clone())], &chain).is_some());
        assert!(matched(&[tlsa(3, 1, 2, Sha512::digest(&spki).to_vec())], &chain).is_some());
        // PKIX-EE is unusable for SMTP even when its data matches.
        assert!(matched(&[tlsa(1, 1, 1, Sha256::digest(&spki).to_vec())], &chain).is_none());
    }
}
