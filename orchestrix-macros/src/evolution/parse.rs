//! Reading `alias = "..."`, `since = N` and `upcast(...)`.

use syn::meta::ParseNestedMeta;
use syn::{Expr, LitStr, Path, Type};

use super::{History, Upcast};
use crate::attr::{Once, name_literal, unknown_skipped};
use crate::errors::Errors;

/// The keys this module reads inside `#[event(...)]`.
pub(crate) const KEYS: &[&str] = &["alias", "since", "upcast"];

const UPCAST_KEYS: &[&str] = &["from", "shape", "with", "split"];

const UPCAST_EXAMPLE: &str = "`upcast(from = 1, shape = OrderPlacedV1, with = v1_to_v2)`";

/// Reads one of [`KEYS`] into `history`; `Ok(false)` if `meta` is another
/// key. `version_value` checks a version number (from 1).
pub(crate) fn key(
    meta: &ParseNestedMeta<'_>,
    history: &mut History,
    since: &mut Once<syn::LitInt>,
    errors: &mut Errors,
    version_value: fn(&Expr) -> syn::Result<syn::LitInt>,
) -> syn::Result<bool> {
    if meta.path.is_ident("alias") {
        let value: Expr = meta.value()?.parse()?;
        if let Some(alias) = errors.take(name_literal(&value, "alias", "OrderCreated")) {
            history.aliases.push(alias);
        }
    } else if meta.path.is_ident("since") {
        let value: Expr = meta.value()?.parse()?;
        if let Some(value) = errors.take(version_value(&value)) {
            errors.take(since.set(meta, value));
        }
    } else if meta.path.is_ident("upcast") {
        if let Some(upcast) = upcast(meta, errors, version_value)? {
            history.upcasts.push(upcast);
        }
    } else {
        return Ok(false);
    }
    Ok(true)
}

fn upcast(
    meta: &ParseNestedMeta<'_>,
    errors: &mut Errors,
    version_value: fn(&Expr) -> syn::Result<syn::LitInt>,
) -> syn::Result<Option<Upcast>> {
    let span = meta
        .path
        .get_ident()
        .map_or_else(proc_macro2::Span::call_site, syn::Ident::span);
    if !meta.input.peek(syn::token::Paren) {
        return Err(meta.error(format!(
            "`upcast` lists its upcaster in parentheses: {UPCAST_EXAMPLE}"
        )));
    }
    let mut from = Once::<syn::LitInt>::new("from");
    let mut shape = Once::<Type>::new("shape");
    let mut with = Once::<Path>::new("with");
    let mut split = Once::<Path>::new("split");
    let mut from_given = false;
    meta.parse_nested_meta(|inner| {
        if inner.path.is_ident("from") {
            from_given = true;
            let value: Expr = inner.value()?.parse()?;
            let checked = version_value(&value).map_err(|_| {
                syn::Error::new_spanned(
                    &value,
                    "an upcaster reads a stored schema version, a whole number from 1: \
                     `from = 1`",
                )
            });
            if let Some(value) = errors.take(checked) {
                errors.take(from.set(&inner, value));
            }
        } else if inner.path.is_ident("shape") {
            let value: Type = inner.value()?.parse()?;
            errors.take(shape.set(&inner, value));
        } else if inner.path.is_ident("with") {
            let value: Path = inner.value()?.parse()?;
            errors.take(with.set(&inner, value));
        } else if inner.path.is_ident("split") {
            let value: Path = inner.value()?.parse()?;
            errors.take(split.set(&inner, value));
        } else {
            unknown_skipped(&inner, errors, UPCAST_KEYS)?;
        }
        Ok(())
    })?;
    let (with_span, split_span) = (with.span(), split.span());
    let Some(from) = from.get() else {
        if !from_given {
            errors.push(syn::Error::new(
                span,
                format!("this upcaster does not say which version it reads: {UPCAST_EXAMPLE}"),
            ));
        }
        return Ok(None);
    };
    let (function, is_split) = match (with.get(), split.get()) {
        (Some(function), None) => (function, false),
        (None, Some(function)) => (function, true),
        (Some(_), Some(_)) => {
            let span = split_span.or(with_span).unwrap_or(span);
            errors.push(syn::Error::new(
                span,
                "an upcaster has one function: `with = f` (to the next version) or \
                 `split = f` (to the current events), not both",
            ));
            return Ok(None);
        }
        (None, None) => {
            errors.push(syn::Error::new(
                span,
                format!(
                    "this upcaster has no function: add `with = f` (version N to N + 1) or \
                     `split = f` (to the current events), e.g. {UPCAST_EXAMPLE}"
                ),
            ));
            return Ok(None);
        }
    };
    let from_version = from.base10_parse().unwrap_or(1);
    Ok(Some(Upcast {
        span,
        from,
        from_version,
        shape: shape.get(),
        function,
        split: is_split,
    }))
}

/// The error for a history key on `#[command(...)]`: commands are not
/// stored, so they have no past to read.
pub(crate) fn not_on_commands(meta: &ParseNestedMeta<'_>) -> syn::Error {
    let key = meta
        .path
        .get_ident()
        .map_or_else(String::new, ToString::to_string);
    meta.error(format!(
        "`{key}` is for events: commands are not stored, so they have no old versions or \
         names to read; remove it (or derive `Event` if this type is stored)"
    ))
}

/// Whether a string literal equals `name`.
pub(crate) fn same_name(alias: &LitStr, name: &str) -> bool {
    alias.value() == name
}
