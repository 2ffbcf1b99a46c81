//! `#[command_handler]`: a decision fn (or an aggregate method) that the
//! runtime wraps in load -> decide -> save -> publish.
//!
//! On a free fn `fn f(state: &Aggregate, command: &Command) -> Result<..>`,
//! the fn is emitted unchanged, with one hidden `const` beside it (see
//! [`hidden`](crate::expand::hidden)) holding a marker struct implementing
//! `CommandHandler` and an `inventory` submission that records the fn
//! item's `TypeId` (so `.command_handler(f)` finds it). On a method
//! `fn f(&self, command: &Command)`, the `#[aggregate]` impl block around it
//! does the same through [`method`], identified by `Aggregate::f`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Expr, FnArg, Ident, ItemFn, LitInt, LitStr, Member, ReturnType, Signature, Token, Type};

use crate::attr::{Once, name_into, unknown_skipped};
use crate::errors::Errors;
use crate::expand::hidden::hidden_items;

const KEYS: &[&str] = &[
    "aggregate_id",
    "create_if_missing",
    "retry_on_conflict",
    "name",
];

/// The arguments of `#[command_handler(...)]`.
pub(crate) struct Options {
    aggregate_id: Member,
    create_if_missing: bool,
    retries: u32,
    name: Option<LitStr>,
}

/// A checked handler: the types it joins and how to call it.
struct Handler<'a> {
    ident: &'a Ident,
    aggregate: TokenStream,
    command: &'a Type,
    return_span: Span,
}

/// `in_impl`: the fn is written inside an `impl` block (see
/// [`context`](crate::context)).
pub(crate) fn expand(args: TokenStream, item: TokenStream, in_impl: bool) -> TokenStream {
    let mut errors = Errors::new();
    let options = parse_args(args, Span::call_site(), &mut errors);
    let function = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            errors.error_spanned(
                &item,
                "#[command_handler] goes on a fn that takes the aggregate's state and the command: \
                 `fn deposit(account: &Account, command: &Deposit) -> Result<Deposited, BankError>`",
            );
            return with_errors(errors, item);
        }
    };
    if let Some(FnArg::Receiver(receiver)) = function.sig.inputs.first() {
        errors.error_spanned(
            receiver,
            "a #[command_handler] method goes inside the aggregate's `#[aggregate] impl` block; \
             add #[aggregate] to this impl block, or make it a free fn taking `account: &Account`",
        );
        return with_errors(errors, quote!(#function));
    }
    if in_impl {
        // The one error: the generated item would report its own.
        let ident = &function.sig.ident;
        let error = syn::Error::new(
            ident.span(),
            format!(
                "a #[command_handler] is a free fn at module level, or a method taking `&self` in the \
                 aggregate's `#[aggregate] impl` block; move `{}` out of this `impl` block, or make it \
                 a method of the aggregate",
                ident.unraw()
            ),
        )
        .into_compile_error();
        return quote!(#error #function);
    }
    let handler = check(&function.sig, None, &mut errors);
    match (handler, options, errors.finish()) {
        (Some(handler), Some(options), Ok(())) => {
            let items = hidden_items(handler.ident, "command_handler");
            let handler_fn = &items.handler;
            let marker = quote!(__OrchestrixCommandHandler);
            let generated = generate(&handler, &options, &marker, handler_fn, handler_fn);
            items.wrap(
                &function,
                quote! {
                    struct __OrchestrixCommandHandler;

                    #generated
                },
            )
        }
        (_, _, result) => {
            let error = result.err().map(syn::Error::into_compile_error);
            quote!(#error #function)
        }
    }
}

/// A `#[command_handler(...)]` method of an `#[aggregate]` impl block on
/// `self_ty`: the generated items (to put beside the block), or nothing
/// when `errors` got the method's mistakes.
pub(crate) fn method(
    attr: &syn::Attribute,
    sig: &Signature,
    self_ty: &Type,
    generic: bool,
    errors: &mut Errors,
) -> TokenStream {
    let args = match &attr.meta {
        syn::Meta::List(list) => list.tokens.clone(),
        _ => TokenStream::new(),
    };
    let options = parse_args(args, attr.span(), errors);
    if generic {
        errors.error_spanned(
            &sig.ident,
            "a #[command_handler] cannot be on a generic aggregate: it is registered for one \
             concrete aggregate type; write it as a free fn taking `state: &MyAggregate<Concrete>`",
        );
        return TokenStream::new();
    }
    let Some(handler) = check(sig, Some(self_ty), errors) else {
        return TokenStream::new();
    };
    let Some(options) = options else {
        return TokenStream::new();
    };
    let ident = handler.ident;
    let marker = format_ident!("__orchestrix_command_handler_{}", ident.unraw());
    let call = quote!(<#self_ty>::#ident);
    let generated = generate(&handler, &options, &quote!(#marker), &call, &call);
    quote! {
        #[doc(hidden)]
        const _: () = {
            #[allow(non_camel_case_types)]
            struct #marker;

            #generated
        };
    }
}

fn with_errors(errors: Errors, item: TokenStream) -> TokenStream {
    let error = errors.finish().err().map(syn::Error::into_compile_error);
    quote!(#error #item)
}

/// The options, or `None` (with the errors recorded) if they are unusable.
fn parse_args(args: TokenStream, attr_span: Span, errors: &mut Errors) -> Option<Options> {
    let mut aggregate_id = Once::<Member>::new("aggregate_id");
    let mut create = Once::<()>::new("create_if_missing");
    let mut retries = Once::<u32>::new("retry_on_conflict");
    let mut name = Once::<LitStr>::new("name");
    let mut usable = true;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("aggregate_id") {
            let value = meta.value()?;
            match value.parse::<Member>() {
                Ok(member) => errors.take(aggregate_id.set(&meta, member)),
                Err(error) => {
                    usable = false;
                    errors.push(syn::Error::new(
                        error.span(),
                        "expected the command's field that holds the aggregate id: `aggregate_id = account_id`",
                    ));
                    value.parse::<Expr>().ok();
                    Some(())
                }
            };
        } else if meta.path.is_ident("create_if_missing") {
            if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
                errors.push(meta.error(
                    "`create_if_missing` is a flag and takes no value; write `#[command_handler(create_if_missing, ...)]`",
                ));
                meta.value()?.parse::<Expr>()?;
            } else {
                errors.take(create.set(&meta, ()));
            }
        } else if meta.path.is_ident("retry_on_conflict") {
            const HINT: &str = "expected how many times to run the command again after a \
                                concurrency conflict, from 1 up: `retry_on_conflict = 3`";
            let value: Expr = meta.value()?.parse()?;
            let parsed = match &value {
                Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Int(int),
                    ..
                }) => parse_retries(int),
                _ => None,
            };
            match parsed {
                Some(count) => {
                    errors.take(retries.set(&meta, count));
                }
                None => errors.error_spanned(&value, HINT),
            }
        } else if meta.path.is_ident("name") {
            name_into(&meta, errors, &mut name, "handler name", "deposit")?;
        } else {
            unknown_skipped(&meta, errors, KEYS)?;
        }
        Ok(())
    });
    let parsed = syn::parse::Parser::parse2(parser, args);
    errors.take(parsed)?;
    let create_if_missing = create.span().is_some();
    let Some(aggregate_id) = aggregate_id.get() else {
        if usable {
            errors.push(syn::Error::new(
                attr_span,
                "#[command_handler] needs the command's field that holds the aggregate id: \
                 `#[command_handler(aggregate_id = account_id)]`",
            ));
        }
        return None;
    };
    Some(Options {
        aggregate_id,
        create_if_missing,
        retries: retries.get().unwrap_or(0),
        name: name.get(),
    })
}

fn parse_retries(int: &LitInt) -> Option<u32> {
    int.base10_parse::<u32>().ok().filter(|count| *count >= 1)
}

const SHAPE: &str =
    "write `fn deposit(account: &Account, command: &Deposit) -> Result<Deposited, BankError>`";
const METHOD_SHAPE: &str =
    "write `fn deposit(&self, command: &Deposit) -> Result<Deposited, BankError>`";

/// Checks the signature: `(state: &A, command: &C) -> R` for a free fn,
/// `(&self, command: &C) -> R` for a method of `self_ty`.
fn check<'a>(
    sig: &'a Signature,
    self_ty: Option<&Type>,
    errors: &mut Errors,
) -> Option<Handler<'a>> {
    let shape = if self_ty.is_some() {
        METHOD_SHAPE
    } else {
        SHAPE
    };
    let mut valid = true;
    if let Some(asyncness) = &sig.asyncness {
        errors.error_spanned(
            asyncness,
            "a command handler cannot be async: it decides from the aggregate's state alone and the runtime \
             does the I/O (load, save, publish); remove `async`, and do other I/O in an event handler",
        );
        valid = false;
    }
    for (present, what) in [
        (sig.constness.as_ref().map(Spanned::span), "`const`"),
        (sig.unsafety.as_ref().map(Spanned::span), "`unsafe`"),
        (sig.abi.as_ref().map(Spanned::span), "an ABI"),
    ] {
        if let Some(span) = present {
            errors.push(syn::Error::new(
                span,
                format!("a command handler cannot be {what}; remove it"),
            ));
            valid = false;
        }
    }
    if !sig.generics.params.is_empty() {
        errors.error_spanned(
            &sig.generics,
            format!("a command handler cannot be generic: it handles one command type; {shape}"),
        );
        valid = false;
    }
    let return_span = match &sig.output {
        ReturnType::Type(_, ty) => ty.span(),
        ReturnType::Default => {
            errors.push(syn::Error::new(
                sig.paren_token.span.close(),
                format!(
                    "a command handler returns the events it decided, or a domain error; {shape}"
                ),
            ));
            valid = false;
            sig.ident.span()
        }
    };

    let mut inputs = sig.inputs.iter();
    let aggregate = match (self_ty, inputs.next()) {
        (Some(self_ty), Some(FnArg::Receiver(receiver)))
            if receiver.reference.is_some() && receiver.mutability.is_none() =>
        {
            Some(quote!(#self_ty))
        }
        (Some(_), Some(FnArg::Receiver(receiver))) => {
            errors.error_spanned(
                receiver,
                format!(
                    "a command handler reads the state through `&self`: it only decides, and the \
                     events it returns change the aggregate; {shape}"
                ),
            );
            None
        }
        (None, Some(FnArg::Typed(state))) => shared_reference(
            &state.ty,
            "the aggregate's state",
            "account: &Account",
            errors,
        )
        .map(|ty| quote_spanned!(ty.span()=> #ty)),
        (_, other) => {
            let span = other.map_or_else(|| sig.paren_token.span.join(), Spanned::span);
            errors.push(syn::Error::new(
                span,
                format!("a command handler takes the aggregate's state, then the command; {shape}"),
            ));
            return None;
        }
    };
    let command = match inputs.next() {
        Some(FnArg::Typed(command)) => {
            shared_reference(&command.ty, "the command", "command: &Deposit", errors)
        }
        Some(FnArg::Receiver(receiver)) => {
            errors.error_spanned(receiver, format!("`self` comes first; {shape}"));
            None
        }
        None => {
            errors.push(syn::Error::new(
                sig.paren_token.span.join(),
                format!("a command handler takes the command after the state; {shape}"),
            ));
            None
        }
    };
    for extra in inputs {
        errors.error_spanned(
            extra,
            format!(
                "a command handler takes exactly the state and the command: it decides from them alone; \
                 remove this parameter ({shape})"
            ),
        );
        valid = false;
    }
    match (aggregate, command, valid) {
        (Some(aggregate), Some(command), true) => Some(Handler {
            ident: &sig.ident,
            aggregate,
            command,
            return_span,
        }),
        _ => None,
    }
}

/// The `T` of a `&T` parameter, or an error naming what it should be.
fn shared_reference<'a>(
    ty: &'a Type,
    what: &str,
    example: &str,
    errors: &mut Errors,
) -> Option<&'a Type> {
    match ty {
        Type::Reference(reference) if reference.mutability.is_none() => Some(&reference.elem),
        other => {
            errors.error_spanned(
                other,
                format!("a command handler takes {what} by shared reference: write `{example}`"),
            );
            None
        }
    }
}

/// The `CommandHandler` impl on `marker`, calling the decision as `call`,
/// and its registration, identified by the fn item `handler_fn`.
fn generate(
    handler: &Handler<'_>,
    options: &Options,
    marker: &TokenStream,
    call: &TokenStream,
    handler_fn: &TokenStream,
) -> TokenStream {
    let Handler {
        ident,
        aggregate,
        command,
        return_span,
    } = handler;
    let name = match &options.name {
        Some(name) => quote!(#name),
        None => {
            let plain = LitStr::new(&ident.unraw().to_string(), ident.span());
            quote!(::core::concat!(::core::module_path!(), "::", #plain))
        }
    };
    let create = options.create_if_missing;
    let retries = options.retries;
    let field = &options.aggregate_id;
    // The checks land on the user's tokens: the id's on the field, the
    // decision's on the return type. The locals keep call-site hygiene
    // (see `event_handler`) with those places.
    let local = |name: &str, span: Span| Ident::new(name, Span::call_site().located_at(span));
    let command_at_field = local("__orchestrix_command", field.span());
    let aggregate_id = quote_spanned! {field.span()=>
        ::orchestrix::__private::AggregateId::to_aggregate_id(&#command_at_field.#field)
    };
    let root = local("__orchestrix_root", *return_span);
    let state = local("__orchestrix_state", *return_span);
    let command_at_return = local("__orchestrix_command", *return_span);
    let decide = quote_spanned! {*return_span=>
        ::orchestrix::__private::decide(#root, |#state| #call(#state, #command_at_return))
    };
    let command_ty = quote_spanned!(command.span()=> #command);
    quote! {
        #[automatically_derived]
        impl ::orchestrix::__private::CommandHandler for #marker {
            type Aggregate = #aggregate;
            type Command = #command_ty;
            const NAME: &'static str = #name;
            const CREATE_IF_MISSING: bool = #create;
            const CONFLICT_RETRIES: u32 = #retries;

            fn aggregate_id(__orchestrix_command: &#command) -> ::std::string::String {
                #aggregate_id
            }

            fn decide(
                __orchestrix_root: &mut ::orchestrix::__private::AggregateRoot<#aggregate>,
                __orchestrix_command: &#command,
            ) -> ::core::result::Result<(), ::orchestrix::__private::BoxError> {
                #decide
            }
        }

        ::orchestrix::__private::inventory::submit! {
            ::orchestrix::__private::CommandHandlerRegistration::new::<#marker>(
                ::orchestrix::__private::fn_type_id(&#handler_fn),
                ::orchestrix::__private::fn_path(&#handler_fn),
            )
        }
    }
}
