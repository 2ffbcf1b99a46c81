//! The routing table: message type -> its handlers, in subscription order.
//!
//! A bus's handlers are mostly all known when it is built, and a publish
//! reads the table far more often than anything subscribes. So the table a
//! bus is built with is frozen: a publish borrows a type's handlers from it
//! with no lock taken and no reference count touched (each would cost an
//! atomic read-modify-write per publish).
//!
//! A subscription after the build (or to a bus made with `new`) goes to a
//! second table behind a lock, which then holds every handler of every type
//! (the frozen ones copied in first, so the order stays the subscription
//! order), and from then on publishes read that one: a snapshot (an
//! `Arc<[H]>` clone under a short read lock), with the handlers run without
//! any lock held. Subscribing replaces the type's list with a new one (copy
//! on write). So a subscribe never waits for a running publish, a publish
//! never sees a half-updated list, and no lock is held across an `.await`.

use std::any::TypeId;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Deref;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

type ByType<T> = HashMap<TypeId, T, BuildHasherDefault<TypeIdHasher>>;

pub(crate) struct Routes<H> {
    /// The handlers the bus was built with; never changed afterwards.
    built: ByType<Box<[H]>>,
    /// Set (once, for good) when `late` holds the routes: every publish
    /// after reads `late`.
    subscribed_late: AtomicBool,
    /// Every route, once anything was subscribed after the build.
    late: RwLock<ByType<Arc<[H]>>>,
}

/// The handlers of one message type, as a publish found them: borrowed
/// from the frozen table, or a snapshot of the late one (which later
/// subscriptions do not change).
pub(crate) enum Handlers<'a, H> {
    Built(&'a [H]),
    Snapshot(Arc<[H]>),
}

impl<H> Deref for Handlers<'_, H> {
    type Target = [H];

    fn deref(&self) -> &[H] {
        match self {
            Handlers::Built(handlers) => handlers,
            Handlers::Snapshot(handlers) => handlers,
        }
    }
}

impl<H: Clone> Routes<H> {
    pub(crate) fn new() -> Self {
        Self {
            built: HashMap::default(),
            subscribed_late: AtomicBool::new(false),
            late: RwLock::new(HashMap::default()),
        }
    }

    /// Appends `handler` to the handlers of `message_type` while the bus is
    /// being built (no publish can run yet).
    pub(crate) fn add_built(&mut self, message_type: TypeId, handler: H) {
        if *self.subscribed_late.get_mut() {
            self.add(message_type, handler);
            return;
        }
        let handlers = self.built.entry(message_type).or_default();
        *handlers = extended(handlers, handler).into_boxed_slice();
    }

    /// Appends `handler` to the handlers of `message_type`; publishes
    /// that start after it returns run it.
    pub(crate) fn add(&self, message_type: TypeId, handler: H) {
        let mut late = self.late.write().unwrap_or_else(PoisonError::into_inner);
        if !self.subscribed_late.load(Ordering::Relaxed) {
            // The first late subscription: the frozen routes are copied
            // over first, so they keep running before the new handler.
            late.extend(
                self.built
                    .iter()
                    .map(|(message_type, handlers)| (*message_type, Arc::from(&handlers[..]))),
            );
        }
        let handlers = late
            .entry(message_type)
            .or_insert_with(|| Arc::from(Vec::new()));
        *handlers = Arc::from(extended(handlers, handler));
        // Set under the write lock, after `late` holds every route: a
        // publish that sees it set takes the read lock, which waits for
        // this writer, so it finds every route there.
        self.subscribed_late.store(true, Ordering::Release);
    }

    /// The handlers of `message_type` as they are now.
    pub(crate) fn snapshot(&self, message_type: TypeId) -> Option<Handlers<'_, H>> {
        if !self.subscribed_late.load(Ordering::Acquire) {
            return self
                .built
                .get(&message_type)
                .map(|handlers| Handlers::Built(handlers));
        }
        let late = self.late.read().unwrap_or_else(PoisonError::into_inner);
        late.get(&message_type)
            .map(|handlers| Handlers::Snapshot(Arc::clone(handlers)))
    }

    /// How many handlers `message_type` has.
    pub(crate) fn count(&self, message_type: TypeId) -> usize {
        self.snapshot(message_type)
            .map_or(0, |handlers| handlers.len())
    }
}

/// `handlers` and then `handler`.
fn extended<H: Clone>(handlers: &[H], handler: H) -> Vec<H> {
    let mut extended = Vec::with_capacity(handlers.len() + 1);
    extended.extend(handlers.iter().cloned());
    extended.push(handler);
    extended
}

/// `TypeId`s are already well-mixed hashes: fold them instead of running
/// SipHash over them on every publish.
#[derive(Default)]
pub(crate) struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    #[inline]
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

    #[inline]
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

    /// A bus's handlers, as built, are borrowed from the frozen table (no
    /// lock, no reference count) and keep their order.
    #[test]
    fn built_routes_are_borrowed_in_order() {
        let mut routes = Routes::<u8>::new();
        routes.add_built(TypeId::of::<u8>(), 1);
        routes.add_built(TypeId::of::<u8>(), 2);
        routes.add_built(TypeId::of::<u16>(), 5);
        let handlers = routes.snapshot(TypeId::of::<u8>()).expect("two handlers");
        assert!(matches!(handlers, Handlers::Built(&[1, 2])));
        assert_eq!(routes.count(TypeId::of::<u16>()), 1);
        assert_eq!(routes.count(TypeId::of::<u32>()), 0);
    }

    /// The first subscription after the build copies every frozen route to
    /// the late table, before the new handler; a second one keeps the
    /// first (the frozen routes are copied only once); what a publish
    /// already borrowed stays as it was.
    #[test]
    fn a_late_subscription_runs_after_the_built_handlers_of_every_type() {
        let mut routes = Routes::<u8>::new();
        routes.add_built(TypeId::of::<u8>(), 1);
        routes.add_built(TypeId::of::<u16>(), 5);
        let before = routes.snapshot(TypeId::of::<u8>()).expect("one handler");
        routes.add(TypeId::of::<u8>(), 2);
        assert_eq!(&*before, &[1]);
        let after = routes.snapshot(TypeId::of::<u8>()).expect("two handlers");
        assert!(matches!(&after, Handlers::Snapshot(_)));
        assert_eq!(&*after, &[1, 2]);
        routes.add(TypeId::of::<u8>(), 3);
        assert_eq!(
            routes.snapshot(TypeId::of::<u8>()).as_deref(),
            Some(&[1, 2, 3][..])
        );
        assert_eq!(
            routes.snapshot(TypeId::of::<u16>()).as_deref(),
            Some(&[5][..])
        );
        assert_eq!(routes.count(TypeId::of::<u32>()), 0);
        // A handler added as built once the late table is in use goes there.
        routes.add_built(TypeId::of::<u16>(), 6);
        assert_eq!(
            routes.snapshot(TypeId::of::<u16>()).as_deref(),
            Some(&[5, 6][..])
        );
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
