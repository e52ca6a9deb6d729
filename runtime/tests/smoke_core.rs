use std::time::{Duration, Instant};

#[test]
fn core_smoke() {
    let gt = eventlet::spawn(|| 6 * 7);
    assert_eq!(gt.wait(), Ok(42));
    let t = Instant::now();
    let handles: Vec<_> = (0..10_000)
        .map(|_| eventlet::spawn(|| eventlet::sleep(Duration::from_millis(200))))
        .collect();
    for h in &handles {
        h.wait().unwrap();
    }
    let el = t.elapsed();
    println!("10k sleepers: {:?}", el);
    assert!(el < Duration::from_secs(3));
    let sem = std::sync::Arc::new(eventlet::Semaphore::new(0));
    let s2 = sem.clone();
    let gt = eventlet::spawn(move || {
        let t = eventlet::Timeout::new(Duration::from_millis(50));
        let e = s2.acquire().unwrap_err();
        t.is(&e)
    });
    assert_eq!(gt.wait(), Ok(true));
    let gt = eventlet::spawn(|| eventlet::sleep(Duration::from_secs(30)));
    eventlet::sleep(Duration::from_millis(20));
    let t = Instant::now();
    gt.kill();
    assert_eq!(gt.wait(), Err(eventlet::GreenThreadError::Killed));
    assert!(t.elapsed() < Duration::from_secs(2));
}
