#![allow(clippy::unwrap_used)] // a failed step should panic with its cause
//! The order flow and every status of the contract, over HTTP and Redis only.

use std::collections::BTreeSet;

use libtest_mimic::{Arguments, Trial};
use order_e2e::{FULFIL_DEADLINE, System};

type Test = fn(&System);

fn main() -> anyhow::Result<()> {
    let args = Arguments::from_args();
    let target = order_e2e::Target::from_env_or_local()?;
    let tests: [(&str, Test); 6] = [
        (
            "an_accepted_order_is_fulfilled",
            an_accepted_order_is_fulfilled,
        ),
        (
            "an_idempotency_key_makes_one_order",
            an_idempotency_key_makes_one_order,
        ),
        (
            "every_client_mistake_is_a_problem_not_a_5xx",
            every_client_mistake_is_a_problem_not_a_5xx,
        ),
        ("spin_health_answers", spin_health_answers),
        (
            "a_malformed_message_is_dropped_and_the_next_order_still_fulfilled",
            a_malformed_message_is_dropped_and_the_next_order_still_fulfilled,
        ),
        (
            "concurrent_orders_are_all_fulfilled_none_lost",
            concurrent_orders_are_all_fulfilled_none_lost,
        ),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, test)| {
            let system = target.system().clone();
            Trial::test(name, move || {
                test(&system);
                Ok(())
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(target);
    conclusion.exit()
}

fn an_accepted_order_is_fulfilled(system: &System) {
    let reply = system
        .post_order(
            r#"{"details":"two pizzas","id":"mine","status":"fulfilled"}"#,
            None,
        )
        .unwrap();
    assert_eq!(reply.status, 202, "{}", reply.body);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json().unwrap();
    let id = body["task"]["id"].as_str().unwrap().to_string();
    assert_ne!(id, "mine", "the server assigns the id");
    assert_eq!(id.len(), 36);
    let href = format!("/order/{id}");
    assert_eq!(reply.header("location"), Some(href.as_str()));
    // `created`, or already `fulfilled` when fulfilment is composed into the receiver.
    let status = body["task"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(status == "created" || status == "fulfilled", "{body}");
    assert_eq!(
        body,
        serde_json::json!({"task": {"href": href, "id": id, "status": status}})
    );
    system
        .wait_for_status(&id, "fulfilled", FULFIL_DEADLINE)
        .unwrap();
    let order = system.get_order(&id).unwrap().json().unwrap();
    assert_eq!(order["details"], "two pizzas");

    let head = system.send("HEAD", &href, &[], b"").unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

fn an_idempotency_key_makes_one_order(system: &System) {
    let key = format!("e2e-{}", std::process::id());
    let first = system
        .post_order(r#"{"details":"tea"}"#, Some(&key))
        .unwrap();
    let again = system
        .post_order(r#"{"details":"coffee"}"#, Some(&key))
        .unwrap();
    assert_eq!((first.status, again.status), (202, 202));
    let id = |reply: &order_e2e::Reply| reply.json().unwrap()["task"]["id"].clone();
    assert_eq!(id(&first), id(&again));
    assert_eq!(first.header("location"), again.header("location"));
    let other = system
        .post_order(r#"{"details":"tea"}"#, Some(&format!("{key}-other")))
        .unwrap();
    assert_ne!(id(&first), id(&other));
    let order = system
        .get_order(id(&first).as_str().unwrap())
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(order["details"], "tea", "the repeat created nothing new");
}

/// Method, path, headers, body, the status expected and the problem type's slug.
type Case<'a> = (
    &'a str,
    &'a str,
    &'a [(&'a str, &'a str)],
    &'a [u8],
    u16,
    &'a str,
);

fn every_client_mistake_is_a_problem_not_a_5xx(system: &System) {
    let json = [("content-type", "application/json")];
    let too_long = serde_json::json!({ "details": "x".repeat(1025) }).to_string();
    let too_large = vec![b' '; 16 * 1024 + 1];
    let unknown = "/order/7c0b5b0e-6a4b-4a59-9d2e-3c1f6a0b9e11";
    let cases: Vec<Case<'_>> = vec![
        ("POST", "/order", &json, b"{not json", 400, "malformed-json"),
        ("POST", "/order", &json, b"\xff\xfe", 400, "malformed-json"),
        (
            "POST",
            "/order",
            &json,
            br#"{"details":""}"#,
            400,
            "validation-failed",
        ),
        (
            "POST",
            "/order",
            &json,
            br#"{"details":7}"#,
            400,
            "validation-failed",
        ),
        (
            "POST",
            "/order",
            &json,
            too_long.as_bytes(),
            400,
            "validation-failed",
        ),
        (
            "POST",
            "/order",
            &[
                ("content-type", "application/json"),
                ("idempotency-key", "has space"),
            ],
            br#"{"details":"x"}"#,
            400,
            "validation-failed",
        ),
        (
            "GET",
            "/order/not-a-uuid",
            &[],
            b"",
            400,
            "invalid-order-id",
        ),
        ("GET", unknown, &[], b"", 404, "order-not-found"),
        ("GET", "/order", &[], b"", 405, "method-not-allowed"),
        ("DELETE", unknown, &[], b"", 405, "method-not-allowed"),
        (
            "POST",
            "/order",
            &json,
            &too_large,
            413,
            "payload-too-large",
        ),
        (
            "POST",
            "/order",
            &[("content-type", "text/plain")],
            br#"{"details":"x"}"#,
            415,
            "unsupported-media-type",
        ),
        (
            "POST",
            "/order",
            &[],
            br#"{"details":"x"}"#,
            415,
            "unsupported-media-type",
        ),
    ];
    for (method, path, headers, body, status, slug) in cases {
        let reply = system.send(method, path, headers, body).unwrap();
        assert_eq!(reply.status, status, "{method} {path}: {}", reply.body);
        let problem = reply.problem().unwrap();
        assert_eq!(problem["type"], format!("urn:order-system:problem:{slug}"));
        if status == 405 {
            let allow = reply.header("allow").unwrap();
            assert!(allow == "POST" || allow == "GET, HEAD", "{allow}");
        }
    }
}

fn spin_health_answers(system: &System) {
    let reply = system
        .send("GET", "/.well-known/spin/health", &[], b"")
        .unwrap();
    assert_eq!(reply.status, 200);
}

fn a_malformed_message_is_dropped_and_the_next_order_still_fulfilled(system: &System) {
    system.publish_raw(b"this is not an order").unwrap();
    system
        .publish_raw(br#"{"id":"nope","details":"x","status":"created"}"#)
        .unwrap();
    let id = system.place_order("after the garbage").unwrap();
    system
        .wait_for_status(&id, "fulfilled", FULFIL_DEADLINE)
        .unwrap();
}

fn concurrent_orders_are_all_fulfilled_none_lost(system: &System) {
    const THREADS: usize = 8;
    const PER_THREAD: usize = 25;
    let ids: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let system = system.clone();
                scope.spawn(move || {
                    (0..PER_THREAD)
                        .map(|n| system.place_order(&format!("order {thread}-{n}")).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(
        unique.len(),
        THREADS * PER_THREAD,
        "every order got its own id"
    );
    for id in &ids {
        system
            .wait_for_status(id, "fulfilled", FULFIL_DEADLINE)
            .unwrap();
    }
    println!(
        "accepted {} orders, fulfilled {}, lost 0",
        ids.len(),
        ids.len()
    );
}
