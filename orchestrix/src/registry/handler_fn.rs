//! Which fn a handler registration stands for: a bus builder given the fn
//! itself (`.handler(send_receipt)`) finds its registration by the fn's
//! item type, which is distinct for every fn.

use std::any::TypeId;

/// `TypeId` of the value's type. For a fn item, that type is the fn's own
/// (no two fns share one), so this is how the macros record which fn a
/// registration is for without naming a type after the fn.
pub fn type_id_of_val<T: 'static>(_value: &T) -> TypeId {
    TypeId::of::<T>()
}

/// `TypeId::of` the type of `handler`, as a fn pointer: what a generated
/// registration records to say which fn it is for (for a fn item, a type of
/// its own). One generic fn instead of one generated fn per handler.
#[doc(hidden)]
pub const fn fn_type_id<F: 'static>(_handler: &F) -> fn() -> TypeId {
    TypeId::of::<F>
}

/// `std::any::type_name` of the type of `handler` (for a fn item, its
/// path), as a fn pointer; see [`fn_type_id`].
#[doc(hidden)]
pub const fn fn_path<F>(_handler: &F) -> fn() -> &'static str {
    std::any::type_name::<F>
}

/// A fn given to a bus builder as a handler: its item type's `TypeId` (what
/// the registrations are looked up by) and its Rust path (for errors).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandlerFn {
    /// `TypeId` of the fn item type.
    pub type_id: TypeId,
    /// The fn's Rust path, or the type's name if it is not a fn.
    pub path: &'static str,
}

impl HandlerFn {
    /// What identifies `handler` (a fn item; anything else is looked up too,
    /// and found in no registration).
    pub fn of<F: 'static>(handler: &F) -> Self {
        Self {
            type_id: type_id_of_val(handler),
            path: std::any::type_name_of_val(handler),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{HandlerFn, fn_path, fn_type_id};

    fn first() {}
    fn second() {}

    #[test]
    fn the_generic_identity_of_a_fn_is_what_handler_fn_looks_up() {
        // What a generated registration records (in a const) is what
        // `.handler(f)` compares with: the fn item's own type.
        const TYPE_ID: fn() -> std::any::TypeId = fn_type_id(&first);
        const PATH: fn() -> &'static str = fn_path(&first);
        assert_eq!(TYPE_ID(), HandlerFn::of(&first).type_id);
        assert_ne!(TYPE_ID(), HandlerFn::of(&second).type_id);
        assert_eq!(PATH(), HandlerFn::of(&first).path);
        assert!(PATH().ends_with("::first"), "{}", PATH());
    }
}
