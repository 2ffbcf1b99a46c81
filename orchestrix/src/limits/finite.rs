//! A serializer wrapper that refuses non-finite floats.
//!
//! serde_json writes a NaN or an infinity as `null` (through the same
//! formatter call as `None`), so a value holding one would be stored but
//! would not decode back into its type. A formatter cannot tell the two
//! apart; this wrapper sees the float before serde_json does. It forwards
//! everything else to the serializer it wraps, wrapping the elements of
//! compound values in turn, so it nests exactly as deep as the wrapped
//! serializer lets it (the depth check of its formatter stops it).

use std::cell::Cell;

use std::fmt::Display;

use serde::ser::{self, Serialize, Serializer};

use super::json::Problem;

/// Wraps `inner`; records [`Problem::NonFinite`] in `problem` and fails at
/// the first non-finite float.
pub(super) struct FiniteSerializer<'p, S> {
    pub(super) inner: S,
    pub(super) problem: &'p Cell<Option<Problem>>,
}

/// A value to serialize through a [`FiniteSerializer`].
struct Finite<'p, 'v, T: ?Sized> {
    value: &'v T,
    problem: &'p Cell<Option<Problem>>,
}

impl<T: Serialize + ?Sized> Serialize for Finite<'_, '_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(FiniteSerializer {
            inner: serializer,
            problem: self.problem,
        })
    }
}

/// The compound serializers of the wrapped serializer, wrapped.
pub(super) struct FiniteCompound<'p, C> {
    inner: C,
    problem: &'p Cell<Option<Problem>>,
}

impl<'p, S> FiniteSerializer<'p, S> {
    fn wrap<'v, T: ?Sized>(&self, value: &'v T) -> Finite<'p, 'v, T> {
        Finite {
            value,
            problem: self.problem,
        }
    }

    fn refuse<E: ser::Error>(&self) -> E {
        self.problem.set(Some(Problem::NonFinite));
        E::custom(
            "a float is NaN or infinite, which JSON cannot hold; store it as an Option or a string",
        )
    }
}

impl<'p, C> FiniteCompound<'p, C> {
    fn wrap<'v, T: ?Sized>(&self, value: &'v T) -> Finite<'p, 'v, T> {
        Finite {
            value,
            problem: self.problem,
        }
    }
}

macro_rules! forward {
    ($($method:ident($type:ty);)*) => {
        $(fn $method(self, value: $type) -> Result<S::Ok, S::Error> {
            self.inner.$method(value)
        })*
    };
}

impl<'p, S: Serializer> Serializer for FiniteSerializer<'p, S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = FiniteCompound<'p, S::SerializeSeq>;
    type SerializeTuple = FiniteCompound<'p, S::SerializeTuple>;
    type SerializeTupleStruct = FiniteCompound<'p, S::SerializeTupleStruct>;
    type SerializeTupleVariant = FiniteCompound<'p, S::SerializeTupleVariant>;
    type SerializeMap = FiniteCompound<'p, S::SerializeMap>;
    type SerializeStruct = FiniteCompound<'p, S::SerializeStruct>;
    type SerializeStructVariant = FiniteCompound<'p, S::SerializeStructVariant>;

    forward! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_unit_struct(&'static str);
    }

    fn serialize_f32(self, value: f32) -> Result<S::Ok, S::Error> {
        if !value.is_finite() {
            return Err(self.refuse());
        }
        self.inner.serialize_f32(value)
    }

    fn serialize_f64(self, value: f64) -> Result<S::Ok, S::Error> {
        if !value.is_finite() {
            return Err(self.refuse());
        }
        self.inner.serialize_f64(value)
    }

    fn serialize_none(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_none()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let value = self.wrap(value);
        self.inner.serialize_some(&value)
    }

    fn serialize_unit(self) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
    ) -> Result<S::Ok, S::Error> {
        self.inner.serialize_unit_variant(name, index, variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let value = self.wrap(value);
        self.inner.serialize_newtype_struct(name, &value)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let value = self.wrap(value);
        self.inner
            .serialize_newtype_variant(name, index, variant, &value)
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        let problem = self.problem;
        let inner = self.inner.serialize_seq(len)?;
        Ok(FiniteCompound { inner, problem })
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        let problem = self.problem;
        let inner = self.inner.serialize_tuple(len)?;
        Ok(FiniteCompound { inner, problem })
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        let problem = self.problem;
        let inner = self.inner.serialize_tuple_struct(name, len)?;
        Ok(FiniteCompound { inner, problem })
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        let problem = self.problem;
        let inner = self
            .inner
            .serialize_tuple_variant(name, index, variant, len)?;
        Ok(FiniteCompound { inner, problem })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        let problem = self.problem;
        let inner = self.inner.serialize_map(len)?;
        Ok(FiniteCompound { inner, problem })
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        let problem = self.problem;
        let inner = self.inner.serialize_struct(name, len)?;
        Ok(FiniteCompound { inner, problem })
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        let problem = self.problem;
        let inner = self
            .inner
            .serialize_struct_variant(name, index, variant, len)?;
        Ok(FiniteCompound { inner, problem })
    }

    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        self.inner.collect_str(value)
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! compound {
    ($trait:ident, $method:ident) => {
        impl<C: ser::$trait> ser::$trait for FiniteCompound<'_, C> {
            type Ok = C::Ok;
            type Error = C::Error;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
                let value = self.wrap(value);
                self.inner.$method(&value)
            }

            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        }
    };
}

compound!(SerializeSeq, serialize_element);
compound!(SerializeTuple, serialize_element);
compound!(SerializeTupleStruct, serialize_field);
compound!(SerializeTupleVariant, serialize_field);

macro_rules! named_fields {
    ($trait:ident) => {
        impl<C: ser::$trait> ser::$trait for FiniteCompound<'_, C> {
            type Ok = C::Ok;
            type Error = C::Error;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                key: &'static str,
                value: &T,
            ) -> Result<(), C::Error> {
                let value = self.wrap(value);
                self.inner.serialize_field(key, &value)
            }

            fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
                self.inner.skip_field(key)
            }

            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        }
    };
}

named_fields!(SerializeStruct);
named_fields!(SerializeStructVariant);

impl<C: ser::SerializeMap> ser::SerializeMap for FiniteCompound<'_, C> {
    type Ok = C::Ok;
    type Error = C::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), C::Error> {
        let key = self.wrap(key);
        self.inner.serialize_key(&key)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        let value = self.wrap(value);
        self.inner.serialize_value(&value)
    }

    fn serialize_entry<K: Serialize + ?Sized, V: Serialize + ?Sized>(
        &mut self,
        key: &K,
        value: &V,
    ) -> Result<(), C::Error> {
        let (key, value) = (self.wrap(key), self.wrap(value));
        self.inner.serialize_entry(&key, &value)
    }

    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}
