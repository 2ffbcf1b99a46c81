//! `#[saga_step(compensate = f, name = "...", retry = ..., timeout_ms = N)]`
//! on a step fn: keeps the fn and adds `<fn>_step() -> SagaStep<D>`, built
//! with the runtime's `SagaStep::builder`, whose trait bounds check the
//! compensation's signature against the step's data and output types (the
//! error lands on the user's `compensate = ...` path).

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericParam, Ident, ItemFn, LitBool, LitInt, LitStr, MetaNameValue, Path, ReturnType,
    Token, Type,
};

use crate::attr::{Once, parse_name, recover, unknown};
use crate::errors::Errors;

const KEYS: &[&str] = &["compensate", "name", "retry", "timeout_ms"];

const RETRY_HINT: &str = "expected `none`, `fixed(delay_ms = 100, max_attempts = 3)`, \
     `linear(base_ms = 100, max_attempts = 3)` or `exponential(base_ms = 10, max_attempts = 5)` \
     (exponential also takes `max_delay_ms = N` and `jitter = false`)";

/// A parsed `retry = ...` value.
pub(crate) enum Retry {
    None,
    Fixed {
        delay_ms: u64,
        max_attempts: u32,
    },
    Linear {
        base_ms: u64,
        max_attempts: u32,
    },
    Exponential {
        base_ms: u64,
        max_attempts: u32,
        max_delay_ms: Option<u64>,
        jitter: Option<bool>,
    },
}

struct Options {
    compensate: Option<Path>,
    name: Option<LitStr>,
    retry: Option<Retry>,
    timeout_ms: Option<u64>,
}

fn parse_options(args: TokenStream, errors: &mut Errors) -> Options {
    let mut compensate = Once::<Path>::new("compensate");
    let mut name = Once::<LitStr>::new("name");
    let mut retry = Once::<Retry>::new("retry");
    let mut timeout_ms = Once::<u64>::new("timeout_ms");
    // Every mistake is recorded and parsing goes on with the next argument,
    // so the user sees all of them at once.
    let parser = syn::meta::parser(|meta| {
        let result = if meta.path.is_ident("compensate") {
            meta.value()
                .and_then(|value| value.parse::<Path>())
                .map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "expected the compensation fn's path: `compensate = release_inventory`",
                    )
                })
                .and_then(|value| compensate.set(&meta, value))
        } else if meta.path.is_ident("name") {
            parse_name(&meta, "step name", "reserve-inventory")
                .and_then(|value| name.set(&meta, value))
        } else if meta.path.is_ident("retry") {
            meta.value()
                .and_then(parse_retry)
                .and_then(|value| retry.set(&meta, value))
        } else if meta.path.is_ident("timeout_ms") {
            positive_u64(&meta, "timeout_ms", "`timeout_ms = 500`")
                .and_then(|value| timeout_ms.set(&meta, value))
        } else {
            Err(unknown(&meta, KEYS))
        };
        recover(&meta, errors, result)
    });
    let parsed = syn::parse::Parser::parse2(parser, args);
    errors.take(parsed);
    Options {
        compensate: compensate.get(),
        name: name.get(),
        retry: retry.get(),
        timeout_ms: timeout_ms.get(),
    }
}

fn positive_u64(meta: &ParseNestedMeta<'_>, key: &str, example: &str) -> syn::Result<u64> {
    let literal: LitInt = meta.value()?.parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("`{key}` takes a whole number of milliseconds: {example}"),
        )
    })?;
    match literal.base10_parse::<u64>() {
        Ok(value) if value > 0 => Ok(value),
        _ => Err(syn::Error::new_spanned(
            &literal,
            format!("`{key}` must be a whole number of milliseconds above 0: {example}"),
        )),
    }
}

pub(crate) fn parse_retry(input: ParseStream<'_>) -> syn::Result<Retry> {
    let kind: Ident = input
        .parse()
        .map_err(|e| syn::Error::new(e.span(), RETRY_HINT))?;
    if kind == "none" {
        return Ok(Retry::None);
    }
    if !["fixed", "linear", "exponential"].iter().any(|k| kind == k) {
        return Err(syn::Error::new_spanned(
            &kind,
            format!("unknown retry policy `{kind}`; {RETRY_HINT}"),
        ));
    }
    let content;
    syn::parenthesized!(content in input);
    let args = Punctuated::<MetaNameValue, Token![,]>::parse_terminated(&content)?;
    let allowed: &[&str] = match kind.to_string().as_str() {
        "fixed" => &["delay_ms", "max_attempts"],
        "linear" => &["base_ms", "max_attempts"],
        _ => &["base_ms", "max_attempts", "max_delay_ms", "jitter"],
    };
    let mut numbers: Vec<(String, u64)> = Vec::new();
    let mut jitter = None;
    for arg in &args {
        let key = arg
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        if !allowed.contains(&key.as_str()) {
            let list = allowed
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(syn::Error::new_spanned(
                &arg.path,
                format!("unknown argument `{key}` of `{kind}(...)`; expected: {list}"),
            ));
        }
        if numbers.iter().any(|(k, _)| *k == key) || (key == "jitter" && jitter.is_some()) {
            return Err(syn::Error::new_spanned(
                &arg.path,
                format!("`{key}` is given twice; give it once"),
            ));
        }
        if key == "jitter" {
            let value: LitBool = syn::parse2(quote::ToTokens::to_token_stream(&arg.value))
                .map_err(|_| {
                    syn::Error::new_spanned(&arg.value, "`jitter` takes `true` or `false`")
                })?;
            jitter = Some(value.value);
            continue;
        }
        let value = syn::parse2::<LitInt>(quote::ToTokens::to_token_stream(&arg.value))
            .ok()
            .and_then(|lit| lit.base10_parse::<u64>().ok())
            .filter(|v| *v > 0 || key != "max_attempts")
            .ok_or_else(|| {
                syn::Error::new_spanned(
                    &arg.value,
                    if key == "max_attempts" {
                        "`max_attempts` takes a whole number from 1: `max_attempts = 5`".to_owned()
                    } else {
                        format!("`{key}` takes a whole number of milliseconds: `{key} = 10`")
                    },
                )
            })?;
        numbers.push((key, value));
    }
    let get = |key: &str| numbers.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
    let required = |key: &str| {
        get(key).ok_or_else(|| {
            syn::Error::new_spanned(
                &kind,
                format!("`{kind}(...)` needs `{key} = N`; {RETRY_HINT}"),
            )
        })
    };
    let max_attempts = u32::try_from(required("max_attempts")?)
        .map_err(|_| syn::Error::new_spanned(&kind, "`max_attempts` must fit in a u32"))?;
    Ok(match kind.to_string().as_str() {
        "fixed" => Retry::Fixed {
            delay_ms: required("delay_ms")?,
            max_attempts,
        },
        "linear" => Retry::Linear {
            base_ms: required("base_ms")?,
            max_attempts,
        },
        _ => Retry::Exponential {
            base_ms: required("base_ms")?,
            max_attempts,
            max_delay_ms: get("max_delay_ms"),
            jitter,
        },
    })
}

/// The saga data type `D` of a step fn `fn(&D, ...)`, with every signature
/// error recorded.
fn data_type(item: &ItemFn, errors: &mut Errors) -> Option<Type> {
    let sig = &item.sig;
    let mut ok = true;
    if let Some(param) = sig
        .generics
        .params
        .iter()
        .find(|p| !matches!(p, GenericParam::Lifetime(_)))
    {
        errors.error_spanned(
            param,
            "a #[saga_step] fn cannot be generic: the step is built for one saga data type; write the concrete type",
        );
        ok = false;
    }
    if let Some(receiver) = sig.receiver() {
        errors.error_spanned(
            receiver,
            "#[saga_step] goes on a free fn, not a method with `self`; move the step out of the impl block \
             (e.g. `async fn reserve(order: &Order) -> Result<_, _>`)",
        );
        return None;
    }
    if matches!(sig.output, syn::ReturnType::Default) {
        errors.error_spanned(
            &sig.ident,
            "a saga step returns `Result<Output, Error>`; add a return type such as `-> Result<Reservation, StepFailure>`",
        );
        ok = false;
    }
    if let Some(extra) = sig.inputs.iter().nth(2) {
        errors.error_spanned(
            extra,
            "a saga step takes the saga data `&D` and optionally `&StepContext`; remove this parameter",
        );
        ok = false;
    }
    let data = match sig.inputs.first() {
        Some(FnArg::Typed(param)) => match &*param.ty {
            Type::Reference(reference) if reference.mutability.is_none() => {
                Some((*reference.elem).clone())
            }
            other => {
                errors.error_spanned(
                    other,
                    "the first parameter of a saga step is the saga data by shared reference, e.g. `order: &OrderData`",
                );
                None
            }
        },
        _ => {
            errors.push(syn::Error::new(
                sig.paren_token.span.join(),
                "a saga step takes the saga data by reference: `fn reserve(order: &OrderData) -> Result<_, _>`",
            ));
            None
        }
    };
    data.filter(|_| ok)
}

pub(crate) fn retry_tokens(retry: &Retry) -> TokenStream {
    let policy = quote!(::orchestrix::__private::RetryPolicy);
    let ms = |v: u64| quote!(::core::time::Duration::from_millis(#v));
    match retry {
        Retry::None => quote!(#policy::none()),
        Retry::Fixed {
            delay_ms,
            max_attempts,
        } => {
            let delay = ms(*delay_ms);
            quote!(#policy::fixed(#delay, #max_attempts))
        }
        Retry::Linear {
            base_ms,
            max_attempts,
        } => {
            let base = ms(*base_ms);
            quote!(#policy::linear(#base, #max_attempts))
        }
        Retry::Exponential {
            base_ms,
            max_attempts,
            max_delay_ms,
            jitter,
        } => {
            let base = ms(*base_ms);
            let mut tokens = quote!(#policy::exponential(#base, #max_attempts));
            if let Some(max) = max_delay_ms {
                let max = ms(*max);
                tokens = quote!(#tokens.with_max_delay(#max));
            }
            if let Some(jitter) = jitter {
                tokens = quote!(#tokens.with_jitter(#jitter));
            }
            tokens
        }
    }
}

/// `in_impl`: the fn is written inside an `impl` block (see
/// [`context`](crate::context)).
pub(crate) fn expand(args: TokenStream, item: TokenStream, in_impl: bool) -> TokenStream {
    let mut errors = Errors::new();
    let options = parse_options(args, &mut errors);
    let function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            let error = syn::Error::new(
                Span::call_site(),
                "#[saga_step] goes on a fn: `#[saga_step(compensate = undo)] async fn step(data: &Data) -> Result<O, E>`",
            )
            .into_compile_error();
            return quote!(#error #item);
        }
    };
    if in_impl && function.sig.receiver().is_none() {
        // The one error: the generated step fn would report its own.
        let error = syn::Error::new(
            function.sig.ident.span(),
            format!(
                "#[saga_step] goes on a free fn, not on an associated fn of an `impl` block: move `{}` \
                 out of the `impl` block to module level",
                function.sig.ident.unraw()
            ),
        )
        .into_compile_error();
        return quote!(#error #function);
    }
    let data = data_type(&function, &mut errors);

    let generated = data.map(|data| {
        let ident = &function.sig.ident;
        let vis = &function.vis;
        let step_fn = format_ident!("{}_step", ident);
        let name = options
            .name
            .clone()
            .unwrap_or_else(|| LitStr::new(&ident.unraw().to_string(), ident.span()));
        let compensate = options.compensate.as_ref().map(|path| {
            // Spanned on the user's path: a compensation whose parameters do
            // not match the step is reported there.
            quote_spanned!(path.span()=> .compensate(#path))
        });
        let retry = options.retry.as_ref().map(|retry| {
            let policy = retry_tokens(retry);
            quote!(.retry(#policy))
        });
        let timeout = options
            .timeout_ms
            .map(|ms| quote!(.timeout(::core::time::Duration::from_millis(#ms))));
        let doc = format!(
            "The saga step of `{}` (named `{}`), with its compensation, retry policy and timeout; generated by `#[saga_step]`.",
            ident.unraw(),
            name.value()
        );
        let builder = quote_spanned!(ident.span()=> ::orchestrix::__private::SagaStep::<#data>::builder(#name, #ident));
        // The output `O` of `Result<O, E>`, checked on its own tokens by a
        // const nested in the step fn (only fns are generated, so a step
        // inside an `impl` block gets one error, not one per item). The step
        // fn is bounded on the same check, so a bad output is not reported a
        // second time by the builder's `StepAction` bound; callers of
        // `<step>_step()` get the check's own message.
        let output = output_type(&function.sig.output).filter(|output| !has_lifetime(output));
        let output_check = output.map(|output| {
            let check = quote_spanned!(output.span()=> ::orchestrix::__private::step_output::<#output>());
            quote!(const _: () = #check;)
        });
        let output_bound = output.map(|output| {
            quote_spanned!(output.span()=> where for<'__orchestrix> #output: ::orchestrix::__private::StepOutput)
        });
        quote! {
            #[doc = #doc]
            #vis fn #step_fn() -> ::orchestrix::__private::SagaStep<#data> #output_bound {
                #output_check

                #builder
                    #compensate
                    #retry
                    #timeout
                    .build_unchecked()
            }
        }
    });

    let error = errors.finish().err().map(syn::Error::into_compile_error);
    quote! {
        #error
        #function
        #generated
    }
}

/// Whether `ty` names a lifetime (`&str`, `Cow<'a, str>`): such an output
/// cannot be bounded outside the step fn, so it is left to the builder.
fn has_lifetime(ty: &Type) -> bool {
    fn walk(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|token| match token {
            proc_macro2::TokenTree::Punct(punct) => matches!(punct.as_char(), '&' | '\''),
            proc_macro2::TokenTree::Group(group) => walk(group.stream()),
            _ => false,
        })
    }
    walk(ty.to_token_stream())
}

/// The `O` of a return type written `Result<O, E>` (or any `X<O, ...>`).
fn output_type(output: &ReturnType) -> Option<&Type> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    let Type::Path(path) = &**ty else {
        return None;
    };
    let segment = path.path.segments.last()?;
    let syn::PathArguments::AngleBracketed(arguments) = &segment.arguments else {
        return None;
    };
    arguments.args.iter().find_map(|argument| match argument {
        syn::GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}
