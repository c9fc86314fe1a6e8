//! Real backing services on loopback: each starts a Debian-packaged server on a free port in a
//! temporary directory, waits until it answers, and stops it on drop.

mod process;
mod redis;
mod registry;

pub use process::{free_port, private_dir, require_tool, wait_for_port};
pub use redis::{RedisOptions, RedisServer};
pub use registry::{RegistryOptions, RegistryServer};
