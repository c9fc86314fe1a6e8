#![allow(clippy::unwrap_used)] // a failed step should panic with its cause
//! Redis going away and coming back. This suite stops and starts Redis itself, so it always runs
//! its own local deployment, whatever `ORDER_SYSTEM_URL` says.

use std::time::{Duration, Instant};

use order_e2e::{CHANNEL, FULFIL_DEADLINE, LocalDeployment, System};

fn subscribers(system: &System) -> i64 {
    let client = redis::Client::open(system.redis_url()).unwrap();
    let mut connection = client.get_connection().unwrap();
    let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(CHANNEL)
        .query(&mut connection)
        .unwrap();
    counts.first().map_or(0, |(_, count)| *count)
}

#[test]
fn redis_down_is_503_with_retry_after_and_the_system_recovers() {
    let mut local = LocalDeployment::start().unwrap();
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

    local.redis().restart().unwrap();
    // The fulfilment app resubscribes on its own; wait for it, as a client of Redis sees it.
    let start = Instant::now();
    while subscribers(&system) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the fulfilment app did not resubscribe:\n{}",
            local.log_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let after = system.place_order("after the outage").unwrap();
    system
        .wait_for_status(&after, "fulfilled", FULFIL_DEADLINE)
        .unwrap();
}
