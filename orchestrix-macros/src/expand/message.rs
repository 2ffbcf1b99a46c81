//! `#[derive(Event)]` and `#[derive(Command)]`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::{Data, DeriveInput, Expr, ExprLit, Lit, LitInt, LitStr, Token};

use crate::attr::{Once, name_literal, unknown};
use crate::errors::Errors;
use crate::evolution::{self, History};

/// Which derive is expanding.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Event,
    Command,
}

impl Kind {
    fn attribute(self) -> &'static str {
        match self {
            Kind::Event => "event",
            Kind::Command => "command",
        }
    }

    fn derive(self) -> &'static str {
        match self {
            Kind::Event => "Event",
            Kind::Command => "Command",
        }
    }
}

/// The options of `#[event(...)]` / `#[command(...)]`.
struct Options {
    name: Option<LitStr>,
    version: Option<LitInt>,
    history: History,
}

const KEYS: &[&str] = &["name", "version"];
const EVENT_KEYS: &[&str] = &["name", "version", "alias", "since", "upcast"];

fn parse_options(input: &DeriveInput, kind: Kind, errors: &mut Errors) -> Options {
    let mut name = Once::<LitStr>::new("name");
    let mut version = Once::<LitInt>::new("version");
    let mut history = History::default();
    let mut since = Once::<LitInt>::new("since");
    for attr in input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident(kind.attribute()))
    {
        // Every mistake is recorded and parsing goes on, so the user sees
        // all of them at once; only broken syntax stops it.
        let parsed = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                let value: Expr = meta.value()?.parse()?;
                if let Some(value) = errors.take(name_literal(&value, "name", "OrderPlaced")) {
                    errors.take(name.set(&meta, value));
                }
            } else if meta.path.is_ident("version") {
                let value: Expr = meta.value()?.parse()?;
                if let Some(value) = errors.take(version_value(&value)) {
                    errors.take(version.set(&meta, value));
                }
            } else if matches!(kind, Kind::Event)
                && evolution::parse::key(&meta, &mut history, &mut since, errors, version_value)?
            {
            } else if matches!(kind, Kind::Command)
                && evolution::parse::KEYS
                    .iter()
                    .any(|key| meta.path.is_ident(key))
            {
                errors.push(evolution::parse::not_on_commands(&meta));
                if meta.input.peek(Token![=]) {
                    meta.value()?.parse::<Expr>()?;
                } else if meta.input.peek(syn::token::Paren) {
                    meta.parse_nested_meta(|inner| {
                        inner.input.parse::<proc_macro2::TokenStream>()?;
                        Ok(())
                    })?;
                }
            } else {
                let keys = match kind {
                    Kind::Event => EVENT_KEYS,
                    Kind::Command => KEYS,
                };
                errors.push(unknown(&meta, keys));
                if meta.input.peek(Token![=]) {
                    meta.value()?.parse::<Expr>()?;
                }
            }
            Ok(())
        });
        errors.take(parsed);
    }
    history.since = since.get();
    Options {
        name: name.get(),
        version: version.get(),
        history,
    }
}

/// `version = 2`: a whole number from 1 up.
fn version_value(value: &Expr) -> syn::Result<LitInt> {
    let Expr::Lit(ExprLit {
        lit: Lit::Int(value),
        ..
    }) = value
    else {
        return Err(syn::Error::new_spanned(
            value,
            "expected a whole number: `version = 2`",
        ));
    };
    match value.base10_parse::<u32>() {
        Ok(0) | Err(_) => Err(syn::Error::new_spanned(
            value,
            "the version must be a whole number from 1 to 4294967295: `version = 2`",
        )),
        Ok(_) => Ok(value.clone()),
    }
}

pub(crate) fn expand(input: &DeriveInput, kind: Kind) -> syn::Result<TokenStream> {
    if let Data::Union(data) = &input.data {
        return Err(syn::Error::new_spanned(
            data.union_token,
            format!(
                "#[derive({})] works on structs and enums, not unions; a message must be serializable",
                kind.derive()
            ),
        ));
    }
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            format!(
                "#[derive({})] needs a concrete type: messages are registered by name, so they cannot have generic parameters",
                kind.derive()
            ),
        ));
    }

    let mut errors = Errors::new();

    let options = parse_options(input, kind, &mut errors);
    let ident = &input.ident;
    let name = options
        .name
        .unwrap_or_else(|| LitStr::new(&ident.unraw().to_string(), ident.span()));
    let version = options
        .version
        .unwrap_or_else(|| LitInt::new("1", proc_macro2::Span::call_site()));
    let version_span = version.span();
    let version = version.base10_parse::<u32>().unwrap_or(1);
    let clean = errors.is_empty();
    let checked = evolution::validate::check(
        &options.history,
        &name.value(),
        version,
        version_span,
        &mut errors,
    );
    let sound = clean && checked;
    let history = evolution::expand::event_items(&options.history, version, sound);

    // Fail softly: the impls are emitted even when an option was wrong, so a
    // mistake in the attribute is the only error the user sees.
    let marker_and_registration = match kind {
        Kind::Event => quote! {
            #[automatically_derived]
            #[diagnostic::do_not_recommend]
            impl ::orchestrix::__private::Event for #ident
            where
                for<'__orchestrix> #ident: ::orchestrix::__private::Message,
            {
                #history
            }

            ::orchestrix::__private::inventory::submit! {
                ::orchestrix::__private::event_registration::<#ident>()
            }
        },
        Kind::Command => quote! {
            #[automatically_derived]
            #[diagnostic::do_not_recommend]
            impl ::orchestrix::__private::Command for #ident
            where
                for<'__orchestrix> #ident: ::orchestrix::__private::Message,
            {
            }
        },
    };
    let message_kind = match kind {
        Kind::Event => quote!(::orchestrix::__private::MessageKind::Event),
        Kind::Command => quote!(::orchestrix::__private::MessageKind::Command),
    };
    // A missing serde derive is reported once per derive, on the user's
    // type, by `payload`'s marker bounds. The impls are conditional on the
    // same bounds (the `for<'_>` keeps rustc from refusing a bound that
    // does not hold), so they add no serde error of their own; at use sites
    // the type is then "not an Orchestrix event/command" (`do_not_recommend`).
    let payload_check = quote_spanned! {ident.span()=>
        ::orchestrix::__private::payload::<#ident>();
    };
    let expanded = quote! {
        #[doc(hidden)]
        const _: () = {
            #payload_check

            #[automatically_derived]
            #[diagnostic::do_not_recommend]
            impl ::orchestrix::__private::Message for #ident
            where
                for<'__orchestrix> #ident: ::orchestrix::__private::SerializePayload
                    + ::orchestrix::__private::DeserializePayload,
            {
                const NAME: &'static str = #name;
                const VERSION: u32 = #version;
                const KIND: ::orchestrix::__private::MessageKind = #message_kind;
            }

            #marker_and_registration
        };
    };
    match errors.finish() {
        Ok(()) => Ok(expanded),
        Err(error) => {
            let error = error.into_compile_error();
            Ok(quote!(#error #expanded))
        }
    }
}
