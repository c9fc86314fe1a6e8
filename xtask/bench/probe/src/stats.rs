//! Percentiles of measured durations.

use serde::Serialize;

/// The percentiles every latency curve is drawn at (those the load generator reports, too).
pub const CURVE_PERCENTILES: &[f64] = &[10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99];

#[derive(Debug, Serialize)]
pub struct Summary {
    pub count: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// `(percentile, ms)` at each of [`CURVE_PERCENTILES`].
    pub curve: Vec<(f64, f64)>,
}

impl Summary {
    /// None when there are no samples.
    pub fn of(mut samples_ms: Vec<f64>) -> Option<Summary> {
        samples_ms.sort_by(f64::total_cmp);
        let max_ms = *samples_ms.last()?;
        Some(Summary {
            count: samples_ms.len(),
            p50_ms: percentile(&samples_ms, 50.0),
            p90_ms: percentile(&samples_ms, 90.0),
            p99_ms: percentile(&samples_ms, 99.0),
            max_ms,
            curve: CURVE_PERCENTILES
                .iter()
                .map(|&p| (p, percentile(&samples_ms, p)))
                .collect(),
        })
    }
}

/// Nearest-rank percentile of sorted, non-empty samples.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        let summary = Summary::of(samples).unwrap();
        assert_eq!(summary.count, 100);
        assert_eq!(summary.p50_ms, 50.0);
        assert_eq!(summary.p90_ms, 90.0);
        assert_eq!(summary.p99_ms, 99.0);
        assert_eq!(summary.max_ms, 100.0);
        assert_eq!(summary.curve.last(), Some(&(99.99, 100.0)));
    }

    #[test]
    fn one_sample_is_every_percentile_and_none_is_no_summary() {
        let summary = Summary::of(vec![3.5]).unwrap();
        assert_eq!((summary.p50_ms, summary.p99_ms), (3.5, 3.5));
        assert!(Summary::of(Vec::new()).is_none());
    }
}
