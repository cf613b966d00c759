//! Line charts as SVG, just what the harness plots: a few series on linear
//! or logarithmic axes, with labelled ticks and a legend.

use std::fmt::Write as _;

pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// A dashed reference line (a baseline) rather than a measured series.
    pub dashed: bool,
}

pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_log: bool,
    pub y_log: bool,
    pub series: Vec<Series>,
}

const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 520.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 300.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
const COLOURS: [&str; 10] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#7f7f7f", "#bcbd22",
];

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Ticks for an axis: powers of ten (with 2 and 5) on a log axis, round steps on a linear one.
fn ticks(low: f64, high: f64, log: bool) -> Vec<f64> {
    if log {
        let mut ticks = Vec::new();
        let mut decade = 10f64.powf(low.log10().floor());
        while decade <= high * 1.0001 {
            for step in [1.0, 2.0, 5.0] {
                let tick = decade * step;
                if tick >= low * 0.9999 && tick <= high * 1.0001 {
                    ticks.push(tick);
                }
            }
            decade *= 10.0;
        }
        ticks
    } else {
        let raw = (high - low) / 5.0;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .into_iter()
            .map(|factor| factor * magnitude)
            .find(|step| *step >= raw)
            .unwrap_or(raw);
        let mut tick = (low / step).ceil() * step;
        let mut ticks = Vec::new();
        while tick <= high + step * 1e-6 {
            ticks.push(tick);
            tick += step;
        }
        ticks
    }
}

fn label(value: f64) -> String {
    if value >= 1_000_000.0 {
        format!("{}M", value / 1_000_000.0)
    } else if value >= 1_000.0 {
        format!("{}k", value / 1_000.0)
    } else {
        format!("{value}")
    }
}

impl Chart {
    pub fn svg(&self) -> String {
        let points = self.series.iter().flat_map(|series| series.points.iter());
        let (mut x_low, mut x_high, mut y_low, mut y_high) =
            (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for (x, y) in points {
            x_low = x_low.min(*x);
            x_high = x_high.max(*x);
            y_low = y_low.min(*y);
            y_high = y_high.max(*y);
        }
        if x_low > x_high {
            (x_low, x_high, y_low, y_high) = (1.0, 10.0, 1.0, 10.0);
        }
        if self.y_log {
            y_low = 10f64.powf(y_low.max(1e-3).log10().floor());
            y_high = 10f64.powf(y_high.max(1e-3).log10().ceil());
        } else {
            y_low = 0.0;
            y_high *= 1.1;
        }
        if self.x_log {
            x_low = x_low.max(1e-9);
        }
        if x_high <= x_low {
            x_high = x_low * 10.0;
        }
        let scale = |value: f64, low: f64, high: f64, log: bool| {
            if log {
                (value.log10() - low.log10()) / (high.log10() - low.log10())
            } else {
                (value - low) / (high - low)
            }
        };
        let plot_width = WIDTH - LEFT - RIGHT;
        let plot_height = HEIGHT - TOP - BOTTOM;
        let x_of = |x: f64| LEFT + scale(x, x_low, x_high, self.x_log) * plot_width;
        let y_of = |y: f64| TOP + plot_height - scale(y, y_low, y_high, self.y_log) * plot_height;
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="28" font-size="16" text-anchor="middle">{}</text>"#,
            LEFT + plot_width / 2.0,
            escape(&self.title)
        );
        for tick in ticks(y_low, y_high, self.y_log) {
            let y = y_of(tick);
            let _ = writeln!(
                svg,
                r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#e0e0e0"/><text x="{}" y="{:.1}" text-anchor="end">{}</text>"##,
                LEFT + plot_width,
                LEFT - 6.0,
                y + 4.0,
                label(tick)
            );
        }
        let x_ticks: Vec<f64> = if self.x_log {
            ticks(x_low, x_high, true)
        } else {
            let mut xs: Vec<f64> = self
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.0))
                .collect();
            xs.sort_by(f64::total_cmp);
            xs.dedup();
            xs
        };
        for tick in x_ticks {
            let x = x_of(tick);
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" x2="{x:.1}" y1="{TOP}" y2="{}" stroke="#e0e0e0"/><text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"##,
                TOP + plot_height,
                TOP + plot_height + 18.0,
                label(tick)
            );
        }
        let _ = writeln!(
            svg,
            r##"<rect x="{LEFT}" y="{TOP}" width="{plot_width}" height="{plot_height}" fill="none" stroke="#333"/>"##
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            LEFT + plot_width / 2.0,
            HEIGHT - 18.0,
            escape(&self.x_label)
        );
        let _ = writeln!(
            svg,
            r#"<text transform="translate(20 {}) rotate(-90)" text-anchor="middle">{}</text>"#,
            TOP + plot_height / 2.0,
            escape(&self.y_label)
        );
        for (number, series) in self.series.iter().enumerate() {
            let colour = COLOURS[number % COLOURS.len()];
            let dash = if series.dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            let path: Vec<String> = series
                .points
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1}", x_of(*x), y_of(*y)))
                .collect();
            let _ = writeln!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>"#,
                path.join(" ")
            );
            if !series.dashed {
                for (x, y) in &series.points {
                    let _ = writeln!(
                        svg,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="3.5" fill="{colour}"/>"#,
                        x_of(*x),
                        y_of(*y)
                    );
                }
            }
            let legend_y = TOP + 10.0 + number as f64 * 20.0;
            let legend_x = LEFT + plot_width + 16.0;
            let _ = writeln!(
                svg,
                r#"<line x1="{legend_x}" x2="{}" y1="{legend_y}" y2="{legend_y}" stroke="{colour}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
                legend_x + 24.0,
                legend_x + 30.0,
                legend_y + 4.0,
                escape(&series.label)
            );
        }
        svg.push_str("</svg>\n");
        svg
    }
}
