//! The one hidden item `#[event_handler]` and `#[command_handler]` put
//! beside a free fn: a `const` in the value namespace, named after the fn
//! with a prefix (the fn's own name there is taken by the fn, so nothing
//! else can clash with it), whose body holds every generated item. Nothing
//! takes the fn's name in the type namespace, so a module or struct named
//! like the handler compiles.

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote};
use syn::ItemFn;
use syn::ext::IdentExt;

/// Where the generated items of one handler fn go.
pub(crate) struct HiddenItems {
    /// The expression naming the user's fn from inside the hidden item.
    pub(crate) handler: TokenStream,
    name: Ident,
}

/// The hidden item of the fn `ident`, for the attribute `attribute`.
pub(crate) fn hidden_items(ident: &Ident, attribute: &str) -> HiddenItems {
    HiddenItems {
        handler: quote!((#ident)),
        name: format_ident!("__orchestrix_{}_{}", attribute, ident.unraw()),
    }
}

impl HiddenItems {
    /// The user's fn, unchanged, then the hidden item holding `generated`.
    pub(crate) fn wrap(&self, function: &ItemFn, generated: TokenStream) -> TokenStream {
        let name = &self.name;
        quote! {
            #function

            #[doc(hidden)]
            #[allow(non_upper_case_globals)]
            const #name: () = {
                #generated
            };
        }
    }
}
