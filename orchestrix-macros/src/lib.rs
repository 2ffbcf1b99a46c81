//! Procedural macros for [Orchestrix](https://docs.rs/orchestrix).
//!
//! Use them through the `orchestrix` crate (`use orchestrix::prelude::*;`):
//! the expansions name the runtime only through `::orchestrix::__private`, so
//! this crate is not meant to be depended on directly.
//!
//! Every macro here is an entry point only: parse the input, hand it to the
//! matching module under `expand`, and turn errors into `compile_error!`s
//! that point at the user's tokens.

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

mod attr;
mod context;
mod errors;
mod evolution;
mod expand;

/// Declares an event: implements `Message` + `Event` and registers the type
/// for decoding by name. Options: `#[event(name = "...", version = N)]`.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::message::expand(&input, expand::message::Kind::Event)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Declares a command: implements `Message` + `Command`.
/// Options: `#[command(name = "...", version = N)]`.
#[proc_macro_derive(Command, attributes(command))]
pub fn derive_command(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::message::expand(&input, expand::message::Kind::Command)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Registers a free fn as a handler of the event type its first parameter
/// refers to. `async fn`s go to the async bus, plain fns to the sync bus.
#[proc_macro_attribute]
pub fn event_handler(args: TokenStream, item: TokenStream) -> TokenStream {
    let in_impl = context::fn_inside_impl(&item);
    expand::event_handler::expand(args.into(), item.into(), in_impl).into()
}

/// Turns a decision fn into a command handler: the runtime loads the
/// aggregate, runs the fn, saves with optimistic concurrency and publishes.
/// `#[command_handler(aggregate_id = field, create_if_missing, retry_on_conflict = N)]`
/// on `fn f(state: &Aggregate, command: &Command) -> Result<events, E>`, or
/// on `fn f(&self, command: &Command)` inside an `#[aggregate]` impl block.
#[proc_macro_attribute]
pub fn command_handler(args: TokenStream, item: TokenStream) -> TokenStream {
    let in_impl = context::fn_inside_impl(&item);
    expand::command_handler::expand(args.into(), item.into(), in_impl).into()
}

/// Generates event application for an aggregate from its `#[apply]` methods.
#[proc_macro_attribute]
pub fn aggregate(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::aggregate::expand(args.into(), item.into()).into()
}

/// Marks an event-application method inside an `#[aggregate]` impl block.
/// On its own it is an error.
#[proc_macro_attribute]
pub fn apply(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::aggregate::expand_stray_apply(args.into(), item.into()).into()
}

/// Wires a saga step fn with its compensation: `#[saga_step(compensate = f)]`.
#[proc_macro_attribute]
pub fn saga_step(args: TokenStream, item: TokenStream) -> TokenStream {
    let in_impl = context::fn_inside_impl(&item);
    expand::saga_step::expand(args.into(), item.into(), in_impl).into()
}

/// Turns a read model's inherent impl block into a projection:
/// `#[projection(name = "...")]`, with one `#[handle]` method per event type.
#[proc_macro_attribute]
pub fn projection(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::projection::expand(args.into(), item.into()).into()
}

/// Marks a handler method inside a `#[projection]` impl block. On its own it
/// is an error.
#[proc_macro_attribute]
pub fn handle(args: TokenStream, item: TokenStream) -> TokenStream {
    expand::projection::expand_stray_handle(args.into(), item.into()).into()
}
