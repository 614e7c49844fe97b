//! The certificate inventory (`certificates.txt`, `certificates.json`) of the `nginx` target:
//! per certificate path the nginx output expects, the host names it must cover.

use crate::model::Nginx;
use crate::plan::DomainPlan;

/// Per certificate path the nginx output expects, the host names it must cover (for an ACME
/// client), sorted by certificate and key path, hosts in domain order.
pub(crate) struct Certificates<'a> {
    /// Certificate path, key path, the domain each host belongs to, and its SAN batch.
    hosts: Vec<(
        String,
        String,
        &'a crate::names::DomainName,
        Option<&'a str>,
    )>,
}

impl<'a> Certificates<'a> {
    /// The inventory of `published`'s policy hosts under `nginx`'s certificate paths.
    pub(crate) fn of(published: &[&'a DomainPlan], nginx: &Nginx) -> Certificates<'a> {
        let mut hosts: Vec<_> = published
            .iter()
            .map(|d| {
                let name = &d.domain.name;
                let batch = d.certificate.as_deref();
                (
                    Nginx::expand(&nginx.certificate, name, batch),
                    Nginx::expand(&nginx.certificate_key, name, batch),
                    name,
                    batch,
                )
            })
            .collect();
        // Stable: hosts sharing a certificate stay in domain order.
        hosts.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Certificates { hosts }
    }

    /// Per certificate: its name (the SAN batch, else the first host), certificate and key
    /// paths, and the policy hosts it must cover.
    pub(crate) fn each(&self) -> impl Iterator<Item = (String, &str, &str, Vec<String>)> {
        self.groups().map(|group| {
            let hosts: Vec<String> = group
                .iter()
                .map(|(_, _, name, _)| name.policy_host())
                .collect();
            let name = group[0].3.map_or_else(|| hosts[0].clone(), str::to_string);
            (name, group[0].0.as_str(), group[0].1.as_str(), hosts)
        })
    }

    /// Runs of hosts with the same certificate and key.
    fn groups(
        &self,
    ) -> impl Iterator<
        Item = &[(
            String,
            String,
            &'a crate::names::DomainName,
            Option<&'a str>,
        )],
    > {
        self.hosts.chunk_by(|a, b| (&a.0, &a.1) == (&b.0, &b.1))
    }

    /// `certificate key host...`, one line per certificate.
    pub(crate) fn text(&self) -> String {
        let mut txt = String::from(
            "# mtasts certificate inventory: certificate path, key path, then every host name the\n\
             # certificate must cover (active and retiring domains). One line per certificate.\n",
        );
        for group in self.groups() {
            let (cert, key, _, _) = &group[0];
            txt.push_str(cert);
            txt.push('\t');
            txt.push_str(key);
            txt.push('\t');
            for (i, (_, _, name, _)) in group.iter().enumerate() {
                if i > 0 {
                    txt.push(' ');
                }
                txt.push_str(&name.policy_host());
            }
            txt.push('\n');
        }
        txt
    }

    /// `{"certificates": [{"certificate", "certificate_key", "hosts"}...]}`, pretty.
    pub(crate) fn json(&self) -> Vec<u8> {
        /// One certificate of `certificates.json`.
        #[derive(serde::Serialize)]
        struct Certificate<'g> {
            certificate: &'g str,
            certificate_key: &'g str,
            hosts: Hosts<'g>,
        }
        /// The host names of one certificate, made as they are serialised.
        struct Hosts<'g>(
            &'g [(
                String,
                String,
                &'g crate::names::DomainName,
                Option<&'g str>,
            )],
        );
        impl serde::Serialize for Hosts<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(|(_, _, name, _)| name.policy_host()))
            }
        }
        /// Every certificate, made as they are serialised.
        struct List<'g, 'a>(&'g Certificates<'a>);
        impl serde::Serialize for List<'_, '_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.groups().map(|group| Certificate {
                    certificate: &group[0].0,
                    certificate_key: &group[0].1,
                    hosts: Hosts(group),
                }))
            }
        }
        #[derive(serde::Serialize)]
        struct Inventory<'g, 'a> {
            certificates: List<'g, 'a>,
        }
        // About what the text holds, and the JSON punctuation around it.
        let estimate = self
            .hosts
            .iter()
            .map(|(c, k, n, _)| c.len() + k.len() + n.as_str().len() + 120)
            .sum::<usize>();
        let mut json = Vec::with_capacity(estimate);
        serde_json::to_writer_pretty(
            &mut json,
            &Inventory {
                certificates: List(self),
            },
        )
        .expect("inventory serialises");
        json.push(b'\n');
        json
    }
}
