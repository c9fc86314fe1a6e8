//! The machine a benchmark ran on, as the report describes it.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Machine {
    pub(super) cpus: usize,
    pub(super) cpu_model: String,
    pub(super) memory: String,
    pub(super) os: String,
}

impl Machine {
    pub(super) fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let field = |text: &str, key: &str, separator: char| {
            text.lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(separator)?;
                    (name.trim() == key).then(|| value.trim().trim_matches('"').to_string())
                })
                .unwrap_or_else(|| "unknown".into())
        };
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model: field(&cpuinfo, "model name", ':'),
            memory: field(&meminfo, "MemTotal", ':'),
            os: format!(
                "{}, {} {}",
                field(&os_release, "PRETTY_NAME", '='),
                std::env::consts::OS,
                std::env::consts::ARCH
            ),
        }
    }
}
