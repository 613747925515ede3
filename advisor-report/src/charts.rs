//! Charts for the HTML report, drawn as inline SVG by `plotters`' SVG backend.
//!
//! Every chart is one kind: horizontal bars, one row per item (a step, a stream, a kernel, a
//! run before or after a change), each bar stacked from named series, with optional vertical
//! markers (the device's memory). Text is SVG `<text>` in the browser's own sans-serif font,
//! so nothing is loaded; plotters escapes it as XML, and labels from inputs have their
//! terminal controls escaped and are cut to [`LABEL_CHARS`] before they reach it. The legend
//! is HTML beside the SVG. Colours are chosen to read on light and dark backgrounds; the
//! page's stylesheet recolours text and axes for the dark scheme.

use plotters::{
    backend::SVGBackend,
    coord::ranged1d::{IntoSegmentedCoord, SegmentValue},
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

use crate::text::escape_control;

/// Longest row label drawn, in characters; longer ones are cut with `…` (the tables below
/// the charts give them whole).
const LABEL_CHARS: usize = 56;

/// Width of every chart, pixels (CSS scales it down on narrow screens).
const WIDTH: u32 = 880;

/// Height of one row, pixels.
const ROW_HEIGHT: u32 = 26;

/// One stacked series: its name and colour.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Series {
    pub(crate) name: &'static str,
    pub(crate) color: RGBColor,
}

/// One bar: its label and a value per series (in the chart's unit).
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) label: String,
    pub(crate) values: Vec<f64>,
    /// Written at the bar's end instead of its total.
    pub(crate) note: Option<String>,
}

/// A vertical line across the rows at a value, with its name.
#[derive(Debug, Clone)]
pub(crate) struct Marker {
    pub(crate) name: String,
    pub(crate) value: f64,
    pub(crate) color: RGBColor,
}

/// A horizontal stacked-bar chart.
#[derive(Debug, Clone)]
pub(crate) struct BarChart {
    /// The unit of the values, for the axis: `ms`, `GiB`.
    pub(crate) unit: &'static str,
    pub(crate) series: Vec<Series>,
    pub(crate) rows: Vec<Row>,
    pub(crate) markers: Vec<Marker>,
    /// How each bar's total is written at its end.
    pub(crate) total_label: fn(f64) -> String,
}

/// The palette, from Okabe and Ito's colour-blind-safe set ("Color Universal Design", 2008),
/// at weights that read on white and on near-black.
pub(crate) mod palette {
    use plotters::style::RGBColor;

    pub(crate) const BLUE: RGBColor = RGBColor(0x00, 0x72, 0xB2);
    pub(crate) const ORANGE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
    pub(crate) const GREEN: RGBColor = RGBColor(0x00, 0x9E, 0x73);
    pub(crate) const VERMILION: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
    pub(crate) const SKY: RGBColor = RGBColor(0x56, 0xB4, 0xE9);
    pub(crate) const PURPLE: RGBColor = RGBColor(0xCC, 0x79, 0xA7);
    pub(crate) const YELLOW: RGBColor = RGBColor(0xF0, 0xE4, 0x42);
    pub(crate) const GREY: RGBColor = RGBColor(0x99, 0x99, 0x99);
    /// Axis lines and the markers' text: a mid grey, recoloured by CSS in the dark scheme.
    pub(crate) const AXIS: RGBColor = RGBColor(0x6E, 0x77, 0x81);
    /// Device memory markers.
    pub(crate) const LIMIT: RGBColor = RGBColor(0xCF, 0x22, 0x2E);

    /// Colours for series without a colour of their own, in order.
    pub(crate) const CYCLE: [RGBColor; 8] =
        [BLUE, ORANGE, GREEN, VERMILION, SKY, PURPLE, YELLOW, GREY];
}

/// `#0072b2`, for the HTML legend.
pub(crate) fn hex(color: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", color.0, color.1, color.2)
}

/// A label from the inputs as the chart draws it: controls escaped, cut to [`LABEL_CHARS`].
pub(crate) fn label(text: &str) -> String {
    let text = escape_control(text);
    if text.chars().count() <= LABEL_CHARS {
        return text.into_owned();
    }
    let mut cut: String = text.chars().take(LABEL_CHARS - 1).collect();
    cut.push('…');
    cut
}

impl BarChart {
    /// The chart as an SVG document; `Err` with plotters' message when it cannot be drawn.
    pub(crate) fn svg(&self) -> Result<String, String> {
        if self.rows.is_empty() {
            return Err("no rows to draw".to_owned());
        }
        let rows = self.rows.len();
        let height = 56 + ROW_HEIGHT * rows as u32;
        let totals: Vec<f64> = self
            .rows
            .iter()
            .map(|row| row.values.iter().filter(|v| v.is_finite()).sum::<f64>())
            .collect();
        let largest = totals
            .iter()
            .copied()
            .chain(self.markers.iter().map(|m| m.value))
            .filter(|v| v.is_finite())
            .fold(0.0_f64, f64::max);
        // Room at the right for the totals written beside the bars.
        let x_max = if largest > 0.0 { largest * 1.18 } else { 1.0 };
        let label_chars = self
            .rows
            .iter()
            .map(|row| row.label.chars().count())
            .max()
            .unwrap_or(0);
        let label_width = (label_chars as u32 * 7 + 12).clamp(60, 420);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
            self.draw(&root, x_max, label_width, &totals)
                .map_err(|error| error.to_string())?;
            root.present().map_err(|error| error.to_string())?;
        }
        Ok(svg)
    }

    fn draw(
        &self,
        root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
        x_max: f64,
        label_width: u32,
        totals: &[f64],
    ) -> Result<(), Box<dyn std::error::Error>> {
        let rows = self.rows.len();
        let labels: Vec<&str> = self.rows.iter().map(|row| row.label.as_str()).collect();
        // Row 0 is drawn at the top: plotters' y axis grows upwards.
        let y_of = |index: usize| (rows - 1 - index) as i32;
        let mut chart = ChartBuilder::on(root)
            .margin_top(8)
            .margin_right(16)
            .x_label_area_size(36)
            .y_label_area_size(label_width)
            .build_cartesian_2d(0.0..x_max, (0..rows as i32).into_segmented())?;
        let text_style = ("sans-serif", 13).into_font().color(&BLACK);
        let axis_label = |value: &SegmentValue<i32>| match value {
            SegmentValue::CenterOf(y) => usize::try_from(*y)
                .ok()
                .and_then(|y| rows.checked_sub(1 + y))
                .and_then(|index| labels.get(index))
                .map_or_else(String::new, |label| (*label).to_owned()),
            _ => String::new(),
        };
        let unit = self.unit;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(palette::AXIS.mix(0.25))
            .axis_style(palette::AXIS)
            .y_labels(rows)
            .y_label_formatter(&axis_label)
            .x_labels(8)
            .x_label_formatter(&|value| axis_number(*value))
            .x_desc(unit)
            .label_style(text_style.clone())
            .axis_desc_style(text_style.clone())
            .draw()?;
        for (index, row) in self.rows.iter().enumerate() {
            let y = y_of(index);
            let mut start = 0.0;
            for (value, series) in row.values.iter().zip(&self.series) {
                if !(value.is_finite() && *value > 0.0) {
                    continue;
                }
                let end = start + value;
                let mut bar = Rectangle::new(
                    [
                        (start, SegmentValue::Exact(y)),
                        (end, SegmentValue::Exact(y + 1)),
                    ],
                    series.color.filled(),
                );
                bar.set_margin(4, 4, 0, 0);
                chart.draw_series(std::iter::once(bar))?;
                start = end;
            }
            let total = totals.get(index).copied().unwrap_or(0.0);
            let anchored = text_style.pos(Pos::new(HPos::Left, VPos::Center));
            let note = row
                .note
                .clone()
                .unwrap_or_else(|| (self.total_label)(total));
            chart.draw_series(std::iter::once(Text::new(
                format!(" {note}"),
                (total, SegmentValue::CenterOf(y)),
                anchored,
            )))?;
        }
        for marker in &self.markers {
            if !marker.value.is_finite() {
                continue;
            }
            chart.draw_series(std::iter::once(PathElement::new(
                vec![
                    (marker.value, SegmentValue::Exact(0)),
                    (marker.value, SegmentValue::Exact(rows as i32)),
                ],
                marker.color.stroke_width(2),
            )))?;
        }
        Ok(())
    }
}

/// An axis number: no more digits than it needs.
fn axis_number(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude == 0.0 {
        "0".to_owned()
    } else if magnitude >= 100.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::{BarChart, Marker, Row, Series, label, palette};

    fn chart(rows: Vec<Row>) -> BarChart {
        BarChart {
            unit: "ms",
            series: vec![
                Series {
                    name: "compute",
                    color: palette::BLUE,
                },
                Series {
                    name: "idle",
                    color: palette::GREY,
                },
            ],
            rows,
            markers: vec![Marker {
                name: "limit".to_owned(),
                value: 5.0,
                color: palette::LIMIT,
            }],
            total_label: |v| format!("{v:.1} ms"),
        }
    }

    #[test]
    fn draws_one_rect_per_positive_segment_and_escapes_labels() {
        let svg = chart(vec![
            Row {
                label: label("<script>alert(1)</script>"),
                values: vec![2.0, 1.0],
                note: None,
            },
            Row {
                label: "b & c".to_owned(),
                values: vec![3.0, 0.0],
                note: None,
            },
        ])
        .svg()
        .unwrap_or_default();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(!svg.contains("<script"), "{svg}");
        assert!(
            svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{svg}"
        );
        assert!(svg.contains("b &amp; c"), "{svg}");
        // Three bar segments in the palette's colours (the zero is not drawn).
        assert_eq!(svg.matches("fill=\"#0072B2\"").count(), 2, "{svg}");
        assert_eq!(svg.matches("fill=\"#999999\"").count(), 1, "{svg}");
        assert!(svg.contains("3.0 ms"), "{svg}");
        assert!(svg.contains("stroke=\"#CF222E\""), "{svg}");
    }

    #[test]
    fn refuses_an_empty_chart_and_cuts_long_labels() {
        assert!(chart(Vec::new()).svg().is_err());
        let long = label(&"k".repeat(300));
        assert_eq!(long.chars().count(), super::LABEL_CHARS);
        assert!(long.ends_with('…'));
        assert_eq!(label("a\u{1b}[31m"), "a\\x1b[31m");
    }
}
