//! The timer heap: a binary min-heap of compact deadline entries behind a small staging
//! buffer, with O(1) cancellation by lazy deletion.
//!
//! # Data structure
//!
//! - **Slots** (`Vec<Slot>` with an intrusive free list): one per timer, holding its waker and
//!   its sequence number. A [`TimerKey`] is `(slot index, seq)`; it matches only while the
//!   slot's `seq` equals it, so a key of a timer that fired or was cancelled never matches a
//!   later timer that reuses the slot (seqs are unique: a `u64` counter).
//! - **Heap** (`Vec<Entry>`): a binary min-heap (children of `i` at `2i+1` and `2i+2`) of 16-byte
//!   entries `(at, tie, slot)`, ordered by `(at, tie)`. `at` is the deadline in nanoseconds
//!   after the heap's `base` instant (a `u64`); `tie` numbers the entries in their order of
//!   entry into the heap, so equal deadlines fire in insertion order (staging keeps that
//!   order, and a reset is a new insertion). A comparison is one 128-bit compare, and four
//!   entries fill a 64-byte cache line. (A 4-ary heap of the same entries measured the same
//!   instructions per timer on `examples/op_cost.rs sleep_many`, so the heap stays binary.)
//! - `tie` is a `u32`. Before it would wrap (every 4 billion insertions) the heap drops its
//!   garbage, sorts itself (a sorted array is a heap) and renumbers the ties `0..len` in that
//!   order: relative order is kept, and the cost is O(n log n) per 4 billion insertions.
//! - **Staging buffer** (`Vec<Staged>`, at most `STAGE_CAP` entries): an insertion only takes
//!   a slot and appends `(deadline, slot)` here. The buffer is flushed into the heap (each
//!   deadline converted to `at` and sifted in) before anything reads the heap's order
//!   ([`fire_due`], [`next_deadline`], a compaction) and when it is full. The common "create a
//!   timeout, poll it once, drop it" before the reactor's next turn therefore costs a slot and
//!   an append, and its cancellation pops the append: the heap is never touched.
//! - **Quiet bound** (`quiet_until`): an instant before which `fire_due` has nothing to do
//!   while nothing is staged (a lower bound on the earliest live deadline in the heap, and on
//!   when `base` must move). The reactor calls `fire_due` around every wait; with only far
//!   deadlines pending, each call is two comparisons.
//!
//! # Invariants
//!
//! 1. Every slot that is not on the free list has **exactly one** entry, in the heap or in the
//!    staging buffer. A slot returns to the free list only when that entry goes (fired, popped
//!    or flushed as garbage, compacted away, or removed as the last entry of the buffer or the
//!    heap), so an entry's slot index alone says whose it is.
//! 2. A slot is *live* (`seq != DEAD`) from insertion until it fires or is cancelled. A
//!    cancelled slot keeps its entry (now *garbage*) until the entry reaches the top, is the
//!    last one, is flushed, or a compaction drops it.
//! 3. Garbage is bounded: popped whenever it reaches the top (so [`next_deadline`] is always
//!    the earliest **live** deadline and the reactor never wakes up for a cancelled timer),
//!    removed at once when its entry is the last one of the buffer or of the heap (the common
//!    "create, poll once, drop" of a timeout that did not fire leaves nothing behind), freed
//!    by the next flush when it is staged (at most `STAGE_CAP` entries), and the heap is
//!    rebuilt without it once it outnumbers the live entries (amortised O(1) per
//!    cancellation). A million sleeps created and dropped keep memory flat.
//! 4. Never early: an entry fires only if `at <= now - base`. `at` is exact for deadlines
//!    within 584 years of `base`; a deadline before `base` gets `at = 0` (due at any `now >=
//!    base`, which is later than it), one beyond gets `at = NEVER_AT`, which never fires. The
//!    owner's clock never reads earlier than `base` (it is the clock's reading when the heap
//!    was made, and each thread's solo clock is monotonic); should it, nothing fires. If the
//!    (test) clock is advanced more than `REBASE_AT` past `base`, `base` moves forward and the
//!    entries with it, so that far jumps keep full precision.
//!
//! [`next_deadline`]: TimerHeap::next_deadline
//! [`fire_due`]: TimerHeap::fire_due

use std::task::Waker;

use crate::executor::Wakeup;
use std::time::{Duration, Instant};

/// Garbage below this is never worth a rebuild.
const MIN_COMPACT: usize = 64;

/// Timers staged before a flush into the heap.
const STAGE_CAP: usize = 64;

/// Ties are renumbered from 0 when the next would reach this (every 4 billion insertions).
const TIE_LIMIT: u32 = u32::MAX;

/// The `seq` of a slot that holds no live timer (a timer's `seq` never reaches it).
const DEAD: u64 = u64::MAX;

/// The `at` of a deadline too far ahead to count in nanoseconds: never fires.
const NEVER_AT: u64 = u64::MAX;

/// The end of the free list.
const NO_SLOT: u32 = u32::MAX;

/// When `now - base` passes this (292 years: only a test clock gets there), `base` moves
/// forward by `REBASE_BY`.
const REBASE_AT: u64 = 1 << 63;
const REBASE_BY: u64 = 1 << 62;

/// Identifies one timer in a [`TimerHeap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TimerKey {
    slot: u32,
    seq: u64,
}

/// A heap entry (`Copy`, so that sifting moves entries into a hole instead of swapping).
#[derive(Clone, Copy)]
struct Entry {
    /// Deadline, in nanoseconds after `TimerHeap::base`.
    at: u64,
    /// `tie << 32 | slot`. `tie` is the order of entry into the heap, which breaks ties
    /// between equal deadlines: distinct and increasing, below `TIE_LIMIT` (renumbered when it
    /// would reach it). Being distinct, it decides before `slot` can.
    tie_slot: u64,
}

impl Entry {
    #[inline(always)]
    fn new(at: u64, tie: u32, slot: u32) -> Entry {
        Entry {
            at,
            tie_slot: u64::from(tie) << 32 | u64::from(slot),
        }
    }

    #[inline(always)]
    fn slot(&self) -> u32 {
        self.tie_slot as u32
    }

    /// Earliest deadline first, and among equal deadlines the earliest inserted.
    #[inline(always)]
    fn before(&self, other: &Entry) -> bool {
        // One 128-bit comparison (cmp + sbb) instead of two branches.
        (u128::from(self.at) << 64 | u128::from(self.tie_slot))
            < (u128::from(other.at) << 64 | u128::from(other.tie_slot))
    }
}

/// A binary min-heap of entries in a `Vec` (index 0 is the earliest). Our own rather than
/// `std`'s `BinaryHeap` for the one operation the latter lacks, removing
/// the last element.
struct MinHeap {
    entries: Vec<Entry>,
}

impl MinHeap {
    #[inline]
    fn len(&self) -> usize {
        self.entries.len()
    }

    #[inline]
    fn peek(&self) -> Option<&Entry> {
        self.entries.first()
    }

    #[inline]
    fn push(&mut self, entry: Entry) {
        let pos = self.entries.len();
        self.entries.push(entry);
        if pos > 0 {
            self.sift_up(0, pos);
        }
    }

    /// Removes the earliest entry.
    fn pop(&mut self) -> Option<Entry> {
        let mut top = self.entries.pop()?;
        if !self.entries.is_empty() {
            std::mem::swap(&mut top, &mut self.entries[0]);
            self.sift_down_to_bottom(0);
        }
        Some(top)
    }

    /// Keeps the entries `keep` accepts, then restores the heap order (bottom-up, O(n)).
    fn retain(&mut self, keep: impl FnMut(&Entry) -> bool) {
        self.entries.retain(keep);
        let len = self.entries.len();
        if len > 1 {
            for i in (0..=(len - 2) / 2).rev() {
                self.sift_down(i);
            }
        }
    }

    /// Moves the entry at `pos` up towards `start` while it is earlier than its parent
    /// (moving parents down into the hole rather than swapping).
    #[inline]
    fn sift_up(&mut self, start: usize, mut pos: usize) {
        let entries = &mut self.entries[..];
        let entry = entries[pos];
        while pos > start {
            let parent = (pos - 1) / 2;
            let p = entries[parent];
            if !entry.before(&p) {
                break;
            }
            entries[pos] = p;
            pos = parent;
        }
        entries[pos] = entry;
    }

    /// The earlier of the two children at `first` and `first + 1` (branch-free).
    #[inline(always)]
    fn earlier_child(entries: &[Entry], first: usize) -> usize {
        first + usize::from(entries[first + 1].before(&entries[first]))
    }

    /// Moves the entry at `pos` down to where it belongs (for `retain`'s heapify).
    fn sift_down(&mut self, mut pos: usize) {
        let entries = &mut self.entries[..];
        let len = entries.len();
        let entry = entries[pos];
        loop {
            let first = 2 * pos + 1;
            if first >= len {
                break;
            }
            let child = if first + 1 < len {
                Self::earlier_child(entries, first)
            } else {
                first
            };
            if !entries[child].before(&entry) {
                break;
            }
            entries[pos] = entries[child];
            pos = child;
        }
        entries[pos] = entry;
    }

    /// After a pop: the entry at `pos` (the former last one) is usually among the latest, so
    /// move the hole all the way down along the earliest children (no compare with the entry),
    /// then sift the entry up from there (as `std`'s `BinaryHeap::pop` does).
    fn sift_down_to_bottom(&mut self, mut pos: usize) {
        let start = pos;
        let entries = &mut self.entries[..];
        let end = entries.len();
        let entry = entries[pos];
        loop {
            let first = 2 * pos + 1;
            if first + 1 < end {
                let child = Self::earlier_child(entries, first);
                entries[pos] = entries[child];
                pos = child;
            } else {
                // At most one child left (the last entry): move into it and stop.
                if first < end {
                    entries[pos] = entries[first];
                    pos = first;
                }
                break;
            }
        }
        entries[pos] = entry;
        self.sift_up(start, pos);
    }
}

/// A timer inserted since the heap was last flushed: its entry is not in the heap yet.
#[derive(Clone, Copy)]
struct Staged {
    deadline: Instant,
    slot: u32,
}

struct Slot {
    /// The live timer's seq, or `DEAD` (cancelled with its entry still in the heap, or free).
    seq: u64,
    waker: Option<Wakeup>,
    /// The next free slot, while this one is on the free list.
    next_free: u32,
}

/// Pending timers of one thread.
pub(crate) struct TimerHeap {
    /// The instant `Entry::at` counts from (never later than the owner's clock).
    base: Instant,
    heap: MinHeap,
    /// New timers not yet in `heap` (at most `STAGE_CAP`), moved there before anything looks
    /// at the heap's order: a timer cancelled before that never touches the heap.
    staged: Vec<Staged>,
    slots: Vec<Slot>,
    /// Head of the free list of `slots` (`NO_SLOT`: empty).
    free: u32,
    /// Live timers.
    live: usize,
    next_seq: u64,
    /// The `tie` of the next entry into the heap.
    next_tie: u32,
    /// Timers that fired (for stats; `next_seq` counts the ones armed).
    fired: u64,
    /// While nothing is staged, `fire_due` has nothing to do before this instant: no live
    /// timer in the heap is due earlier, and `base` needs no move (see invariant 4). A lower
    /// bound: a cancellation leaves it, a flush into the heap clears it, and a full `fire_due`
    /// recomputes it; `None`: always look. Nothing is done per insertion, so the common
    /// "create a timeout, poll it, drop it" costs what it did. The reactor calls `fire_due`
    /// before and after every wait, and with timers pending far ahead (a server's idle
    /// timeouts) each call is then two comparisons instead of a flush check, a subtraction
    /// and a look at the heap.
    quiet_until: Option<Instant>,
}

impl TimerHeap {
    /// An empty heap counting deadlines from `base`, which must not be later than any time
    /// `fire_due` will be called with (the owner's clock reading now).
    pub(crate) fn new(base: Instant) -> Self {
        TimerHeap {
            base,
            heap: MinHeap {
                entries: Vec::new(),
            },
            staged: Vec::new(),
            slots: Vec::new(),
            free: NO_SLOT,
            live: 0,
            next_seq: 0,
            next_tie: 0,
            fired: 0,
            quiet_until: rebase_at(base),
        }
    }

    /// `deadline` as an entry's `at` (see invariant 4 in the module docs).
    #[inline]
    fn at(&self, deadline: Instant) -> u64 {
        match deadline.checked_duration_since(self.base) {
            Some(d) => nanos(d).unwrap_or(NEVER_AT),
            None => 0,
        }
    }

    /// Adds a timer.
    #[inline]
    pub(crate) fn insert(&mut self, deadline: Instant, waker: Option<Wakeup>) -> TimerKey {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = match self.slots.get_mut(self.free as usize) {
            Some(s) => {
                let slot = self.free;
                self.free = s.next_free;
                s.seq = seq;
                s.waker = waker;
                slot
            }
            None => self.grow(seq, waker),
        };
        self.live += 1;
        if self.staged.len() >= STAGE_CAP {
            self.flush();
        }
        self.staged.push(Staged { deadline, slot });
        TimerKey { slot, seq }
    }

    #[cold]
    fn grow(&mut self, seq: u64, waker: Option<Wakeup>) -> u32 {
        let slot = self.slots.len();
        assert!(
            self.slots.len() < NO_SLOT as usize,
            "solo: more than 4 billion timers"
        );
        self.slots.push(Slot {
            seq,
            waker,
            next_free: NO_SLOT,
        });
        slot as u32
    }

    /// Moves the staged timers into the heap (and frees the slots of cancelled ones).
    #[inline]
    fn flush(&mut self) {
        if !self.staged.is_empty() {
            self.flush_staged();
        }
    }

    fn flush_staged(&mut self) {
        // New entries may be due before the quiet bound: the next `fire_due` looks, and
        // recomputes it.
        self.quiet_until = None;
        let mut staged = std::mem::take(&mut self.staged);
        for &Staged { deadline, slot } in &staged {
            if self.slots[slot as usize].seq == DEAD {
                self.release(slot);
            } else {
                if self.next_tie == TIE_LIMIT {
                    self.renumber();
                }
                let at = self.at(deadline);
                let tie = self.next_tie;
                self.next_tie += 1;
                self.heap.push(Entry::new(at, tie, slot));
            }
        }
        staged.clear();
        self.staged = staged; // keep its capacity
    }

    /// Drops the garbage and renumbers the ties of the heap's entries `0..len` in their order:
    /// sorted, the entries are still a heap, and their relative order (deadline, then entry
    /// into the heap) is unchanged. `len` is below `TIE_LIMIT`: slots are numbered by `u32`
    /// below `NO_SLOT`, and each entry has its own slot.
    #[cold]
    fn renumber(&mut self) {
        self.drop_garbage();
        let entries = &mut self.heap.entries;
        entries.sort_unstable_by_key(|e| (e.at, e.tie_slot));
        for (i, e) in entries.iter_mut().enumerate() {
            let tie = u32::try_from(i).expect("solo: more than 4 billion timers");
            *e = Entry::new(e.at, tie, e.slot());
        }
        self.next_tie = u32::try_from(entries.len()).expect("solo: more than 4 billion timers");
        assert!(
            self.next_tie < TIE_LIMIT,
            "solo: more than 4 billion timers"
        );
    }

    /// Puts a slot whose entry left the heap back on the free list.
    #[inline]
    fn release(&mut self, slot: u32) {
        let s = &mut self.slots[slot as usize];
        debug_assert!(s.seq == DEAD && s.waker.is_none());
        s.next_free = self.free;
        self.free = slot;
    }

    #[inline]
    fn get_mut(&mut self, key: TimerKey) -> Option<&mut Slot> {
        self.slots
            .get_mut(key.slot as usize)
            .filter(|s| s.seq == key.seq)
    }

    /// Whether the timer is still pending (neither fired nor removed).
    #[inline]
    pub(crate) fn is_live(&self, key: TimerKey) -> bool {
        self.slots
            .get(key.slot as usize)
            .is_some_and(|s| s.seq == key.seq)
    }

    /// Stores `waker` unless the stored one already wakes the same task.
    #[inline]
    pub(crate) fn set_waker(&mut self, key: TimerKey, waker: &Waker) {
        if let Some(slot) = self.get_mut(key) {
            match &slot.waker {
                Some(w) if w.will_wake(waker) => {}
                _ => slot.waker = Some(Wakeup::new(waker)),
            }
        }
    }

    /// Cancels a pending timer in O(1) (amortised). Returns its waker if it was pending.
    #[inline]
    pub(crate) fn remove(&mut self, key: TimerKey) -> Option<Option<Wakeup>> {
        let slot = self.get_mut(key)?;
        slot.seq = DEAD;
        let waker = slot.waker.take();
        self.live -= 1;
        // If its entry is the last staged one, or the heap's last one, remove it now rather
        // than leave garbage.
        if self.staged.last().is_some_and(|e| e.slot == key.slot) {
            self.staged.pop();
            self.release(key.slot);
        } else if self
            .heap
            .entries
            .last()
            .is_some_and(|e| e.slot() == key.slot)
        {
            self.heap.entries.pop();
            self.release(key.slot);
        } else {
            self.maybe_compact();
        }
        Some(waker)
    }

    /// Moves a pending timer to a new deadline, keeping its waker. Returns the new key, or
    /// `None` if the timer was not pending.
    pub(crate) fn reset(&mut self, key: TimerKey, deadline: Instant) -> Option<TimerKey> {
        let waker = self.remove(key)?;
        Some(self.insert(deadline, waker))
    }

    /// Pops every live timer whose deadline is `<= now`, in deadline order (ties in insertion
    /// order), and hands its key and waker to `fired`. Garbage met on the way is dropped.
    #[inline]
    pub(crate) fn fire_due(
        &mut self,
        now: Instant,
        fired: impl FnMut(TimerKey, Option<Wakeup>),
    ) -> usize {
        if self.staged.is_empty() && self.quiet_until.is_some_and(|quiet| now < quiet) {
            return 0;
        }
        self.fire_due_now(now, fired)
    }

    fn fire_due_now(
        &mut self,
        now: Instant,
        mut fired: impl FnMut(TimerKey, Option<Wakeup>),
    ) -> usize {
        self.flush();
        let Some(since) = now.checked_duration_since(self.base) else {
            return 0; // earlier than every deadline (invariant 4)
        };
        let mut now_at = nanos(since).unwrap_or(u64::MAX);
        while now_at >= REBASE_AT && self.rebase() {
            now_at = now
                .checked_duration_since(self.base)
                .and_then(nanos)
                .unwrap_or(u64::MAX);
        }
        // `NEVER_AT` never fires.
        let now_at = now_at.min(NEVER_AT - 1);
        let mut count = 0;
        while let Some(&top) = self.heap.peek() {
            let slot = &mut self.slots[top.slot() as usize];
            if slot.seq == DEAD {
                self.heap.pop();
                self.release(top.slot());
                continue;
            }
            if top.at > now_at {
                break;
            }
            let key = TimerKey {
                slot: top.slot(),
                seq: slot.seq,
            };
            slot.seq = DEAD;
            let waker = slot.waker.take();
            self.heap.pop();
            self.release(top.slot());
            self.live -= 1;
            fired(key, waker);
            count += 1;
        }
        self.fired += count as u64;
        // The top, if any, is live and not due: nothing is due before it.
        // `None` on either side is "never"; both (unreachable in practice): look every time.
        let earliest = self.heap.peek().map(|top| self.instant(top.at));
        self.quiet_until = [earliest, rebase_at(self.base)].into_iter().flatten().min();
        count
    }

    /// Moves `base` forward by `REBASE_BY` (a test clock advanced centuries): every `at`
    /// shrinks by the same amount, so the order holds; `at`s that would go below 0 were due
    /// long ago and become 0, `NEVER_AT` stays. Returns false if `base` cannot move.
    #[cold]
    fn rebase(&mut self) -> bool {
        let Some(base) = self.base.checked_add(Duration::from_nanos(REBASE_BY)) else {
            return false;
        };
        self.base = base;
        for e in &mut self.heap.entries {
            if e.at != NEVER_AT {
                e.at = e.at.saturating_sub(REBASE_BY);
            }
        }
        true
    }

    /// The earliest live deadline (garbage at the top is popped on the way).
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        self.flush();
        while let Some(&top) = self.heap.peek() {
            if self.slots[top.slot() as usize].seq != DEAD {
                return Some(self.instant(top.at));
            }
            self.heap.pop();
            self.release(top.slot());
        }
        None
    }

    /// The instant an `at` stands for.
    fn instant(&self, at: u64) -> Instant {
        self.base
            .checked_add(Duration::from_nanos(at))
            .unwrap_or_else(|| super::clock::far_future(self.base))
    }

    /// The deadline of a pending timer (O(n): for tests).
    #[cfg(test)]
    pub(crate) fn deadline(&self, key: TimerKey) -> Option<Instant> {
        if !self.is_live(key) {
            return None;
        }
        if let Some(e) = self.staged.iter().find(|e| e.slot == key.slot) {
            return Some(e.deadline);
        }
        let e = self.heap.entries.iter().find(|e| e.slot() == key.slot)?;
        Some(self.instant(e.at))
    }

    /// The number of pending timers.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn len(&self) -> usize {
        self.live
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
        self.heap.len() + self.staged.len() - self.live
    }

    #[inline]
    fn maybe_compact(&mut self) {
        let garbage = self.garbage();
        if garbage > MIN_COMPACT && garbage > self.live {
            self.compact();
        }
    }

    #[cold]
    fn compact(&mut self) {
        self.flush();
        self.drop_garbage();
    }

    /// Removes the heap's garbage entries and frees their slots, then restores the heap order.
    fn drop_garbage(&mut self) {
        let mut dropped = Vec::new();
        let slots = &self.slots;
        self.heap.retain(|e| {
            let live = slots[e.slot() as usize].seq != DEAD;
            if !live {
                dropped.push(e.slot());
            }
            live
        });
        for slot in dropped {
            self.release(slot);
        }
    }
}

/// When `fire_due` must move `base` forward (`None`: never, the instant is unrepresentable).
fn rebase_at(base: Instant) -> Option<Instant> {
    base.checked_add(Duration::from_nanos(REBASE_AT))
}

/// `d` in nanoseconds, if that fits a `u64` (584 years).
#[inline]
fn nanos(d: Duration) -> Option<u64> {
    d.as_secs()
        .checked_mul(1_000_000_000)?
        .checked_add(u64::from(d.subsec_nanos()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn fires_in_deadline_order_with_ties_in_insertion_order() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new(t0);
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
        let mut heap = TimerHeap::new(t0);
        let early = heap.insert(t0 + Duration::from_millis(1), None);
        heap.insert(t0 + Duration::from_secs(9), None);
        assert!(heap.remove(early).is_some());
        assert_eq!(heap.next_deadline(), Some(t0 + Duration::from_secs(9)));
        assert_eq!(heap.garbage(), 0);
    }

    #[test]
    fn million_inserts_and_cancels_keep_garbage_bounded() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new(t0);
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
        let mut heap = TimerHeap::new(t0);
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
    #[test]
    fn a_cancelled_staged_timer_that_is_not_the_last_is_freed_by_the_flush() {
        let t0 = Instant::now();
        let mut heap = TimerHeap::new(t0);
        let a = heap.insert(t0 + Duration::from_millis(1), None);
        let b = heap.insert(t0 + Duration::from_millis(2), None);
        heap.remove(a);
        assert_eq!(heap.garbage(), 1, "`a` was not the last staged entry");
        assert_eq!(heap.next_deadline(), Some(t0 + Duration::from_millis(2)));
        assert_eq!(heap.garbage(), 0, "the flush freed `a`'s slot");
        let c = heap.insert(t0 + Duration::from_millis(3), None);
        assert_eq!(c.slot, a.slot, "the slot is reused");
        let mut order = Vec::new();
        heap.fire_due(t0 + Duration::from_millis(9), |k, _| order.push(k));
        assert_eq!(order, [b, c]);
    }

    #[test]
    fn far_deadlines_never_fire_and_a_clock_centuries_ahead_keeps_precision() {
        const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);
        let t0 = Instant::now();
        let Some(t700) = t0.checked_add(700 * YEAR) else {
            return; // this platform's Instant cannot count that far
        };
        let mut heap = TimerHeap::new(t0);
        // Beyond 2^64 ns after `base`: `NEVER_AT`.
        let never = heap.insert(t700, None);
        let soon = heap.insert(t0 + Duration::from_secs(1), None);
        assert_eq!(heap.fire_due(t0, |_, _| {}), 0);
        // Jump 300 years, past `REBASE_AT`: `base` moves, and nanosecond precision holds.
        let now = t0 + 300 * YEAR;
        let mut fired = Vec::new();
        heap.fire_due(now, |k, _| fired.push(k));
        assert_eq!(fired, [soon]);
        let a = heap.insert(now + Duration::from_nanos(2), None);
        let b = heap.insert(now + Duration::from_nanos(1), None);
        assert_eq!(heap.next_deadline(), Some(now + Duration::from_nanos(1)));
        assert_eq!(heap.fire_due(now, |_, _| {}), 0, "not early");
        fired.clear();
        heap.fire_due(now + Duration::from_nanos(2), |k, _| fired.push(k));
        assert_eq!(fired, [b, a]);
        assert_eq!(heap.fire_due(t0 + 584 * YEAR, |_, _| {}), 0);
        assert!(heap.is_live(never));
    }

    /// `fire_due`'s shortcut (`quiet_until`) must skip nothing that is due: a timer inserted
    /// earlier than the others after a check, one due exactly at its deadline, and the move
    /// of `base` after a jump of centuries with no timer pending (without it, a timer 300
    /// years after that jump would be beyond `NEVER_AT` and never fire).
    #[test]
    fn the_quiet_shortcut_skips_nothing_that_is_due() {
        const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);
        let t0 = Instant::now();
        let mut heap = TimerHeap::new(t0);
        let far = heap.insert(t0 + Duration::from_secs(3600), None);
        assert_eq!(heap.fire_due(t0 + Duration::from_secs(1), |_, _| {}), 0);
        let near = heap.insert(t0 + Duration::from_secs(2), None);
        let mut fired = Vec::new();
        heap.fire_due(t0 + Duration::from_secs(2), |k, _| fired.push(k));
        assert_eq!(fired, [near], "due exactly at its deadline");
        heap.remove(far);
        // A look with nothing pending, then a jump of 300 years.
        assert_eq!(heap.fire_due(t0 + Duration::from_secs(7200), |_, _| {}), 0);
        let (Some(now), Some(later)) = (t0.checked_add(300 * YEAR), t0.checked_add(600 * YEAR))
        else {
            return; // this platform's Instant cannot count that far
        };
        assert_eq!(heap.fire_due(now, |_, _| {}), 0);
        let key = heap.insert(later, None);
        fired.clear();
        heap.fire_due(later, |k, _| fired.push(k));
        assert_eq!(fired, [key], "base moved at the jump, so the timer fits");
    }

    #[test]
    fn a_deadline_before_base_fires_at_once_and_nothing_fires_before_base() {
        let t0 = Instant::now();
        let base = t0 + Duration::from_secs(10);
        let mut heap = TimerHeap::new(base);
        let early = heap.insert(t0, None);
        assert_eq!(
            heap.fire_due(t0, |_, _| {}),
            0,
            "`now` before `base`: nothing fires"
        );
        let mut fired = Vec::new();
        heap.fire_due(base, |k, _| fired.push(k));
        assert_eq!(fired, [early]);
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
        fn heap_matches_btreemap_model(
            ops in proptest::collection::vec(op(), 0..300),
            ties_left in 0u32..200,
        ) {
            let t0 = Instant::now();
            let mut h = Harness {
                heap: TimerHeap::new(t0),
                model: BTreeMap::new(),
                live: BTreeMap::new(),
                dead: Vec::new(),
                next_id: 0,
                seq: 0,
                now: t0,
            };
            // Start near the end of the tie numbers, so that most cases renumber them.
            h.heap.next_tie = TIE_LIMIT - ties_left;
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
