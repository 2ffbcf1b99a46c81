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
