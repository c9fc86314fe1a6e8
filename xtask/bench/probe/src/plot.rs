//! The latency plot: one curve per measurement, latency (log scale) by percentile, as SVG.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use plotters::prelude::*;
use serde::Deserialize;

/// Draw curves from a JSON file `[{"name": …, "curve": [[percentile, ms], …]}, …]`.
#[derive(clap::Args)]
pub struct Plot {
    /// The curves (JSON).
    #[arg(long)]
    curves: PathBuf,
    /// The SVG to write.
    #[arg(long)]
    out: PathBuf,
    /// The plot's title.
    #[arg(long, default_value = "Latency by percentile")]
    title: String,
}

#[derive(Deserialize)]
struct Curve {
    name: String,
    curve: Vec<(f64, f64)>,
}

impl Plot {
    pub fn run(self) -> Result<String> {
        let text = std::fs::read_to_string(&self.curves)
            .with_context(|| format!("reading {}", self.curves.display()))?;
        let curves: Vec<Curve> = serde_json::from_str(&text)
            .with_context(|| format!("parsing {}", self.curves.display()))?;
        let latencies = || {
            curves
                .iter()
                .flat_map(|c| c.curve.iter().map(|&(_, ms)| ms))
        };
        if curves.iter().any(|c| c.curve.is_empty())
            || latencies().any(|ms| ms.is_nan() || ms <= 0.0)
        {
            bail!("every curve needs points with positive latencies");
        }
        let low = latencies().fold(f64::INFINITY, f64::min);
        let high = latencies().fold(0.0, f64::max);
        draw(&self.out, &self.title, &curves, (low / 1.5, high * 1.5))
            .with_context(|| format!("drawing {}", self.out.display()))?;
        Ok(serde_json::json!({ "svg": self.out, "curves": curves.len() }).to_string())
    }
}

/// The x axis: "nines" (−log10(1 − p)), so p50, p90, p99, p99.9 are evenly spaced.
fn nines(percentile: f64) -> f64 {
    -(1.0 - percentile / 100.0).log10()
}

fn draw(out: &PathBuf, title: &str, curves: &[Curve], (low, high): (f64, f64)) -> Result<()> {
    let root = SVGBackend::new(out, (900, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..nines(99.99), (low..high).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms, log scale)")
        // A label per whole nine only: p0, p90, p99, p99.9, p99.99.
        .x_label_formatter(&|&x| {
            if (x - x.round()).abs() > 1e-6 {
                return String::new();
            }
            let percentile = 100.0 - 100.0 * 10f64.powf(-x.round());
            format!("p{}", (percentile * 100.0).round() / 100.0)
        })
        .y_label_formatter(&|ms| format!("{ms:.2}"))
        .draw()?;
    for (index, curve) in curves.iter().enumerate() {
        let color = Palette99::pick(index).stroke_width(2);
        let points: Vec<(f64, f64)> = curve.curve.iter().map(|&(p, ms)| (nines(p), ms)).collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color))?
            .label(&curve.name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color));
        chart.draw_series(
            points
                .into_iter()
                .map(|point| Circle::new(point, 3, color.filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_spread_the_tail() {
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.0) - 2.0).abs() < 1e-9);
        assert!((nines(50.0) - std::f64::consts::LOG10_2).abs() < 1e-9);
    }

    #[test]
    fn draws_an_svg_with_every_curve_named() {
        let dir = std::env::temp_dir().join(format!("bench-probe-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let curves = dir.join("curves.json");
        std::fs::write(
            &curves,
            r#"[{"name":"POST /order","curve":[[50,0.8],[99,2.5]]},
                {"name":"hello","curve":[[50,0.2],[99.99,1.1]]}]"#,
        )
        .unwrap();
        let out = dir.join("latency.svg");
        Plot {
            curves,
            out: out.clone(),
            title: "test".into(),
        }
        .run()
        .unwrap();
        let svg = std::fs::read_to_string(&out).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        assert!(svg.contains("POST /order") && svg.contains("hello"));
    }

    #[test]
    fn rejects_empty_curves() {
        let dir = std::env::temp_dir().join(format!("bench-probe-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let curves = dir.join("curves.json");
        std::fs::write(&curves, r#"[{"name":"x","curve":[]}]"#).unwrap();
        let error = Plot {
            curves,
            out: dir.join("x.svg"),
            title: "t".into(),
        }
        .run()
        .unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(error.to_string().contains("positive latencies"), "{error}");
    }
}
