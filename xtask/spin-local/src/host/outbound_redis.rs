//! `fermyon:spin/redis@2.0.0`: outbound Redis as Spin provides it. `open` checks the address
//! against `allowed_outbound_hosts` (`invalid-address` when refused or unparsable) and connects
//! at once, so an unreachable server is `other(…)` right there; `execute` flattens the reply
//! into a list of values exactly as Spin does (Spin's `crates/factor-outbound-redis`).

use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry::KeyValue;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use wasmtime::component::Resource;

use super::ComponentConfig;
use crate::bindings::redis::{self as wit, Connection, Error, RedisParameter, RedisResult};
use crate::telemetry;

/// The capability's state in one instance's store: its open connections, by handle.
pub struct OutboundRedis {
    component: Arc<ComponentConfig>,
    /// The span the instance runs under: the parent of the outbound Redis spans.
    trace: opentelemetry::Context,
    connections: HashMap<u32, MultiplexedConnection>,
    next_handle: u32,
}

/// Spin's per-instance limit on open connections.
const MAX_CONNECTIONS: usize = 1024;

/// Spin's limit on a reply the host buffers for the guest.
const MAX_BUFFERED_BYTES: usize = 128 << 20;

/// The `key` argument as Spin's `#[instrument]` records it.
fn key_attribute(key: &str) -> Vec<KeyValue> {
    vec![KeyValue::new("key", key.to_string())]
}

fn other(error: impl std::fmt::Display) -> Error {
    Error::Other(error.to_string())
}

impl OutboundRedis {
    pub fn new(component: Arc<ComponentConfig>, trace: opentelemetry::Context) -> OutboundRedis {
        OutboundRedis {
            component,
            trace,
            connections: HashMap::new(),
            next_handle: 0,
        }
    }

    /// Runs `op` under one of Spin's outbound Redis spans, below the instance's span, recording
    /// its error as Spin does. `describe` gives the span's name and arguments; it is called
    /// only when spans are exported.
    async fn traced<T>(
        &mut self,
        describe: impl FnOnce() -> (String, Vec<KeyValue>),
        op: impl AsyncFnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let span = telemetry::redis_client(&self.trace, describe);
        let result = op(self).await;
        telemetry::end(&span, &result);
        result
    }

    fn connection(
        &mut self,
        connection: &Resource<Connection>,
    ) -> Result<&mut MultiplexedConnection, Error> {
        self.connections
            .get_mut(&connection.rep())
            .ok_or_else(|| Error::Other("could not find connection for resource".into()))
    }
    /// Runs one command on `connection` under its span (see `traced`); a Redis error is
    /// `other(…)`.
    async fn command<T>(
        &mut self,
        connection: &Resource<Connection>,
        describe: impl FnOnce() -> (String, Vec<KeyValue>),
        op: impl AsyncFnOnce(&mut MultiplexedConnection) -> redis::RedisResult<T>,
    ) -> Result<T, Error> {
        self.traced(describe, async |this| {
            op(this.connection(connection)?).await.map_err(other)
        })
        .await
    }
}

impl wit::Host for OutboundRedis {}

impl wit::HostConnection for OutboundRedis {
    async fn open(&mut self, address: String) -> Result<Resource<Connection>, Error> {
        self.traced(
            || ("spin_outbound_redis.open_connection".into(), Vec::new()),
            async |this| {
                if !this.component.allowed_hosts.allows(&address, "redis") {
                    this.component.report_disallowed(&address);
                    return Err(Error::InvalidAddress);
                }
                let info = redis::IntoConnectionInfo::into_connection_info(address.as_str())
                    .map_err(|_| Error::InvalidAddress)?;
                // Naming the client library (`CLIENT SETINFO`) would cost every connection a round
                // trip; nothing reads it.
                let settings = info.redis_settings().clone().set_skip_set_lib_name();
                let client = redis::Client::open(info.set_redis_settings(settings))
                    .map_err(|_| Error::InvalidAddress)?;
                // Spin's redis client (0.32) has no connection or response timeouts; 1.x defaults to
                // some, so they are turned off to behave the same.
                let config = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(None)
                    .set_response_timeout(None);
                let connection = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(other)?;
                if this.connections.len() >= MAX_CONNECTIONS {
                    return Err(Error::TooManyConnections);
                }
                let handle = this.next_handle;
                this.next_handle = handle.wrapping_add(1);
                this.connections.insert(handle, connection);
                Ok(Resource::new_own(handle))
            },
        )
        .await
    }

    async fn publish(
        &mut self,
        connection: Resource<Connection>,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), Error> {
        let describe = || {
            let attributes = vec![KeyValue::new("channel", channel.clone())];
            (format!("PUBLISH {channel}"), attributes)
        };
        self.command(&connection, describe, async |c| {
            c.publish(&channel, &payload).await
        })
        .await
    }

    async fn get(
        &mut self,
        connection: Resource<Connection>,
        key: String,
    ) -> Result<Option<Vec<u8>>, Error> {
        self.traced(
            || (format!("GET {key}"), key_attribute(&key)),
            async |this| {
                let value: Option<Vec<u8>> = this
                    .connection(&connection)?
                    .get(&key)
                    .await
                    .map_err(other)?;
                check_buffered(value.as_ref().map_or(0, Vec::len))?;
                Ok(value)
            },
        )
        .await
    }

    async fn set(
        &mut self,
        connection: Resource<Connection>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        let describe = || (format!("SET {key}"), key_attribute(&key));
        self.command(&connection, describe, async |c| c.set(&key, &value).await)
            .await
    }

    async fn incr(&mut self, connection: Resource<Connection>, key: String) -> Result<i64, Error> {
        let describe = || (format!("INCRBY {key} 1"), key_attribute(&key));
        self.command(&connection, describe, async |c| c.incr(&key, 1).await)
            .await
    }

    async fn del(
        &mut self,
        connection: Resource<Connection>,
        keys: Vec<String>,
    ) -> Result<u32, Error> {
        let describe = || {
            let attributes = vec![KeyValue::new("keys", format!("{keys:?}"))];
            (format!("DEL {}", keys.join(" ")), attributes)
        };
        self.command(&connection, describe, async |c| c.del(&keys).await)
            .await
    }

    async fn sadd(
        &mut self,
        connection: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, Error> {
        self.traced(
            || {
                (
                    format!("SADD {key} {}", values.join(" ")),
                    key_attribute(&key),
                )
            },
            async |this| {
                this.connection(&connection)?
                    .sadd(&key, &values)
                    .await
                    .map_err(|error| {
                        if error.kind() == redis::ErrorKind::UnexpectedReturnType {
                            Error::TypeError
                        } else {
                            other(error)
                        }
                    })
            },
        )
        .await
    }

    async fn smembers(
        &mut self,
        connection: Resource<Connection>,
        key: String,
    ) -> Result<Vec<String>, Error> {
        let describe = || (format!("SMEMBERS {key}"), key_attribute(&key));
        self.command(&connection, describe, async |c| c.smembers(&key).await)
            .await
    }

    async fn srem(
        &mut self,
        connection: Resource<Connection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, Error> {
        let describe = || {
            (
                format!("SREM {key} {}", values.join(" ")),
                key_attribute(&key),
            )
        };
        self.command(&connection, describe, async |c| c.srem(&key, &values).await)
            .await
    }

    async fn execute(
        &mut self,
        connection: Resource<Connection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Result<Vec<RedisResult>, Error> {
        self.traced(
            || {
                (
                    command.clone(),
                    vec![KeyValue::new("command", command.clone())],
                )
            },
            async |this| {
                let mut cmd = redis::cmd(&command);
                for argument in &arguments {
                    match argument {
                        RedisParameter::Int64(value) => cmd.arg(value),
                        RedisParameter::Binary(value) => cmd.arg(value),
                    };
                }
                let FlatResults(results) = cmd
                    .query_async(this.connection(&connection)?)
                    .await
                    .map_err(other)?;
                check_buffered(results.iter().map(buffered_size).sum())?;
                Ok(results)
            },
        )
        .await
    }

    async fn drop(&mut self, connection: Resource<Connection>) -> wasmtime::Result<()> {
        self.connections.remove(&connection.rep());
        Ok(())
    }
}

fn check_buffered(bytes: usize) -> Result<(), Error> {
    if bytes > MAX_BUFFERED_BYTES {
        return Err(Error::Other(format!(
            "query result exceeds limit of {MAX_BUFFERED_BYTES} bytes"
        )));
    }
    Ok(())
}

fn buffered_size(result: &RedisResult) -> usize {
    size_of::<RedisResult>()
        + match result {
            RedisResult::Nil | RedisResult::Int64(_) => 0,
            RedisResult::Binary(bytes) => bytes.len(),
            RedisResult::Status(text) => text.len(),
        }
}

/// A reply flattened as Spin flattens it: nested arrays and sets become one list, `OK` and
/// simple strings become `status`, doubles and big numbers become their text as `binary`,
/// booleans become 1 or 0; maps, attributes, verbatim strings and pushes are type errors.
#[derive(Debug, PartialEq)]
struct FlatResults(Vec<RedisResult>);

impl redis::FromRedisValue for FlatResults {
    fn from_redis_value(value: redis::Value) -> Result<Self, redis::ParsingError> {
        fn append(results: &mut Vec<RedisResult>, value: redis::Value) -> Result<(), String> {
            use redis::Value;
            let result = match value {
                Value::Nil => RedisResult::Nil,
                Value::Int(number) => RedisResult::Int64(number),
                Value::BulkString(bytes) => RedisResult::Binary(bytes),
                Value::SimpleString(text) => RedisResult::Status(text),
                Value::Okay => RedisResult::Status("OK".to_string()),
                Value::Double(number) => RedisResult::Binary(number.to_string().into_bytes()),
                Value::Boolean(flag) => RedisResult::Int64(i64::from(flag)),
                Value::BigNumber(digits) => RedisResult::Binary(digits),
                Value::Array(values) | Value::Set(values) => {
                    for value in values {
                        append(results, value)?;
                    }
                    return Ok(());
                }
                Value::Map(_) => return Err("Redis Map type is not supported".into()),
                Value::Attribute { .. } => {
                    return Err("Redis Attribute type is not supported".into());
                }
                Value::VerbatimString { .. } => {
                    return Err("Redis string with format attribute is not supported".into());
                }
                Value::Push { .. } => return Err("Redis Pub/Sub types are not supported".into()),
                Value::ServerError(error) => return Err(format!("Server error: {error:?}")),
                other => return Err(format!("unsupported Redis value {other:?}")),
            };
            results.push(result);
            Ok(())
        }
        let mut results = Vec::new();
        append(&mut results, value)
            .map_err(|why| format!("Could not convert Redis response: {why}"))?;
        Ok(FlatResults(results))
    }
}

#[cfg(test)]
mod tests {
    use redis::{FromRedisValue, Value};

    use super::*;

    #[test]
    fn flattens_replies_like_spin() {
        let reply = Value::Array(vec![
            Value::Int(7),
            Value::Nil,
            Value::BulkString(b"bytes".to_vec()),
            Value::Array(vec![Value::SimpleString("PONG".into()), Value::Okay]),
            Value::Set(vec![Value::Boolean(true), Value::Boolean(false)]),
            Value::Double(1.5),
            Value::BigNumber(b"123456789012345678901234567890".to_vec()),
        ]);
        assert_eq!(
            FlatResults::from_redis_value(reply).unwrap(),
            FlatResults(vec![
                RedisResult::Int64(7),
                RedisResult::Nil,
                RedisResult::Binary(b"bytes".to_vec()),
                RedisResult::Status("PONG".into()),
                RedisResult::Status("OK".into()),
                RedisResult::Int64(1),
                RedisResult::Int64(0),
                RedisResult::Binary(b"1.5".to_vec()),
                RedisResult::Binary(b"123456789012345678901234567890".to_vec()),
            ])
        );
        assert_eq!(
            FlatResults::from_redis_value(Value::Int(1)).unwrap(),
            FlatResults(vec![RedisResult::Int64(1)])
        );
    }

    #[test]
    fn maps_are_not_supported() {
        let reply = Value::Map(vec![(Value::Int(1), Value::Int(2))]);
        let error = FlatResults::from_redis_value(reply).unwrap_err();
        assert!(
            error.to_string().contains("Map type is not supported"),
            "{error}"
        );
    }
}
