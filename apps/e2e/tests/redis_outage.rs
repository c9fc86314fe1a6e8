#![allow(clippy::unwrap_used)] // a failed step should panic with its cause
//! Redis going away and coming back, on the embedded runtime and on the Spin CLI. This suite
//! stops and starts Redis itself, so it always runs its own local deployment, whatever
//! `ORDER_SYSTEM_URL` says.
//!
//! It follows a cluster's recovery path: the fulfilment app's Redis trigger exits when its
//! subscription drops (Spin's `crates/trigger-redis/src/lib.rs`), `cargo xtask up` restarts it
//! as kubelet restarts the pod, and the reconciler re-publishes the orders whose message nobody
//! received meanwhile.

use std::time::{Duration, Instant};

use order_e2e::{FULFIL_DEADLINE, LocalDeployment, Runtime};

/// Long enough for a few restarts at `cargo xtask up`'s back-off (1 s, 2 s, 4 s …) and two
/// reconciler runs (every 5 s, for orders 5 s old).
const RECOVERY_DEADLINE: Duration = Duration::from_secs(60);

#[test]
fn redis_down_is_503_with_retry_after_and_the_system_recovers() {
    for runtime in Runtime::available() {
        redis_outage(runtime);
    }
}

fn redis_outage(runtime: Runtime) {
    let mut local = LocalDeployment::start_on(runtime).unwrap();
    let system = local.system().clone();
    let before = system.place_order("before the outage").unwrap();
    system
        .wait_for_status(&before, "fulfilled", FULFIL_DEADLINE)
        .unwrap();

    local.redis().kill().unwrap();
    for reply in [
        system
            .post_order(r#"{"details":"during the outage"}"#, None)
            .unwrap(),
        system.get_order(&before).unwrap(),
    ] {
        assert_eq!(reply.status, 503, "{}\n{}", reply.body, local.log_tail());
        assert_eq!(reply.header("retry-after"), Some("2"));
        let problem = reply.problem().unwrap();
        assert_eq!(
            problem["type"],
            "urn:order-system:problem:store-unavailable"
        );
        assert!(
            !problem["detail"].as_str().unwrap().contains("127.0.0.1"),
            "{problem}"
        );
    }
    // The fulfilment app ends with Spin's error, and is started again.
    let port = local.redis().port();
    let start = Instant::now();
    while !local.log_text().contains("(fulfilment-processor) exited") {
        assert!(
            start.elapsed() < RECOVERY_DEADLINE,
            "{runtime:?}: the fulfilment app did not exit:\n{}",
            local.log_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = local.log_text();
    assert!(
        log.contains(&format!("Error: disconnected from 127.0.0.1:{port}")),
        "{runtime:?}:\n{}",
        local.log_tail()
    );

    local.redis().restart().unwrap();
    // Accepted at once, before the restarted app subscribes: the reconciler's to deliver.
    let during_recovery: Vec<String> = (0..10)
        .map(|n| system.place_order(&format!("recovery {n}")).unwrap())
        .collect();
    let missed = system.subscribers().unwrap() == 0;
    for id in &during_recovery {
        system
            .wait_for_status(id, "fulfilled", RECOVERY_DEADLINE)
            .unwrap_or_else(|error| panic!("{runtime:?}: {error:#}\n{}", local.log_tail()));
    }
    assert!(
        local.log_text().contains("supervisor: restarted "),
        "{runtime:?}:\n{}",
        local.log_tail()
    );
    let after = system.place_order("after the outage").unwrap();
    system
        .wait_for_status(&after, "fulfilled", FULFIL_DEADLINE)
        .unwrap();
    eprintln!(
        "redis outage on {runtime:?}: the fulfilment app exited and was restarted; {} orders \
         accepted {} it subscribed again, all fulfilled",
        during_recovery.len(),
        if missed { "before" } else { "around when" }
    );
}
