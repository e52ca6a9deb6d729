//! The cost of one `tpool::execute` round trip: a green thread hands a trivial
//! closure to the pool and waits for its result (queue, OS-thread wake-up,
//! green wake-up), against a plain function call and a green spawn + join.
//!
//! ```text
//! cargo bench --bench tpool
//! TPOOL_ROUNDTRIPS=2000 valgrind --tool=callgrind target/release/deps/tpool-*  # instruction counts
//! ```
//!
//! With `TPOOL_ROUNDTRIPS=N` set, the binary does N round trips from one green
//! thread and exits without criterion: run it under callgrind for two values
//! of N and divide the difference of the totals by the difference of N.

use criterion::{black_box, criterion_group, Criterion};
use eventlet::tpool;
use std::time::{Duration, Instant};

fn roundtrips(iters: u64) -> Duration {
    eventlet::spawn(move || {
        let start = Instant::now();
        for i in 0..iters {
            black_box(tpool::execute(move || black_box(i)).unwrap());
        }
        start.elapsed()
    })
    .join()
    .unwrap()
}

fn spawn_joins(iters: u64) -> Duration {
    eventlet::spawn(move || {
        let start = Instant::now();
        for i in 0..iters {
            black_box(eventlet::spawn(move || black_box(i)).join().unwrap());
        }
        start.elapsed()
    })
    .join()
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("tpool");
    g.bench_function("execute_roundtrip_from_green_thread", |b| {
        b.iter_custom(roundtrips)
    });
    g.bench_function("execute_roundtrip_from_os_thread", |b| {
        b.iter(|| black_box(tpool::execute(|| black_box(1u64)).unwrap()))
    });
    g.bench_function("green_spawn_join_baseline", |b| b.iter_custom(spawn_joins));
    g.finish();
}

criterion_group!(benches, bench);

fn main() {
    if let Some(n) = std::env::var("TPOOL_ROUNDTRIPS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        // Warm the pool thread and the scheduler first, outside the count.
        roundtrips(10);
        let took = roundtrips(n);
        println!("{n} round trips in {took:?}");
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
