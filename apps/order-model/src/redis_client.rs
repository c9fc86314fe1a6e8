//! [`Redis`] over a connection of the `redis` crate (feature `redis-client`), for host-side
//! tools and tests: each reply is flattened as Spin's outbound Redis hands it to a component
//! (nested arrays into one list, `OK` and simple strings as a status), so the domain runs on the
//! host exactly as in a component. Reply types Spin does not pass on are an error.

use std::sync::Mutex;

use crate::{Arg, Redis, RedisError, Value};

/// One connection, one command at a time.
pub struct RedisConnection(Mutex<redis::Connection>);

impl RedisConnection {
    pub fn new(connection: redis::Connection) -> RedisConnection {
        RedisConnection(Mutex::new(connection))
    }
}

impl Redis for RedisConnection {
    fn execute(&self, command: &str, args: &[Arg<'_>]) -> Result<Vec<Value>, RedisError> {
        let mut cmd = redis::cmd(command);
        for arg in args {
            match arg {
                Arg::Int(value) => cmd.arg(*value),
                Arg::Bytes(bytes) => cmd.arg(*bytes),
            };
        }
        let mut connection = self
            .0
            .lock()
            .map_err(|_| RedisError("the connection's lock is poisoned".into()))?;
        let reply: redis::Value = cmd
            .query(&mut *connection)
            .map_err(|error| RedisError(error.to_string()))?;
        let mut values = Vec::new();
        flatten(reply, &mut values)?;
        Ok(values)
    }
}

impl Redis for &RedisConnection {
    fn execute(&self, command: &str, args: &[Arg<'_>]) -> Result<Vec<Value>, RedisError> {
        (*self).execute(command, args)
    }
}

fn flatten(reply: redis::Value, values: &mut Vec<Value>) -> Result<(), RedisError> {
    match reply {
        redis::Value::Nil => values.push(Value::Nil),
        redis::Value::Int(number) => values.push(Value::Int(number)),
        redis::Value::BulkString(bytes) => values.push(Value::Bytes(bytes)),
        redis::Value::SimpleString(text) => values.push(Value::Status(text)),
        redis::Value::Okay => values.push(Value::Status("OK".into())),
        redis::Value::Array(items) => {
            for item in items {
                flatten(item, values)?;
            }
        }
        other => {
            return Err(RedisError(format!(
                "a reply Spin does not pass on: {other:?}"
            )));
        }
    }
    Ok(())
}
