//! Zero-downtime restarts of `echo --workers` under load: a load generator
//! (keep-alive and new-connection clients) runs through `HUP` (replace every
//! worker) and `USR2` (a new master on the same sockets, the old one drains);
//! not one socket error or failed response is allowed. Also: a killed worker
//! is restarted, TTIN/TTOU, max_requests recycling, TERM stops everything.

mod deploy_support;

use deploy_support::*;
use std::time::Duration;

#[test]
fn hup_and_usr2_under_load_lose_nothing() {
    let dir = scratch("restarts");
    let (mut master, addr) = start_echo(
        "master",
        &dir,
        &["--workers", "2", "--idle-grace-ms", "3000"],
    );
    master.wait_log("wsgi starting up", Duration::from_secs(30));
    let load = Load::start(addr, 6, 4, "/load");
    wait_requests(&load, 300);

    // HUP: every worker replaced, new ones first.
    master.signal(libc::SIGHUP);
    master.wait_log("worker 1 replaced", Duration::from_secs(60));
    master.wait_log("worker 1 stopped", Duration::from_secs(60));
    wait_requests(&load, 300);

    // USR2: a new master (the binary on disk) takes the sockets; the old one drains and exits.
    master.signal(libc::SIGUSR2);
    let old = master.wait_exit(Duration::from_secs(90));
    assert!(
        old.is_some_and(|s| s.success()),
        "the old master did not stop: {}",
        master.log_text()
    );
    let line = master.wait_log("ready: stopping the old master", Duration::from_secs(5));
    let new_master: i32 = line
        .split('(')
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|p| p.parse().ok())
        .expect("new master pid");
    wait_requests(&load, 300);
    let report = load.finish();
    eprintln!(
        "restarts under load: {} ok, {} socket errors, {} failed responses, answered by {} worker pids",
        report.ok, report.socket_errors, report.failed_responses, report.pids.len()
    );
    signal(new_master, libc::SIGTERM);
    let end = std::time::Instant::now() + Duration::from_secs(60);
    while alive(new_master) && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(new_master), "the new master did not stop on TERM");
    assert_eq!(
        (report.socket_errors, report.failed_responses),
        (0, 0),
        "{:#?}\n{}",
        &report.errors[..report.errors.len().min(20)],
        master.log_text()
    );
    // Every generation answered: the first workers, the ones after HUP,
    // and the new master's.
    let log = master.log_text();
    let started = |master_pid: Option<i32>, ids: &[usize]| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains("master: worker ") && l.contains(" started (pid "))
            .filter(|l| match master_pid {
                Some(m) => l.contains(&format!("({m}) master")),
                None => !l.contains(&format!("({new_master}) master")),
            })
            .filter(|l| {
                let id: usize = l
                    .split("worker ")
                    .nth(1)
                    .unwrap()
                    .split(' ')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                ids.contains(&id)
            })
            .map(|l| {
                l.rsplit("(pid ")
                    .next()
                    .unwrap()
                    .trim_end_matches(')')
                    .to_string()
            })
            .collect()
    };
    for (what, gen) in [
        ("first workers", started(None, &[0, 1])),
        ("workers after HUP", started(None, &[2, 3])),
        (
            "the new master's workers",
            started(Some(new_master), &[0, 1]),
        ),
    ] {
        assert_eq!(gen.len(), 2, "{what}: {gen:?}\n{log}");
        assert!(
            gen.iter().any(|p| report.pids.contains(p)),
            "no answer from {what} {gen:?}: {:?}",
            report.pids
        );
    }
    assert!(report.ok > 900);
}

#[test]
fn dead_worker_restarted_and_ttin_ttou() {
    let dir = scratch("workers-life");
    let (master, addr) = start_echo("master", &dir, &["--workers", "1"]);
    let first = master.wait_log("worker 0 started (pid ", Duration::from_secs(30));
    let pid: i32 = first
        .rsplit("(pid ")
        .next()
        .unwrap()
        .trim_end_matches(')')
        .parse()
        .unwrap();
    signal(pid, libc::SIGKILL);
    master.wait_log("worker 0 (pid", Duration::from_secs(30)); // "died"
    master.wait_log("worker 1 started", Duration::from_secs(30));
    wait_serving(addr);
    master.signal(libc::SIGTTIN);
    master.wait_log("worker 2 started", Duration::from_secs(30));
    master.signal(libc::SIGTTOU);
    master.wait_log("worker 1 stopped", Duration::from_secs(30));
    assert_eq!(get(addr, "/").unwrap().0, 200);
    let mut master = master;
    master.signal(libc::SIGTERM);
    assert!(master
        .wait_exit(Duration::from_secs(60))
        .is_some_and(|s| s.success()));
    assert!(get(addr, "/").is_err(), "still listening after TERM");
}

#[test]
fn max_requests_recycles_without_losing_requests() {
    let dir = scratch("recycle");
    let (mut master, addr) = start_echo(
        "master",
        &dir,
        &[
            "--workers",
            "1",
            "--max-requests",
            "200",
            "--max-requests-jitter",
            "50",
        ],
    );
    let load = Load::start(addr, 2, 2, "/load");
    master.wait_log("worker 0 replaced", Duration::from_secs(90));
    master.wait_log("worker 1 started", Duration::from_secs(5));
    wait_requests(&load, 100);
    let report = load.finish();
    eprintln!(
        "max_requests recycling under load: {} ok, {} socket errors, {} failed responses",
        report.ok, report.socket_errors, report.failed_responses
    );
    assert_eq!(
        (report.socket_errors, report.failed_responses),
        (0, 0),
        "{:?}",
        report.errors
    );
    assert!(report.pids.len() >= 2, "{:?}", report.pids);
    master.signal(libc::SIGINT);
    assert!(master.wait_exit(Duration::from_secs(30)).is_some());
}

#[test]
fn memory_ceiling_replaces_workers_without_losing_requests() {
    let dir = scratch("memory");
    // 1 MiB: every worker is over it, so each is replaced about once a second.
    let (mut master, addr) = start_echo(
        "master",
        &dir,
        &[
            "--workers",
            "1",
            "--max-memory-mb",
            "1",
            "--graceful-timeout-s",
            "10",
        ],
    );
    let load = Load::start(addr, 2, 2, "/load");
    master.wait_log(
        "worker 0 is over the memory limit: replacing it",
        Duration::from_secs(30),
    );
    master.wait_log("worker 0 replaced: stopping it", Duration::from_secs(30));
    master.wait_log("worker 0 stopped", Duration::from_secs(30));
    wait_requests(&load, 100);
    let report = load.finish();
    eprintln!(
        "memory ceiling under load: {} ok, {} socket errors, {} failed responses",
        report.ok, report.socket_errors, report.failed_responses
    );
    assert_eq!(
        (report.socket_errors, report.failed_responses),
        (0, 0),
        "{:?}",
        report.errors
    );
    master.signal(libc::SIGTERM);
    assert!(master.wait_exit(Duration::from_secs(60)).is_some());
}
