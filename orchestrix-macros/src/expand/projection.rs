//! `#[projection(name = "...")]` on a read model's inherent impl block, and
//! the `#[handle]` marker of its handler methods.
//!
//! Parse -> validate -> expand: the options are parsed (`name` is
//! required), the `#[handle]` methods are found and checked (`&mut self`,
//! then `&EventType`, then extractors; sync or async; one method per event
//! type), their markers are stripped, and a `Projection` impl with a
//! downcast dispatch plus an `inventory` registration are generated. Every
//! problem is reported on the user's tokens; the impl block is always
//! emitted so one mistake does not cascade.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, FnArg, Ident, ImplItem, ImplItemFn, Item, ItemImpl, LitStr, Token, Type};

use crate::attr::{Once, name_literal, second_method_for_event, take_marker, type_key, unknown};
use crate::errors::Errors;

const KEYS: &[&str] = &["name"];
const SHAPE: &str = "write it as `#[handle] fn name(&mut self, event: &EventType) { ... }` \
                     (optionally `async`, returning `()` or `Result<(), E>`, with extractors such as \
                     `&ProjectionContext` or `Metadata` after the event)";

/// One valid `#[handle]` method.
struct HandleMethod {
    method: Ident,
    event: Type,
    is_async: bool,
    /// The extractor parameters' types, by reference or by value.
    extractors: Vec<Extractor>,
}

struct Extractor {
    by_ref: bool,
    ty: Type,
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::new();
    let name = parse_options(args, &mut errors);

    let mut block = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Impl(block)) => block,
        Ok(other) => {
            errors.push(not_an_impl_block(&other));
            return with_errors(errors, item);
        }
        Err(error) => {
            errors.push(error);
            return with_errors(errors, item);
        }
    };
    if let Some((_, path, _)) = &block.trait_ {
        errors.error_spanned(
            path,
            "#[projection] goes on the read model's inherent impl block (`impl OrderSummary { ... }`) \
             holding its #[handle] methods, not on a trait impl",
        );
        strip_markers(&mut block);
        return with_errors(errors, block.into_token_stream());
    }
    if !block.generics.params.is_empty() {
        errors.error_spanned(
            &block.generics,
            "a #[projection] read model cannot be generic: it is registered once, by name; \
             write it for one concrete type",
        );
    }
    let methods = collect_methods(&mut block, &mut errors);
    if methods.is_empty() && !has_marked_methods(&item) {
        errors.push(syn::Error::new(
            block.impl_token.span,
            format!("a #[projection] needs at least one #[handle] method; {SHAPE}"),
        ));
    }
    let generated = match (&name, errors.is_empty()) {
        (Some(name), true) => generate(&block, name, &methods),
        _ => TokenStream::new(),
    };
    with_errors(
        errors,
        quote! {
            #block
            #generated
        },
    )
}

pub(crate) fn expand_stray_handle(_args: TokenStream, item: TokenStream) -> TokenStream {
    let error = syn::Error::new(
        Span::call_site(),
        "#[handle] only works on methods inside a `#[projection(name = \"...\")] impl` block; \
         add #[projection] to the impl block that holds this method",
    )
    .into_compile_error();
    quote!(#error #item)
}

fn with_errors(errors: Errors, tokens: TokenStream) -> TokenStream {
    match errors.finish() {
        Ok(()) => tokens,
        Err(error) => {
            let error = error.into_compile_error();
            quote!(#error #tokens)
        }
    }
}

fn parse_options(args: TokenStream, errors: &mut Errors) -> Option<LitStr> {
    let mut name = Once::<LitStr>::new("name");
    let mut saw_name = false;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            saw_name = true;
            let value: Expr = meta.value()?.parse()?;
            if let Some(value) =
                errors.take(name_literal(&value, "projection name", "order-summary"))
            {
                errors.take(name.set(&meta, value));
            }
        } else {
            errors.push(unknown(&meta, KEYS));
            if meta.input.peek(Token![=]) {
                meta.value()?.parse::<Expr>()?;
            }
        }
        Ok(())
    });
    let parsed = syn::parse::Parser::parse2(parser, args);
    errors.take(parsed);
    // An invalid `name = ...` has its own error; only an absent key gets this one.
    if !saw_name {
        errors.push(syn::Error::new(
            Span::call_site(),
            "#[projection] needs a name, under which its checkpoint is stored: \
             `#[projection(name = \"order-summary\")]`",
        ));
    }
    name.get()
}

fn not_an_impl_block(item: &Item) -> syn::Error {
    let what = match item {
        Item::Struct(item) => Some((item.struct_token.span, "a struct")),
        Item::Enum(item) => Some((item.enum_token.span, "an enum")),
        Item::Fn(item) => Some((item.sig.fn_token.span, "a function")),
        Item::Trait(item) => Some((item.trait_token.span, "a trait")),
        Item::Mod(item) => Some((item.mod_token.span, "a module")),
        _ => None,
    };
    let (span, kind) = what.unwrap_or((item.span(), "this item"));
    syn::Error::new(
        span,
        format!(
            "#[projection] goes on the read model's inherent impl block, not on {kind}; \
             write `#[projection(name = \"order-summary\")] impl OrderSummary {{ #[handle] fn on_placed(&mut self, event: &OrderPlaced) {{ ... }} }}`"
        ),
    )
}

fn is_marker(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "handle")
}

fn strip_markers(block: &mut ItemImpl) {
    for item in &mut block.items {
        if let ImplItem::Fn(method) = item {
            method.attrs.retain(|attr| !is_marker(attr));
        }
    }
}

fn has_marked_methods(item: &TokenStream) -> bool {
    syn::parse2::<ItemImpl>(item.clone()).is_ok_and(|block| {
        block
            .items
            .iter()
            .any(|item| matches!(item, ImplItem::Fn(method) if method.attrs.iter().any(is_marker)))
    })
}

/// Finds the `#[handle]` methods, strips their markers, checks them and
/// returns the valid ones.
fn collect_methods(block: &mut ItemImpl, errors: &mut Errors) -> Vec<HandleMethod> {
    let mut methods: Vec<HandleMethod> = Vec::new();
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else {
            continue;
        };
        if !take_marker(method, "handle", errors) {
            continue;
        }
        let Some(valid) = check_method(method, errors) else {
            continue;
        };
        let key = type_key(&valid.event);
        if let Some(first) = methods.iter().find(|m| type_key(&m.event) == key) {
            errors.push(second_method_for_event(
                "handle",
                (&first.method, &first.event),
                (&valid.method, &valid.event),
                "a projection handles each event type in one method",
            ));
            continue;
        }
        methods.push(valid);
    }
    methods
}

fn check_method(method: &ImplItemFn, errors: &mut Errors) -> Option<HandleMethod> {
    let sig = &method.sig;
    let mut valid = true;
    if !sig
        .generics
        .params
        .iter()
        .all(|p| matches!(p, syn::GenericParam::Lifetime(_)))
    {
        errors.error_spanned(
            &sig.generics,
            format!("a #[handle] method cannot be generic; {SHAPE}"),
        );
        valid = false;
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(receiver))
            if receiver.reference.is_some() && receiver.mutability.is_some() => {}
        Some(FnArg::Receiver(receiver)) => {
            errors.error_spanned(
                receiver,
                format!("a #[handle] method takes `&mut self`: it updates the read model; {SHAPE}"),
            );
            valid = false;
        }
        _ => {
            errors.error_spanned(
                &sig.ident,
                format!("a #[handle] method takes `&mut self` first; {SHAPE}"),
            );
            return None;
        }
    }
    let event = match inputs.next() {
        Some(FnArg::Typed(arg)) => match &*arg.ty {
            Type::Reference(reference) if reference.mutability.is_none() => {
                Some((*reference.elem).clone())
            }
            other => {
                errors.error_spanned(
                    other,
                    format!("a #[handle] method takes the event by shared reference (`&EventType`); {SHAPE}"),
                );
                None
            }
        },
        _ => {
            errors.error_spanned(
                &sig.inputs,
                format!("a #[handle] method takes the event after `&mut self`; {SHAPE}"),
            );
            None
        }
    };
    let mut extractors = Vec::new();
    for input in inputs {
        match input {
            FnArg::Typed(arg) => match &*arg.ty {
                Type::Reference(reference) if reference.mutability.is_none() => {
                    extractors.push(Extractor {
                        by_ref: true,
                        ty: (*reference.elem).clone(),
                    })
                }
                other => extractors.push(Extractor {
                    by_ref: false,
                    ty: other.clone(),
                }),
            },
            FnArg::Receiver(receiver) => {
                errors.error_spanned(receiver, format!("`self` comes first; {SHAPE}"));
                valid = false;
            }
        }
    }
    match (event, valid) {
        (Some(event), true) => Some(HandleMethod {
            method: sig.ident.clone(),
            event,
            is_async: sig.asyncness.is_some(),
            extractors,
        }),
        _ => None,
    }
}

fn generate(block: &ItemImpl, name: &LitStr, methods: &[HandleMethod]) -> TokenStream {
    let self_ty = &block.self_ty;
    // The one place that requires each event type to be an `Event`, spanned
    // on the user's type so that is where a non-event is reported.
    let names = methods.iter().map(|m| {
        let event = &m.event;
        quote_spanned!(event.span()=> ::orchestrix::__private::event_name::<#event>())
    });
    let arms = methods.iter().map(|m| {
        let HandleMethod { method, event, is_async, extractors } = m;
        let args = extractors.iter().map(|Extractor { by_ref, ty }| {
            let value = quote_spanned!(ty.span()=>
                <#ty as ::orchestrix::__private::ProjectionExtract>::extract(__orchestrix_context)
            );
            if *by_ref { quote!(&#value) } else { value }
        });
        let returned = format_ident!("__orchestrix_returned");
        let call = if *is_async {
            quote!(self.#method(__orchestrix_event, #(#args),*).await)
        } else {
            quote!(self.#method(__orchestrix_event, #(#args),*))
        };
        quote! {
            if let ::core::option::Option::Some(__orchestrix_event) = __orchestrix_context.event().downcast_ref::<#event>() {
                let #returned = #call;
                return ::orchestrix::__private::into_handler_result(#returned);
            }
        }
    });
    quote! {
        #[doc(hidden)]
        const _: () = {
            #[automatically_derived]
            impl ::orchestrix::__private::Projection for #self_ty {
                const NAME: &'static str = #name;

                fn event_types() -> ::std::vec::Vec<&'static str> {
                    ::std::vec![#(#names),*]
                }

                fn apply<'__orchestrix>(
                    &'__orchestrix mut self,
                    __orchestrix_context: &'__orchestrix ::orchestrix::__private::ProjectionContext,
                ) -> ::orchestrix::__private::futures::future::BoxFuture<'__orchestrix, ::core::result::Result<(), ::orchestrix::__private::BoxError>> {
                    ::std::boxed::Box::pin(async move {
                        #(#arms)*
                        ::core::result::Result::Ok(())
                    })
                }
            }

            ::orchestrix::__private::inventory::submit! {
                ::orchestrix::__private::ProjectionRegistration::of::<#self_ty>()
            }
        };
    }
}
