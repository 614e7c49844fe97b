//! Checking many domains at once: observe every domain (DNS, HTTPS) on a pool of threads, then
//! probe each MX host once however many domains name it (a hoster's thousand domains share two
//! MX hosts), then judge. The network waits overlap; the judging is pure and quick.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use indicatif::ProgressBar;

use crate::dns::{Dns, DnsError};
use crate::fetch::Fetcher;
use crate::lock::Lock;
use crate::model::Mode;
use crate::net::ConnectTo;
use crate::parallel::pool;
use crate::plan::{DomainPlan, Plan};
use crate::probe::{Probe, Prober, Seen};
use crate::records;

use super::{Check, Expiry, Line, Live, MxReport, Probes, Status, Unreachable, judge, observe};

/// Domains in flight at once. Each waits mostly on the network (its DNS answers travel while
/// its HTTPS fetch runs), so more than the cores keep the cores busy; each thread costs a few
/// MB of allocator arenas. Measured on 2 cores, 2,000 local domains: 16 in flight 3.1 s and
/// 117 MB, 32 2.9 s and 183 MB, 64 3.2 s and 312 MB.
const IN_FLIGHT: usize = 32;

/// The clients a check uses.
pub struct Network {
    /// DNS, for every lookup.
    pub dns: Arc<Dns>,
    /// HTTPS, for the policy.
    pub fetcher: Fetcher,
    /// TLS handshakes with the MX hosts and the policy hosts.
    pub prober: Prober,
    /// Whether the MX hosts are probed (`--no-smtp` turns it off).
    pub smtp: bool,
    /// DNS that validates DNSSEC itself, for the TLSA records of the MX hosts probed.
    pub dane: Dns,
}

/// How `check` reaches the network, from its flags.
#[derive(Debug, Clone)]
pub struct Settings<'a> {
    /// Send every DNS query here instead of to the system resolver.
    pub nameserver: Option<SocketAddr>,
    /// PEM roots to trust instead of Mozilla's.
    pub ca_file: Option<&'a Path>,
    /// `--connect-to` rules for the policy fetch.
    pub connect_to: Vec<ConnectTo>,
    /// The SMTP port of MX hosts.
    pub smtp_port: u16,
    /// `--smtp-connect` rules for the MX probes.
    pub smtp_connect: Vec<ConnectTo>,
    /// Bound on each network step.
    pub timeout: Duration,
    /// Whether the MX hosts are probed.
    pub smtp: bool,
    /// DNSKEY records to validate TLSA records from instead of the root's keys.
    pub trust_anchor: Option<&'a Path>,
}

/// Why the network clients could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// No resolver.
    #[error(transparent)]
    Dns(#[from] crate::dns::SetupError),
    /// No HTTPS client.
    #[error(transparent)]
    Fetch(#[from] crate::fetch::FetchError),
    /// No prober.
    #[error(transparent)]
    Probe(#[from] crate::probe::SetupError),
}

impl Network {
    /// The resolver, the policy fetcher and the prober `settings` describe.
    pub fn new(settings: Settings<'_>) -> Result<Network, SetupError> {
        let dns = Arc::new(Dns::new(settings.nameserver, settings.timeout)?);
        Ok(Network {
            fetcher: Fetcher::new(
                dns.clone(),
                settings.ca_file,
                settings.connect_to,
                settings.timeout,
            )?,
            prober: Prober::new(
                settings.ca_file,
                settings.smtp_port,
                settings.smtp_connect,
                settings.timeout,
            )?,
            dane: Dns::validating(settings.nameserver, settings.timeout, settings.trust_anchor)?,
            dns,
            smtp: settings.smtp,
        })
    }
}

/// The outcome for one domain.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The domain.
    pub domain: String,
    /// Its verdicts.
    pub lines: Vec<Line>,
    /// Its MX hosts' probes.
    pub mx: Vec<MxReport>,
    /// The policy id published in DNS, when exactly one valid record was found.
    pub live_id: Option<String>,
    /// End of validity (seconds since 1970) of each certificate seen, by host name.
    pub expiries: Vec<(String, i64)>,
}

/// Domains whose every lookup failed before `check` stops asking a resolver that has answered
/// nothing (a fleet would otherwise wait out every timeout of every domain).
const SILENT_BEFORE_GIVING_UP: usize = IN_FLIGHT;

/// The resolver answered no lookup at all (not even "no such name"): nothing can be judged.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ResolverSilent(pub String);

/// Checks `selected` (in order) against `plan` and `lock`; `progress` counts domains; `nginx`
/// is the layout of the nginx output (`None` without that target), for fix lines. When the
/// resolver answers none of the lookups, that is the one error instead of a FAIL per domain.
/// Kept whole: telling a silent resolver from failing domains spans the observing and the judging.
pub fn check_all(
    selected: &[&DomainPlan],
    plan: &Plan,
    lock: &Lock,
    net: &Network,
    at: Expiry,
    progress: &ProgressBar,
    nginx: Option<crate::model::Vhosts>,
) -> Result<Vec<Checked>, ResolverSilent> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let answered = AtomicBool::new(false);
    let silent = AtomicUsize::new(0);
    let first_error: Mutex<Option<String>> = Mutex::new(None);
    let lives: Vec<Option<Live>> = pool(selected, IN_FLIGHT, |d| {
        progress.inc(1);
        if !d.published()
            || (!answered.load(Ordering::Relaxed)
                && silent.load(Ordering::Relaxed) >= SILENT_BEFORE_GIVING_UP)
        {
            return None;
        }
        let live = observe(net, d.domain.name.as_str(), at.now);
        match dns_failure(&live) {
            None => answered.store(true, Ordering::Relaxed),
            Some(e) => {
                silent.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = first_error.lock() {
                    first.get_or_insert(e);
                }
            }
        }
        Some(live)
    });
    if !answered.load(Ordering::Relaxed) && silent.load(Ordering::Relaxed) > 0 {
        let why = first_error.into_inner().ok().flatten().unwrap_or_default();
        return Err(ResolverSilent(why));
    }
    // Domains skipped while the resolver looked silent, before another domain's answer came.
    let lives: Vec<Option<Live>> = selected
        .iter()
        .zip(lives)
        .map(|(d, live)| match live {
            None if d.published() => Some(observe(net, d.domain.name.as_str(), at.now)),
            live => live,
        })
        .collect();
    let probes = net
        .smtp
        .then(|| probe_mx_hosts(selected, &lives, net, at.now));
    Ok(selected
        .iter()
        .zip(&lives)
        .map(|(d, live)| {
            let name = d.domain.name.to_string();
            let Some(live) = live else {
                // A retirement that fell due is a scheduled build, not a broken deployment.
                let detail = if plan.due.contains(&name) {
                    Plan::due_message(&name)
                } else {
                    format!(
                        "{}: nothing is published, nothing to check",
                        d.stage.as_str()
                    )
                };
                return Checked {
                    lines: vec![super::line(Check::Stage, Status::Note, detail)],
                    domain: name,
                    mx: Vec::new(),
                    live_id: None,
                    expiries: Vec::new(),
                };
            };
            let built = plan.built(&name);
            let entry = lock.domains.get(&name);
            let (lines, mx) = judge(d, entry, built, live, probes.as_ref(), at, nginx);
            Checked {
                live_id: live_id(live),
                expiries: expiries(&d.domain.name.policy_host(), live, probes.as_ref()),
                domain: name,
                lines,
                mx,
            }
        })
        .collect())
}

/// When every DNS lookup of a domain failed (no answer at all, not even "no such name"), what
/// the first one said.
fn dns_failure(live: &Live) -> Option<String> {
    fn failed<T>(r: &Result<T, DnsError>) -> Option<&str> {
        match r {
            Err(DnsError::Failed(e)) => Some(e),
            _ => None,
        }
    }
    let all = [
        failed(&live.sts_txt),
        failed(&live.host_cname),
        failed(&live.host_addrs),
        failed(&live.mx),
        failed(&live.tlsrpt_txt),
    ];
    all.iter()
        .all(Option::is_some)
        .then(|| all[0].unwrap_or_default().to_string())
}

/// The MX hosts of the testing/enforce domains, each probed once at each of its addresses.
fn probe_mx_hosts(
    selected: &[&DomainPlan],
    lives: &[Option<Live>],
    net: &Network,
    now: i64,
) -> Probes {
    let hosts: BTreeSet<&str> = selected
        .iter()
        .zip(lives)
        .filter(|(d, _)| d.mode() != Mode::None)
        .filter_map(|(_, live)| live.as_ref()?.mx.as_ref().ok())
        .flatten()
        .map(String::as_str)
        .filter(|h| *h != ".")
        .collect();
    let hosts: Vec<&str> = hosts.into_iter().collect();
    // Each host's addresses are probed at once, so a host of silent addresses costs one
    // timeout, not one per address.
    let probed = pool(&hosts, IN_FLIGHT, |host| {
        targets(net, host).map(|addrs| {
            let tlsa = tlsa(net, host);
            let mut probes = pool(&addrs, addrs.len(), |a| net.prober.smtp(host, *a, now));
            for p in &mut probes {
                p.tlsa.clone_from(&tlsa);
            }
            probes
        })
    });
    hosts
        .into_iter()
        .map(str::to_string)
        .zip(probed)
        .collect::<HashMap<_, _>>()
}

/// The TLSA records of an MX host, validated; `None` when a plain lookup finds none (or
/// fails), so that hosts without DANE cost one query and no DNSSEC chain. A SERVFAIL is kept:
/// a validating resolver answers so for bogus records, and DANE senders then defer.
fn tlsa(net: &Network, host: &str) -> Option<Result<crate::dns::TlsaAnswer, DnsError>> {
    use crate::dns::TlsaAnswer;
    let name = crate::dane::owner(host);
    match net.dns.tlsa(&name) {
        Ok(TlsaAnswer::Found { .. }) => Some(net.dane.tlsa(&name)),
        Ok(TlsaAnswer::ServFail) => Some(Ok(TlsaAnswer::ServFail)),
        _ => None,
    }
}

/// Where an MX host is reached: the user's override, else each address DNS gives for it.
fn targets(net: &Network, host: &str) -> Result<Vec<SocketAddr>, Unreachable> {
    if let Some(fixed) = net.prober.smtp_override(host) {
        return fixed.map(|a| vec![a]).map_err(Unreachable::Route);
    }
    let ips = net.dns.addresses(host).map_err(|e| match e {
        DnsError::NoRecords => Unreachable::NoAddress,
        e => Unreachable::Lookup(e),
    })?;
    let mut out: Vec<SocketAddr> = ips
        .into_iter()
        .map(|ip| net.prober.smtp_target(host, ip))
        .collect::<Result<_, _>>()?;
    out.sort();
    out.dedup();
    if out.len() > super::smtp::MAX_MX_ADDRESSES {
        return Err(Unreachable::TooManyAddresses(out.len()));
    }
    Ok(out)
}

fn live_id(live: &Live) -> Option<String> {
    let txt = live.sts_txt.as_ref().ok()?;
    let mut sts = txt.iter().filter(|r| r.starts_with("v=STSv1"));
    match (sts.next(), sts.next()) {
        (Some(one), None) => records::parse_sts(one).ok(),
        _ => None,
    }
}

fn expiries(policy_host: &str, live: &Live, probes: Option<&Probes>) -> Vec<(String, i64)> {
    let tls = |p: &Probe| match &p.seen {
        Seen::Tls { certificate, .. } => Some((p.host.clone(), certificate.not_after)),
        _ => None,
    };
    let mut out: Vec<(String, i64)> = live
        .certificate
        .iter()
        .map(|c| (policy_host.to_string(), c.not_after))
        .collect();
    if let (Some(probes), Ok(hosts)) = (probes, &live.mx) {
        for host in hosts {
            if let Some(Ok(list)) = probes.get(host) {
                out.extend(list.iter().filter_map(tls));
            }
        }
    }
    out
}
