//! The results: rows of absolute figures with their ratio to a baseline measured in the same
//! run, printed as a fixed-width table, written as JSON and drawn as an SVG bar chart of the
//! ratios.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use serde::Serialize;

use crate::db::ServerInfo;
use crate::error::{Context, Failure, Result};
use crate::stats::Spread;

/// One figure: its median over the rounds, their range, and its ratio to a baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub case: &'static str,
    pub variant: String,
    pub unit: &'static str,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// The value of every round, in order.
    pub rounds: Vec<f64>,
    pub ratio: Option<Ratio>,
}

/// A figure divided by its baseline: the median of the per-round quotients when both were
/// measured in the same rounds (interleaved, so drift in the machine's load cancels), else
/// the quotient of the medians.
#[derive(Debug, Clone, Serialize)]
pub struct Ratio {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// What the figure is divided by, e.g. "(a) raw INSERT".
    pub baseline: String,
    pub paired: bool,
}

impl Row {
    pub fn new(
        case: &'static str,
        variant: impl Into<String>,
        unit: &'static str,
        rounds: &[f64],
    ) -> Self {
        let spread = Spread::of(rounds);
        Self {
            case,
            variant: variant.into(),
            unit,
            median: spread.median,
            min: spread.min,
            max: spread.max,
            rounds: rounds.to_vec(),
            ratio: None,
        }
    }

    /// This figure divided by `baseline`'s.
    #[must_use]
    pub fn against(mut self, label: impl Into<String>, baseline: &[f64]) -> Self {
        let paired = baseline.len() == self.rounds.len();
        let quotients: Vec<f64> = if paired {
            self.rounds
                .iter()
                .zip(baseline)
                .map(|(value, base)| value / base)
                .collect()
        } else {
            vec![self.median / Spread::of(baseline).median]
        };
        let spread = Spread::of(&quotients);
        self.ratio = Some(Ratio {
            median: spread.median,
            min: spread.min,
            max: spread.max,
            baseline: label.into(),
            paired,
        });
        self
    }
}

/// The machine the run was measured on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    /// `/proc/loadavg`'s 1, 5 and 15 minute averages when the run started and ended.
    pub load_at_start: [f64; 3],
    pub load_at_end: [f64; 3],
    pub kernel: String,
}

impl Machine {
    pub fn load_average() -> [f64; 3] {
        let raw = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let mut fields = raw
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(f64::NAN));
        [
            fields.next().unwrap_or(f64::NAN),
            fields.next().unwrap_or(f64::NAN),
            fields.next().unwrap_or(f64::NAN),
        ]
    }

    pub fn kernel() -> String {
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    }
}

/// How long a case took and how loaded the machine was when it started.
#[derive(Debug, Clone, Serialize)]
pub struct CaseRun {
    pub case: &'static str,
    pub seconds: f64,
    pub load_before: f64,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub date: String,
    pub commit: String,
    pub quick: bool,
    pub machine: Machine,
    pub postgres: ServerInfo,
    pub seconds: f64,
    pub cases: Vec<CaseRun>,
    /// What each case measured and how, in a sentence each.
    pub notes: Vec<String>,
    pub rows: Vec<Row>,
}

/// A number with a precision that suits its size, thousands separated.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return "-".into();
    }
    if value.abs() >= 100.0 {
        // Rounded to an integer first; benchmark figures are far below i64's range.
        #[expect(
            clippy::cast_possible_truncation,
            reason = "a rounded figure for the table, far below i64::MAX"
        )]
        let rounded = value.round() as i64;
        let digits = rounded.unsigned_abs().to_string();
        let mut grouped = String::new();
        for (i, digit) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        if rounded < 0 {
            grouped.insert(0, '-');
        }
        grouped
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

fn ratio_text(ratio: &Ratio) -> String {
    format!("{:.2}", ratio.median)
}

impl Report {
    /// The header and the table, as printed at the end of a run.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let load = |l: [f64; 3]| format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2]);
        let _ = writeln!(
            out,
            "Anslut benchmarks{} — {} — commit {}",
            if self.quick { " (--quick)" } else { "" },
            self.date,
            self.commit
        );
        let _ = writeln!(
            out,
            "machine: {} cores, kernel {}, load average {} at start, {} at end; run took {:.0} s",
            self.machine.cores,
            self.machine.kernel,
            load(self.machine.load_at_start),
            load(self.machine.load_at_end),
            self.seconds
        );
        let _ = writeln!(out, "postgres: {}", self.postgres.version);
        let settings: Vec<String> = self
            .postgres
            .settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "          {}", settings.join(" "));
        for case in &self.cases {
            let _ = writeln!(
                out,
                "case {:<10} {:>6.1} s, 1-minute load average {:.2} when it started",
                case.case, case.seconds, case.load_before
            );
        }
        let _ = writeln!(out);
        let width = self
            .rows
            .iter()
            .map(|row| row.variant.chars().count())
            .max()
            .unwrap_or(0)
            .max("variant".len());
        let header = format!(
            "{:<10} {:<width$} {:>11} {:<23} {:<9} {:>6}  {}",
            "case", "variant", "median", "(range over rounds)", "unit", "ratio", "baseline"
        );
        let _ = writeln!(out, "{header}");
        let _ = writeln!(out, "{}", "-".repeat(header.chars().count() + 24));
        for row in &self.rows {
            let range = format!("({} – {})", number(row.min), number(row.max));
            let (ratio, baseline) = row.ratio.as_ref().map_or_else(
                || (String::new(), String::new()),
                |r| (ratio_text(r), r.baseline.clone()),
            );
            let line = format!(
                "{:<10} {:<width$} {:>11} {:<23} {:<9} {:>6}  {}",
                row.case,
                row.variant,
                number(row.median),
                range,
                row.unit,
                ratio,
                baseline
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
        for note in &self.notes {
            let _ = writeln!(out, "* {note}");
        }
        out
    }

    /// Writes `<stem>.json` and `<stem>.svg` into `dir`.
    pub fn write(&self, dir: &Path, stem: &str) -> Result<()> {
        std::fs::create_dir_all(dir).context(format_args!("creating {}", dir.display()))?;
        let json = serde_json::to_string_pretty(self).context("serialising the results")?;
        let path = dir.join(format!("{stem}.json"));
        std::fs::write(&path, json + "\n").context(format_args!("writing {}", path.display()))?;
        let path = dir.join(format!("{stem}.svg"));
        std::fs::write(&path, self.chart()?).context(format_args!("writing {}", path.display()))?;
        Ok(())
    }

    /// A horizontal bar per ratio on a logarithmic axis: bars grow from 1 (parity with the
    /// baseline) to the ratio, right for "more than the baseline", left for "less".
    pub fn chart(&self) -> Result<String> {
        let rows: Vec<(&Row, &Ratio)> = self
            .rows
            .iter()
            .filter_map(|row| row.ratio.as_ref().map(|ratio| (row, ratio)))
            .collect();
        let lowest = rows.iter().map(|(_, r)| r.median).fold(0.5, f64::min);
        let highest = rows.iter().map(|(_, r)| r.median).fold(2.0, f64::max);
        let (lo, hi) = (lowest / 2.0, highest * 2.0);
        let count = u32::try_from(rows.len()).unwrap_or(u32::MAX);
        let (width, label_width, bar_height) = (1200_u32, 560_u32, 26_u32);
        let height = 110 + bar_height * count;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
            root.fill(&WHITE).map_err(plot_error)?;
            let title = format!(
                "Anslut: each figure relative to its baseline, measured in the same run ({}{})",
                self.date.get(..10).unwrap_or(&self.date),
                if self.quick { ", --quick" } else { "" }
            );
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 17))
                .margin(12)
                .margin_left(label_width)
                .x_label_area_size(36)
                .build_cartesian_2d((lo..hi).log_scale(), 0.0..f64::from(count))
                .map_err(plot_error)?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(0)
                .x_desc("ratio to the baseline (log scale; 1 = equal)")
                .x_label_formatter(&|x| format!("{x}"))
                .draw()
                .map_err(plot_error)?;
            let parity = [(1.0, 0.0), (1.0, f64::from(count))];
            chart
                .draw_series(std::iter::once(PathElement::new(
                    parity,
                    BLACK.stroke_width(1),
                )))
                .map_err(plot_error)?;
            for (i, (row, ratio)) in rows.iter().enumerate() {
                let top = f64::from(count) - f64::from(u32::try_from(i).unwrap_or(0));
                let colour = match row.case {
                    "append" => BLUE.mix(0.7),
                    "http" => MAGENTA.mix(0.7),
                    "replay" => GREEN.mix(0.7),
                    "load" => CYAN.mix(0.8),
                    "freshness" => RED.mix(0.6),
                    _ => BLACK.mix(0.5),
                };
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(1.0, top - 0.15), (ratio.median, top - 0.85)],
                        colour.filled(),
                    )))
                    .map_err(plot_error)?;
                let value_at = chart.backend_coord(&(ratio.median.max(1.0), top - 0.5));
                root.draw(&Text::new(
                    format!("{:.2}", ratio.median),
                    (value_at.0 + 4, value_at.1 - 6),
                    ("sans-serif", 12),
                ))
                .map_err(plot_error)?;
                let label_at = chart.backend_coord(&(lo, top - 0.5));
                let label = format!("{}: {} / {}", row.case, row.variant, ratio.baseline);
                root.draw(&Text::new(
                    clip(&label, 92),
                    (8, label_at.1 - 6),
                    ("sans-serif", 12),
                ))
                .map_err(plot_error)?;
            }
            root.present().map_err(plot_error)?;
        }
        Ok(svg)
    }
}

fn clip(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_owned()
    } else {
        let mut clipped: String = text.chars().take(chars - 1).collect();
        clipped.push('…');
        clipped
    }
}

fn plot_error(error: impl std::fmt::Display) -> Failure {
    Failure::new("drawing the chart", error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_a_precision_that_suits_their_size() {
        assert_eq!(number(1_234_567.4), "1,234,567");
        assert_eq!(number(123.5), "124");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(number(0.1234), "0.12");
        assert_eq!(number(f64::NAN), "-");
    }

    #[test]
    fn ratios_of_interleaved_rounds_are_the_median_of_the_per_round_quotients() {
        let row = Row::new("append", "(c)", "events/s", &[10.0, 30.0, 20.0])
            .against("(a)", &[20.0, 30.0, 80.0]);
        let ratio = row.ratio.expect("a ratio");
        assert!(ratio.paired);
        assert!((ratio.median - 0.5).abs() < 1e-9);
        assert!((ratio.min - 0.25).abs() < 1e-9);
        assert!((ratio.max - 1.0).abs() < 1e-9);
    }
}
