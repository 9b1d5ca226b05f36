//! Timers: overflow-proof far deadlines, past deadlines, many timers cancelled out of order,
//! precision, waker bookkeeping, and a clock that jumps (scenarios 27-29, 31 and 32).
//!
//! Scenario 32 runs on solo's test clock (`solo::time::{pause, advance, resume}`), which is
//! per thread: those tests run on a thread of their own. solo's clock cannot read earlier than
//! before: it is `Instant::now()` (the OS's monotonic clock, which wall-clock changes do not
//! move), or a paused reading that only `advance` and auto-advance move forward, or, after
//! `resume`, the paused reading plus the real time elapsed since. The scenario's "reads
//! earlier" case is therefore tested as what remains of it: deadlines computed from an earlier
//! reading (or from std's clock while the test clock is ahead) are simply in the past.
//!
//! solo's `Sleep` panics if it must wait while no solo executor runs on the thread, so the
//! futures polled by hand below (tokio-test's `task::spawn`) are polled inside
//! `ex.block_on(async { ... })`.

mod support;

use std::cell::Cell;
use std::future::{Future, pending};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::Context;
use std::time::{Duration, Instant};

use solo::LocalExecutor;
use solo::time::{Sleep, interval, interval_at, sleep, sleep_until, timeout, timeout_at};
use support::{
    Rng, counting_waker, logging_waker, scaled, slack, under_valgrind, voluntary_context_switches,
    watchdog,
};
use tokio_test::{assert_pending, assert_ready, assert_ready_eq, task};

const YEAR: Duration = Duration::from_secs(365 * 24 * 60 * 60);

// ---------------------------------------------------------------------------------------------
// Scenario 27: deadlines that never come

#[test]
fn sleep_duration_max_never_fires_and_does_not_overflow() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let before = Instant::now();
        let mut s = task::spawn(sleep(Duration::MAX));
        assert!(
            s.deadline() > before + 50 * YEAR,
            "saturated far in the future"
        );
        assert!(!s.is_elapsed());
        assert_pending!(s.poll());
        // The reactor keeps sleeping for the short timer only.
        sleep(Duration::from_millis(10)).await;
        assert!(!s.is_woken());
        assert_pending!(s.poll());
    });
}

#[test]
fn sleep_until_a_hundred_years_ahead_never_fires() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let far = Instant::now() + 100 * YEAR;
        let mut s = task::spawn(sleep_until(far));
        assert_eq!(s.deadline(), far);
        assert_pending!(s.poll());
        sleep(Duration::from_millis(5)).await;
        assert!(!s.is_woken());
        assert_pending!(s.poll());
    });
}

#[test]
fn timeout_duration_max_never_elapses() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    ex.block_on(async {
        assert_eq!(timeout(Duration::MAX, async { 5 }).await, Ok(5));
        assert_eq!(
            timeout(Duration::MAX, sleep(Duration::from_millis(2))).await,
            Ok(())
        );
        let mut t = task::spawn(timeout(Duration::MAX, pending::<()>()));
        assert_pending!(t.poll());
        sleep(Duration::from_millis(5)).await;
        assert_pending!(t.poll());
        let mut t = task::spawn(timeout_at(Instant::now() + 100 * YEAR, pending::<()>()));
        assert_pending!(t.poll());
    });
}

#[test]
fn interval_duration_max_ticks_once_then_never() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let mut every = interval(Duration::MAX);
        let first = every.tick().await; // immediate
        assert!(first <= Instant::now());
        let mut second = task::spawn(every.tick());
        assert_pending!(second.poll());
        sleep(Duration::from_millis(5)).await;
        assert!(!second.is_woken());
        assert_pending!(second.poll());
        drop(second);
        // Starting a century ahead, with a huge period, is fine too.
        let mut late = interval_at(Instant::now() + 100 * YEAR, Duration::MAX);
        let mut tick = task::spawn(late.tick());
        assert_pending!(tick.poll());
    });
}

#[test]
#[should_panic(expected = "period must be non-zero")]
fn interval_of_zero_panics_with_a_clear_message() {
    let _ = interval(Duration::ZERO);
}

// ---------------------------------------------------------------------------------------------
// Scenario 28: deadlines already passed

#[test]
fn thousand_zero_sleeps_are_ready_on_first_poll_without_blocking() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    ex.block_on(async {
        for _ in 0..1000 {
            assert_ready!(task::spawn(sleep(Duration::ZERO)).poll());
        }
        let switches = voluntary_context_switches();
        let start = Instant::now();
        for _ in 0..1000 {
            sleep(Duration::ZERO).await;
        }
        if !under_valgrind() {
            assert!(start.elapsed() < Duration::from_secs(1));
            // Blocking in the reactor would be a voluntary context switch each time.
            assert!(voluntary_context_switches() - switches < 50);
        }
    });
}

#[test]
fn sleep_until_past_deadline_is_ready_on_first_poll() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let past = Instant::now() - Duration::from_millis(5);
        assert_ready!(task::spawn(sleep_until(past)).poll());
        assert_ready!(task::spawn(sleep_until(Instant::now())).poll());
    });
}

#[test]
fn timeout_at_past_deadline_with_pending_future_elapses_on_first_poll() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let past = Instant::now() - Duration::from_millis(1);
        let mut t = task::spawn(timeout_at(past, pending::<()>()));
        assert!(assert_ready!(t.poll()).is_err());
        // A ready future wins, even against a zero or past timeout.
        assert_ready_eq!(
            task::spawn(timeout(Duration::ZERO, async { 1 })).poll(),
            Ok(1)
        );
        assert_ready_eq!(task::spawn(timeout_at(past, async { 2 })).poll(), Ok(2));
    });
}

#[test]
fn interval_at_past_start_ticks_immediately() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let start = Instant::now() - Duration::from_millis(10);
        let mut every = interval_at(start, Duration::from_secs(60));
        assert_eq!(assert_ready!(task::spawn(every.tick()).poll()), start);
        assert_pending!(task::spawn(every.tick()).poll());
    });
}

/// A registered sleep reset into the past is ready on its next poll: "a deadline in the
/// past makes it ready on the next poll" (`Sleep::reset` docs), whether or not the reactor
/// has run in between.
#[test]
fn sleep_reset_into_the_past_is_ready_on_the_next_poll() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let mut s = task::spawn(sleep(Duration::from_secs(3600)));
        assert_pending!(s.poll());
        s.enter(|_, sleep| sleep.reset(Instant::now() - Duration::from_millis(1)));
        assert_ready!(s.poll());
        // And a completed sleep reset into the future is pending again.
        s.enter(|_, sleep| sleep.reset(Instant::now() + Duration::from_secs(3600)));
        assert_pending!(s.poll());
        s.enter(|_, sleep| sleep.reset(Instant::now()));
        assert_ready!(s.poll());
    });
}

#[test]
fn sleep_reset_later_and_earlier_fires_at_the_new_deadline_only() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let start = Instant::now();
        let mut s = Box::pin(sleep(Duration::from_millis(1)));
        s.as_mut().reset(start + Duration::from_millis(8));
        s.as_mut().await;
        assert!(
            start.elapsed() >= Duration::from_millis(8),
            "not at the old deadline"
        );
        let start = Instant::now();
        s.as_mut().reset(start + Duration::from_secs(3600));
        let mut t = task::spawn(s.as_mut());
        assert_pending!(t.poll());
        drop(t);
        s.as_mut().reset(start + Duration::from_millis(3));
        s.as_mut().await;
        let e = start.elapsed();
        assert!(
            e >= Duration::from_millis(3) && e < Duration::from_secs(5),
            "{e:?}"
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Scenario 29: 100,000 timers, half cancelled (the earliest repeatedly), a tenth reset

/// The deadlines must lie after the setup (registering 100,000 timers takes about half a
/// second in a debug build on a loaded machine); if the setup overran, the attempt is
/// abandoned and retried with twice the headroom.
#[test]
fn hundred_thousand_timers_cancelled_out_of_order_only_live_fire_in_deadline_order() {
    let _w = watchdog(Duration::from_secs(60));
    let mut headroom = if under_valgrind() {
        Duration::from_secs(10)
    } else {
        Duration::from_millis(800)
    };
    for _attempt in 0..4 {
        if many_timers_fire_in_order(scaled(100_000), headroom) {
            return;
        }
        headroom *= 2;
    }
    panic!("the setup never fit in the headroom");
}

/// Returns `false` if the setup did not finish before the first deadline.
fn many_timers_fire_in_order(n: usize, headroom: Duration) -> bool {
    let mut rng = Rng::new(29);
    let fired = Arc::new(Mutex::new(Vec::new()));
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let base = Instant::now() + headroom;
        // 50 distinct deadlines 100 us apart: many ties.
        let pick = |rng: &mut Rng| base + Duration::from_micros(100 * rng.below(50) as u64);
        let mut sleeps: Vec<Option<Pin<Box<Sleep>>>> = Vec::with_capacity(n);
        // (deadline, registration order, id) of every live timer: the model.
        let mut model: Vec<Option<(Instant, usize, usize)>> = Vec::with_capacity(n);
        let mut order = 0;
        for id in 0..n {
            let mut s = Box::pin(sleep_until(pick(&mut rng)));
            let waker = logging_waker(id, &fired);
            if s.as_mut().poll(&mut Context::from_waker(&waker)).is_ready() {
                // The setup overran the headroom (a slow or loaded machine): retry.
                return false;
            }
            model.push(Some((s.deadline(), order, id)));
            order += 1;
            sleeps.push(Some(s));
        }
        // Cancel the earliest live timer, repeatedly, for a tenth of them...
        let mut by_deadline: Vec<(Instant, usize, usize)> =
            model.iter().flatten().copied().collect();
        by_deadline.sort();
        for &(_, _, id) in by_deadline.iter().take(n / 10) {
            sleeps[id] = None;
            model[id] = None;
        }
        // ...then random ones until half are gone.
        let mut cancelled = n / 10;
        while cancelled < n / 2 {
            let id = rng.below(n);
            if sleeps[id].take().is_some() {
                model[id] = None;
                cancelled += 1;
            }
        }
        // Reset a tenth of the survivors (a reset counts as a new registration for ties).
        let mut reset = 0;
        while reset < n / 10 {
            let id = rng.below(n);
            if let Some(s) = sleeps[id].as_mut() {
                let deadline = pick(&mut rng);
                s.as_mut().reset(deadline);
                model[id] = Some((deadline, order, id));
                order += 1;
                reset += 1;
            }
        }
        if Instant::now() >= base {
            return false;
        }
        let last = model.iter().flatten().map(|m| m.0).max().unwrap();
        sleep_until(last + Duration::from_millis(1)).await;

        let mut expected: Vec<(Instant, usize, usize)> = model.iter().flatten().copied().collect();
        expected.sort();
        let expected: Vec<usize> = expected.into_iter().map(|(_, _, id)| id).collect();
        let fired = std::mem::take(&mut *fired.lock().unwrap());
        assert_eq!(fired.len(), n - n / 2, "exactly the live timers fired");
        assert!(
            fired == expected,
            "timers fired out of deadline order (first difference at {:?})",
            fired.iter().zip(&expected).position(|(a, b)| a != b)
        );
        // And every live Sleep now reports completion.
        let (w, _) = counting_waker();
        for s in sleeps.iter_mut().flatten() {
            assert!(s.as_mut().poll(&mut Context::from_waker(&w)).is_ready());
        }
        true
    })
}

/// Cancelled timers leave no wake-ups behind: with thousands of cancelled deadlines spread
/// over 20 ms (kept in the heap as garbage: as many live far-future timers keep it from being
/// compacted away) and one live timer after them, the owner blocks about once, not once per
/// cancelled deadline.
#[test]
fn cancelled_timers_do_not_wake_the_reactor() {
    let _w = watchdog(Duration::from_secs(20));
    // As above: retried with more headroom if the setup overran the first deadline.
    let mut headroom = if under_valgrind() {
        Duration::from_secs(5)
    } else {
        Duration::from_millis(300)
    };
    for _attempt in 0..4 {
        if cancelled_timers_cause_no_wakeups(scaled(10_000), headroom) {
            return;
        }
        headroom *= 2;
    }
    panic!("the setup never fit in the headroom");
}

/// Returns `false` if the setup did not finish before the first deadline.
fn cancelled_timers_cause_no_wakeups(n: usize, headroom: Duration) -> bool {
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let base = Instant::now() + headroom;
        let (w, counts) = counting_waker();
        let mut far = Vec::with_capacity(n);
        for i in 0..n {
            let mut keep = Box::pin(sleep(Duration::from_secs(3600)));
            assert!(
                keep.as_mut()
                    .poll(&mut Context::from_waker(&w))
                    .is_pending()
            );
            far.push(keep);
            let mut s = Box::pin(sleep_until(
                base + Duration::from_micros(100 * (i % 200) as u64),
            ));
            if s.as_mut().poll(&mut Context::from_waker(&w)).is_ready() {
                return false;
            }
            // `s` is dropped here: cancelled.
        }
        assert_eq!(
            counts.live(),
            1 + n,
            "every cancelled timer released its waker"
        );
        if Instant::now() >= base {
            return false;
        }
        let switches = voluntary_context_switches();
        sleep_until(base + Duration::from_millis(30)).await;
        let blocked = voluntary_context_switches() - switches;
        if !under_valgrind() {
            assert!(blocked <= 10, "woke {blocked} times for one live timer");
        }
        assert_eq!(counts.wakes(), 0);
        drop(far);
        assert_eq!(counts.live(), 1);
        true
    })
}

// ---------------------------------------------------------------------------------------------
// Scenario 31: never early

#[test]
fn thousand_sleeps_of_100us_1ms_and_10ms_never_end_early() {
    let _w = watchdog(Duration::from_secs(20));
    let early = Cell::new(0);
    let done = Cell::new(0);
    let ex = LocalExecutor::new();
    let durations = [
        Duration::from_micros(100),
        Duration::from_millis(1),
        Duration::from_millis(10),
    ];
    for i in 0..1000 {
        let d = durations[i % 3];
        let (early, done) = (&early, &done);
        ex.spawn(async move {
            let start = Instant::now();
            sleep(d).await;
            if start.elapsed() < d {
                early.set(early.get() + 1);
            }
            done.set(done.get() + 1);
        })
        .detach();
    }
    ex.block_on(async {
        while done.get() < 1000 {
            sleep(Duration::from_millis(1)).await;
        }
    });
    assert_eq!(early.get(), 0, "no sleep ended early");
    // Sequential short sleeps, each measured on its own.
    ex.block_on(async {
        for _ in 0..100 {
            let start = Instant::now();
            sleep(Duration::from_micros(100)).await;
            assert!(start.elapsed() >= Duration::from_micros(100));
        }
    });
}

#[test]
fn timeout_never_elapses_early() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    ex.block_on(async {
        for ms in [1, 2, 5] {
            let start = Instant::now();
            let res = timeout(Duration::from_millis(ms), pending::<()>()).await;
            assert!(res.is_err());
            assert!(start.elapsed() >= Duration::from_millis(ms));
        }
    });
}

// ---------------------------------------------------------------------------------------------
// Waker bookkeeping and intervals

#[test]
fn dropped_pending_sleep_releases_its_waker_and_reset_keeps_it() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let (w, counts) = counting_waker();
        let mut s = Box::pin(sleep(Duration::from_secs(3600)));
        assert!(s.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
        assert_eq!(counts.live(), 2, "the heap holds one clone");
        // Re-polling with the same waker does not clone again.
        assert!(s.as_mut().poll(&mut Context::from_waker(&w)).is_pending());
        assert_eq!(counts.live(), 2);
        s.as_mut().reset(Instant::now() + Duration::from_secs(7200));
        assert_eq!(counts.live(), 2, "reset keeps the waker");
        drop(s);
        assert_eq!(counts.live(), 1, "dropping the sleep released it");
        assert_eq!(counts.wakes(), 0);
    });
}

/// A sleep first polled by one `block_on` call's future, kept, and firing during a later call
/// does not wake the later call's future (solo keeps no waker clone for a `block_on` future,
/// only a reference that ends with its call).
/// With no timer pending, the reactor does not read the clock around its waits. A timer set
/// right after such a wait (here by the future that I/O woke) still fires, and not early.
#[test]
fn a_timer_set_after_a_wait_with_no_timer_pending_fires_on_time() {
    use std::io::{Read, Write};
    let _w = watchdog(Duration::from_secs(10));
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let a = solo::Async::new(a).unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(30));
        (&b).write_all(b"x").unwrap();
        b
    });
    let ex = LocalExecutor::new();
    let elapsed = ex.block_on(async {
        let mut buf = [0u8; 1];
        // The executor sleeps in the reactor, no timer pending, until the byte arrives.
        a.read_with(|mut s| s.read(&mut buf)).await.unwrap();
        let start = Instant::now();
        sleep(Duration::from_millis(5)).await;
        start.elapsed()
    });
    assert!(elapsed >= Duration::from_millis(5), "{elapsed:?}");
    drop(writer.join().unwrap());
}

#[test]
fn sleep_kept_from_an_earlier_block_on_call_does_not_wake_a_later_one() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    let mut kept = Box::pin(sleep(Duration::from_millis(5)));
    ex.block_on(std::future::poll_fn(|cx| {
        assert!(kept.as_mut().poll(cx).is_pending());
        std::task::Poll::Ready(())
    }));
    let polls = Cell::new(0);
    let mut own = Box::pin(sleep(Duration::from_millis(100)));
    ex.block_on(std::future::poll_fn(|cx| {
        polls.set(polls.get() + 1);
        own.as_mut().poll(cx)
    }));
    assert_eq!(
        polls.get(),
        2,
        "polled at the start and when its own sleep fired"
    );
    assert!(kept.is_elapsed());
}

#[test]
fn sleep_repolled_with_another_waker_wakes_only_the_latest() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let (w1, c1) = counting_waker();
        let (w2, c2) = counting_waker();
        let mut s = Box::pin(sleep(Duration::from_millis(2)));
        assert!(s.as_mut().poll(&mut Context::from_waker(&w1)).is_pending());
        assert!(s.as_mut().poll(&mut Context::from_waker(&w2)).is_pending());
        assert_eq!(c1.live(), 1, "the old waker was released");
        sleep(Duration::from_millis(5)).await;
        assert_eq!((c1.wakes(), c2.wakes()), (0, 1));
        assert!(s.as_mut().poll(&mut Context::from_waker(&w2)).is_ready());
        assert_eq!(c2.live(), 1);
    });
}

#[test]
fn interval_behind_by_many_periods_fires_once_then_resumes_on_the_grid() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    ex.block_on(async {
        let period = slack(Duration::from_millis(5));
        let mut every = interval(period);
        let t0 = every.tick().await;
        std::thread::sleep(period * 5 + period / 2); // miss ~5 periods
        let late = every.tick().await; // the missed tick, at once
        assert_eq!(late, t0 + period);
        let stalled_until = Instant::now();
        let next = every.tick().await;
        assert!(next > stalled_until, "no burst of missed ticks");
        assert_eq!((next - t0).as_nanos() % period.as_nanos(), 0, "on the grid");
        assert!(Instant::now() >= next, "never early");
    });
}

#[test]
fn timers_fire_in_deadline_order_with_ties_in_creation_order() {
    let _w = watchdog(Duration::from_secs(10));
    let order = std::cell::RefCell::new(Vec::new());
    let ex = LocalExecutor::new();
    let base = Instant::now() + slack(Duration::from_millis(20));
    for (id, offset_us) in [(0, 300), (1, 100), (2, 300), (3, 0), (4, 100)] {
        let order = &order;
        ex.spawn(async move {
            sleep_until(base + Duration::from_micros(offset_us)).await;
            order.borrow_mut().push(id);
        })
        .detach();
    }
    ex.block_on(sleep_until(base + Duration::from_millis(2)));
    ex.run_until_stalled();
    assert_eq!(*order.borrow(), [3, 1, 4, 0, 2]);
}

#[test]
fn pending_sleep_is_woken_through_its_task_and_completes() {
    let _w = watchdog(Duration::from_secs(10));
    let ex = LocalExecutor::new();
    let t = ex.spawn(async {
        let start = Instant::now();
        sleep(Duration::from_millis(3)).await;
        start.elapsed()
    });
    let elapsed = ex.block_on(t);
    assert!(elapsed >= Duration::from_millis(3));
    // A future that is never woken keeps block_on asleep until its timer: make sure
    // `Future::poll` is exercised through `Pin<&mut Sleep>` as well.
    let mut s = sleep(Duration::from_millis(1));
    ex.block_on(Pin::new(&mut s));
    assert!(s.is_elapsed());
}

// ---------------------------------------------------------------------------------------------
// Scenario 32: a clock that jumps forward, or reads earlier than before (the test clock)

/// Runs `f` on a fresh thread with its solo clock paused (the test clock is per thread, so a
/// panicking `f` cannot leave another test's clock paused).
fn on_paused_thread<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> R {
    std::thread::spawn(move || {
        solo::time::pause();
        let out = f();
        solo::time::resume();
        out
    })
    .join()
    .unwrap_or_else(|payload| std::panic::resume_unwind(payload))
}

/// Timers registered by hand (each with its own logging waker), then one jump an hour ahead:
/// every due timer is woken exactly once, in deadline order with ties in creation order; the
/// one beyond the jump stays pending; later jumps and reactor turns wake nobody again.
#[test]
fn clock_jumps_an_hour_past_pending_timers_then_each_fires_once_in_deadline_order() {
    let _w = watchdog(Duration::from_secs(10));
    on_paused_thread(|| {
        let fired = Arc::new(Mutex::new(Vec::new()));
        let ex = LocalExecutor::new();
        ex.block_on(async {
            let t0 = solo::time::now();
            let mut sleeps = Vec::new();
            // (id, ms after t0): ties between 1 and 3 and between 0 and 4; 5 is two hours out.
            for (id, ms) in [(0, 30), (1, 10), (2, 20), (3, 10), (4, 30), (5, 7_200_000)] {
                let mut s = Box::pin(sleep_until(t0 + Duration::from_millis(ms)));
                let waker = logging_waker(id, &fired);
                assert!(
                    s.as_mut()
                        .poll(&mut Context::from_waker(&waker))
                        .is_pending()
                );
                sleeps.push(s);
            }
            let mut late = Box::pin(timeout(Duration::from_secs(1), pending::<()>()));
            let (tw, timeout_wakes) = counting_waker();
            assert!(
                late.as_mut()
                    .poll(&mut Context::from_waker(&tw))
                    .is_pending()
            );

            solo::time::advance(Duration::from_secs(3600)).await;
            assert_eq!(solo::time::now() - t0, Duration::from_secs(3600));
            assert_eq!(*fired.lock().unwrap(), [1, 3, 2, 0, 4]);
            assert_eq!(timeout_wakes.wakes(), 1);
            assert!(late.as_mut().poll(&mut Context::from_waker(&tw)).is_ready());

            // Nothing fires twice: more jumps, reactor turns, re-polls.
            solo::time::advance(Duration::from_secs(60)).await;
            solo::yield_now().await;
            let (w, counts) = counting_waker();
            for s in &mut sleeps[..5] {
                assert!(s.is_elapsed());
                assert!(s.as_mut().poll(&mut Context::from_waker(&w)).is_ready());
            }
            assert_eq!(counts.wakes(), 0);
            assert_eq!(fired.lock().unwrap().len(), 5);
            assert_eq!(timeout_wakes.wakes(), 1);
            assert!(!sleeps[5].is_elapsed());
            assert_eq!(
                solo::diag::stats().timers_pending,
                1,
                "only the two-hour timer"
            );

            solo::time::advance(Duration::from_secs(3600)).await;
            assert_eq!(*fired.lock().unwrap(), [1, 3, 2, 0, 4, 5]);
            assert_eq!(solo::diag::stats().timers_pending, 0);
        });
    });
}

/// The same jump seen by tasks: each sleeping task is woken once and polled exactly twice
/// (registration, completion), and they finish in deadline order.
#[test]
fn clock_jump_wakes_each_sleeping_task_once_and_polls_it_exactly_twice() {
    let _w = watchdog(Duration::from_secs(10));
    let (order, polls) = on_paused_thread(|| {
        let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let polls: std::rc::Rc<Vec<Cell<u32>>> =
            std::rc::Rc::new((0..20).map(|_| Cell::new(0)).collect());
        let ex = LocalExecutor::new();
        let t0 = solo::time::now();
        for id in 0..20u64 {
            let (order, polls) = (order.clone(), polls.clone());
            // Deadlines 19 s, 18 s, ... 0 s after t0, in reverse creation order.
            let mut nap = Box::pin(sleep_until(t0 + Duration::from_secs(19 - id)));
            ex.spawn(std::future::poll_fn(move |cx| {
                polls[id as usize].set(polls[id as usize].get() + 1);
                let ready = nap.as_mut().poll(cx);
                if ready.is_ready() {
                    order.borrow_mut().push(id);
                }
                ready
            }))
            .detach();
        }
        ex.block_on(async {
            solo::yield_now().await; // every task registered its timer
            solo::time::advance(Duration::from_secs(3600)).await;
            solo::yield_now().await;
        });
        assert!(ex.is_empty());
        let polls: Vec<u32> = polls.iter().map(Cell::get).collect();
        (order.take(), polls)
    });
    // Id 19's deadline is t0 itself: ready on its first poll.
    assert_eq!(polls[19], 1);
    assert!(polls[..19].iter().all(|&p| p == 2), "polls: {polls:?}");
    assert_eq!(order, (0..20).rev().collect::<Vec<u64>>());
}

/// An interval whose clock jumps 1,000.5 periods ahead ticks once (the missed tick, with its
/// scheduled instant), not 1,000 times, and resumes on its original grid.
#[test]
fn interval_after_a_clock_jump_of_a_thousand_periods_ticks_once_then_resumes_on_the_grid() {
    let _w = watchdog(Duration::from_secs(10));
    on_paused_thread(|| {
        solo::block_on(async {
            let period = Duration::from_millis(10);
            let mut every = interval(period);
            let mut cx = Context::from_waker(std::task::Waker::noop());
            let t0 = every.tick().await;
            assert!(every.poll_tick(&mut cx).is_pending());

            solo::time::advance(period * 1000 + period / 2).await;
            assert_eq!(
                every.poll_tick(&mut cx),
                std::task::Poll::Ready(t0 + period)
            );
            for _ in 0..1000 {
                assert!(
                    every.poll_tick(&mut cx).is_pending(),
                    "no burst of missed ticks"
                );
            }
            solo::time::advance(period / 2 - Duration::from_nanos(1)).await;
            assert!(every.poll_tick(&mut cx).is_pending(), "never early");
            solo::time::advance(Duration::from_nanos(1)).await;
            assert_eq!(
                every.poll_tick(&mut cx),
                std::task::Poll::Ready(t0 + period * 1001),
                "back on the grid"
            );
            solo::time::advance(period).await;
            assert_eq!(every.tick().await, t0 + period * 1002);
        });
    });
}

/// A 1 ns interval whose clock jumps a century: more missed periods than fit the grid
/// arithmetic (u32). It ticks once, does not overflow or loop, and then ticks every period.
#[test]
fn one_nanosecond_interval_after_a_century_jump_ticks_once_without_overflow() {
    let _w = watchdog(Duration::from_secs(10));
    on_paused_thread(|| {
        solo::block_on(async {
            let period = Duration::from_nanos(1);
            let mut every = interval(period);
            let mut cx = Context::from_waker(std::task::Waker::noop());
            let t0 = every.tick().await;
            solo::time::advance(100 * YEAR).await;
            let now = solo::time::now();
            assert_eq!(
                every.poll_tick(&mut cx),
                std::task::Poll::Ready(t0 + period)
            );
            assert!(every.poll_tick(&mut cx).is_pending());
            solo::time::advance(period).await;
            assert_eq!(
                every.poll_tick(&mut cx),
                std::task::Poll::Ready(now + period)
            );
            // A jump by Duration::MAX saturates ("never" is a century) instead of panicking.
            solo::time::advance(Duration::MAX).await;
            assert!(solo::time::now() > now + 99 * YEAR);
            assert!(every.poll_tick(&mut cx).is_ready());
            assert!(every.poll_tick(&mut cx).is_pending());
        });
    });
}

/// solo's clock never reads earlier than before: random pauses, jumps, resumes and real
/// sleeps, and every reading is at least the previous one. Each jump is kept across `resume`
/// (the clock runs on from where it stood, ahead of std's clock), so deadlines computed from
/// an earlier reading, or from `std::time::Instant::now()`, are in the past: ready at once, no
/// underflow. A real sleep after the jump takes its real duration, neither zero nor an hour.
#[test]
fn clock_never_reads_earlier_across_pause_advance_resume_and_earlier_deadlines_are_ready_at_once() {
    let _w = watchdog(Duration::from_secs(20));
    std::thread::spawn(|| {
        let mut rng = Rng::new(32);
        let mut last = solo::time::now();
        let mut jumped = Duration::ZERO;
        for _ in 0..200 {
            match rng.below(4) {
                0 => solo::time::pause(),
                1 => solo::time::resume(),
                2 if solo::time::is_paused() => {
                    let d = Duration::from_millis(rng.below(10_000) as u64);
                    solo::block_on(solo::time::advance(d));
                    jumped += d;
                }
                _ => std::thread::sleep(Duration::from_micros(rng.below(200) as u64)),
            }
            let t = solo::time::now();
            assert!(t >= last, "the clock went back by {:?}", last - t);
            last = t;
        }
        solo::time::pause();
        solo::block_on(solo::time::advance(Duration::from_secs(3600)));
        jumped += Duration::from_secs(3600);
        solo::time::resume();
        assert!(solo::time::now() + slack(Duration::from_secs(1)) >= Instant::now() + jumped);

        solo::block_on(async {
            let mut cx = Context::from_waker(std::task::Waker::noop());
            // From std's clock (an hour behind) and from a reading taken before the jump.
            for deadline in [Instant::now() + Duration::from_secs(60), last] {
                let mut s = Box::pin(sleep_until(deadline));
                assert!(s.is_elapsed());
                assert!(s.as_mut().poll(&mut cx).is_ready());
                let mut t = Box::pin(timeout_at(deadline, pending::<()>()));
                assert!(t.as_mut().poll(&mut cx).is_ready());
            }
            // Resetting a registered sleep to such a deadline: ready on the next poll.
            let mut s = Box::pin(sleep(Duration::from_secs(3600)));
            assert!(s.as_mut().poll(&mut cx).is_pending());
            s.as_mut().reset(Instant::now());
            assert!(s.as_mut().poll(&mut cx).is_ready());

            // The reactor sleeps for the timer's real duration on the shifted clock.
            let start = Instant::now();
            sleep(Duration::from_millis(30)).await;
            let took = start.elapsed();
            assert!(took >= Duration::from_millis(30), "early: {took:?}");
            assert!(took < slack(Duration::from_secs(5)), "overslept: {took:?}");
        });
    })
    .join()
    .unwrap();
}
