//! The Redis trigger: subscribes to each trigger's channel and calls the component's
//! `fermyon:spin/inbound-redis.handle-message` with every message, a fresh instance each time.
//!
//! It fails as Spin's does (`crates/trigger-redis/src/lib.rs`, `Subscriber::run_listener`, the
//! same in Spin 3.6.3 and 4.0.2): a server that cannot be reached or refuses a subscription ends
//! the trigger with an error at once, and so does a subscription that drops later (the server
//! restarted, or closed a subscriber whose `client-output-buffer-limit pubsub` it passed). There
//! is no reconnecting: the app exits and whatever runs it (kubelet, `cargo xtask up`) restarts it,
//! and the reconciler re-publishes what was missed meanwhile.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Instant;

use anyhow::{Context, Result};
use futures_util::StreamExt;
use opentelemetry::trace::TraceContextExt;
use serde::Deserialize;
use spin_manifest::Template;

use crate::app::LoadedApp;
use crate::bindings::RedisHandlerPre;
use crate::component::LoadedComponent;
use crate::host::HostState;
use crate::telemetry;

/// Subscriptions on one Redis server.
pub struct RedisTrigger {
    app: String,
    client: redis::Client,
    /// `host:port`, never the credentials.
    server: String,
    channels: BTreeMap<String, Vec<Handler>>,
}

#[derive(Clone)]
struct Handler {
    component: LoadedComponent,
    pre: RedisHandlerPre<HostState>,
}

/// A `[[trigger.redis]]` entry's configuration in the locked app; `address` and `channel` are
/// templates over the app's variables.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedisTriggerConfig {
    component: String,
    channel: String,
    #[serde(default)]
    address: Option<String>,
}

impl RedisTrigger {
    /// The trigger type in a manifest: `[[trigger.redis]]`.
    pub const TYPE: &str = "redis";

    /// The app's Redis triggers, one per server address, with addresses and channels resolved
    /// from the app's variables; a trigger without `address` takes
    /// `[application.trigger.redis] address`.
    pub fn for_app(app: &LoadedApp) -> Result<Vec<RedisTrigger>> {
        let variables = &app.variables;
        let resolve = |text: &str| Template::parse(text)?.resolve(variables.values());
        let default_address = app.locked.trigger_setting(Self::TYPE, "address");
        let mut servers: BTreeMap<String, BTreeMap<String, Vec<Handler>>> = BTreeMap::new();
        for trigger in app.triggers(Self::TYPE) {
            let trigger = RedisTriggerConfig::deserialize(&trigger.trigger_config)
                .context("a `[[trigger.redis]]` entry")?;
            let address = trigger.address.as_deref().or(default_address).with_context(|| {
                format!(
                    "the Redis trigger for {:?} has no `address` and there is no `[application.trigger.redis] address`",
                    trigger.component
                )
            })?;
            let address = resolve(address)?;
            let channel = resolve(&trigger.channel)?;
            let component = app.components[&trigger.component].clone();
            let pre = RedisHandlerPre::new(component.pre.clone())
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!(
                        "component {:?} does not export fermyon:spin/inbound-redis",
                        trigger.component
                    )
                })?;
            servers
                .entry(address)
                .or_default()
                .entry(channel)
                .or_default()
                .push(Handler { component, pre });
        }
        servers
            .into_iter()
            .map(|(address, channels)| {
                let client = redis::Client::open(address.as_str()).with_context(|| {
                    format!(
                        "invalid Redis trigger address {:?}",
                        variables.redact(&address)
                    )
                })?;
                Ok(RedisTrigger {
                    app: app.name().to_string(),
                    server: client.get_connection_info().addr().to_string(),
                    client,
                    channels,
                })
            })
            .collect()
    }

    /// Lines describing the subscriptions, for the start-up summary.
    pub fn summary(&self) -> Vec<String> {
        self.channels
            .iter()
            .map(|(channel, handlers)| {
                let ids: Vec<_> = handlers
                    .iter()
                    .map(|h| h.component.config.id.as_str())
                    .collect();
                format!(
                    "Subscribing ({}) to {}/{channel}: [{}]",
                    self.app,
                    self.server,
                    ids.join(",")
                )
            })
            .collect()
    }

    /// Connects, subscribes to every channel and handles the messages one at a time, as Spin
    /// does, until the connection ends.
    ///
    /// Errors, worded as Spin's (`{server}` is `host:port`): `Redis trigger failed to connect to
    /// {server}` when the first connection fails, `Redis trigger failed to subscribe to channel
    /// "{channel}" on {server}`, and `disconnected from {server}` when the subscription drops.
    /// It never ends without an error.
    pub async fn run(self) -> Result<Infallible> {
        let server = &self.server;
        let mut pubsub = self
            .client
            .get_async_pubsub()
            .await
            .with_context(|| format!("Redis trigger failed to connect to {server}"))?;
        for channel in self.channels.keys() {
            pubsub.subscribe(channel).await.with_context(|| {
                format!("Redis trigger failed to subscribe to channel {channel:?} on {server}")
            })?;
        }
        println!(
            "[{}] subscribed to {} on {server}",
            self.app,
            self.channels.keys().cloned().collect::<Vec<_>>().join(", "),
        );
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            self.dispatch(&message).await;
        }
        anyhow::bail!("disconnected from {server}")
    }

    /// Runs every component subscribed to the message's channel, concurrently as Spin does, and
    /// logs each outcome; all under the message's span, as Spin's `handle_message`.
    async fn dispatch(&self, message: &redis::Msg) {
        let channel = message.get_channel_name();
        let Some(handlers) = self.channels.get(channel) else {
            eprintln!("[{}] message from unexpected channel {channel:?}", self.app);
            return;
        };
        let payload = message.get_payload_bytes().to_vec();
        let payload = &payload;
        let span = telemetry::redis_message(channel, payload);
        let span = &span;
        let runs = handlers.iter().map(|handler| async move {
            let started = Instant::now();
            let outcome = match handler.call(payload, span).await {
                Ok(()) => "ok".to_string(),
                Err(error) => {
                    // Spin's `handle_message` logs this at INFO inside the message's span.
                    telemetry::handler_failed(span, &handler.component.config.id, &error);
                    format!("failed: {error:#}")
                }
            };
            println!(
                "[{}] message on {channel} -> {outcome} ({} ms) [{}]",
                self.app,
                started.elapsed().as_millis(),
                handler.component.config.id
            );
        });
        futures_util::future::join_all(runs).await;
        span.span().end();
    }
}

impl Handler {
    async fn call(&self, payload: &Vec<u8>, span: &opentelemetry::Context) -> Result<()> {
        let mut store = self.component.store(span.clone());
        let instance = self.pre.instantiate_async(&mut store).await?;
        instance
            .fermyon_spin_inbound_redis()
            .call_handle_message(&mut store, payload)
            .await?
            .map_err(|error| anyhow::anyhow!("the handler returned an error ({error:?})"))
    }
}
