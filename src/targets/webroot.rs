//! `webroot`: `webroot/mta-sts.<domain>/.well-known/mta-sts.txt`, the policy file any web
//! server can serve.

use std::borrow::Cow;

use super::{DomainFiles, Emitter, Kind};
use crate::error::Error;
use crate::model::{Nginx, Target};
use crate::output::Class;

/// The `webroot` target.
pub(crate) struct Webroot;

const KINDS: &[Kind] = &[Kind {
    class: Class::Policy,
    media_type: "text/plain",
}];

impl Emitter for Webroot {
    fn target(&self) -> Target {
        Target::Webroot
    }

    fn deploy_step(&self) -> Option<&'static str> {
        Some("deploy webroot/")
    }

    fn kinds(&self, _: &Nginx) -> &'static [Kind] {
        KINDS
    }

    fn path(&self, _: usize, d: &DomainFiles<'_>) -> Option<String> {
        Some(format!("webroot/{}/.well-known/mta-sts.txt", d.host))
    }

    fn bytes<'d>(&self, _: usize, d: &'d DomainFiles<'_>) -> Result<Cow<'d, [u8]>, Error> {
        Ok(Cow::Borrowed(d.policy().as_bytes()))
    }
}
