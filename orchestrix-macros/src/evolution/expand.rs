//! The generated history: the `Event` impl's constants and one upcasting
//! chain per stored version, compiled into plain Rust calls.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use super::{History, Upcast};

/// The items of `impl Event for #ident`: constants, and the upcasting
/// function when `chain` is sound (otherwise the defaults stay, so a
/// mistake in the attribute is the only error).
pub(crate) fn event_items(history: &History, version: u32, chain: bool) -> TokenStream {
    if history.is_empty() {
        return TokenStream::new();
    }
    let aliases = &history.aliases;
    let since = history.since_version();
    let mut upcasts: Vec<&Upcast> = history.upcasts.iter().collect();
    upcasts.sort_by_key(|upcast| upcast.from_version);
    let from: Vec<u32> = upcasts.iter().map(|upcast| upcast.from_version).collect();
    let splits = upcasts.iter().any(|upcast| upcast.split);
    let upcast_fn = if chain && !upcasts.is_empty() {
        let arms = upcasts.iter().map(|start| {
            let from = start.from_version;
            let body = chain_from(from, &upcasts, version);
            quote!(#from => { #body })
        });
        quote! {
            fn upcast(
                stored_version: u32,
                json: &[u8],
            ) -> ::core::result::Result<
                ::orchestrix::__private::evolution::Upcasted,
                ::orchestrix::__private::evolution::UpcastError,
            > {
                match stored_version {
                    #(#arms)*
                    _ => ::orchestrix::__private::evolution::missing(stored_version),
                }
            }
        }
    } else {
        TokenStream::new()
    };
    quote! {
        const ALIASES: &'static [&'static str] = &[#(#aliases),*];
        const SINCE: u32 = #since;
        const UPCASTS_FROM: &'static [u32] = &[#(#from),*];
        const SPLITS: bool = #splits;
        #upcast_fn
    }
}

/// The shape version `v` is read as: its upcaster's `shape`, the JSON value
/// when it has none, the event itself at the current version.
fn shape_of(v: u32, upcasts: &[&Upcast], version: u32) -> TokenStream {
    if v == version {
        return quote!(Self);
    }
    match upcasts
        .iter()
        .find(|upcast| upcast.from_version == v)
        .and_then(|upcast| upcast.shape.as_ref())
    {
        Some(shape) => quote!(#shape),
        None => quote!(::orchestrix::__private::serde_json::Value),
    }
}

/// The chain for a row stored at `start`: parse once into the old shape,
/// then each upcaster in turn on Rust values; JSON only where an upcaster
/// works on JSON.
fn chain_from(start: u32, upcasts: &[&Upcast], version: u32) -> TokenStream {
    let e = quote!(::orchestrix::__private::evolution);
    let first = shape_of(start, upcasts, version);
    let mut body = quote! {
        let value = #e::read::<#first>(#start, json)?;
    };
    for step in upcasts.iter().filter(|upcast| upcast.from_version >= start) {
        let from = step.from_version;
        let input = shape_of(from, upcasts, version);
        let function = &step.function;
        let span = function.span();
        if step.split {
            let call = quote_spanned! {span=>
                #e::step::<#input, #e::Upcasted, _>(#from, #function, value)
            };
            body.extend(call);
            return body;
        }
        let next = from + 1;
        let next_shape = shape_of(next, upcasts, version);
        let json_step = step.shape.is_none();
        let output = if json_step {
            quote!(::orchestrix::__private::serde_json::Value)
        } else {
            next_shape.clone()
        };
        let call = quote_spanned! {span=>
            #e::step::<#input, #output, _>(#from, #function, value)
        };
        body.extend(quote!(let value: #output = #call?;));
        // A JSON upcaster's output is read as the next version's shape
        // (unless that version is JSON too).
        let next_is_json = next != version
            && upcasts
                .iter()
                .find(|upcast| upcast.from_version == next)
                .is_some_and(|upcast| upcast.shape.is_none());
        if json_step && !next_is_json {
            body.extend(quote! {
                let value = #e::reshape::<#next_shape>(#next, value)?;
            });
        }
    }
    body.extend(quote!(::core::result::Result::Ok(#e::one::<Self>(value))));
    body
}
