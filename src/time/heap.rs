//! The timer heap: a binary min-heap of deadlines with O(1) cancellation.
//!
//! # Design
//!
//! Each timer owns a slot in a `Slab` (its waker and a sequence number); the heap holds
//! `(deadline, seq, slot)` entries ordered by deadline, then by insertion order. Cancelling
//! removes the slot and leaves the heap entry behind as garbage, recognised later because the
//! slot is gone or now belongs to a timer with another `seq`.
//!
//! Garbage is bounded: it is popped whenever it reaches the top (so [`next_deadline`] always
//! reports the earliest **live** timer, and the reactor never wakes up for a cancelled one),
//! and the heap is rebuilt without garbage once garbage outnumbers live entries (amortised
//! O(1) per cancellation). A million sleeps created and dropped keep memory flat.
//!
//! A cancelled timer whose entry is still the heap's last one (it sorted after every other
//! entry when it was inserted and nothing was pushed since: the common "sleep created,
//! polled once, dropped" of a timeout that did not fire) is removed at once, in O(1), and
//! leaves no garbage.
//!
//! [`next_deadline`]: TimerHeap::next_deadline

use std::task::Waker;
use std::time::Instant;

use slab::Slab;

/// Garbage below this is never worth a rebuild.
const MIN_COMPACT: usize = 64;

/// Identifies one timer in a [`TimerHeap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    slot: usize,
    seq: u64,
}

/// A heap entry (`Copy`, so that sifting moves entries into a hole instead of swapping).
#[derive(Clone, Copy)]
struct Entry {
    deadline: Instant,
    seq: u64,
    slot: usize,
}

impl Entry {
    /// Earliest deadline first, and among equal deadlines the earliest inserted.
    #[inline]
    fn before(&self, other: &Entry) -> bool {
        (self.deadline, self.seq) < (other.deadline, other.seq)
    }
}

/// A binary min-heap of entries in a `Vec` (index 0 is the earliest). Our own rather than
/// `std`'s `BinaryHeap` for one operation the latter lacks: removing the last element.
struct MinHeap {
    entries: Vec<Entry>,
}

impl MinHeap {
    fn len(&self) -> usize {
        self.entries.len()
    }

    fn peek(&self) -> Option<&Entry> {
        self.entries.first()
    }

    fn last(&self) -> Option<&Entry> {
        self.entries.last()
    }

    /// Removes the last element (which keeps the heap property).
    fn pop_last(&mut self) {
        self.entries.pop();
    }

    fn push(&mut self, entry: Entry) {
        self.entries.push(entry);
        self.sift_up(0, self.entries.len() - 1);
    }

    fn pop(&mut self) -> Option<Entry> {
        let mut top = self.entries.pop()?;
        if !self.entries.is_empty() {
            std::mem::swap(&mut top, &mut self.entries[0]);
            self.sift_down_to_bottom(0);
        }
        Some(top)
    }

    fn retain(&mut self, keep: impl FnMut(&Entry) -> bool) {
        self.entries.retain(keep);
        // Heapify, bottom-up.
        for i in (0..self.entries.len() / 2).rev() {
            self.sift_down(i);
        }
    }

    /// Moves the entry at `pos` up towards `start` while it is earlier than its parent
    /// (moving parents down into the hole rather than swapping).
    fn sift_up(&mut self, start: usize, mut pos: usize) {
        let entries = &mut self.entries;
        let entry = entries[pos];
        while pos > start {
            let parent = (pos - 1) / 2;
            if !entry.before(&entries[parent]) {
                break;
            }
            entries[pos] = entries[parent];
            pos = parent;
        }
        entries[pos] = entry;
    }

    /// Moves the entry at `pos` down to where it belongs.
    fn sift_down(&mut self, mut pos: usize) {
        let entries = &mut self.entries;
        let len = entries.len();
        let entry = entries[pos];
        loop {
            let mut child = 2 * pos + 1;
            if child >= len {
                break;
            }
            if child + 1 < len && entries[child + 1].before(&entries[child]) {
                child += 1;
            }
            if !entries[child].before(&entry) {
                break;
            }
            entries[pos] = entries[child];
            pos = child;
        }
        entries[pos] = entry;
    }

    /// After a pop: the entry at `pos` (the former last one) is usually among the latest, so
    /// move the hole all the way down choosing the earlier child (one compare per level), then
    /// sift the entry up from there (as `std`'s `BinaryHeap::pop` does).
    fn sift_down_to_bottom(&mut self, mut pos: usize) {
        let start = pos;
        let entries = &mut self.entries;
        let end = entries.len();
        let entry = entries[pos];
        let mut child = 2 * pos + 1;
        while child + 1 < end {
            child += usize::from(entries[child + 1].before(&entries[child]));
            entries[pos] = entries[child];
            pos = child;
            child = 2 * pos + 1;
        }
        if child + 1 == end {
            entries[pos] = entries[child];
            pos = child;
        }
        entries[pos] = entry;
        self.sift_up(start, pos);
    }
}

struct Slot {
    seq: u64,
    deadline: Instant,
    waker: Option<Waker>,
}

/// Pending timers of one thread.
pub(crate) struct TimerHeap {
    heap: MinHeap,
    slots: Slab<Slot>,
    next_seq: u64,
    /// Timers that fired (for stats; `next_seq` counts the ones armed).
    fired: u64,
}

impl TimerHeap {
    pub(crate) fn new() -> Self {
        TimerHeap {
            heap: MinHeap {
                entries: Vec::new(),
            },
            slots: Slab::new(),
            next_seq: 0,
            fired: 0,
        }
    }

    /// Adds a timer.
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Option<Waker>) -> TimerKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = self.slots.insert(Slot {
            seq,
            deadline,
            waker,
        });
        self.heap.push(Entry {
            deadline,
            seq,
            slot,
        });
        TimerKey { slot, seq }
    }

    fn get_mut(&mut self, key: TimerKey) -> Option<&mut Slot> {
        self.slots.get_mut(key.slot).filter(|s| s.seq == key.seq)
    }

    /// Whether the timer is still pending (neither fired nor removed).
    pub(crate) fn is_live(&self, key: TimerKey) -> bool {
        self.slots.get(key.slot).is_some_and(|s| s.seq == key.seq)
    }

    /// Stores `waker` unless the stored one already wakes the same task.
    pub(crate) fn set_waker(&mut self, key: TimerKey, waker: &Waker) {
        if let Some(slot) = self.get_mut(key) {
            match &slot.waker {
                Some(w) if w.will_wake(waker) => {}
                _ => slot.waker = Some(waker.clone()),
            }
        }
    }

    /// Cancels a pending timer in O(1) (amortised). Returns its waker if it was pending.
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<Option<Waker>> {
        if !self.is_live(key) {
            return None;
        }
        let slot = self.slots.remove(key.slot);
        if self.heap.last().is_some_and(|e| e.seq == key.seq) {
            // Its entry is the last one: remove it now rather than leave garbage.
            self.heap.pop_last();
        } else {
            self.maybe_compact();
        }
        Some(slot.waker)
    }

    /// Moves a pending timer to a new deadline, keeping its waker. Returns the new key, or
    /// `None` if the timer was not pending.
    pub(crate) fn reset(&mut self, key: TimerKey, deadline: Instant) -> Option<TimerKey> {
        let waker = self.remove(key)?;
        Some(self.insert(deadline, waker))
    }

    /// Pops every live timer whose deadline is `<= now`, in deadline order (ties in insertion
    /// order), and hands its key and waker to `fired`.
    pub(crate) fn fire_due(
        &mut self,
        now: Instant,
        mut fired: impl FnMut(TimerKey, Option<Waker>),
    ) -> usize {
        let mut count = 0;
        while let Some(top) = self.heap.peek() {
            if !live(&self.slots, top) {
                self.heap.pop();
                continue;
            }
            if top.deadline > now {
                break;
            }
            let key = TimerKey {
                slot: top.slot,
                seq: top.seq,
            };
            self.heap.pop();
            let slot = self.slots.remove(key.slot);
            fired(key, slot.waker);
            count += 1;
        }
        self.fired += count as u64;
        count
    }

    /// The earliest live deadline (garbage at the top is popped on the way).
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(top) = self.heap.peek() {
            if live(&self.slots, top) {
                return Some(top.deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// The deadline of a pending timer.
    #[allow(dead_code)]
    pub(crate) fn deadline(&self, key: TimerKey) -> Option<Instant> {
        self.slots
            .get(key.slot)
            .filter(|s| s.seq == key.seq)
            .map(|s| s.deadline)
    }

    /// The number of pending timers.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Timers ever inserted (resets included).
    pub(crate) fn armed(&self) -> u64 {
        self.next_seq
    }

    /// Timers that fired.
    pub(crate) fn fired(&self) -> u64 {
        self.fired
    }

    /// Heap entries that belong to no pending timer.
    pub(crate) fn garbage(&self) -> usize {
        self.heap.len() - self.slots.len()
    }

    fn maybe_compact(&mut self) {
        let garbage = self.garbage();
        if garbage > MIN_COMPACT && garbage > self.slots.len() {
            let slots = &self.slots;
            self.heap.retain(|e| live(slots, e));
        }
    }
}

/// Whether a heap entry still belongs to a pending timer.
fn live(slots: &Slab<Slot>, entry: &Entry) -> bool {
    slots.get(entry.slot).is_some_and(|s| s.seq == entry.seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fires_in_deadline_order_with_ties_in_insertion_order() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new();
        let a = heap.insert(t0 + Duration::from_millis(2), None);
        let b = heap.insert(t0 + Duration::from_millis(1), None);
        let c = heap.insert(t0 + Duration::from_millis(2), None);
        let mut order = Vec::new();
        heap.fire_due(t0 + Duration::from_millis(5), |k, _| order.push(k));
        assert_eq!(order, [b, a, c]);
        assert_eq!(heap.len(), 0);
        assert_eq!(heap.garbage(), 0);
    }

    #[test]
    fn cancelled_earliest_timer_does_not_set_the_next_deadline() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new();
        let early = heap.insert(t0 + Duration::from_millis(1), None);
        heap.insert(t0 + Duration::from_secs(9), None);
        assert!(heap.remove(early).is_some());
        assert_eq!(heap.next_deadline(), Some(t0 + Duration::from_secs(9)));
        assert_eq!(heap.garbage(), 0);
    }

    #[test]
    fn million_inserts_and_cancels_keep_garbage_bounded() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new();
        let keep = heap.insert(t0 + Duration::from_secs(1), None);
        // A tenth under valgrind (.ci/valgrind-tests), where this loop would take minutes.
        let n = if std::env::var_os("SOLO_UNDER_VALGRIND").is_some() {
            100_000
        } else {
            1_000_000u64
        };
        for i in 0..n {
            let k = heap.insert(t0 + Duration::from_secs(2 + i % 1000), None);
            heap.remove(k);
            assert!(heap.garbage() <= MIN_COMPACT + 1);
        }
        assert!(heap.is_live(keep));
        assert_eq!(heap.len(), 1);
    }

    #[test]
    fn a_reused_slot_does_not_confuse_an_old_key() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new();
        let old = heap.insert(t0, None);
        heap.remove(old);
        let new = heap.insert(t0 + Duration::from_secs(1), None);
        assert!(!heap.is_live(old));
        assert!(heap.remove(old).is_none());
        assert!(heap.is_live(new));
        let mut fired = 0;
        heap.fire_due(t0, |_, _| fired += 1);
        assert_eq!(fired, 0, "the stale entry of `old` must not fire `new`");
    }
}

#[cfg(test)]
mod proptests {
    //! The heap against a model: a `BTreeMap` keyed by `(deadline, sequence)`, which is the
    //! firing order solo promises (deadline order, ties in insertion order; a reset counts as
    //! a new insertion). Random inserts, cancels (of live and of dead keys), resets and clock
    //! advances; after every step the live set, `next_deadline` and the garbage bound are
    //! compared, and once everything has fired the garbage is back to 0.

    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;
    use std::time::Duration;

    #[derive(Clone, Debug)]
    enum Op {
        /// A timer `ms` after the current time (0: already due).
        Insert(u8),
        /// Cancel the n-th live timer (modulo their number).
        Cancel(usize),
        /// Cancel a key that already fired or was cancelled: must be a no-op.
        CancelDead(usize),
        /// Move the n-th live timer to `ms` after the current time.
        Reset(usize, u8),
        /// Advance the clock by `ms` and fire what is due.
        Advance(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            5 => (0u8..100).prop_map(Op::Insert),
            2 => any::<usize>().prop_map(Op::Cancel),
            1 => any::<usize>().prop_map(Op::CancelDead),
            1 => (any::<usize>(), 0u8..100).prop_map(|(i, ms)| Op::Reset(i, ms)),
            2 => (0u8..40).prop_map(Op::Advance),
        ]
    }

    struct Harness {
        heap: TimerHeap,
        /// (deadline, seq) -> timer id, for live timers only.
        model: BTreeMap<(Instant, u64), usize>,
        /// id -> (heap key, model key), for live timers only.
        live: BTreeMap<usize, (TimerKey, (Instant, u64))>,
        dead: Vec<TimerKey>,
        next_id: usize,
        seq: u64,
        now: Instant,
    }

    impl Harness {
        fn insert(&mut self, deadline: Instant) -> Result<(), TestCaseError> {
            let key = self.heap.insert(deadline, None);
            let id = self.next_id;
            self.next_id += 1;
            let mkey = (deadline, self.seq);
            self.seq += 1;
            self.model.insert(mkey, id);
            self.live.insert(id, (key, mkey));
            Ok(())
        }

        fn nth_live(&self, n: usize) -> Option<usize> {
            if self.live.is_empty() {
                return None;
            }
            self.live.keys().nth(n % self.live.len()).copied()
        }

        fn fire(&mut self) -> Result<(), TestCaseError> {
            let mut fired = Vec::new();
            let count = self.heap.fire_due(self.now, |k, _| fired.push(k));
            prop_assert_eq!(count, fired.len());
            let mut expected = Vec::new();
            while let Some((&(deadline, seq), &id)) = self.model.first_key_value() {
                if deadline > self.now {
                    break;
                }
                self.model.remove(&(deadline, seq));
                let (key, _) = self.live.remove(&id).unwrap();
                expected.push(key);
                self.dead.push(key);
            }
            prop_assert_eq!(fired, expected, "fired set or order differs from the model");
            Ok(())
        }

        fn check(&mut self) -> Result<(), TestCaseError> {
            prop_assert_eq!(self.heap.len(), self.model.len());
            let expected_next = self.model.first_key_value().map(|(k, _)| k.0);
            prop_assert_eq!(self.heap.next_deadline(), expected_next);
            for (key, _) in self.live.values() {
                prop_assert!(self.heap.is_live(*key));
            }
            for key in &self.dead {
                prop_assert!(!self.heap.is_live(*key));
            }
            Ok(())
        }
    }

    /// 256 cases (about a second), 16 under valgrind.
    fn cases() -> u32 {
        if std::env::var_os("SOLO_UNDER_VALGRIND").is_some() {
            16
        } else {
            256
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases()))]

        #[test]
        fn heap_matches_btreemap_model(ops in proptest::collection::vec(op(), 0..300)) {
            let t0 = Instant::now();
            let mut h = Harness {
                heap: TimerHeap::new(),
                model: BTreeMap::new(),
                live: BTreeMap::new(),
                dead: Vec::new(),
                next_id: 0,
                seq: 0,
                now: t0,
            };
            for op in ops {
                match op {
                    Op::Insert(ms) => h.insert(h.now + Duration::from_millis(ms.into()))?,
                    Op::Cancel(n) => {
                        if let Some(id) = h.nth_live(n) {
                            let (key, mkey) = h.live.remove(&id).unwrap();
                            h.model.remove(&mkey);
                            prop_assert!(h.heap.remove(key).is_some());
                            h.dead.push(key);
                            // Cancellation keeps the garbage bounded (amortised compaction).
                            prop_assert!(h.heap.garbage() <= MIN_COMPACT.max(h.heap.len()));
                        }
                    }
                    Op::CancelDead(n) => {
                        if !h.dead.is_empty() {
                            let key = h.dead[n % h.dead.len()];
                            prop_assert!(h.heap.remove(key).is_none());
                            prop_assert!(h.heap.reset(key, h.now).is_none());
                        }
                    }
                    Op::Reset(n, ms) => {
                        if let Some(id) = h.nth_live(n) {
                            let (key, mkey) = h.live.remove(&id).unwrap();
                            h.model.remove(&mkey);
                            let deadline = h.now + Duration::from_millis(ms.into());
                            let new_key = h.heap.reset(key, deadline);
                            prop_assert!(new_key.is_some());
                            let new_key = new_key.unwrap();
                            prop_assert_eq!(h.heap.deadline(new_key), Some(deadline));
                            h.dead.push(key);
                            let mkey = (deadline, h.seq);
                            h.seq += 1;
                            h.model.insert(mkey, id);
                            h.live.insert(id, (new_key, mkey));
                            prop_assert!(h.heap.garbage() <= MIN_COMPACT.max(h.heap.len()));
                        }
                    }
                    Op::Advance(ms) => {
                        h.now += Duration::from_millis(ms.into());
                        h.fire()?;
                    }
                }
                h.check()?;
            }
            // Fire everything: nothing live, and no garbage left behind.
            h.now += Duration::from_secs(1);
            h.fire()?;
            h.check()?;
            prop_assert_eq!(h.heap.len(), 0);
            prop_assert_eq!(h.heap.garbage(), 0);
        }
    }
}
