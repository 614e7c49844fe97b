//! What one report says, as far as a summary needs it: the parsed report and its registered
//! policy and result types (RFC 8460 §4.3).

use chrono::{DateTime, Utc};

/// `policy-type` (RFC 8460 §4.3): what the sender applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyType {
    /// An MTA-STS policy.
    Sts,
    /// DANE TLSA records.
    Tlsa,
    /// None found: the sender did not see our policy at all.
    NoPolicyFound,
    /// Anything else a reporter wrote.
    Other,
}

/// `result-type` (RFC 8460 §4.3): the registered failure types, and `other` for the rest.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ResultType {
    /// `starttls-not-supported`.
    StarttlsNotSupported,
    /// `certificate-host-mismatch`.
    CertificateHostMismatch,
    /// `certificate-expired`.
    CertificateExpired,
    /// `certificate-not-trusted`.
    CertificateNotTrusted,
    /// `validation-failure`.
    ValidationFailure,
    /// `tlsa-invalid`.
    TlsaInvalid,
    /// `dnssec-invalid`.
    DnssecInvalid,
    /// `dane-required`.
    DaneRequired,
    /// `sts-policy-fetch-error`: the sender could not fetch our policy.
    StsPolicyFetchError,
    /// `sts-policy-invalid`: the policy it fetched did not parse.
    StsPolicyInvalid,
    /// `sts-webpki-invalid`: the policy host's certificate did not validate.
    StsWebpkiInvalid,
    /// Any type not registered.
    Other,
}

impl ResultType {
    const ALL: [ResultType; 12] = [
        ResultType::StarttlsNotSupported,
        ResultType::CertificateHostMismatch,
        ResultType::CertificateExpired,
        ResultType::CertificateNotTrusted,
        ResultType::ValidationFailure,
        ResultType::TlsaInvalid,
        ResultType::DnssecInvalid,
        ResultType::DaneRequired,
        ResultType::StsPolicyFetchError,
        ResultType::StsPolicyInvalid,
        ResultType::StsWebpkiInvalid,
        ResultType::Other,
    ];

    /// The name as RFC 8460 spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ResultType::StarttlsNotSupported => "starttls-not-supported",
            ResultType::CertificateHostMismatch => "certificate-host-mismatch",
            ResultType::CertificateExpired => "certificate-expired",
            ResultType::CertificateNotTrusted => "certificate-not-trusted",
            ResultType::ValidationFailure => "validation-failure",
            ResultType::TlsaInvalid => "tlsa-invalid",
            ResultType::DnssecInvalid => "dnssec-invalid",
            ResultType::DaneRequired => "dane-required",
            ResultType::StsPolicyFetchError => "sts-policy-fetch-error",
            ResultType::StsPolicyInvalid => "sts-policy-invalid",
            ResultType::StsWebpkiInvalid => "sts-webpki-invalid",
            ResultType::Other => "other",
        }
    }

    /// What a reporter wrote, as a registered type or `Other`.
    pub fn parse(s: &str) -> ResultType {
        ResultType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .unwrap_or(ResultType::Other)
    }

    /// Whether senders could not get a valid policy at all (whatever the success count).
    pub fn policy_not_seen(self) -> bool {
        matches!(
            self,
            ResultType::StsPolicyFetchError
                | ResultType::StsPolicyInvalid
                | ResultType::StsWebpkiInvalid
        )
    }
}

impl std::fmt::Display for ResultType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One report, as far as a summary needs it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Report {
    /// `organization-name` (or "unknown").
    pub organization: String,
    /// `report-id` (for de-duplication).
    pub report_id: String,
    /// Start of the covered range.
    pub start: DateTime<Utc>,
    /// End of the covered range.
    pub end: DateTime<Utc>,
    /// Per applied policy.
    pub policies: Vec<PolicyResult>,
}

/// One entry of `policies`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PolicyResult {
    /// What the sender applied.
    pub policy_type: PolicyType,
    /// The policy domain (lower-case, no root dot); absent for some `no-policy-found` entries.
    pub domain: Option<String>,
    /// The policy lines the reporter applied.
    pub policy_string: Vec<String>,
    /// Successful sessions.
    pub successful: u64,
    /// Failed sessions.
    pub failed: u64,
    /// Failure details.
    pub failures: Vec<Failure>,
}

/// One `failure-details` entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    /// A registered result type, or `other`.
    pub result_type: ResultType,
    /// The receiving MX host name (or IP when no name was given).
    pub mx: String,
    /// Failed sessions.
    pub count: u64,
}
