//! Medians, spreads and percentiles. The machine is shared, so every figure is the median of
//! several rounds, printed with the range the rounds spanned.

use std::time::Duration;

/// The median and range of one figure over its rounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    /// Of the values of each round; `values` must not be empty.
    pub fn of(values: &[f64]) -> Self {
        assert!(!values.is_empty(), "a figure needs at least one round");
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        let median = if sorted.len().is_multiple_of(2) {
            f64::midpoint(sorted[middle - 1], sorted[middle])
        } else {
            sorted[middle]
        };
        Self {
            median,
            min: sorted[0],
            max: sorted[sorted.len() - 1],
        }
    }
}

/// The `p`-th quantile (0.0–1.0) of `sorted`, nearest rank; `sorted` must not be empty.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    assert!(!sorted.is_empty(), "a percentile needs at least one sample");
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "a percentile's rank: the index of a non-empty slice, as f64 and back"
    )]
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds, for printing.
pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// `count` per second over `elapsed`.
pub fn rate(count: u64, elapsed: Duration) -> f64 {
    // Counts stay far below 2^52, where f64 would start to round them.
    #[expect(
        clippy::cast_precision_loss,
        reason = "a count or a duration as f64 for a rate or a percentage: far below 2^52, where f64 is exact"
    )]
    let count = count as f64;
    count / elapsed.as_secs_f64().max(1e-9)
}

/// The p50 and p99 of a round's latencies, in milliseconds.
pub fn p50_p99(latencies: &mut [Duration]) -> (f64, f64) {
    latencies.sort_unstable();
    (
        ms(percentile(latencies, 0.50)),
        ms(percentile(latencies, 0.99)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_even_number_of_rounds_is_the_mean_of_the_middle_two() {
        let spread = Spread::of(&[4.0, 1.0, 3.0, 2.0]);
        assert!((spread.median - 2.5).abs() < f64::EPSILON);
        assert!((spread.min - 1.0).abs() < f64::EPSILON);
        assert!((spread.max - 4.0).abs() < f64::EPSILON);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 0.5), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&samples[..1], 0.99), Duration::from_millis(1));
    }
}
