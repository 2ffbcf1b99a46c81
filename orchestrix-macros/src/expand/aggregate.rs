//! `#[aggregate]` on an inherent impl block, and the `#[apply]` marker.
//!
//! Parse -> validate -> expand: the `#[apply]` methods are found and checked
//! (`&mut self`, one `&EventType` parameter, no return value, one method per
//! event type), their markers are stripped from the impl block, and an
//! `Aggregate` impl with a downcast dispatch plus one `EventOf<Aggregate>`
//! impl per method (on the event type) is generated. Every problem is reported on the user's tokens;
//! the impl block is always emitted so one mistake does not cascade.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    FnArg, Ident, ImplItem, ImplItemFn, Item, ItemImpl, LitInt, LitStr, ReturnType, Type,
    TypeReference,
};

use crate::attr::{Once, second_method_for_event, take_marker, type_key, unknown_skipped};
use crate::errors::Errors;

const KEYS: &[&str] = &["name", "ignore_unknown_events", "snapshot_version"];

/// The options of `#[aggregate(...)]`.
struct Options {
    name: Option<LitStr>,
    ignore_unknown_events: bool,
    snapshot_version: Option<LitInt>,
}

/// One valid `#[apply]` method: its name and the event type it takes.
struct ApplyMethod {
    method: Ident,
    event: Type,
}

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::new();
    let options = parse_options(args, &mut errors);

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
            "#[aggregate] goes on the aggregate's inherent impl block (`impl MyAggregate { ... }`) \
             holding its #[apply] methods, not on a trait impl",
        );
        strip_apply_markers(&mut block);
        return with_errors(errors, block.into_token_stream());
    }

    let methods = collect_apply_methods(&mut block, &mut errors);
    let handlers = collect_command_handlers(&mut block, &mut errors);
    let generated = generate(&block, &options, &methods);
    let expanded = quote! {
        #block
        #generated
        #handlers
    };
    with_errors(errors, expanded)
}

pub(crate) fn expand_stray_apply(_args: TokenStream, item: TokenStream) -> TokenStream {
    let error = syn::Error::new(
        Span::call_site(),
        "#[apply] only works on methods inside an `#[aggregate] impl` block; \
         add #[aggregate] to the impl block that holds this method",
    )
    .into_compile_error();
    quote::quote!(#error #item)
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

fn parse_options(args: TokenStream, errors: &mut Errors) -> Options {
    let mut name = Once::<LitStr>::new("name");
    let mut ignore = Once::<()>::new("ignore_unknown_events");
    let mut snapshot_version = Once::<LitInt>::new("snapshot_version");
    // Every mistake is recorded and parsing goes on, so the user sees all
    // of them at once; only broken syntax stops it.
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            let value: syn::Expr = meta.value()?.parse()?;
            let checked = crate::attr::name_literal(&value, "aggregate name", "BankAccount")
                .and_then(|value| {
                    if value.value().contains('@') {
                        return Err(syn::Error::new_spanned(
                            &value,
                            "the aggregate name must not contain `@`: snapshots mark their state version \
                             with it (`Name@v2`); pick a name without `@`",
                        ));
                    }
                    name.set(&meta, value)
                });
            errors.take(checked);
        } else if meta.path.is_ident("snapshot_version") {
            const HINT: &str = "expected a version number from 1 up: `snapshot_version = 2`; \
                                bump it when the aggregate's serialized state changes shape";
            let value: syn::Expr = meta.value()?.parse()?;
            let version = match &value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Int(int),
                    ..
                }) if int.base10_parse::<u32>().is_ok_and(|v| v >= 1) => Some(int.clone()),
                _ => None,
            };
            match version {
                Some(version) => {
                    errors.take(snapshot_version.set(&meta, version));
                }
                None => errors.error_spanned(&value, HINT),
            }
        } else if meta.path.is_ident("ignore_unknown_events") {
            if meta.input.peek(syn::Token![=]) || meta.input.peek(syn::token::Paren) {
                errors.push(meta.error("`ignore_unknown_events` is a flag and takes no value; write `#[aggregate(ignore_unknown_events)]`"));
                if meta.input.peek(syn::Token![=]) {
                    meta.value()?.parse::<syn::Expr>()?;
                } else {
                    meta.parse_nested_meta(|_| Ok(())).ok();
                }
            } else {
                errors.take(ignore.set(&meta, ()));
            }
        } else {
            unknown_skipped(&meta, errors, KEYS)?;
        }
        Ok(())
    });
    let parsed = syn::parse::Parser::parse2(parser, args);
    errors.take(parsed);
    let ignore_unknown_events = ignore.span().is_some();
    Options {
        name: name.get(),
        ignore_unknown_events,
        snapshot_version: snapshot_version.get(),
    }
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
            "#[aggregate] goes on the aggregate's inherent impl block, not on {kind}; \
             write `#[aggregate] impl MyAggregate {{ #[apply] fn on_event(&mut self, event: &MyEvent) {{ ... }} }}`"
        ),
    )
}

fn is_apply_marker(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "apply")
}

fn strip_apply_markers(block: &mut ItemImpl) {
    for item in &mut block.items {
        if let ImplItem::Fn(method) = item {
            method.attrs.retain(|attr| !is_apply_marker(attr));
        }
    }
}

/// Finds the `#[apply]` methods, strips their markers, checks them, and
/// returns the valid ones. Invalid ones get an error and no dispatch entry.
fn collect_apply_methods(block: &mut ItemImpl, errors: &mut Errors) -> Vec<ApplyMethod> {
    let mut methods: Vec<ApplyMethod> = Vec::new();
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else {
            continue;
        };
        if !take_marker(method, "apply", errors) {
            continue;
        }
        let Some(valid) = check_apply_method(method, errors) else {
            continue;
        };
        let key = type_key(&valid.event);
        if let Some(first) = methods.iter().find(|m| type_key(&m.event) == key) {
            errors.push(second_method_for_event(
                "apply",
                (&first.method, &first.event),
                (&valid.method, &valid.event),
                "an aggregate applies each event type in one method",
            ));
            continue;
        }
        methods.push(valid);
    }
    methods
}

fn is_command_handler_marker(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == "command_handler")
}

/// Finds the `#[command_handler]` methods, strips their markers and
/// generates each one's registration (see `expand::command_handler`).
fn collect_command_handlers(block: &mut ItemImpl, errors: &mut Errors) -> TokenStream {
    let generic = !block.generics.params.is_empty();
    let self_ty = block.self_ty.clone();
    let mut generated = TokenStream::new();
    for item in &mut block.items {
        let ImplItem::Fn(method) = item else {
            continue;
        };
        let Some(index) = method.attrs.iter().position(is_command_handler_marker) else {
            continue;
        };
        let marker = method.attrs.remove(index);
        if let Some(extra) = method.attrs.iter().find(|a| is_command_handler_marker(a)) {
            errors.error_spanned(
                extra,
                "duplicate orchestrix attribute `command_handler`; give it once",
            );
        }
        generated.extend(crate::expand::command_handler::method(
            &marker,
            &method.sig,
            &self_ty,
            generic,
            errors,
        ));
    }
    generated
}

const SHAPE: &str = "write it as `#[apply] fn name(&mut self, event: &EventType) { ... }`";

fn check_apply_method(method: &ImplItemFn, errors: &mut Errors) -> Option<ApplyMethod> {
    let sig = &method.sig;
    let mut valid = true;
    if let Some(asyncness) = &sig.asyncness {
        errors.error_spanned(
            asyncness,
            format!("an #[apply] method cannot be async; {SHAPE}"),
        );
        valid = false;
    }
    if !sig.generics.params.is_empty() {
        errors.error_spanned(
            &sig.generics,
            format!("an #[apply] method cannot be generic; {SHAPE}"),
        );
        valid = false;
    }
    if let ReturnType::Type(arrow, ty) = &sig.output {
        errors.push(syn::Error::new(
            arrow.span().join(ty.span()).unwrap_or_else(|| ty.span()),
            format!(
                "an #[apply] method returns nothing: applying a recorded event cannot fail; \
                 check the rules in the domain method before recording the event; {SHAPE}"
            ),
        ));
        valid = false;
    }

    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(receiver))
            if receiver.reference.is_some() && receiver.mutability.is_some() => {}
        Some(FnArg::Receiver(receiver)) => {
            errors.error_spanned(
                receiver,
                format!("an #[apply] method takes `&mut self`; {SHAPE}"),
            );
            valid = false;
        }
        _ => {
            errors.error_spanned(
                &sig.ident,
                format!("an #[apply] method takes `&mut self` first; {SHAPE}"),
            );
            return None;
        }
    }

    let event = match (inputs.next(), inputs.next()) {
        (Some(FnArg::Typed(arg)), None) => match &*arg.ty {
            Type::Reference(TypeReference {
                mutability: None,
                elem,
                lifetime: None,
                ..
            }) => Some((**elem).clone()),
            other => {
                errors.error_spanned(
                    other,
                    format!("an #[apply] method takes the event by shared reference (`&EventType`); {SHAPE}"),
                );
                None
            }
        },
        (None, _) => {
            errors.error_spanned(
                &sig.inputs,
                format!("an #[apply] method takes the event after `&mut self`; {SHAPE}"),
            );
            None
        }
        (Some(_), Some(extra)) => {
            errors.error_spanned(
                extra,
                format!("an #[apply] method takes exactly one event; {SHAPE}"),
            );
            None
        }
        (Some(FnArg::Receiver(_)), None) => None,
    };
    match (event, valid) {
        (Some(event), true) => Some(ApplyMethod {
            method: sig.ident.clone(),
            event,
        }),
        _ => None,
    }
}

fn default_name(self_ty: &Type) -> LitStr {
    let name = match self_ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .map_or_else(|| type_key(self_ty), |segment| segment.ident.to_string()),
        other => type_key(other),
    };
    LitStr::new(&name, self_ty.span())
}

fn generate(block: &ItemImpl, options: &Options, methods: &[ApplyMethod]) -> TokenStream {
    let self_ty = &block.self_ty;
    let (impl_generics, _, where_clause) = block.generics.split_for_impl();
    let name = options
        .name
        .clone()
        .unwrap_or_else(|| default_name(self_ty));
    let ignore = options.ignore_unknown_events;
    let snapshot_version = options.snapshot_version.as_ref().map(|version| {
        let version = version.base10_parse::<u32>().unwrap_or(1);
        quote!(const SNAPSHOT_VERSION: u32 = #version;)
    });

    // The one place that requires each event type to be an `Event`, spanned
    // on the user's type so that is where a non-event is reported.
    let names = methods.iter().map(|m| {
        let event = &m.event;
        quote_spanned!(event.span()=> ::orchestrix::__private::event_name::<#event>())
    });
    let arms = methods.iter().map(|ApplyMethod { method, event }| {
        quote! {
            if let ::core::option::Option::Some(event) = __orchestrix_event.downcast_ref::<#event>() {
                self.#method(event);
                return true;
            }
        }
    });
    // Spanned on the event type as written, so that one event written two
    // ways (`Deposited`, `self::Deposited`) is reported on both methods.
    let event_of_impls = methods.iter().map(|ApplyMethod { method, event }| {
        quote_spanned! {event.span()=>
            #[automatically_derived]
            impl #impl_generics ::orchestrix::__private::EventOf<#self_ty> for #event #where_clause {
                #[inline]
                fn apply_to(&self, aggregate: &mut #self_ty) {
                    aggregate.#method(self);
                }
            }
        }
    });

    // A generic aggregate has no one type to register; its instances are
    // checked through the command handlers that use them.
    let registration = block.generics.params.is_empty().then(|| {
        quote! {
            ::orchestrix::__private::inventory::submit! {
                ::orchestrix::__private::AggregateRegistration::of::<#self_ty>()
            }
        }
    });

    // Spanned on the self type (the whole impl, so rustc's head span of it
    // is the user's): a second `#[aggregate]` block for one type is
    // reported (E0119) on the two blocks' types, not on the attributes.
    let impl_aggregate = quote_spanned! {self_ty.span()=>
        #[automatically_derived]
        impl #impl_generics ::orchestrix::__private::Aggregate for #self_ty #where_clause {
            const AGGREGATE_TYPE: &'static str = #name;
            const EVENT_TYPES: &'static [&'static str] = &[#(#names),*];
            const IGNORE_UNKNOWN_EVENTS: bool = #ignore;
            #snapshot_version

            fn apply_message(&mut self, event: &dyn ::orchestrix::__private::AnyMessage) -> bool {
                let __orchestrix_event: &dyn ::core::any::Any = event;
                #(#arms)*
                let _ = __orchestrix_event;
                false
            }
        }
    };
    quote! {
        #[doc(hidden)]
        const _: () = {
            #impl_aggregate

            #(#event_of_impls)*

            #registration
        };
    }
}
