//! The triggers spin-local runs, one module each as Spin has one crate each: each reads its own
//! configuration from the locked app's triggers and runs the loaded components.

pub mod http;
pub mod redis;
