//! The routing table: message type -> its handlers, in subscription order.
//!
//! Publishing takes a snapshot (an `Arc<[H]>` clone under a short read
//! lock) and runs the handlers without any lock held; subscribing replaces
//! the type's list with a new one (copy on write). So a subscribe never waits
//! for a running publish, a publish never sees a half-updated list, and no
//! lock is held across an `.await`.

use std::any::TypeId;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, PoisonError, RwLock};

pub(crate) struct Routes<H> {
    by_type: RwLock<HashMap<TypeId, Arc<[H]>, BuildHasherDefault<TypeIdHasher>>>,
}

impl<H: Clone> Routes<H> {
    pub(crate) fn new() -> Self {
        Self {
            by_type: RwLock::new(HashMap::default()),
        }
    }

    /// Appends `handler` to the handlers of `message_type`.
    pub(crate) fn add(&self, message_type: TypeId, handler: H) {
        let mut by_type = self.by_type.write().unwrap_or_else(PoisonError::into_inner);
        let handlers = by_type
            .entry(message_type)
            .or_insert_with(|| Arc::from(Vec::new()));
        let mut extended = Vec::with_capacity(handlers.len() + 1);
        extended.extend(handlers.iter().cloned());
        extended.push(handler);
        *handlers = Arc::from(extended);
    }

    /// The handlers of `message_type` as they are now.
    pub(crate) fn snapshot(&self, message_type: TypeId) -> Option<Arc<[H]>> {
        let by_type = self.by_type.read().unwrap_or_else(PoisonError::into_inner);
        by_type.get(&message_type).map(Arc::clone)
    }

    /// How many handlers `message_type` has.
    pub(crate) fn count(&self, message_type: TypeId) -> usize {
        self.snapshot(message_type)
            .map_or(0, |handlers| handlers.len())
    }
}

/// `TypeId`s are already well-mixed hashes: fold them instead of running
/// SipHash over them on every publish.
#[derive(Default)]
pub(crate) struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = (self.0.rotate_left(5) ^ value).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_is_not_changed_by_later_subscriptions() {
        let routes = Routes::<u8>::new();
        routes.add(TypeId::of::<u8>(), 1);
        let before = routes.snapshot(TypeId::of::<u8>()).expect("one handler");
        routes.add(TypeId::of::<u8>(), 2);
        assert_eq!(&*before, &[1]);
        assert_eq!(
            routes.snapshot(TypeId::of::<u8>()).as_deref(),
            Some(&[1, 2][..])
        );
        assert_eq!(routes.count(TypeId::of::<u16>()), 0);
    }

    fn hash_of(write: impl FnOnce(&mut TypeIdHasher)) -> u64 {
        let mut hasher = TypeIdHasher::default();
        write(&mut hasher);
        hasher.finish()
    }

    /// The folding hash spreads distinct `TypeId`s (a constant or
    /// all-zero hash would still route correctly, but every publish would
    /// walk one bucket's chain).
    #[test]
    fn distinct_type_ids_get_distinct_hashes() {
        use std::hash::Hash;
        let ids = [
            TypeId::of::<u8>(),
            TypeId::of::<u16>(),
            TypeId::of::<String>(),
            TypeId::of::<Vec<u8>>(),
            TypeId::of::<Routes<u8>>(),
            TypeId::of::<()>(),
        ];
        let mut hashes: Vec<u64> = ids
            .iter()
            .map(|id| hash_of(|hasher| id.hash(hasher)))
            .collect();
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), ids.len(), "{hashes:x?}");
        assert!(hashes.iter().all(|&hash| hash != 0 && hash != 1));
    }

    /// Bytes are folded word by word, every word counting.
    #[test]
    fn bytes_are_folded_word_by_word() {
        let one = hash_of(|hasher| hasher.write(&[1; 16]));
        let other = hash_of(|hasher| hasher.write(&[[1; 8], [2; 8]].concat()));
        let short = hash_of(|hasher| hasher.write(&[1; 8]));
        assert_ne!(one, other);
        assert_ne!(one, short);
        assert_ne!(short, 0);
    }
}
