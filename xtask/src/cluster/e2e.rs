//! `up --cluster k3d --e2e`: the black-box e2e suite against the ingress, with the release's
//! Redis port-forwarded to loopback.

use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::ClusterArgs;
use super::step::Step;
use crate::project;

/// Runs the e2e suite against the ingress, with the release's Redis pod port-forwarded to a
/// free loopback port for the duration.
pub(super) fn e2e(args: &ClusterArgs) -> Result<()> {
    let password = redis_password_step(args).read()?;
    let pod = redis_pod_step(args).read()?;
    if pod.is_empty() {
        bail!("release {} has no Redis pod to reach", args.release);
    }
    let port = dev_services::free_port()?;
    let forward = port_forward_step(args, &pod, port);
    eprintln!("==> {}", forward.what);
    let forwarding = forward
        .expression()
        .stdout_null()
        .start()
        .with_context(|| forward.what.clone())?;
    let outcome = dev_services::wait_for_port(port, Duration::from_secs(30))
        .context("waiting for `kubectl port-forward` to the Redis pod")
        .and_then(|()| e2e_step(args, &password, port).run());
    forwarding
        .kill()
        .context("stopping `kubectl port-forward`")?;
    outcome
}

/// Prints `output` (a kubectl output template) of the release's Redis `kind` of object.
fn redis_get_step(args: &ClusterArgs, what: &str, kind: &str, output: &str) -> Step {
    args.kubectl(
        format!("{what} of release {}", args.release),
        &["get", kind, &args.redis_selector(), output],
    )
}

/// Prints the password in the release's Redis Secret (the one the chart generates).
fn redis_password_step(args: &ClusterArgs) -> Step {
    redis_get_step(
        args,
        "reading the Redis password",
        "secret",
        r#"--output=go-template={{range .items}}{{index .data "redis-password" | base64decode}}{{end}}"#,
    )
}

/// Prints the name of the release's Redis pod.
fn redis_pod_step(args: &ClusterArgs) -> Step {
    redis_get_step(
        args,
        "finding the Redis pod",
        "pod",
        "--output=jsonpath={.items[0].metadata.name}",
    )
}

fn port_forward_step(args: &ClusterArgs, pod: &str, port: u16) -> Step {
    args.kubectl(
        format!("forwarding 127.0.0.1:{port} to Redis in pod {pod}"),
        &[
            "port-forward",
            &format!("pod/{pod}"),
            &format!("{port}:6379"),
        ],
    )
}

/// The e2e suite, pointed at the ingress and the forwarded Redis: the black-box `orders`
/// suite, and the overload and Redis-outage suites (which run a local deployment of their own).
/// Not the package's behaviour tests, which run the components on the embedded runtime.
fn e2e_step(args: &ClusterArgs, redis_password: &str, redis_port: u16) -> Step {
    Step::new(
        format!("running the e2e suite against {}", args.url()),
        [
            project::cargo().as_str(),
            "test",
            "--package",
            "order-e2e",
            "--locked",
            "--test",
            "orders",
            "--test",
            "overload",
            "--test",
            "redis_outage",
        ],
    )
    .env("ORDER_SYSTEM_URL", args.url())
    .env(
        "ORDER_SYSTEM_REDIS_URL",
        format!("redis://:{redis_password}@127.0.0.1:{redis_port}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::sample_args;
    use crate::cluster::step::argv;

    #[test]
    fn the_e2e_suite_gets_the_ingress_and_a_port_forwarded_redis() {
        let args = sample_args();
        let target = "kubectl --context=k3d-order-system --namespace=order-system";
        let redis =
            "--selector=app.kubernetes.io/instance=order-system,app.kubernetes.io/component=redis";
        assert_eq!(
            argv(&redis_password_step(&args)),
            format!(
                "{target} get secret {redis} --output=go-template=\
                 {{{{range .items}}}}{{{{index .data \"redis-password\" | base64decode}}}}{{{{end}}}}"
            )
        );
        assert_eq!(
            argv(&redis_pod_step(&args)),
            format!("{target} get pod {redis} --output=jsonpath={{.items[0].metadata.name}}")
        );
        assert_eq!(
            argv(&port_forward_step(&args, "order-system-redis-0", 40000)),
            format!("{target} port-forward pod/order-system-redis-0 40000:6379")
        );
        let e2e = e2e_step(&args, "s3cret", 40000);
        assert!(
            argv(&e2e).ends_with(
                " test --package order-e2e --locked --test orders --test overload --test redis_outage"
            ),
            "{e2e:?}"
        );
        assert_eq!(
            e2e.env,
            [
                (
                    "ORDER_SYSTEM_URL".to_owned(),
                    "http://localhost:8080".to_owned()
                ),
                (
                    "ORDER_SYSTEM_REDIS_URL".to_owned(),
                    "redis://:s3cret@127.0.0.1:40000".to_owned()
                ),
            ]
        );
    }
}
