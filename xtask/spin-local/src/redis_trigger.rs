//! The Redis trigger: subscribes to each trigger's channel and calls the component's
//! `fermyon:spin/inbound-redis.handle-message` with every message, a fresh instance each time.
//! Where Spin stops when the server goes away, spin-local logs it and subscribes again, backing
//! off up to a few seconds, so a local run survives a Redis restart.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures_util::StreamExt;

use crate::app::LoadedComponent;
use crate::host::HostState;
use crate::manifest::Manifest;
use crate::variables::AppVariables;

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "redis-handler",
        exports: { default: async },
    });
}

use bindings::RedisHandlerPre;

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

const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(2);

impl RedisTrigger {
    /// The app's Redis triggers, one per server address, with addresses and channels resolved
    /// from the app's variables.
    pub fn for_app(
        manifest: &Manifest,
        components: &HashMap<String, LoadedComponent>,
        variables: &AppVariables,
    ) -> Result<Vec<RedisTrigger>> {
        let mut servers: BTreeMap<String, BTreeMap<String, Vec<Handler>>> = BTreeMap::new();
        for trigger in &manifest.redis_triggers {
            let address = trigger.address.resolve(variables.values())?;
            let channel = trigger.channel.resolve(variables.values())?;
            let component = components[&trigger.component].clone();
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
                    app: manifest.name.clone(),
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

    /// Subscribes and handles messages; never returns (the caller aborts it to stop).
    pub async fn run(self) {
        let mut retry = FIRST_RETRY;
        loop {
            match self.subscribe().await {
                Ok(mut pubsub) => {
                    retry = FIRST_RETRY;
                    println!(
                        "[{}] subscribed to {} on {}",
                        self.app,
                        self.channels.keys().cloned().collect::<Vec<_>>().join(", "),
                        self.server
                    );
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        self.dispatch(&message).await;
                    }
                    eprintln!(
                        "[{}] lost the connection to Redis at {}; subscribing again",
                        self.app, self.server
                    );
                }
                Err(error) => {
                    eprintln!(
                        "[{}] cannot subscribe on Redis at {}: {error}; retrying in {retry:?}",
                        self.app, self.server
                    );
                    tokio::time::sleep(retry).await;
                    retry = (retry * 2).min(LAST_RETRY);
                }
            }
        }
    }

    async fn subscribe(&self) -> redis::RedisResult<redis::aio::PubSub> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        for channel in self.channels.keys() {
            pubsub.subscribe(channel).await?;
        }
        Ok(pubsub)
    }

    /// Runs every component subscribed to the message's channel, concurrently as Spin does, and
    /// logs each outcome.
    async fn dispatch(&self, message: &redis::Msg) {
        let channel = message.get_channel_name();
        let Some(handlers) = self.channels.get(channel) else {
            eprintln!("[{}] message from unexpected channel {channel:?}", self.app);
            return;
        };
        let payload = message.get_payload_bytes().to_vec();
        let payload = &payload;
        let runs = handlers.iter().map(|handler| async move {
            let started = Instant::now();
            let outcome = match handler.call(payload).await {
                Ok(()) => "ok".to_string(),
                Err(error) => format!("failed: {error:#}"),
            };
            println!(
                "[{}] message on {channel} -> {outcome} ({} ms) [{}]",
                self.app,
                started.elapsed().as_millis(),
                handler.component.config.id
            );
        });
        futures_util::future::join_all(runs).await;
    }
}

impl Handler {
    async fn call(&self, payload: &Vec<u8>) -> Result<()> {
        let mut store = self.component.store();
        let instance = self.pre.instantiate_async(&mut store).await?;
        instance
            .fermyon_spin_inbound_redis()
            .call_handle_message(&mut store, payload)
            .await?
            .map_err(|error| anyhow::anyhow!("the handler returned an error ({error:?})"))
    }
}
