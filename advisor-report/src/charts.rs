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

/// One operator on the roofline chart.
#[derive(Debug, Clone)]
pub(crate) struct RooflinePoint {
    /// The number it is drawn with, which the table beside the chart explains.
    pub(crate) number: usize,
    /// FLOPs per byte.
    pub(crate) intensity: f64,
    /// Achieved TFLOP/s.
    pub(crate) tflops: f64,
    /// Share of the drawn operators' kernel time, 0–1: the point's size.
    pub(crate) share: f64,
    pub(crate) color: RGBColor,
}

/// One roof: `min(peak, intensity × bandwidth)`.
#[derive(Debug, Clone)]
pub(crate) struct RooflineRoof {
    pub(crate) peak_tflops: f64,
    pub(crate) memory_tb_per_s: f64,
    pub(crate) color: RGBColor,
}

/// A log-log roofline chart (Williams, Waterman and Patterson, CACM 2009): arithmetic
/// intensity across, TFLOP/s up, each roof a sloped memory line meeting a flat compute line at
/// its ridge point; left of the ridge an operator is memory-bound, right of it compute-bound.
#[derive(Debug, Clone)]
pub(crate) struct RooflineChart {
    pub(crate) points: Vec<RooflinePoint>,
    pub(crate) roofs: Vec<RooflineRoof>,
}

impl RooflineChart {
    /// The chart as an SVG document; `Err` when there is nothing to draw.
    pub(crate) fn svg(&self) -> Result<String, String> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        let points: Vec<&RooflinePoint> = self
            .points
            .iter()
            .filter(|p| positive(p.intensity) && positive(p.tflops))
            .collect();
        if points.is_empty() {
            return Err("no operator with FLOPs, bytes and kernel time to draw".to_owned());
        }
        let roofs: Vec<&RooflineRoof> = self
            .roofs
            .iter()
            .filter(|r| positive(r.peak_tflops) && positive(r.memory_tb_per_s))
            .collect();
        // Decades around every point and every roof's ridge point.
        let ridges = roofs.iter().map(|r| r.peak_tflops / r.memory_tb_per_s);
        let xs = points.iter().map(|p| p.intensity).chain(ridges);
        let (x_low, x_high) = xs.fold((f64::INFINITY, 0.0_f64), |(lo, hi), x| {
            (lo.min(x), hi.max(x))
        });
        let x_range = decade_below(x_low / 2.0)..decade_above(x_high * 2.0);
        let ys = points
            .iter()
            .map(|p| p.tflops)
            .chain(roofs.iter().map(|r| r.peak_tflops))
            .chain(roofs.iter().map(|r| x_range.start * r.memory_tb_per_s));
        let (y_low, y_high) = ys.fold((f64::INFINITY, 0.0_f64), |(lo, hi), y| {
            (lo.min(y), hi.max(y))
        });
        let y_range = decade_below(y_low.max(y_high * 1e-6))..decade_above(y_high * 1.5);
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (WIDTH, 420)).into_drawing_area();
            self.draw(&root, &points, &roofs, x_range, y_range)
                .map_err(|error| error.to_string())?;
            root.present().map_err(|error| error.to_string())?;
        }
        Ok(svg)
    }

    fn draw(
        &self,
        root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
        points: &[&RooflinePoint],
        roofs: &[&RooflineRoof],
        x_range: std::ops::Range<f64>,
        y_range: std::ops::Range<f64>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        use plotters::coord::combinators::IntoLogRange;
        let (x_start, x_end) = (x_range.start, x_range.end);
        let y_start = y_range.start;
        let mut chart = ChartBuilder::on(root)
            .margin_top(12)
            .margin_right(24)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x_range.log_scale(), y_range.log_scale())?;
        let text_style = ("sans-serif", 13).into_font().color(&BLACK);
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .bold_line_style(palette::AXIS.mix(0.2))
            .axis_style(palette::AXIS)
            .x_label_formatter(&|value| axis_number(*value))
            .y_label_formatter(&|value| axis_number(*value))
            .x_desc("arithmetic intensity, FLOP/byte")
            .y_desc("TFLOP/s")
            .label_style(text_style.clone())
            .axis_desc_style(text_style.clone())
            .draw()?;
        for roof in roofs {
            let ridge = roof.peak_tflops / roof.memory_tb_per_s;
            let mut line = Vec::new();
            if ridge > x_start {
                line.push((x_start, x_start * roof.memory_tb_per_s));
                line.push((ridge, roof.peak_tflops));
            } else {
                line.push((x_start, roof.peak_tflops));
            }
            line.push((x_end, roof.peak_tflops));
            chart.draw_series(std::iter::once(PathElement::new(
                line,
                roof.color.stroke_width(2),
            )))?;
            // The ridge: memory-bound to its left, compute-bound to its right.
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(ridge, roof.peak_tflops), (ridge, y_start)],
                roof.color.mix(0.35).stroke_width(1),
            )))?;
        }
        if let Some(main) = roofs.first() {
            let ridge = main.peak_tflops / main.memory_tb_per_s;
            let top = main.peak_tflops * 1.25;
            // Placed on the log axis (plotters' SVG text has no right anchor): "memory-bound"
            // ends about a decade left of the ridge, "compute-bound" starts just right of it.
            let left = (ridge / 12.0).max(x_start * 1.2);
            chart.draw_series(std::iter::once(Text::new(
                "← memory-bound",
                (left, top),
                text_style.clone(),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                "compute-bound →",
                (ridge * 1.3, top),
                text_style.clone(),
            )))?;
        }
        // Largest first, so small points stay visible on top.
        let mut order: Vec<&&RooflinePoint> = points.iter().collect();
        order.sort_by(|a, b| b.share.total_cmp(&a.share));
        for point in order {
            let radius = (4.0 + 14.0 * point.share.clamp(0.0, 1.0).sqrt()).round() as i32;
            let at = (point.intensity, point.tflops);
            chart.draw_series(std::iter::once(Circle::new(
                at,
                radius,
                point.color.mix(0.55).filled(),
            )))?;
            chart.draw_series(std::iter::once(Circle::new(
                at,
                radius,
                point.color.stroke_width(1),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                point.number.to_string(),
                at,
                ("sans-serif", 11)
                    .into_font()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Center, VPos::Center)),
            )))?;
        }
        Ok(())
    }
}

/// The power of ten at or below `value` (positive).
fn decade_below(value: f64) -> f64 {
    10f64.powf(value.log10().floor())
}

/// The power of ten at or above `value` (positive).
fn decade_above(value: f64) -> f64 {
    10f64.powf(value.log10().ceil())
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
