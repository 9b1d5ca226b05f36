//! Unit tests of `mpsc`: order, closing, back-pressure and cancellation at every await.

use super::*;
use std::cell::Cell;
use tokio_test::task::spawn;
use tokio_test::{assert_pending, assert_ready, assert_ready_eq, assert_ready_err};

struct DropCount(Rc<Cell<usize>>);
impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn reserved<T>(rx: &Receiver<T>) -> usize {
    rx.shared.borrow().reserved
}

fn waiter_entries<T>(rx: &Receiver<T>) -> usize {
    rx.shared.borrow().send_waiters.entries()
}

#[test]
fn messages_arrive_in_send_order_then_none_after_last_sender_drops() {
    let (tx, mut rx) = unbounded();
    let tx2 = tx.clone();
    for i in 0..5 {
        tx.try_send(i).unwrap();
        tx2.try_send(i + 100).unwrap();
    }
    drop(tx);
    let mut recv = spawn(rx.recv());
    assert_ready_eq!(recv.poll(), Some(0));
    drop(recv);
    let mut got = Vec::new();
    while let Ok(v) = rx.try_recv() {
        got.push(v);
    }
    assert_eq!(got, [100, 1, 101, 2, 102, 3, 103, 4, 104]);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    let mut recv = spawn(rx.recv());
    assert_pending!(recv.poll());
    drop(tx2);
    assert!(recv.is_woken());
    assert_ready_eq!(recv.poll(), None);
}

#[test]
fn full_bounded_channel_blocks_sender_until_recv() {
    let (tx, mut rx) = channel(2);
    tx.try_send(1).unwrap();
    tx.try_send(2).unwrap();
    assert_eq!(tx.try_send(3), Err(TrySendError::Full(3)));
    let mut send = spawn(tx.send(3));
    assert_pending!(send.poll());
    assert_eq!(rx.try_recv(), Ok(1));
    assert!(send.is_woken());
    // The freed slot is reserved: a newcomer cannot take it.
    assert_eq!(tx.try_send(4), Err(TrySendError::Full(4)));
    assert_eq!(reserved(&rx), 1);
    assert_ready!(send.poll()).unwrap();
    assert_eq!(reserved(&rx), 0);
    assert_eq!(rx.len(), 2);
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Ok(3));
}

#[test]
fn blocked_senders_are_served_fifo() {
    let (tx, mut rx) = channel(1);
    tx.try_send(0).unwrap();
    let mut a = spawn(tx.send(1));
    let mut b = spawn(tx.send(2));
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    assert_eq!(rx.try_recv(), Ok(0));
    assert!(a.is_woken() && !b.is_woken());
    assert_pending!(b.poll());
    assert_ready!(a.poll()).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
    assert_ready!(b.poll()).unwrap();
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn cancel_queued_sender_does_not_send_and_next_sender_proceeds() {
    let (tx, mut rx) = channel(1);
    tx.try_send(0).unwrap();
    let mut a = spawn(tx.send(1));
    let mut b = spawn(tx.send(2));
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    drop(a);
    assert_eq!(rx.try_recv(), Ok(0));
    assert!(b.is_woken());
    assert_ready!(b.poll()).unwrap();
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn cancel_sender_holding_reserved_slot_passes_slot_and_wake_on() {
    let (tx, mut rx) = channel(1);
    tx.try_send(0).unwrap();
    let mut a = spawn(tx.send(1));
    let mut b = spawn(tx.send(2));
    assert_pending!(a.poll());
    assert_pending!(b.poll());
    assert_eq!(rx.try_recv(), Ok(0));
    assert!(a.is_woken() && !b.is_woken());
    drop(a); // reserved a slot, never used it
    assert!(b.is_woken());
    assert_eq!(reserved(&rx), 1);
    assert_ready!(b.poll()).unwrap();
    assert_eq!(rx.try_recv(), Ok(2));
    assert_eq!(reserved(&rx), 0);
    assert_eq!(waiter_entries(&rx), 0);
}

#[test]
fn cancel_sender_holding_reserved_slot_with_nobody_behind_frees_slot() {
    let (tx, mut rx) = channel(1);
    tx.try_send(0).unwrap();
    let mut a = spawn(tx.send(1));
    assert_pending!(a.poll());
    assert_eq!(rx.try_recv(), Ok(0));
    drop(a);
    assert_eq!(reserved(&rx), 0);
    tx.try_send(5).unwrap();
}

#[test]
fn receiver_drop_fails_blocked_senders_and_returns_values() {
    let (tx, mut rx) = channel(1);
    tx.try_send(0).unwrap();
    let mut a = spawn(tx.send(1));
    assert_pending!(a.poll());
    rx.close();
    assert!(a.is_woken());
    assert_eq!(assert_ready_err!(a.poll()).0, 1);
    assert_eq!(rx.try_recv(), Ok(0));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
    assert!(tx.is_closed());
    drop(rx);
    assert_eq!(tx.try_send(2), Err(TrySendError::Closed(2)));
}

#[test]
fn granted_sender_sees_close_before_pushing() {
    let (tx, mut rx) = channel(1);
    tx.try_send(0).unwrap();
    let mut a = spawn(tx.send(1));
    assert_pending!(a.poll());
    assert_eq!(rx.try_recv(), Ok(0));
    rx.close();
    assert_eq!(assert_ready_err!(a.poll()).0, 1);
    assert_eq!(reserved(&rx), 0);
    assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
}

#[test]
fn cancelled_recv_loses_no_message() {
    let (tx, mut rx) = unbounded();
    {
        let mut recv = spawn(rx.recv());
        assert_pending!(recv.poll());
        tx.try_send(1).unwrap();
        assert!(recv.is_woken());
    }
    assert_eq!(rx.try_recv(), Ok(1));
}

#[test]
fn every_message_dropped_exactly_once() {
    let drops = Rc::new(Cell::new(0));
    let (tx, mut rx) = channel(2);
    tx.try_send(DropCount(drops.clone())).ok().unwrap();
    tx.try_send(DropCount(drops.clone())).ok().unwrap();
    let mut blocked = spawn(tx.send(DropCount(drops.clone())));
    assert_pending!(blocked.poll());
    let mut cancelled = spawn(tx.send(DropCount(drops.clone())));
    assert_pending!(cancelled.poll());
    drop(cancelled);
    assert_eq!(drops.get(), 1);
    drop(rx.try_recv().ok().unwrap());
    assert_eq!(drops.get(), 2);
    assert_ready!(blocked.poll()).ok().unwrap();
    drop(blocked);
    drop(rx); // two buffered
    assert_eq!(drops.get(), 4);
    drop(tx);
    assert_eq!(drops.get(), 4);
}

#[test]
fn stream_yields_until_closed() {
    let (tx, rx) = unbounded();
    let mut stream = spawn(rx);
    assert_pending!(stream.poll_next());
    tx.try_send(1).unwrap();
    assert!(stream.is_woken());
    assert_ready_eq!(stream.poll_next(), Some(1));
    drop(tx);
    assert_eq!(stream.size_hint(), (0, Some(0)));
    assert_ready_eq!(stream.poll_next(), None);
}

#[test]
#[should_panic(expected = "capacity must be at least 1")]
fn zero_capacity_panics_naming_the_misuse() {
    let _ = channel::<()>(0);
}

#[test]
fn send_on_unbounded_is_ready_at_once() {
    let (tx, mut rx) = unbounded();
    for i in 0..100 {
        assert_ready!(spawn(tx.send(i)).poll()).unwrap();
    }
    assert_eq!(rx.len(), 100);
    assert_eq!(rx.try_recv(), Ok(0));
}

#[test]
fn producer_and_consumer_tasks_with_back_pressure() {
    crate::block_on(async {
        let (tx, mut rx) = channel(3);
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let tx = tx.clone();
                crate::spawn_local(async move {
                    for i in 0..50 {
                        tx.send((p, i)).await.unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let mut last = [None; 4];
        let mut n = 0;
        while let Some((p, i)) = rx.recv().await {
            assert!(rx.len() <= 3);
            assert!(last[p].is_none_or(|l| l < i), "per-sender order");
            last[p] = Some(i);
            n += 1;
        }
        assert_eq!(n, 200);
        for p in producers {
            p.await;
        }
    });
}
