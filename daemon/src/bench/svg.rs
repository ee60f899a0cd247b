//! Just enough SVG for the benchmarks' plots: a framed plot area, text and
//! polylines in plot coordinates.

use std::fmt::Write as _;

pub struct Canvas {
    svg: String,
    width: f64,
    height: f64,
    margin: f64,
}

impl Canvas {
    /// A white canvas with a framed plot area `margin` inside its edges.
    pub fn new(width: f64, height: f64, margin: f64) -> Canvas {
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
             font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        );
        let _ = writeln!(
            svg,
            "<rect x=\"{margin}\" y=\"{margin}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>",
            width - 2.0 * margin,
            height - 2.0 * margin
        );
        Canvas {
            svg,
            width,
            height,
            margin,
        }
    }

    /// Canvas x of a fraction 0..1 across the plot area.
    pub fn x(&self, fraction: f64) -> f64 {
        self.margin + fraction * (self.width - 2.0 * self.margin)
    }

    /// Canvas y of a fraction 0..1 down the plot area.
    pub fn y(&self, fraction: f64) -> f64 {
        self.margin + fraction * (self.height - 2.0 * self.margin)
    }

    pub fn width(&self) -> f64 {
        self.width
    }

    pub fn height(&self) -> f64 {
        self.height
    }

    pub fn margin(&self) -> f64 {
        self.margin
    }

    /// Text at canvas coordinates; `anchor` is start, middle or end.
    pub fn text(&mut self, x: f64, y: f64, anchor: &str, colour: &str, text: &str) {
        let _ = writeln!(
            self.svg,
            "<text x=\"{x:.0}\" y=\"{y:.0}\" text-anchor=\"{anchor}\" fill=\"{colour}\">{text}</text>"
        );
    }

    /// A line through canvas points.
    pub fn polyline(&mut self, points: &[(f64, f64)], colour: &str) {
        let path: Vec<String> = points
            .iter()
            .map(|(x, y)| format!("{x:.1},{y:.1}"))
            .collect();
        let _ = writeln!(
            self.svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        );
    }

    pub fn finish(self) -> String {
        self.svg + "</svg>\n"
    }
}
