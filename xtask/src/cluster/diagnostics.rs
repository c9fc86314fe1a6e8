//! What to show when a deploy fails: the release's pods, recent events and logs.

use super::ClusterArgs;
use super::step::Step;

/// What to look at when a deploy fails: pods, recent events, and every container's logs.
pub(super) fn diagnostic_steps(args: &ClusterArgs) -> Vec<Step> {
    let instance = format!("--selector=app.kubernetes.io/instance={}", args.release);
    vec![
        args.kubectl("pods".into(), &["get", "pods", "--output=wide"]),
        args.kubectl(
            "events".into(),
            &["get", "events", "--sort-by=.lastTimestamp"],
        ),
        args.kubectl(
            "logs".into(),
            &[
                "logs",
                &instance,
                "--all-containers",
                "--prefix",
                "--tail=200",
            ],
        ),
    ]
}

/// Prints the diagnostics; their own failures are reported, never mask the deploy's error.
pub(super) fn diagnose(args: &ClusterArgs) {
    for step in diagnostic_steps(args) {
        if let Err(error) = step.run() {
            eprintln!("(could not show {}: {error:#})", step.what);
        }
    }
}
