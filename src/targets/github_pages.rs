//! `github-pages`: `github-pages/mta-sts.<domain>/`, a Pages site root per policy host: the
//! policy, `.nojekyll` (without it Pages hides `.well-known`) and `CNAME` (the site's custom
//! domain).

use std::borrow::Cow;

use super::{DomainFiles, Emitter, Kind};
use crate::error::Error;
use crate::model::{Nginx, Target};
use crate::output::Class;

/// The `github-pages` target.
pub(crate) struct Pages;

const JEKYLL: usize = 0;
const CNAME: usize = 1;

const KINDS: &[Kind] = &[
    Kind {
        class: Class::Policy,
        media_type: "text/plain",
    },
    Kind {
        class: Class::Policy,
        media_type: "text/plain",
    },
    Kind {
        class: Class::Policy,
        media_type: "text/plain",
    },
];

impl Emitter for Pages {
    fn target(&self) -> Target {
        Target::GithubPages
    }

    fn deploy_step(&self) -> Option<&'static str> {
        Some("push each github-pages/ site")
    }

    fn retired_step(&self) -> Option<&'static str> {
        Some(
            "github-pages: the build removed its policy host's site directory, but the published site stays until you delete its repository (or unpublish its Pages site and custom domain) on GitHub",
        )
    }

    fn kinds(&self, _: &Nginx) -> &'static [Kind] {
        KINDS
    }

    fn path(&self, kind: usize, d: &DomainFiles<'_>) -> Option<String> {
        let host = &d.host;
        Some(match kind {
            JEKYLL => format!("github-pages/{host}/.nojekyll"),
            CNAME => format!("github-pages/{host}/CNAME"),
            _ => format!("github-pages/{host}/.well-known/mta-sts.txt"),
        })
    }

    fn bytes<'d>(&self, kind: usize, d: &'d DomainFiles<'_>) -> Result<Cow<'d, [u8]>, Error> {
        Ok(match kind {
            JEKYLL => Cow::Borrowed(b""),
            CNAME => Cow::Owned(format!("{}\n", d.host).into_bytes()),
            _ => Cow::Borrowed(d.policy().as_bytes()),
        })
    }
}
