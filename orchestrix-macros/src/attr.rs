//! Parsing `key = value` attribute arguments with fixed error wording:
//! "unknown orchestrix attribute `x`" and "duplicate orchestrix attribute `x`".

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::{Expr, ExprLit, Lit, LitStr};

/// One attribute argument that may be given at most once.
pub(crate) struct Once<T> {
    key: &'static str,
    value: Option<(T, Span)>,
}

impl<T> Once<T> {
    pub(crate) fn new(key: &'static str) -> Self {
        Self { key, value: None }
    }

    /// Stores the value parsed from `meta`; a second occurrence is an error
    /// on the repeated key.
    pub(crate) fn set(&mut self, meta: &ParseNestedMeta<'_>, value: T) -> syn::Result<()> {
        if self.value.is_some() {
            return Err(meta.error(format!(
                "duplicate orchestrix attribute `{}`; give it once",
                self.key
            )));
        }
        self.value = Some((
            value,
            meta.path
                .segments
                .first()
                .map_or_else(Span::call_site, |s| s.ident.span()),
        ));
        Ok(())
    }

    pub(crate) fn get(self) -> Option<T> {
        self.value.map(|(value, _)| value)
    }

    pub(crate) fn span(&self) -> Option<Span> {
        self.value.as_ref().map(|(_, span)| *span)
    }
}

/// The error for a key no macro of this kind takes, listing those it does.
pub(crate) fn unknown(meta: &ParseNestedMeta<'_>, expected: &[&str]) -> syn::Error {
    let key = meta.path.get_ident().map_or_else(
        || {
            quote::ToTokens::to_token_stream(&meta.path)
                .to_string()
                .replace(' ', "")
        },
        ToString::to_string,
    );
    let list = expected
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    meta.error(format!(
        "unknown orchestrix attribute `{key}`; expected one of: {list}"
    ))
}

/// `name = "..."`, shared by every macro that takes a name: a string
/// literal that is not blank. `what` names it in the error ("handler name"),
/// `example` shows a valid value.
pub(crate) fn name_literal(value: &Expr, what: &str, example: &str) -> syn::Result<LitStr> {
    let Expr::Lit(ExprLit {
        lit: Lit::Str(value),
        ..
    }) = value
    else {
        return Err(syn::Error::new_spanned(
            value,
            format!("expected a string: `name = \"{example}\"`"),
        ));
    };
    if value.value().trim().is_empty() {
        return Err(syn::Error::new_spanned(
            value,
            format!("the {what} must not be empty"),
        ));
    }
    Ok(value.clone())
}

/// As [`name_literal`], reading the value after `name =` from `meta`.
pub(crate) fn parse_name(
    meta: &ParseNestedMeta<'_>,
    what: &str,
    example: &str,
) -> syn::Result<LitStr> {
    let value: Expr = meta.value()?.parse()?;
    name_literal(&value, what, example)
}

/// Takes the marker attribute `#[name]` (e.g. `#[apply]`, `#[handle]`) off
/// `method`: whether it had one. A repeated marker or one with arguments is
/// reported on it.
pub(crate) fn take_marker(
    method: &mut syn::ImplItemFn,
    name: &str,
    errors: &mut crate::errors::Errors,
) -> bool {
    let is_marker = |attr: &syn::Attribute| {
        attr.path()
            .segments
            .last()
            .is_some_and(|segment| segment.ident == name)
    };
    let markers: Vec<syn::Attribute> = method
        .attrs
        .iter()
        .filter(|a| is_marker(a))
        .cloned()
        .collect();
    let Some(first) = markers.first() else {
        return false;
    };
    method.attrs.retain(|attr| !is_marker(attr));
    for extra in &markers[1..] {
        errors.error_spanned(
            extra,
            format!("duplicate orchestrix attribute `{name}`; give it once"),
        );
    }
    if let syn::Meta::List(list) = &first.meta {
        errors.error_spanned(
            list,
            format!("#[{name}] takes no arguments; write `#[{name}]`"),
        );
    }
    true
}

/// The error for a second `#[marker]` method taking an event type a first
/// one already takes: on the second, with a note on the first. `what`
/// says why one method per type ("an aggregate applies each event type in
/// one method").
pub(crate) fn second_method_for_event(
    marker: &str,
    (first_method, first_event): (&syn::Ident, &syn::Type),
    (method, event): (&syn::Ident, &syn::Type),
    what: &str,
) -> syn::Error {
    let key = type_key(event);
    let mut error = syn::Error::new_spanned(
        event,
        format!(
            "two #[{marker}] methods for event type `{key}`: `{first_method}` and `{method}`; \
             {what}, so merge them"
        ),
    );
    error.combine(syn::Error::new_spanned(
        first_event,
        format!("note: the first #[{marker}] method for `{key}` is `{first_method}`, here"),
    ));
    error
}

/// A type as written, without spaces: how duplicate event types are found.
pub(crate) fn type_key(ty: &syn::Type) -> String {
    quote::ToTokens::to_token_stream(ty)
        .to_string()
        .replace(' ', "")
}

/// Records `result`'s error (if any) and skips what is left of this
/// argument, up to the next `,`, so parsing goes on with the next one: every
/// mistake of one attribute is reported at once.
pub(crate) fn recover(
    meta: &ParseNestedMeta<'_>,
    errors: &mut crate::errors::Errors,
    result: syn::Result<()>,
) -> syn::Result<()> {
    if let Err(error) = result {
        errors.push(error);
        while !meta.input.is_empty() && !meta.input.peek(syn::Token![,]) {
            meta.input.parse::<proc_macro2::TokenTree>()?;
        }
    }
    Ok(())
}

/// `name = "..."` (see [`name_literal`]) stored in `name`; a mistake is
/// recorded and parsing goes on.
pub(crate) fn name_into(
    meta: &ParseNestedMeta<'_>,
    errors: &mut crate::errors::Errors,
    name: &mut Once<LitStr>,
    what: &str,
    example: &str,
) -> syn::Result<()> {
    let value: Expr = meta.value()?.parse()?;
    if let Some(value) = errors.take(name_literal(&value, what, example)) {
        errors.take(name.set(meta, value));
    }
    Ok(())
}

/// A key no macro of this kind takes: the error recorded (listing the
/// `expected` keys) and its value, if any, skipped.
pub(crate) fn unknown_skipped(
    meta: &ParseNestedMeta<'_>,
    errors: &mut crate::errors::Errors,
    expected: &[&str],
) -> syn::Result<()> {
    errors.push(unknown(meta, expected));
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<Expr>()?;
    }
    Ok(())
}
