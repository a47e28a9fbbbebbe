//! Small inline-SVG charts for the HTML report: lines against a (log) axis, horizontal box plots
//! with every raw sample drawn, and grouped bars. No JavaScript, no external resources: each
//! chart is one `<svg>` element that any browser draws offline.
//!
//! Every data mark carries a `mark` class (`mark point`, `mark line`, `mark box`, `mark sample`,
//! `mark bar`) so tests can count what was drawn.

use infer_measure::stats::percentile_sorted;

/// Escapes text for HTML and SVG content and attribute values.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Colours of successive series (Tableau 10), chosen for contrast and colour-blind safety.
pub const PALETTE: [&str; 10] =
    ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

/// One named, coloured line of (x, y) points.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// CSS colour.
    pub color: String,
    /// Points, in x order.
    pub points: Vec<(f64, f64)>,
}

/// One row of a box plot: a label, a colour and the raw observations.
#[derive(Debug, Clone, PartialEq)]
pub struct BoxRow {
    /// Row label (left of the plot).
    pub label: String,
    /// CSS colour.
    pub color: String,
    /// Raw observations (any order); when empty, `fallback` is drawn instead.
    pub samples: Vec<f64>,
    /// Median, min and max to draw when there are no raw samples.
    pub fallback: Option<(f64, f64, f64)>,
}

/// One bar of a [`BarGroup`].
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Legend text.
    pub name: String,
    /// CSS colour.
    pub color: String,
    /// Height.
    pub value: f64,
}

/// Bars drawn side by side under one label, with an optional note above them.
#[derive(Debug, Clone, PartialEq)]
pub struct BarGroup {
    /// Label under the group (lines separated by `\n`).
    pub label: String,
    /// Note drawn above the group (e.g. a speed-up).
    pub note: String,
    /// The bars.
    pub bars: Vec<Bar>,
}

/// A linear or base-10 logarithmic mapping from data to pixels.
#[derive(Debug, Clone)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    px0: f64,
    px1: f64,
    /// Ticks to draw instead of the computed ones (e.g. the batch sizes measured).
    fixed: Vec<f64>,
}

impl Axis {
    /// An axis covering `lo..=hi` (padded to nice bounds), log when asked and possible.
    fn new(lo: f64, hi: f64, log: bool, px0: f64, px1: f64) -> Self {
        let log = log && lo > 0.0;
        let (lo, hi) = if !lo.is_finite() || !hi.is_finite() {
            (0.0, 1.0)
        } else if hi <= lo {
            if log { (lo / 2.0, hi * 2.0) } else { (lo - lo.abs().max(1.0) * 0.5, hi + hi.abs().max(1.0) * 0.5) }
        } else {
            (lo, hi)
        };
        if log {
            Self { lo: lo / 1.25, hi: hi * 1.25, log, px0, px1, fixed: Vec::new() }
        } else {
            let step = nice_step(hi - lo);
            Self { lo: (lo / step).floor() * step, hi: (hi / step).ceil() * step, log, px0, px1, fixed: Vec::new() }
        }
    }

    fn map(&self, v: f64) -> f64 {
        let t = if self.log {
            (v.max(f64::MIN_POSITIVE).log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        };
        self.px0 + t.clamp(-0.05, 1.05) * (self.px1 - self.px0)
    }

    /// Tick values and their labels.
    fn ticks(&self) -> Vec<(f64, String)> {
        if !self.fixed.is_empty() {
            return self.fixed.iter().map(|&v| (v, fmt_num(v))).collect();
        }
        let linear = |lo: f64, hi: f64| -> Vec<f64> {
            let step = nice_step(hi - lo);
            let first = (lo / step).ceil() as i64;
            let last = (hi / step).floor() as i64;
            (first..=last).map(|i| step * i as f64).collect()
        };
        let values = if self.log {
            let (a, b) = (self.lo.log10().floor() as i32, self.hi.log10().ceil() as i32);
            let mults: &[f64] = if b - a <= 3 { &[1.0, 2.0, 5.0] } else { &[1.0] };
            let v: Vec<f64> = (a..=b)
                .flat_map(|e| mults.iter().map(move |m| m * 10f64.powi(e)))
                .filter(|v| (self.lo..=self.hi).contains(v))
                .collect();
            if v.len() >= 2 { v } else { linear(self.lo, self.hi).into_iter().filter(|v| *v > 0.0).collect() }
        } else {
            linear(self.lo, self.hi)
        };
        values.into_iter().map(|v| (v, fmt_num(v))).collect()
    }
}

/// A 1-2-5 step giving about five intervals over `range`.
fn nice_step(range: f64) -> f64 {
    if !(range.is_finite() && range > 0.0) {
        return 1.0;
    }
    let raw = range / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    mag * if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    }
}

/// A number with as many digits as it needs (at most 4 significant ones for small values).
#[must_use]
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    let text = if a == 0.0 {
        return "0".into();
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    };
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

/// Whether values spanning `lo..hi` are better read on a log axis.
fn wants_log(lo: f64, hi: f64) -> bool {
    lo > 0.0 && hi / lo >= 20.0
}

fn open(width: f64, height: f64, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"{width}\" height=\"{height}\" \
         preserveAspectRatio=\"xMinYMin meet\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{t}\"><title>{t}</title>\
         <text x=\"{x}\" y=\"20\" class=\"title\" text-anchor=\"middle\">{t}</text>",
        x = width / 2.0,
        t = escape(title)
    )
}

/// Grid lines and labels of an x axis along the bottom of the plot.
fn x_axis(out: &mut String, axis: &Axis, top: f64, bottom: f64, label: &str) {
    for (v, text) in axis.ticks() {
        let x = axis.map(v);
        out.push_str(&format!(
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{bottom}\"/>\
             <text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            bottom + 16.0,
            escape(&text)
        ));
    }
    let mid = f64::midpoint(axis.px0, axis.px1);
    out.push_str(&format!(
        "<text class=\"label\" x=\"{mid:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
        bottom + 36.0,
        escape(label)
    ));
}

/// Grid lines and labels of a y axis along the left of the plot.
fn y_axis(out: &mut String, axis: &Axis, left: f64, right: f64, label: &str) {
    for (v, text) in axis.ticks() {
        let y = axis.map(v);
        out.push_str(&format!(
            "<line class=\"grid\" x1=\"{left}\" y1=\"{y:.1}\" x2=\"{right}\" y2=\"{y:.1}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            y + 4.0,
            escape(&text)
        ));
    }
    let mid = f64::midpoint(axis.px0, axis.px1);
    out.push_str(&format!(
        "<text class=\"label\" transform=\"translate(16 {mid:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        escape(label)
    ));
}

fn legend(out: &mut String, x: f64, y: f64, items: &[(&str, &str)]) {
    for (i, (name, color)) in items.iter().enumerate() {
        let yy = y + 20.0 * i as f64;
        out.push_str(&format!(
            "<rect class=\"swatch\" x=\"{x}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text class=\"legend\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            yy - 10.0,
            escape(color),
            x + 18.0,
            yy,
            escape(name)
        ));
    }
}

/// Lines with a dot at every point, with a tick at every x value. The x axis is logarithmic when
/// `x_log` and the data allow; the y axis starts at 0, or is logarithmic when the values span more
/// than 20×.
#[must_use]
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series], x_log: bool) -> String {
    let (w, h) = (760.0, 360.0);
    let (left, right, top, bottom) = (70.0, 560.0, 40.0, h - 56.0);
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (xlo, xhi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let (ylo, yhi) = ys.fold((f64::INFINITY, 0f64), |(a, b), v| (a.min(v), b.max(v)));
    let mut xa = Axis::new(xlo, xhi, x_log && xhi / xlo >= 4.0, left, right);
    let mut xs: Vec<f64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    if xs.len() <= 12 {
        xa.fixed = xs;
    }
    let ya = if wants_log(ylo, yhi) {
        Axis::new(ylo, yhi, true, bottom, top)
    } else {
        Axis::new(0.0, if yhi > 0.0 { yhi } else { 1.0 }, false, bottom, top)
    };
    let mut out = open(w, h, title);
    x_axis(&mut out, &xa, top, bottom, x_label);
    y_axis(&mut out, &ya, left, right, y_label);
    for s in series {
        let pts: Vec<String> = s.points.iter().map(|&(x, y)| format!("{:.1},{:.1}", xa.map(x), ya.map(y))).collect();
        let color = escape(&s.color);
        out.push_str(&format!(
            "<polyline class=\"mark line\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            pts.join(" ")
        ));
        for &(x, y) in &s.points {
            out.push_str(&format!(
                "<circle class=\"mark point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{color}\"><title>{}: {} → {}\
                 </title></circle>",
                xa.map(x),
                ya.map(y),
                escape(&s.name),
                fmt_num(x),
                fmt_num(y)
            ));
        }
    }
    let items: Vec<(&str, &str)> = series.iter().map(|s| (s.name.as_str(), s.color.as_str())).collect();
    legend(&mut out, right + 24.0, top + 10.0, &items);
    out.push_str("</svg>");
    out
}

/// Horizontal box plots, one row per [`BoxRow`]: whiskers from p5 to p95, a box from p25 to p75,
/// a bar at the median, and every raw sample as a faint dot (spread vertically so they do not
/// hide each other). The axis is logarithmic when the rows span more than 20×.
#[must_use]
pub fn box_chart(title: &str, x_label: &str, rows: &[BoxRow]) -> String {
    let row_h = 44.0;
    let (left, right, top) = (170.0, 730.0, 40.0);
    let bottom = top + row_h * rows.len().max(1) as f64;
    let (w, h) = (760.0, bottom + 56.0);
    let all = rows
        .iter()
        .flat_map(|r| r.samples.iter().copied().chain(r.fallback.into_iter().flat_map(|(m, lo, hi)| [m, lo, hi])));
    let (lo, hi) = all.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let xa = Axis::new(if wants_log(lo, hi) { lo } else { 0f64.min(lo) }, hi, wants_log(lo, hi), left, right);
    let mut out = open(w, h, title);
    x_axis(&mut out, &xa, top, bottom, x_label);
    for (i, row) in rows.iter().enumerate() {
        let cy = top + row_h * (i as f64 + 0.5);
        let color = escape(&row.color);
        out.push_str(&format!(
            "<text class=\"rowlabel\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 8.0,
            cy + 4.0,
            escape(&row.label)
        ));
        let mut sorted = row.samples.clone();
        sorted.retain(|v| v.is_finite());
        sorted.sort_by(f64::total_cmp);
        if sorted.is_empty() {
            if let Some((m, a, b)) = row.fallback {
                out.push_str(&format!(
                    "<line class=\"whisker\" x1=\"{:.1}\" y1=\"{cy:.1}\" x2=\"{:.1}\" y2=\"{cy:.1}\" stroke=\"{color}\"/>\
                     <line class=\"mark median\" x1=\"{m:.1}\" y1=\"{:.1}\" x2=\"{m:.1}\" y2=\"{:.1}\" \
                     stroke=\"{color}\" stroke-width=\"3\"/>",
                    xa.map(a),
                    xa.map(b),
                    cy - 12.0,
                    cy + 12.0,
                    m = xa.map(m)
                ));
            }
            continue;
        }
        let q = |p: f64| xa.map(percentile_sorted(&sorted, p));
        for (k, v) in row.samples.iter().filter(|v| v.is_finite()).enumerate() {
            // A deterministic spread in [-1, 1): the golden-ratio sequence.
            let jitter = ((k as f64 * 0.618_034) % 1.0) * 2.0 - 1.0;
            out.push_str(&format!(
                "<circle class=\"mark sample\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\" fill=\"{color}\" fill-opacity=\"0.35\"/>",
                xa.map(*v),
                cy + jitter * 14.0
            ));
        }
        out.push_str(&format!(
            "<line class=\"whisker\" x1=\"{:.1}\" y1=\"{cy:.1}\" x2=\"{:.1}\" y2=\"{cy:.1}\" stroke=\"#333\"/>\
             <rect class=\"mark box\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"20\" fill=\"{color}\" \
             fill-opacity=\"0.45\" stroke=\"{color}\"><title>{}: median {} ms, p25–p75 {}–{}, p5–p95 {}–{}</title></rect>\
             <line class=\"median\" x1=\"{m:.1}\" y1=\"{:.1}\" x2=\"{m:.1}\" y2=\"{:.1}\" stroke=\"#222\" stroke-width=\"2.5\"/>",
            q(5.0),
            q(95.0),
            q(25.0),
            cy - 10.0,
            (q(75.0) - q(25.0)).max(1.0),
            escape(&row.label),
            fmt_num(percentile_sorted(&sorted, 50.0)),
            fmt_num(percentile_sorted(&sorted, 25.0)),
            fmt_num(percentile_sorted(&sorted, 75.0)),
            fmt_num(percentile_sorted(&sorted, 5.0)),
            fmt_num(percentile_sorted(&sorted, 95.0)),
            cy - 13.0,
            cy + 13.0,
            m = q(50.0)
        ));
    }
    out.push_str("</svg>");
    out
}

/// Grouped vertical bars from 0, each labelled with its value, a note above each group.
#[must_use]
pub fn bar_chart(title: &str, y_label: &str, groups: &[BarGroup]) -> String {
    let (w, h) = (760.0, 390.0);
    let (left, right, top, bottom) = (70.0, 600.0, 56.0, h - 66.0);
    let yhi = groups.iter().flat_map(|g| g.bars.iter().map(|b| b.value)).fold(0.0, f64::max);
    let ya = Axis::new(0.0, if yhi > 0.0 { yhi } else { 1.0 }, false, bottom, top);
    let mut out = open(w, h, title);
    y_axis(&mut out, &ya, left, right, y_label);
    let slot = (right - left) / groups.len().max(1) as f64;
    let mut legend_items: Vec<(&str, &str)> = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let x0 = left + slot * i as f64;
        let bw = (slot * 0.7 / g.bars.len().max(1) as f64).min(60.0);
        let start = x0 + (slot - bw * g.bars.len() as f64) / 2.0;
        for (j, b) in g.bars.iter().enumerate() {
            let x = start + bw * j as f64;
            let y = ya.map(b.value);
            out.push_str(&format!(
                "<rect class=\"mark bar\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\">\
                 <title>{} {}: {}</title></rect>\
                 <text class=\"value\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                bw - 2.0,
                (bottom - y).max(0.0),
                escape(&b.color),
                escape(&g.label),
                escape(&b.name),
                fmt_num(b.value),
                x + bw / 2.0 - 1.0,
                y - 4.0,
                fmt_num(b.value)
            ));
            if !legend_items.iter().any(|(n, _)| *n == b.name) {
                legend_items.push((&b.name, &b.color));
            }
        }
        let cx = x0 + slot / 2.0;
        // The label's lines are separated by `\n`.
        for (k, line) in g.label.lines().enumerate() {
            out.push_str(&format!(
                "<text class=\"tick\" x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                bottom + 18.0 + 15.0 * k as f64,
                escape(line)
            ));
        }
        out.push_str(&format!(
            "<text class=\"note\" x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            top - 8.0,
            escape(&g.note)
        ));
    }
    legend(&mut out, right + 24.0, top + 10.0, &legend_items);
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }

    #[test]
    fn axes_have_nice_ticks() {
        let a = Axis::new(0.0, 23.0, false, 0.0, 100.0);
        let ticks: Vec<String> = a.ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(ticks, ["0", "5", "10", "15", "20", "25"]);
        let l = Axis::new(0.8, 45.0, true, 0.0, 100.0);
        let ticks: Vec<String> = l.ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(ticks, ["1", "2", "5", "10", "20", "50"]);
        // Equal ratios take equal room on a log axis.
        assert!((l.map(10.0) - l.map(1.0) - (l.map(50.0) - l.map(5.0))).abs() < 1e-9);
        let wide = Axis::new(0.5, 5000.0, true, 0.0, 100.0);
        let ticks: Vec<String> = wide.ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(ticks, ["1", "10", "100", "1000"]);
        let narrow = Axis::new(1.5, 2.6, true, 0.0, 100.0);
        assert!(narrow.ticks().len() >= 2, "{:?}", narrow.ticks());
        // Degenerate ranges still give a usable axis.
        assert!(Axis::new(5.0, 5.0, false, 0.0, 1.0).ticks().len() >= 2);
    }

    #[test]
    fn charts_draw_one_mark_per_datum() {
        let s = Series { name: "onnx cpu".into(), color: PALETTE[0].into(), points: vec![(1.0, 50.0), (8.0, 60.0)] };
        let svg = line_chart("t", "batch", "items/s", &[s], true);
        assert_eq!(svg.matches("class=\"mark point\"").count(), 2);
        assert_eq!(svg.matches("class=\"mark line\"").count(), 1);
        let rows = [
            BoxRow { label: "a".into(), color: "red".into(), samples: vec![1.0, 2.0, 3.0], fallback: None },
            BoxRow { label: "b".into(), color: "blue".into(), samples: vec![], fallback: Some((2.0, 1.0, 3.0)) },
        ];
        let svg = box_chart("t", "ms", &rows);
        assert_eq!(svg.matches("class=\"mark sample\"").count(), 3);
        assert_eq!(svg.matches("class=\"mark box\"").count(), 1);
        assert_eq!(svg.matches("class=\"mark median\"").count(), 1);
        let g = BarGroup {
            label: "<b>".into(),
            note: "2x".into(),
            bars: vec![
                Bar { name: "cpu".into(), color: "red".into(), value: 2.0 },
                Bar { name: "gpu".into(), color: "blue".into(), value: 1.0 },
            ],
        };
        let svg = bar_chart("t", "ms", &[g]);
        assert_eq!(svg.matches("class=\"mark bar\"").count(), 2);
        assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
    }
}
