//! `#[event_handler]`: not built yet.

use proc_macro2::TokenStream;

pub(crate) fn expand(_args: TokenStream, item: TokenStream) -> TokenStream {
    let error = syn::Error::new(proc_macro2::Span::call_site(), "#[event_handler] is not implemented yet").into_compile_error();
    quote::quote!(#error #item)
}
