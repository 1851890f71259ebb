//! Charts as SVG drawn on the server: horizontal bars with a label, a value and an optional
//! target marker. No inline style (the policy forbids it): colours come from classes in
//! `app.css`, sizes from attributes. Each chart is an image with a title for screen readers,
//! and every view shows the same numbers in a table beside it.

use maud::{Markup, html};

/// One bar.
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// The value as shown at the bar's end.
    pub text: String,
    /// `bar`, `bar warn` or `bar bad`: the colour.
    pub class: &'static str,
    /// A target to mark on the bar's scale (e.g. the lead time's target days).
    pub marker: Option<f64>,
}

const WIDTH: f64 = 720.0;
const LABEL: f64 = 250.0;
const VALUE: f64 = 90.0;
const ROW: f64 = 24.0;

/// A horizontal bar chart titled `title`.
pub fn bars(id: &str, title: &str, bars: &[Bar]) -> Markup {
    let max = bars
        .iter()
        .flat_map(|bar| [bar.value, bar.marker.unwrap_or(0.0)])
        .fold(0.0_f64, f64::max)
        .max(1.0);
    let span = WIDTH - LABEL - VALUE;
    #[expect(
        clippy::cast_precision_loss,
        reason = "a chart has at most a few hundred rows"
    )]
    let height = ROW * bars.len().max(1) as f64 + 8.0;
    let title_id = format!("{id}-title");
    html! {
        svg.chart id=(id) role="img" aria-labelledby=(title_id) viewBox={ "0 0 " (WIDTH) " " (height) }
            width=(WIDTH) height=(height) xmlns="http://www.w3.org/2000/svg" {
            title id=(title_id) { (title) }
            @for (i, bar) in bars.iter().enumerate() {
                @let y = ROW * f64::from(u32::try_from(i).unwrap_or(u32::MAX)) + 4.0;
                @let length = (bar.value.max(0.0) / max * span).max(if bar.value > 0.0 { 2.0 } else { 0.0 });
                g {
                    text.label x=(LABEL - 8.0) y=(y + 15.0) text-anchor="end" { (clip(&bar.label)) }
                    rect class=(bar.class) x=(LABEL) y=(y + 3.0) width=(round(length)) height=(ROW - 8.0) rx="2" {}
                    @if let Some(marker) = bar.marker {
                        @let x = LABEL + marker / max * span;
                        line.marker x1=(round(x)) x2=(round(x)) y1=(y) y2=(y + ROW - 2.0) {}
                    }
                    text.value x=(round(LABEL + length + 6.0)) y=(y + 15.0) { (bar.text) }
                }
            }
        }
    }
}

fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// A label cut to fit its column.
fn clip(label: &str) -> String {
    const MAX: usize = 34;
    if label.chars().count() <= MAX {
        label.to_owned()
    } else {
        let mut cut: String = label.chars().take(MAX - 1).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_escapes_its_labels_and_has_a_title() {
        let svg = bars(
            "c",
            "Cases <by> phase",
            &[Bar {
                label: "<script>".into(),
                value: 3.0,
                text: "3".into(),
                class: "bar",
                marker: Some(5.0),
            }],
        )
        .into_string();
        assert!(svg.contains("&lt;script&gt;"));
        assert!(!svg.contains("<script>"));
        assert!(svg.contains("<title id=\"c-title\">Cases &lt;by&gt; phase</title>"));
        assert!(svg.contains("class=\"marker\""));
        assert!(!svg.contains("style="));
    }
}
