//! `#[aggregate]`: not built yet.

use proc_macro2::TokenStream;

pub(crate) fn expand(_args: TokenStream, item: TokenStream) -> TokenStream {
    let error = syn::Error::new(proc_macro2::Span::call_site(), "#[aggregate] is not implemented yet").into_compile_error();
    quote::quote!(#error #item)
}

pub(crate) fn expand_stray_apply(_args: TokenStream, item: TokenStream) -> TokenStream {
    let error = syn::Error::new(
        proc_macro2::Span::call_site(),
        "#[apply] only works on methods inside an `#[aggregate] impl` block",
    )
    .into_compile_error();
    quote::quote!(#error #item)
}
