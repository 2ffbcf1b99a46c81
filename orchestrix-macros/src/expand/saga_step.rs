//! `#[saga_step]`: not built yet.

use proc_macro2::TokenStream;

pub(crate) fn expand(_args: TokenStream, item: TokenStream) -> TokenStream {
    let error = syn::Error::new(
        proc_macro2::Span::call_site(),
        "#[saga_step] is not implemented yet",
    )
    .into_compile_error();
    quote::quote!(#error #item)
}
