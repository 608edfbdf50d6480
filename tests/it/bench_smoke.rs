//! The load generator builds and runs: a short pass over every scenario, on both brokers,
//! failing on any lost, duplicated or out-of-order delivery. (Figures come from the full
//! runs in BENCHMARKS.md, never from timed assertions here.)

use crate::helpers;
use std::process::Command;

fn smoke(broker: &str) {
    let output = Command::new(env!("CARGO_BIN_EXE_chat-bench"))
        .args([
            "--server-bin",
            env!("CARGO_BIN_EXE_tiny-chat"),
            "--broker",
            broker,
            // Signed-in runs wait out the grace for `leave`; the default 3 s is slow here.
            "--leave-grace-secs",
            "0.5",
        ])
        .args(["--redis-url", &helpers::redis_url(), "smoke"])
        .output()
        .expect("running chat-bench");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "chat-bench --broker {broker} smoke failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("smoke: ok"), "{stdout}");
    assert!(
        stdout.contains("lost 0, duplicated 0, out of order 0"),
        "{stdout}"
    );
    for scenario in [
        "fanout (signed-in)",
        "signed-in / anonymous",
        "multi:",
        "multi / single room",
    ] {
        assert!(stdout.contains(scenario), "no {scenario} in:\n{stdout}");
    }
}

#[test]
fn the_benchmark_runs_every_scenario_on_the_memory_broker() {
    smoke("memory");
}

#[test]
fn the_benchmark_runs_every_scenario_on_the_redis_broker() {
    smoke("redis");
}
