//! The nano-services figures (docs/nano-services.md): the order API with fulfilment `composed`
//! into the receiver, against the `message` placement measured earlier in the same run (the
//! apps' default), with the same load, the same probe and the same runtime.

use std::net::SocketAddr;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::load::{Figures, Load};
use super::probe::{EndToEnd, Probe};
use super::targets::{Goal, Target};
use super::{measure_end_to_end, measure_order_api};
use crate::project;
use crate::up::{self, AppRuntime, LocalOptions};

/// One placement's figures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PlacementFigures {
    pub post_order: Figures,
    pub end_to_end: EndToEnd,
}

/// Both placements, the size of what each app ships, and the composed app's cold start.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NanoServices {
    pub message: PlacementFigures,
    pub composed: PlacementFigures,
    /// App → bytes of its components' wasm as published (dependencies composed in).
    pub artifact_wasm_bytes: Vec<(String, u64)>,
    /// First 2xx of the order-processor started with `fulfilment_placement=composed`, with the
    /// compilation cache the runs filled.
    pub composed_cold_start_ms: Option<f64>,
}

/// Measures the composed placement on a system of its own; `message` is the run's default
/// system's figures.
pub fn measure(
    load: &Load,
    probe: &Probe,
    runtime: AppRuntime,
    message: PlacementFigures,
    log: &std::path::Path,
) -> Result<NanoServices> {
    eprintln!("bench: nano-services, fulfilment composed into the receiver");
    let composed_variable = [up::placement_variable("composed")];
    let system = up::start_local(&LocalOptions {
        runtime,
        log: Some(log.to_path_buf()),
        variables: composed_variable.to_vec(),
        ..LocalOptions::default()
    })?;
    let base = system.base_url().to_string();
    let (post_order, _) = measure_order_api(load, probe, &base)?;
    let end_to_end = measure_end_to_end(
        load,
        probe,
        &base,
        Some(system.redis_url()),
        post_order.requests_per_second,
    )?;

    eprintln!("bench: cold start of the composed order-processor");
    let http_apps: Vec<_> = project::apps()?
        .into_iter()
        .filter(|app| app.serves_http)
        .collect();
    let cold_listen = SocketAddr::from(([127, 0, 0, 1], dev_services::free_port()?));
    let command = up::runtime_command(
        runtime,
        &http_apps.iter().collect::<Vec<_>>(),
        Some(cold_listen),
        Some(system.redis_url()),
        &composed_variable,
    )?;
    let existing_order = probe.create_order(&base)?;
    let composed_cold_start_ms = Some(probe.cold_start(
        &format!("http://{cold_listen}/order/{existing_order}"),
        &command,
    )?);
    drop(system);

    Ok(NanoServices {
        message,
        composed: PlacementFigures {
            post_order,
            end_to_end,
        },
        artifact_wasm_bytes: artifact_wasm_bytes()?,
        composed_cold_start_ms,
    })
}

/// Each app's wasm as `cargo xtask publish` pushes it: every component composed with its
/// dependencies.
fn artifact_wasm_bytes() -> Result<Vec<(String, u64)>> {
    project::apps()?
        .into_iter()
        .map(|app| {
            let locked = spin_manifest::Manifest::load(&app.manifest, "cargo xtask")?.lock()?;
            let mut bytes = 0;
            for component in &locked.components {
                bytes += spin_compose::compose_component(component)?.len() as u64;
            }
            Ok((app.name, bytes))
        })
        .collect()
}

impl NanoServices {
    fn post_ratio(&self) -> f64 {
        self.composed.post_order.requests_per_second / self.message.post_order.requests_per_second
    }

    fn p99_ratio(&self) -> Option<f64> {
        let p99 =
            |figures: &PlacementFigures| figures.end_to_end.latency.as_ref().map(|l| l.p99_ms);
        Some(p99(&self.composed)? / p99(&self.message)?)
    }

    /// The goals for the composed placement, relative to `message`.
    pub fn targets(&self) -> Vec<Target> {
        vec![
            Target::new(
                "composed vs message: POST /order req/s",
                Goal::AtLeast(1.5),
                "×",
                Some(self.post_ratio()),
            ),
            Target::new(
                "composed vs message: POST→fulfilled p99 at half load",
                Goal::Below(1.0 / 3.0),
                "×",
                self.p99_ratio(),
            ),
        ]
    }

    pub fn markdown(&self) -> String {
        let mut md = String::from("\n## Nano-services: fulfilment placements\n\n");
        md += "| placement | POST /order req/s | POST /order p99 | POST→fulfilled p50 | POST→fulfilled p99 |\n|---|---|---|---|---|\n";
        for (name, figures) in [("message", &self.message), ("composed", &self.composed)] {
            let (p50, p99) = figures
                .end_to_end
                .latency
                .as_ref()
                .map_or(("–".into(), "–".into()), |l| {
                    (format!("{:.2} ms", l.p50_ms), format!("{:.2} ms", l.p99_ms))
                });
            md += &format!(
                "| {name} | {:.0} | {:.2} ms | {p50} | {p99} |\n",
                figures.post_order.requests_per_second, figures.post_order.p99_ms
            );
        }
        md += "\n| artifact (wasm, dependencies composed) | bytes |\n|---|---|\n";
        for (app, bytes) in &self.artifact_wasm_bytes {
            md += &format!("| {app} | {bytes} ({:.1} KiB) |\n", *bytes as f64 / 1024.0);
        }
        if let Some(ms) = self.composed_cold_start_ms {
            md += &format!("\nCold start of the composed order-processor: {ms:.1} ms.\n");
        }
        md += "\n| goal | measured | verdict |\n|---|---|---|\n";
        for target in self.targets() {
            md += &format!(
                "| {} {} | {} | {} |\n",
                target.name,
                target.goal_text(),
                target
                    .measured
                    .map_or("–".to_string(), |value| format!("{value:.2} ×")),
                target.verdict
            );
        }
        md
    }
}
