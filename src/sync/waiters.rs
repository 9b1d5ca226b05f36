//! A FIFO of parked futures, shared by every primitive in `solo::sync`.
//!
//! # Invariants
//!
//! - The queue lives inside the primitive's `RefCell` state; it is only touched while that
//!   state is borrowed, and never while a waker runs.
//! - A waiter is a slab entry that is *linked* into an intrusive doubly-linked list (slab
//!   indices, not pointers), so removing any waiter is O(1).
//! - **Only the future that pushed an entry removes it** (when it completes or is dropped).
//!   The primitive's other paths (`unlock`, `notify`, `close`, ...) only *unlink* entries and
//!   record the outcome in the entry's data. So a [`Key`] can never be reused under its
//!   owner's feet, and the owner always learns what was handed to it: it can complete with
//!   the hand-off, or pass it on if it is dropped first.
//! - "Linked" means "still waiting"; "unlinked" means "the primitive has decided this
//!   waiter's fate" (granted, notified or closed; the entry's data says which).
//!
//! [`WakeList`] collects the wakers of a batch so the caller can release its borrow before
//! waking anyone: a waker may re-enter the primitive.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::task::Waker;

use slab::Slab;

pub(crate) use crate::executor::Wakeup;

/// Marks "no neighbour" in the intrusive list.
const NIL: usize = usize::MAX;

/// Identifies one waiter; owned by the future that pushed it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key(usize);

/// One parked future.
#[derive(Debug)]
struct Node<D> {
    /// Previous linked node, or `NIL`. Meaningless once unlinked.
    prev: usize,
    /// Next linked node, or `NIL`. Meaningless once unlinked.
    next: usize,
    /// Set on push; cleared exactly once, by `pop_front`, `drain` or `remove`.
    linked: bool,
    /// Taken when the node is unlinked (the taker wakes it).
    waker: Option<Waker>,
    /// Primitive-specific request and outcome.
    data: D,
}

/// FIFO of waiters with O(1) removal from anywhere.
#[derive(Debug)]
pub(crate) struct Waiters<D> {
    nodes: Slab<Node<D>>,
    head: usize,
    tail: usize,
    /// Number of linked nodes (the slab also holds unlinked nodes not yet reclaimed).
    linked: usize,
}

impl<D> Default for Waiters<D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D> Waiters<D> {
    /// An empty queue; allocates nothing.
    pub(crate) const fn new() -> Self {
        Self {
            nodes: Slab::new(),
            head: NIL,
            tail: NIL,
            linked: 0,
        }
    }

    /// True when no waiter is linked (waiting).
    pub(crate) fn is_empty(&self) -> bool {
        self.linked == 0
    }

    /// Number of linked (waiting) entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.linked
    }

    /// Number of slab entries, linked or not; lets tests prove that nothing leaks.
    #[cfg(test)]
    pub(crate) fn entries(&self) -> usize {
        self.nodes.len()
    }

    /// Appends a waiter and returns its key; the caller now owns the entry.
    pub(crate) fn push_back(&mut self, data: D, waker: &Waker) -> Key {
        let key = self.nodes.insert(Node {
            prev: self.tail,
            next: NIL,
            linked: true,
            waker: Some(waker.clone()),
            data,
        });
        if self.tail == NIL {
            self.head = key;
        } else {
            self.nodes[self.tail].next = key;
        }
        self.tail = key;
        self.linked += 1;
        Key(key)
    }

    /// True while the waiter is still queued (nobody has decided its fate).
    pub(crate) fn is_linked(&self, key: Key) -> bool {
        self.nodes[key.0].linked
    }

    /// Stores `waker` for a linked waiter, cloning only if it would wake a different task.
    #[inline]
    pub(crate) fn register(&mut self, key: Key, waker: &Waker) {
        let slot = &mut self.nodes[key.0].waker;
        match slot {
            Some(old) if old.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    /// The data of an entry, linked or not.
    #[cfg(test)]
    pub(crate) fn get(&self, key: Key) -> &D {
        &self.nodes[key.0].data
    }

    /// The data of the first linked waiter.
    pub(crate) fn front(&self) -> Option<&D> {
        (self.head != NIL).then(|| &self.nodes[self.head].data)
    }

    /// Unlinks the first waiter, queues its waker on `wakers` and returns its data so the
    /// caller can record the outcome. The entry stays in the slab for its owner to remove.
    pub(crate) fn pop_front(&mut self, wakers: &mut WakeList) -> Option<&mut D> {
        if self.head == NIL {
            return None;
        }
        let key = self.head;
        self.unlink(key);
        let node = &mut self.nodes[key];
        wakers.push(node.waker.take());
        Some(&mut node.data)
    }

    /// Unlinks every waiter, lets `mark` record the outcome, and queues their wakers.
    pub(crate) fn drain(&mut self, wakers: &mut WakeList, mut mark: impl FnMut(&mut D)) {
        while let Some(data) = self.pop_front(wakers) {
            mark(data);
        }
    }

    /// Removes the caller's own entry, linked or not, and returns whether it was still
    /// linked together with its data.
    pub(crate) fn remove(&mut self, key: Key) -> (bool, D) {
        let was_linked = self.nodes[key.0].linked;
        if was_linked {
            self.unlink(key.0);
        }
        (was_linked, self.nodes.remove(key.0).data)
    }

    fn unlink(&mut self, key: usize) {
        let (prev, next) = {
            let node = &mut self.nodes[key];
            debug_assert!(node.linked, "unlinking a waiter twice");
            node.linked = false;
            (node.prev, node.next)
        };
        if prev == NIL {
            self.head = next;
        } else {
            self.nodes[prev].next = next;
        }
        if next == NIL {
            self.tail = prev;
        } else {
            self.nodes[next].prev = prev;
        }
        self.linked -= 1;
    }
}

/// Wakers collected under a borrow, to be woken after it is released.
///
/// Holds the first waker inline, so the common single hand-off never allocates.
#[derive(Debug, Default)]
#[must_use = "collected wakers must be woken with `wake_all`"]
pub(crate) struct WakeList {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakeList {
    /// An empty list; allocates nothing.
    pub(crate) const fn new() -> Self {
        Self {
            first: None,
            rest: Vec::new(),
        }
    }

    /// Adds a waker, if there is one.
    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        let Some(waker) = waker else { return };
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    /// Wakes everyone. Call only after releasing every borrow of the primitive's state.
    ///
    /// Don't let one panicking waker strand the rest of the batch: every waker is woken,
    /// then the first panic is resumed.
    #[inline]
    pub(crate) fn wake_all(self) {
        if self.rest.is_empty() {
            // One waker (or none): nothing to protect, so no unwinding machinery.
            if let Some(waker) = self.first {
                waker.wake();
            }
            return;
        }
        self.wake_batch();
    }

    /// `wake_all` for two wakers or more, out of line so the common case stays small.
    #[inline(never)]
    fn wake_batch(self) {
        let mut panic = None;
        for waker in self.first.into_iter().chain(self.rest) {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| waker.wake())) {
                panic.get_or_insert(payload);
            }
        }
        if let Some(payload) = panic {
            resume_unwind(payload);
        }
    }
}

/// Replaces a stored wakeup with one for `waker` unless it already wakes the same task.
#[inline]
pub(crate) fn register(slot: &mut Option<Wakeup>, waker: &Waker) {
    match slot {
        Some(old) if old.will_wake(waker) => {}
        _ => *slot = Some(Wakeup::new(waker)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Counter(AtomicUsize);
    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Counter>, Waker) {
        let c = Arc::new(Counter(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn pop_order_is_fifo_and_removal_from_middle_keeps_links() {
        let (_, w) = counter();
        let mut q = Waiters::new();
        let a = q.push_back(1, &w);
        let b = q.push_back(2, &w);
        let c = q.push_back(3, &w);
        assert_eq!(q.remove(b), (true, 2));
        let mut wakers = WakeList::new();
        assert_eq!(q.pop_front(&mut wakers).copied(), Some(1));
        assert!(!q.is_linked(a));
        assert!(q.is_linked(c));
        assert_eq!(q.front(), Some(&3));
        assert_eq!(q.pop_front(&mut wakers).copied(), Some(3));
        assert!(q.pop_front(&mut wakers).is_none());
        assert!(q.is_empty());
        // Popped entries stay until their owners remove them.
        assert_eq!(q.entries(), 2);
        assert_eq!(q.remove(a), (false, 1));
        assert_eq!(q.remove(c), (false, 3));
        assert_eq!(q.entries(), 0);
        wakers.wake_all();
    }

    #[test]
    fn remove_head_and_tail_then_push_again() {
        let (_, w) = counter();
        let mut q = Waiters::new();
        let a = q.push_back('a', &w);
        let b = q.push_back('b', &w);
        q.remove(a);
        q.remove(b);
        assert!(q.is_empty());
        assert_eq!(q.front(), None);
        let c = q.push_back('c', &w);
        assert_eq!(q.front(), Some(&'c'));
        assert_eq!(q.len(), 1);
        q.remove(c);
    }

    #[test]
    fn drain_marks_and_wakes_everyone_once() {
        let (count, w) = counter();
        let mut q = Waiters::new();
        let keys: Vec<_> = (0..5).map(|_| q.push_back(false, &w)).collect();
        let mut wakers = WakeList::new();
        q.drain(&mut wakers, |d| *d = true);
        wakers.wake_all();
        assert_eq!(count.0.load(Ordering::SeqCst), 5);
        for k in keys {
            assert!(!q.is_linked(k));
            assert!(*q.get(k));
            q.remove(k);
        }
    }

    #[test]
    fn register_skips_clone_for_same_task() {
        let (_, w) = counter();
        let mut q = Waiters::new();
        let k = q.push_back((), &w);
        q.register(k, &w);
        // One clone in the queue plus ours.
        let (other_count, other) = counter();
        q.register(k, &other);
        let mut wakers = WakeList::new();
        q.pop_front(&mut wakers);
        wakers.wake_all();
        assert_eq!(other_count.0.load(Ordering::SeqCst), 1);
        q.remove(k);
    }

    #[test]
    fn panicking_waker_does_not_strand_the_batch() {
        struct Bomb;
        impl Wake for Bomb {
            fn wake(self: Arc<Self>) {
                panic!("waker exploded");
            }
        }
        let (count, w) = counter();
        let mut list = WakeList::new();
        list.push(Some(Waker::from(Arc::new(Bomb))));
        list.push(Some(w.clone()));
        list.push(Some(w));
        let result = catch_unwind(AssertUnwindSafe(|| list.wake_all()));
        assert!(result.is_err());
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
    }
}
