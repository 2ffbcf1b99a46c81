//! `#[event_handler]`: registers a free fn as a handler of the event type its
//! first parameter refers to. `async fn`s go to the async bus, plain fns to
//! the sync bus; further parameters are extractors (`Dep<T>`, `Metadata`).
//!
//! The user's fn is emitted unchanged. Beside it, one hidden `const` (named
//! after the fn in the value namespace, where no other item can take that
//! name, so a module or struct named like the handler is no clash) holds
//! the `inventory` submission of the registration, which records the fn
//! item's `TypeId`: `.handler(send_receipt)` finds it by that.

use proc_macro2::{Ident, Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{FnArg, GenericParam, ItemFn, LitStr, ReturnType, Type};

use crate::attr::{Once, name_into, name_literal, recover, unknown_skipped};
use crate::errors::Errors;
use crate::expand::hidden::hidden_items;
use crate::expand::saga_step::{Retry, parse_retry, retry_tokens};

const KEYS: &[&str] = &[
    "name",
    "durable",
    "retry",
    "idempotent",
    "strict_order",
    "group",
];

/// The delivery arguments: `durable`, `retry = ...`, `idempotent`,
/// `strict_order`, `group = "..."`.
#[derive(Default)]
struct Delivery {
    durable: bool,
    retry: Option<Retry>,
    idempotent: bool,
    strict_order: bool,
    group: Option<LitStr>,
}

impl Delivery {
    fn is_inline_default(&self) -> bool {
        !self.durable
            && self.retry.is_none()
            && !self.idempotent
            && !self.strict_order
            && self.group.is_none()
    }
}

/// What the handler fn looks like, once checked.
struct Handler<'a> {
    item: &'a ItemFn,
    /// The `E` of the first parameter `&E`.
    event: &'a Type,
    /// The types of the extractor parameters.
    extractors: Vec<&'a Type>,
    /// Where a wrong return type is reported.
    return_span: Span,
}

/// `in_impl`: the fn is written inside an `impl` block (see
/// [`context`](crate::context)).
pub(crate) fn expand(args: TokenStream, item: TokenStream, in_impl: bool) -> TokenStream {
    let mut errors = Errors::new();
    let (name, delivery) = parse_args(args, &mut errors);
    let function = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            errors.push(syn::Error::new_spanned(
                &item,
                "#[event_handler] goes on a free fn that takes the event by reference: \
                 `async fn on_order_placed(event: &OrderPlaced) { ... }`",
            ));
            return finish(errors, item);
        }
    };
    if in_impl && !has_receiver(&function) {
        // The one error: the generated item would report its own.
        let error = syn::Error::new(
            function.sig.ident.span(),
            format!(
                "#[event_handler] goes on a free fn, not on an associated fn of an `impl` block: \
                 move `{}` out of the `impl` block to module level, and take what it needs as \
                 `Dep<T>` parameters",
                function.sig.ident.unraw()
            ),
        )
        .into_compile_error();
        return quote!(#error #function);
    }
    let handler = check(&function, &mut errors);
    match (handler, errors.finish()) {
        (Some(handler), Ok(())) => generate(&handler, name, &delivery),
        (_, result) => {
            let error = result.err().map(syn::Error::into_compile_error);
            quote!(#error #function)
        }
    }
}

fn has_receiver(function: &ItemFn) -> bool {
    function
        .sig
        .inputs
        .iter()
        .any(|input| matches!(input, FnArg::Receiver(_)))
}

/// The registration type for this fn's kind of bus.
fn registration_type(function: &ItemFn) -> TokenStream {
    if function.sig.asyncness.is_some() {
        quote!(::orchestrix::__private::AsyncHandlerRegistration)
    } else {
        quote!(::orchestrix::__private::SyncHandlerRegistration)
    }
}

fn finish(errors: Errors, item: TokenStream) -> TokenStream {
    let error = errors.finish().err().map(syn::Error::into_compile_error);
    quote!(#error #item)
}

fn parse_args(args: TokenStream, errors: &mut Errors) -> (Option<LitStr>, Delivery) {
    let mut name = Once::<LitStr>::new("name");
    let mut retry = Once::<Retry>::new("retry");
    let mut group = Once::<LitStr>::new("group");
    let mut durable = Once::<()>::new("durable");
    let mut idempotent = Once::<()>::new("idempotent");
    let mut strict_order = Once::<()>::new("strict_order");
    // Every mistake is recorded and parsing goes on, so the user sees all of
    // them at once; only broken syntax stops it.
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            name_into(&meta, errors, &mut name, "handler name", "send_receipt")?;
        } else if meta.path.is_ident("retry") {
            let result = meta
                .value()
                .and_then(parse_retry)
                .and_then(|value| retry.set(&meta, value));
            recover(&meta, errors, result)?;
        } else if meta.path.is_ident("group") {
            let result = meta
                .value()
                .and_then(|value| value.parse::<syn::Expr>())
                .and_then(|value| match &value {
                    syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(_),
                        ..
                    }) => name_literal(&value, "group name", "shop"),
                    other => Err(syn::Error::new_spanned(
                        other,
                        "expected a string: `group = \"shop\"`",
                    )),
                })
                .and_then(|value| group.set(&meta, value));
            recover(&meta, errors, result)?;
        } else if let Some(flag) = [
            ("durable", &mut durable),
            ("idempotent", &mut idempotent),
            ("strict_order", &mut strict_order),
        ]
        .into_iter()
        .find_map(|(key, flag)| meta.path.is_ident(key).then_some(flag))
        {
            let result = if meta.input.peek(syn::Token![=]) || meta.input.peek(syn::token::Paren) {
                Err(meta.error(
                    "`durable`, `idempotent` and `strict_order` are flags and take no value: \
                     write `#[event_handler(durable, idempotent)]`",
                ))
            } else {
                flag.set(&meta, ())
            };
            recover(&meta, errors, result)?;
        } else {
            unknown_skipped(&meta, errors, KEYS)?;
        }
        Ok(())
    });
    let parsed = syn::parse::Parser::parse2(parser, args);
    errors.take(parsed);
    // What only a dispatcher can do needs `durable`.
    let needs_durable = [
        ("idempotent", idempotent.span()),
        ("strict_order", strict_order.span()),
        ("group", group.span()),
    ];
    if durable.span().is_none() {
        for (key, span) in needs_durable {
            if let Some(span) = span {
                errors.push(syn::Error::new(
                    span,
                    format!(
                        "`{key}` needs `durable`: only a durable handler (run by a delivery \
                         dispatcher from the event store) has {}; write `#[event_handler(durable, {key})]`",
                        match key {
                            "idempotent" => "processed ids kept per handler",
                            "strict_order" => "later events to hold back",
                            _ => "a checkpoint to share",
                        }
                    ),
                ));
            }
        }
    }
    let delivery = Delivery {
        durable: durable.span().is_some(),
        idempotent: idempotent.span().is_some(),
        strict_order: strict_order.span().is_some(),
        retry: retry.get(),
        group: group.get(),
    };
    (name.get(), delivery)
}

/// `.with_delivery(...)` for the registration, or nothing for the default.
fn delivery_tokens(delivery: &Delivery) -> TokenStream {
    if delivery.is_inline_default() {
        return TokenStream::new();
    }
    let mut options = quote!(::orchestrix::__private::DeliveryOptions::INLINE);
    if delivery.durable {
        options = quote!(#options.durable());
    }
    if delivery.idempotent {
        options = quote!(#options.idempotent());
    }
    if delivery.strict_order {
        options = quote!(#options.strict_order());
    }
    if let Some(retry) = &delivery.retry {
        let policy = retry_tokens(retry);
        options = quote!(#options.with_retry(#policy));
    }
    if let Some(group) = &delivery.group {
        options = quote!(#options.in_group(#group));
    }
    quote!(.with_delivery(#options))
}

/// Checks the signature, recording every problem; `None` if the handler
/// cannot be generated.
fn check<'a>(function: &'a ItemFn, errors: &mut Errors) -> Option<Handler<'a>> {
    let signature = &function.sig;
    if let Some(constness) = &signature.constness {
        errors.error_spanned(
            constness,
            "an event handler cannot be a `const fn`; remove `const`",
        );
    }
    if let Some(unsafety) = &signature.unsafety {
        errors.error_spanned(
            unsafety,
            "an event handler cannot be an `unsafe fn`: the bus calls it with no way to uphold its safety contract; \
             remove `unsafe`",
        );
    }
    if let Some(abi) = &signature.abi {
        errors.error_spanned(
            abi,
            "an event handler cannot declare an ABI; remove the `extern`",
        );
    }
    for param in &signature.generics.params {
        if !matches!(param, GenericParam::Lifetime(_)) {
            errors.error_spanned(
                param,
                "an event handler cannot be generic: it is registered for one concrete event type; \
                 write one handler per event type",
            );
        }
    }

    let mut inputs = signature.inputs.iter();
    let Some(first) = inputs.next() else {
        errors.push(syn::Error::new(
            signature.paren_token.span.join(),
            "an event handler takes the event as its first parameter: \
             `fn on_order_placed(event: &OrderPlaced)`",
        ));
        return None;
    };
    let event = match first {
        FnArg::Receiver(receiver) => {
            errors.push(self_error(receiver));
            None
        }
        FnArg::Typed(typed) => match &*typed.ty {
            Type::Reference(reference) if matches!(*reference.elem, Type::ImplTrait(_)) => {
                errors.error_spanned(
                    &reference.elem,
                    "an event handler takes one concrete event type, not `impl Trait`: write `&MyEvent`, \
                     one handler per event type",
                );
                None
            }
            Type::Reference(reference) if reference.mutability.is_none() => Some(&*reference.elem),
            Type::Reference(reference) => {
                errors.error_spanned(
                    reference,
                    "an event handler takes the event by shared reference: write `&Event`, not `&mut Event`",
                );
                None
            }
            other => {
                errors.error_spanned(
                    other,
                    "the first parameter of an event handler must be a reference to the event: \
                     write `event: &MyEvent`",
                );
                None
            }
        },
    };

    let mut extractors = Vec::new();
    for input in inputs {
        match input {
            FnArg::Receiver(receiver) => errors.push(self_error(receiver)),
            FnArg::Typed(typed) => {
                if let Type::ImplTrait(impl_trait) = &*typed.ty {
                    errors.error_spanned(
                        impl_trait,
                        "an event handler parameter cannot be `impl Trait`: the bus needs one concrete type \
                         per parameter; ask for a trait object as `Dep<dyn Trait>`",
                    );
                } else if let Type::Reference(reference) = &*typed.ty {
                    // After a `self` (already reported), this is the event.
                    if !matches!(first, FnArg::Receiver(_)) {
                        errors.push(reference_extractor(reference));
                    }
                } else {
                    extractors.push(&*typed.ty);
                }
            }
        }
    }
    let return_span = match &signature.output {
        ReturnType::Default => signature.ident.span(),
        ReturnType::Type(_, ty) => ty.span(),
    };
    Some(Handler {
        item: function,
        event: event?,
        extractors,
        return_span,
    })
}

/// A reference after the event: a second event, or a dependency asked for
/// by reference.
fn reference_extractor(reference: &syn::TypeReference) -> syn::Error {
    let inner = quote::ToTokens::to_token_stream(&reference.elem)
        .to_string()
        .replace(' ', "");
    syn::Error::new_spanned(
        reference,
        format!(
            "an event handler takes exactly one event, its first parameter; the others are extractors, \
             taken by value: if `{inner}` is a dependency of the bus, write `Dep<{inner}>` (`Metadata` \
             gives the message's metadata); if it is another event, write a second handler for it"
        ),
    )
}

fn self_error(receiver: &syn::Receiver) -> syn::Error {
    syn::Error::new_spanned(
        receiver,
        "#[event_handler] works on free fns, not methods: move the fn out of the `impl` block \
         and take what it needs as `Dep<T>` parameters",
    )
}

fn generate(handler: &Handler<'_>, name: Option<LitStr>, delivery: &Delivery) -> TokenStream {
    let with_delivery = delivery_tokens(delivery);
    let function = handler.item;
    let ident = &function.sig.ident;
    let items = hidden_items(ident, "event_handler");
    let handler_fn = &items.handler;
    let event = handler.event;
    let name = match name {
        Some(name) => quote!(#name),
        None => {
            // `r#type` is named `type`, as the fn is called in paths.
            let plain = LitStr::new(&ident.unraw().to_string(), ident.span());
            quote!(::core::concat!(::core::module_path!(), "::", #plain))
        }
    };
    let extractors = &handler.extractors;
    let args: Vec<_> = (0..extractors.len())
        .map(|index| format_ident!("__orchestrix_arg{}", index))
        .collect();
    let requires = extractors.iter().map(|ty| {
        quote_spanned!(ty.span()=> <#ty as ::orchestrix::__private::FromHandlerContext>::REQUIRES)
    });
    let extract: Vec<_> = extractors
        .iter()
        .map(|ty| {
            // Only the path carries the user's span: the locals stay at the
            // call site, so they resolve even when the fn comes from a
            // `macro_rules!` (whose spans have their own hygiene).
            quote_spanned!(ty.span()=> <#ty as ::orchestrix::__private::FromHandlerContext>::from_context)
        })
        .collect();
    // Spanned on the return type, so a wrong one is reported there; the
    // local keeps call-site hygiene (see above) but the return type's place.
    let returned = Ident::new(
        "__orchestrix_returned",
        Span::call_site().located_at(handler.return_span),
    );
    let into_result_fn =
        quote_spanned!(handler.return_span=> ::orchestrix::__private::into_handler_result);
    let into_result = quote!(#into_result_fn(#returned));
    let event_ref = quote_spanned!(event.span()=> ::orchestrix::__private::event_ref::<#event>);
    let event_ref_boxed =
        quote_spanned!(event.span()=> ::orchestrix::__private::event_ref_boxed::<#event>);

    // One fn per handler: it takes the event and each extractor from the
    // context (the first that fails ends the call) and calls the user's fn.
    let call = if function.sig.asyncness.is_some() {
        let extract = extract.iter().map(|from_context| {
            quote! {
                match #from_context(__orchestrix_context) {
                    ::core::result::Result::Ok(__orchestrix_value) => __orchestrix_value,
                    ::core::result::Result::Err(__orchestrix_error) => {
                        return ::orchestrix::__private::extraction_failed(__orchestrix_error);
                    }
                }
            }
        });
        quote! {
            fn __orchestrix_call<'__orchestrix_a>(
                __orchestrix_context: &::orchestrix::__private::HandlerContext<'__orchestrix_a>,
            ) -> ::orchestrix::__private::HandlerFuture<'__orchestrix_a> {
                let __orchestrix_event = match #event_ref(__orchestrix_context) {
                    ::core::result::Result::Ok(__orchestrix_event) => __orchestrix_event,
                    ::core::result::Result::Err(__orchestrix_error) => {
                        return ::orchestrix::__private::extraction_failed(__orchestrix_error);
                    }
                };
                #(let #args = #extract;)*
                ::orchestrix::__private::HandlerFuture::new(async move {
                    let #returned = #handler_fn(__orchestrix_event, #(#args),*).await;
                    #into_result
                })
            }
        }
    } else {
        quote! {
            fn __orchestrix_call(
                __orchestrix_context: &::orchestrix::__private::HandlerContext<'_>,
            ) -> ::core::result::Result<(), ::orchestrix::__private::BoxError> {
                let __orchestrix_event = #event_ref_boxed(__orchestrix_context)?;
                let #returned = #handler_fn(__orchestrix_event, #(#extract(__orchestrix_context)?),*);
                #into_result
            }
        }
    };
    let registration_type = registration_type(function);
    let generated = quote! {
        #call

        ::orchestrix::__private::inventory::submit! {
            #registration_type::new::<#event>(
                #name,
                &[#(#requires),*],
                __orchestrix_call,
                ::orchestrix::__private::fn_type_id(&#handler_fn),
                ::orchestrix::__private::fn_path(&#handler_fn),
            )#with_delivery
        }
    };
    items.wrap(function, generated)
}
