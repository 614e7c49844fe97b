//! The shape of a validated setting: set (with its span), unset or bad, and the helpers that
//! validate one value or a list, reporting each bad one at its place.

use std::ops::Range;
use std::sync::Arc;

use crate::config::raw::Sp;
use crate::diag::Problem;

/// A validated setting and where it was written.
#[derive(Debug, Clone)]
pub(super) enum Field<T> {
    Unset,
    Bad,
    Set(T, Range<usize>),
}

impl<T> Field<Vec<T>> {
    /// The list behind an `Arc`: every domain that inherits it shares one copy.
    pub(super) fn shared(self) -> Field<Arc<[T]>> {
        match self {
            Field::Unset => Field::Unset,
            Field::Bad => Field::Bad,
            Field::Set(v, span) => Field::Set(v.into(), span),
        }
    }
}

impl<T> Field<T> {
    /// The value, or `default` when unset; `None` when it was bad (already reported).
    pub(super) fn value_or(self, default: T) -> Option<T> {
        match self {
            Field::Set(v, _) => Some(v),
            Field::Unset => Some(default),
            Field::Bad => None,
        }
    }

    /// The value if set, else `default` (unset, or bad and already reported).
    pub(super) fn set_or(self, default: T) -> T {
        match self {
            Field::Set(v, _) => v,
            _ => default,
        }
    }

    /// The value if set, `Some(None)` when unset; `None` when it was bad (already reported).
    pub(super) fn optional(self) -> Option<Option<T>> {
        match self {
            Field::Set(v, _) => Some(Some(v)),
            Field::Unset => Some(None),
            Field::Bad => None,
        }
    }
}

impl<T: Clone> Field<T> {
    /// This table's value if it has one, else the inherited one.
    pub(super) fn or(&self, inherited: &Field<T>) -> Field<T> {
        match self {
            Field::Unset => inherited.clone(),
            other => other.clone(),
        }
    }
}

pub(super) type Refusal = (String, String, String);

pub(super) fn field<R, T>(
    raw: &Option<Sp<R>>,
    problems: &mut Vec<Problem>,
    check: impl Fn(&R) -> Result<T, Refusal>,
) -> Field<T> {
    match raw {
        None => Field::Unset,
        Some(sp) => match check(&sp.value) {
            Ok(v) => Field::Set(v, sp.span.clone()),
            Err((message, label, help)) => {
                problems.push(Problem::error(sp.span.clone(), message, label).help(help));
                Field::Bad
            }
        },
    }
}

/// Validates every item (reporting each bad one), deduplicates in order, refuses an empty list.
pub(super) fn list<T: PartialEq>(
    raw: &Option<Sp<Vec<Sp<String>>>>,
    key: &str,
    problems: &mut Vec<Problem>,
    check: impl Fn(&str) -> Result<T, Refusal>,
) -> Field<Vec<T>> {
    let Some(raw) = raw else {
        return Field::Unset;
    };
    if raw.value.is_empty() {
        problems.push(
            Problem::error(raw.span.clone(), format!("`{key}` is empty"), "no entries").help(
                format!("list at least one value, or remove `{key}` to inherit it"),
            ),
        );
        return Field::Bad;
    }
    let mut out = Vec::with_capacity(raw.value.len());
    let mut bad = false;
    for item in &raw.value {
        match check(&item.value) {
            Ok(v) if !out.contains(&v) => out.push(v),
            Ok(_) => {}
            Err((message, label, help)) => {
                bad = true;
                problems.push(Problem::error(item.span.clone(), message, label).help(help));
            }
        }
    }
    if bad {
        Field::Bad
    } else {
        Field::Set(out, raw.span.clone())
    }
}

/// Inherited values validated once can still yield one problem per domain; keep one.
pub(super) fn dedupe(problems: &mut Vec<Problem>) {
    let mut seen = std::collections::HashSet::new();
    problems.retain(|p| seen.insert((p.span.start, p.span.end, p.message.clone())));
}
