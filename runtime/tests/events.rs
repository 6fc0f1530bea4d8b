//! `berth events` against real containers: the stats snapshot, the stream
//! with its OOM event, and its end when the container stops.

mod common;

use common::{ok, stderr, Bundle};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn wait_stopped(b: &Bundle, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.state(id)["status"] != "stopped" {
        assert!(Instant::now() < deadline, "{id} did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stats(b: &Bundle, id: &str) -> Value {
    let out = ok(&b.run(&["events", "--stats", id]));
    assert_eq!(out.lines().count(), 1, "one JSON line: {out}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["type"], "stats");
    assert_eq!(v["id"], id);
    v
}

#[test]
fn events_stats_counts_processes_and_memory() {
    let b = Bundle::new(&["/bin/sh", "-c", "sleep 100 & sleep 100 & wait"]);
    ok(&b.create("evstats", &[]));
    ok(&b.run(&["start", "evstats"]));
    // sh and its two sleeps, once sh has forked them.
    let deadline = Instant::now() + Duration::from_secs(5);
    let v = loop {
        let v = stats(&b, "evstats");
        if v["data"]["pids"]["current"] == 3 || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let d = &v["data"];
    assert_eq!(d["pids"]["current"], 3, "{d}");
    assert!(d["memory"]["usage"]["usage"].as_u64().unwrap() > 0, "{d}");
    assert!(d["memory"]["usage"]["limit"].as_u64().unwrap() > 0, "{d}");
    assert!(d["cpu"]["usage"]["total"].as_u64().unwrap() > 0, "{d}");
    // runc's shape: these are always there, even when empty.
    for key in ["cpuset", "blkio", "hugetlb", "intel_rdt"] {
        assert!(d[key].is_object(), "{key} in {d}");
    }
    assert!(d["network_interfaces"].is_null());

    let zero = b.run(&["events", "--interval", "0s", "evstats"]);
    assert!(!zero.status.success());
    assert!(
        stderr(&zero).contains("duration interval must be greater than 0"),
        "{}",
        stderr(&zero)
    );

    ok(&b.run(&["kill", "evstats", "KILL"]));
    wait_stopped(&b, "evstats");
    let gone = b.run(&["events", "--stats", "evstats"]);
    assert!(!gone.status.success());
    assert!(
        stderr(&gone).contains("container with id evstats is not running"),
        "{}",
        stderr(&gone)
    );
}

#[test]
fn events_stream_reports_oom_and_ends_when_container_stops() {
    let mut b = Bundle::new(&["/bin/sh", "-c", "x=a; while true; do x=$x$x; done"]);
    // No swap to fall back on: memsw (v1) or swap.max (v2) pinned to the limit.
    b.config["linux"]["resources"] =
        serde_json::json!({"memory": {"limit": 16u64 << 20, "swap": 16u64 << 20}});
    ok(&b.create("evoom", &[]));

    let mut child = b
        .berth()
        .args(["events", "--interval", "100ms", "evoom"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let reader = BufReader::new(child.stdout.take().unwrap());
    let pump = std::thread::spawn(move || {
        for line in reader.lines() {
            tx.send(line.unwrap()).unwrap();
        }
    });
    // A first stats event means the OOM watcher is registered.
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("a stats event");
    let first: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(first["type"], "stats");
    assert_eq!(first["data"]["memory"]["usage"]["limit"], 16u64 << 20);

    ok(&b.run(&["start", "evoom"]));
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("events did not end after the container was OOM-killed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    pump.join().unwrap();
    assert!(status.success(), "events exit {status:?}");
    wait_stopped(&b, "evoom");

    let events: Vec<Value> = rx
        .try_iter()
        .map(|l| serde_json::from_str(&l).unwrap())
        .collect();
    let ooms: Vec<&Value> = events.iter().filter(|e| e["type"] == "oom").collect();
    assert!(!ooms.is_empty(), "no oom event in {events:?}");
    assert_eq!(
        ooms[0],
        &serde_json::json!({"type": "oom", "id": "evoom"}),
        "runc's oom event carries no data"
    );
    for e in &events {
        assert!(e["type"] == "oom" || e["type"] == "stats", "{e}");
    }
}
