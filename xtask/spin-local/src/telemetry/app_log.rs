//! A guest's stdout and stderr as span events.

use std::io::Write;

use opentelemetry::trace::TraceContextExt;
use opentelemetry::{Context, KeyValue};

use super::non_empty;

/// A guest's stdout or stderr that also records each write as an event on the span it runs
/// under, as Spin's `handle_app_log` (`crates/telemetry/src/logs.rs`) does unless
/// `SPIN_DISABLE_LOG_TO_TRACING` is set: attribute `app_log` with the text (or
/// `app_log_non_utf8` with the first 50 bytes escaped), `level` and `target` as Spin's. Spin's
/// event has no message, so `tracing-opentelemetry` names it after its source line
/// (`event crates/telemetry/src/logs.rs:57` in 3.6.3); spin-local names it `app_log`. Match on
/// the attribute.
#[derive(Clone)]
pub struct AppLog {
    cx: Context,
    stderr: bool,
}

impl AppLog {
    pub fn stdout(cx: &Context) -> AppLog {
        AppLog {
            cx: cx.clone(),
            stderr: false,
        }
    }

    pub fn stderr(cx: &Context) -> AppLog {
        AppLog {
            cx: cx.clone(),
            stderr: true,
        }
    }

    fn record(&self, bytes: &[u8]) {
        static DISABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        if *DISABLED.get_or_init(|| non_empty("SPIN_DISABLE_LOG_TO_TRACING")) {
            return;
        }
        let attribute = match std::str::from_utf8(bytes) {
            Ok(text) => KeyValue::new("app_log", text.to_string()),
            Err(_) => KeyValue::new(
                "app_log_non_utf8",
                bytes
                    .iter()
                    .take(50)
                    .flat_map(|byte| std::ascii::escape_default(*byte))
                    .map(char::from)
                    .collect::<String>(),
            ),
        };
        self.cx.span().add_event(
            "app_log",
            vec![
                attribute,
                KeyValue::new("level", "INFO"),
                KeyValue::new("target", "spin_telemetry::logs"),
            ],
        );
    }

    fn write_through(&self, bytes: &[u8]) -> std::io::Result<()> {
        if self.stderr {
            std::io::stderr().write_all(bytes)
        } else {
            std::io::stdout().write_all(bytes)
        }
    }
}

impl wasmtime_wasi::cli::IsTerminal for AppLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for AppLog {
    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only the WASI 0.3 host asks for this one; spin-local hosts WASI 0.2.
        if self.stderr {
            Box::new(tokio::io::stderr())
        } else {
            Box::new(tokio::io::stdout())
        }
    }
}

#[async_trait::async_trait]
impl wasmtime_wasi::p2::Pollable for AppLog {
    async fn ready(&mut self) {}
}

impl wasmtime_wasi::p2::OutputStream for AppLog {
    fn write(&mut self, bytes: bytes::Bytes) -> wasmtime_wasi::p2::StreamResult<()> {
        self.record(&bytes);
        self.write_through(&bytes).map_err(|error| {
            wasmtime_wasi::p2::StreamError::LastOperationFailed(wasmtime::format_err!(error))
        })
    }

    fn flush(&mut self) -> wasmtime_wasi::p2::StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> wasmtime_wasi::p2::StreamResult<usize> {
        Ok(64 * 1024)
    }
}
