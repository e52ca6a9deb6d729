//! `eventlet::Event`, ported from eventlet's tests/event_test.py and
//! tests/test__event.py, plus edge cases of the Rust port.

mod common;
use common::{finish, kill, wait_until};

use eventlet::{
    spawn, spawn_after, spawn_n, with_timeout, AlreadySent, Event, EventError, GreenThreadError,
    NotSent, Timeout,
};
use std::error::Error;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A distinguishable error object, to check waiters get exactly the one sent.
#[derive(Debug)]
struct Marked(u32);

impl fmt::Display for Marked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "marked {}", self.0)
    }
}

impl Error for Marked {}

fn marked(err: &EventError) -> Option<u32> {
    match err {
        EventError::Exception(e) => e.downcast_ref::<Marked>().map(|m| m.0),
        EventError::Timeout(_) => None,
    }
}

// eventlet: event_test.py TestEvent.test_waiting_for_event
#[test]
fn wait_returns_the_value_sent_from_another_green_thread() {
    let ev = Arc::new(Event::new());
    let ev2 = ev.clone();
    spawn_n(move || ev2.send("some stuff").unwrap());
    assert_eq!(ev.wait(), Ok("some stuff"));
}

// eventlet: event_test.py TestEvent.test_multiple_waiters
#[test]
fn one_send_wakes_every_parked_waiter() {
    let ev = Arc::new(Event::new());
    let waiters: Vec<_> = (0..5)
        .map(|_| {
            let ev = ev.clone();
            spawn(move || ev.wait())
        })
        .collect();
    wait_until("all 5 wait", || ev.waiting() == 5);
    ev.send(7u32).unwrap();
    for w in &waiters {
        assert_eq!(finish(w), Ok(Ok(7)));
    }
    assert_eq!(ev.waiting(), 0);
}

// eventlet: event_test.py TestEvent.test_multiple_waiters_with_exception
#[test]
fn a_waiter_that_panics_after_waking_does_not_disturb_the_others() {
    let ev = Arc::new(Event::<()>::new());
    let woken = Arc::new(AtomicUsize::new(0));
    let dones: Vec<Arc<Event<()>>> = (0..5).map(|_| Arc::new(Event::new())).collect();
    let waiters: Vec<_> = dones
        .iter()
        .map(|done| {
            let (ev, done, woken) = (ev.clone(), done.clone(), woken.clone());
            spawn(move || {
                ev.wait().unwrap();
                woken.fetch_add(1, Ordering::SeqCst);
                done.send(()).unwrap();
                panic!("waiter fails after waking");
            })
        })
        .collect();
    wait_until("all 5 wait", || ev.waiting() == 5);
    ev.send(()).unwrap();
    for done in &dones {
        done.wait().unwrap();
    }
    assert_eq!(woken.load(Ordering::SeqCst), 5);
    for w in &waiters {
        assert!(matches!(finish(w), Err(GreenThreadError::Panicked(_))));
    }
}

#[test]
fn an_exception_reaches_every_waiter_as_the_same_object() {
    let ev = Arc::new(Event::<u32>::new());
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let ev = ev.clone();
            spawn(move || ev.wait())
        })
        .collect();
    wait_until("all 3 wait", || ev.waiting() == 3);
    ev.send_exception(Marked(9)).unwrap();
    let errs: Vec<EventError> = waiters
        .iter()
        .map(|w| finish(w).unwrap().unwrap_err())
        .collect();
    for e in &errs {
        assert_eq!(marked(e), Some(9));
        assert_eq!(e, &errs[0], "all waiters share one error object");
    }
    assert!(ev.has_exception());
    assert!(!ev.has_result());
}

// eventlet: event_test.py TestEvent.test_reset
#[test]
fn reset_rules_and_resending() {
    let ev = Arc::new(Event::new());
    assert_eq!(ev.reset(), Err(NotSent), "reset before send is an error");
    let ev2 = ev.clone();
    spawn_n(move || ev2.send("some stuff").unwrap());
    assert_eq!(ev.wait(), Ok("some stuff"));
    assert_eq!(ev.send("second stuff"), Err(AlreadySent));
    assert_eq!(ev.wait(), Ok("some stuff"), "the first value stays");
    ev.reset().unwrap();
    assert!(!ev.ready());
    let ev2 = ev.clone();
    spawn_n(move || ev2.send("second stuff").unwrap());
    assert_eq!(ev.wait(), Ok("second stuff"));
}

// eventlet: event_test.py TestEvent.test_double_exception
#[test]
fn reset_clears_a_sent_exception() {
    let ev = Event::<u32>::new();
    ev.send_exception(Marked(1)).unwrap();
    assert_eq!(marked(&ev.wait().unwrap_err()), Some(1));
    ev.reset().unwrap();
    let t = Timeout::new(Duration::from_millis(1));
    match ev.wait() {
        Err(EventError::Timeout(e)) => assert!(t.is(&e)),
        other => panic!("expected the Timeout, got {other:?}"),
    }
}

// eventlet: event_test.py test_wait_timeout_ok
#[test]
fn wait_timeout_returns_the_value_sent_in_time() {
    let ev = Arc::new(Event::new());
    let ev2 = ev.clone();
    // Before the spawn: the send's delay counts from there.
    let start = Instant::now();
    let sender = spawn_after(Duration::from_millis(100), move || ev2.send(true).unwrap());
    let _outer = Timeout::new(Duration::from_secs(30));
    assert_eq!(ev.wait_timeout(Duration::from_secs(20)), Ok(Some(true)));
    assert!(start.elapsed() >= Duration::from_millis(100));
    finish(&sender).unwrap();
}

// eventlet: event_test.py test_wait_timeout_exceed
#[test]
fn wait_timeout_returns_none_when_its_own_time_runs_out() {
    let ev = Arc::new(Event::new());
    let ev2 = ev.clone();
    let sender = spawn_after(Duration::from_secs(60), move || ev2.send(true).unwrap());
    let start = Instant::now();
    let outer = Timeout::new(Duration::from_secs(30));
    assert_eq!(ev.wait_timeout(Duration::from_millis(100)), Ok(None));
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert!(!outer.expired());
    assert_eq!(ev.waiting(), 0, "the timed-out waiter left the list");
    assert!(sender.cancel());
}

#[test]
fn wait_timeout_reports_an_outer_timeout_that_fires_first() {
    let ev = Event::<u32>::new();
    let t = Timeout::new(Duration::from_millis(20));
    match ev.wait_timeout(Duration::from_secs(30)) {
        Err(EventError::Timeout(e)) => assert!(t.is(&e)),
        other => panic!("expected the outer Timeout, got {other:?}"),
    }
    assert_eq!(ev.waiting(), 0);
}

// eventlet: test__event.py TestEvent.test_send_exc
#[test]
fn a_parked_waiter_catches_exactly_the_sent_exception() {
    let ev = Arc::new(Event::<u32>::new());
    let ev2 = ev.clone();
    let waiter = spawn(move || ev2.wait());
    wait_until("the waiter waits", || ev.waiting() == 1);
    ev.send_exception(Marked(42)).unwrap();
    let err = finish(&waiter).unwrap().unwrap_err();
    assert_eq!(marked(&err), Some(42));
    assert_eq!(err.to_string(), "marked 42");
    // Every later wait sees the very same object.
    assert_eq!(ev.wait().unwrap_err(), err);
}

// eventlet: test__event.py TestEvent.test_send
#[test]
fn a_zero_timeout_interrupts_wait_and_with_timeout_gives_the_fallback() {
    let event1 = Event::<&str>::new();
    let event2 = Event::<&str>::new();
    let t = Timeout::new(Duration::ZERO);
    match event1.wait() {
        Err(EventError::Timeout(e)) => assert!(t.is(&e)),
        other => panic!("expected the zero Timeout, got {other:?}"),
    }
    drop(t);
    let result = with_timeout(Duration::from_millis(10), || event2.wait()).unwrap_or(Ok("X"));
    assert_eq!(result, Ok("X"), "nobody sent anything to event2");
}

#[test]
fn an_expired_timeout_does_not_stop_wait_on_a_sent_event() {
    let ev = Event::new();
    ev.send(5).unwrap();
    let _t = Timeout::new(Duration::ZERO);
    assert_eq!(ev.wait(), Ok(5));
}

#[test]
fn poll_and_state_queries_do_not_block() {
    let ev = Event::<u32>::new();
    assert!(ev.poll().is_none());
    assert!(!ev.ready() && !ev.has_result() && !ev.has_exception());
    ev.send(3).unwrap();
    assert_eq!(ev.poll().map(|r| r.ok()), Some(Some(3)));
    assert!(ev.ready() && ev.has_result() && !ev.has_exception());
    ev.reset().unwrap();
    ev.send_exception("boom").unwrap();
    let err = ev.poll().unwrap().unwrap_err();
    assert_eq!(err.to_string(), "boom");
    assert!(ev.ready() && !ev.has_result() && ev.has_exception());
}

#[test]
fn send_exception_after_send_is_refused() {
    let ev = Event::new();
    ev.send(1).unwrap();
    assert_eq!(ev.send_exception("late"), Err(AlreadySent));
    assert_eq!(ev.wait(), Ok(1));
}

#[test]
fn waiters_woken_by_a_send_get_its_value_even_after_an_immediate_reset() {
    let ev = Arc::new(Event::new());
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let ev = ev.clone();
            spawn(move || ev.wait())
        })
        .collect();
    wait_until("all 3 wait", || ev.waiting() == 3);
    ev.send(1).unwrap();
    ev.reset().unwrap();
    ev.send(2).unwrap();
    for w in &waiters {
        assert_eq!(finish(w), Ok(Ok(1)));
    }
    assert_eq!(ev.wait(), Ok(2));
}

#[test]
fn a_killed_waiter_leaves_and_the_event_still_works() {
    let ev = Arc::new(Event::new());
    let ev2 = ev.clone();
    let doomed = spawn(move || ev2.wait());
    wait_until("the waiter waits", || ev.waiting() == 1);
    kill(&doomed);
    assert_eq!(finish(&doomed), Err(GreenThreadError::Killed));
    assert_eq!(ev.waiting(), 0);
    let ev2 = ev.clone();
    let live = spawn(move || ev2.wait());
    wait_until("the new waiter waits", || ev.waiting() == 1);
    ev.send("ok").unwrap();
    assert_eq!(finish(&live), Ok(Ok("ok")));
}

#[test]
fn a_send_from_an_os_thread_wakes_a_green_thread() {
    let ev = Arc::new(Event::new());
    let ev2 = ev.clone();
    let waiter = spawn(move || ev2.wait());
    wait_until("the waiter waits", || ev.waiting() == 1);
    let ev3 = ev.clone();
    std::thread::spawn(move || ev3.send(vec![1, 2]).unwrap())
        .join()
        .unwrap();
    assert_eq!(finish(&waiter), Ok(Ok(vec![1, 2])));
}

#[test]
fn wait_works_for_a_non_copy_value_many_times() {
    let ev = Event::default();
    ev.send(String::from("shared")).unwrap();
    for _ in 0..3 {
        assert_eq!(ev.wait().unwrap(), "shared");
    }
}
