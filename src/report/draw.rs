//! Plot helpers on plotters: image panels with axes and a colour bar, mosaics of
//! decoded windows, and line charts.

use ndarray::{Array2, Array4, ArrayView2};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::colors::colormaps::{BlackWhite, ViridisRGB};

use super::{ReportError, FONT};

/// Any plotters error as a drawing error (the figure's name is added by the caller).
pub fn d<E: std::fmt::Display>(e: E) -> ReportError {
    ReportError::Draw { figure: String::new(), message: e.to_string() }
}

#[derive(Debug, Clone, Copy)]
pub enum Cmap {
    Gray,
    Viridis,
}

/// Shown for pixels without a value (NaN): away from atoms, gaps between tiles.
const NO_VALUE: RGBColor = RGBColor(45, 45, 50);

impl Cmap {
    fn colour(self, v: f64, (lo, hi): (f64, f64)) -> RGBColor {
        if !v.is_finite() {
            return NO_VALUE;
        }
        let v = v.clamp(lo, hi);
        match self {
            Cmap::Gray => BlackWhite.get_color_normalized(v, lo, hi),
            Cmap::Viridis => ViridisRGB.get_color_normalized(v, lo, hi),
        }
    }
}

/// Title, data extents and axis labels of an image panel.
pub struct Panel {
    pub title: String,
    pub x: (f64, f64),
    pub y: (f64, f64),
    pub x_label: String,
    pub y_label: String,
    pub bar_label: String,
    /// Square pixels (images, mosaics); off for charts such as frame × bin counts.
    pub keep_aspect: bool,
}

impl Panel {
    /// A frame-sized image: axes in nm from the top-left corner.
    pub fn image(title: &str, (w_nm, h_nm): (f64, f64), bar_label: &str) -> Self {
        Self {
            title: title.into(),
            x: (0.0, w_nm),
            y: (0.0, h_nm),
            x_label: "x (nm)".into(),
            y_label: "y (nm)".into(),
            bar_label: bar_label.into(),
            keep_aspect: true,
        }
    }

    /// Tiles counted along both axes.
    pub fn plain(title: &str, (cols, rows): (f64, f64), what: &str) -> Self {
        Self {
            title: title.into(),
            x: (0.0, cols),
            y: (0.0, rows),
            x_label: format!("{what} (column)"),
            y_label: format!("{what} (row)"),
            bar_label: "intensity".into(),
            keep_aspect: true,
        }
    }

    /// A decoded grid over two latents.
    pub fn manifold(title: &str, x: (f64, f64), y: (f64, f64)) -> Self {
        Self {
            title: title.into(),
            x,
            y,
            x_label: "z1".into(),
            y_label: "z2".into(),
            bar_label: "intensity".into(),
            keep_aspect: true,
        }
    }
}

/// Lowest and highest finite value (a unit range when there is none).
pub fn finite_range(values: impl Iterator<Item = f32>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(f64::from(v)), hi.max(f64::from(v))));
    if lo.is_finite() && hi > lo {
        (lo, hi)
    } else if lo.is_finite() {
        (lo - 0.5, lo + 0.5)
    } else {
        (0.0, 1.0)
    }
}

/// The range between the `tail` and 1 − `tail` quantiles (robust to hot pixels).
pub fn percentile_range(values: impl Iterator<Item = f32>, tail: f64) -> (f64, f64) {
    let mut v: Vec<f32> = values.filter(|v| v.is_finite()).collect();
    if v.is_empty() {
        return (0.0, 1.0);
    }
    v.sort_by(f32::total_cmp);
    let at = |q: f64| f64::from(v[((v.len() - 1) as f64 * q).round() as usize]);
    let (lo, hi) = (at(tail), at(1.0 - tail));
    if hi > lo {
        (lo, hi)
    } else {
        finite_range(v.into_iter())
    }
}

/// Tiles (rows, cols, h, w) side by side with one-pixel gaps (NaN).
pub fn mosaic(grid: &Array4<f32>) -> Array2<f32> {
    let (rows, cols, h, w) = grid.dim();
    let mut out = Array2::from_elem((rows * (h + 1) - 1, cols * (w + 1) - 1), f32::NAN);
    for r in 0..rows {
        for c in 0..cols {
            for y in 0..h {
                for x in 0..w {
                    out[[r * (h + 1) + y, c * (w + 1) + x]] = grid[[r, c, y, x]];
                }
            }
        }
    }
    out
}

/// Box-averages `data` onto a (pw × ph) raster, NaN where a box has no value.
fn resample<T: Copy>(data: ArrayView2<T>, (pw, ph): (u32, u32), mut pixel: impl FnMut(&[T]) -> RGBColor) -> Vec<u8> {
    let (h, w) = data.dim();
    let mut buf = Vec::with_capacity((pw * ph * 3) as usize);
    let mut block = Vec::new();
    for py in 0..ph as usize {
        let (y0, y1) = (py * h / ph as usize, ((py + 1) * h / ph as usize).max(py * h / ph as usize + 1).min(h));
        for px in 0..pw as usize {
            let (x0, x1) = (px * w / pw as usize, ((px + 1) * w / pw as usize).max(px * w / pw as usize + 1).min(w));
            block.clear();
            for y in y0..y1 {
                for x in x0..x1 {
                    block.push(data[[y, x]]);
                }
            }
            let c = pixel(&block);
            buf.extend_from_slice(&[c.0, c.1, c.2]);
        }
    }
    buf
}

/// Tick labels with as many decimals as the tick spacing needs, the same for every
/// tick of an axis ("0.10", "0.12", not "0.1", "0.12"; never "-0.0"). plotters puts
/// about `ticks` ticks on an axis spanning `lo..hi`.
pub fn tick_labels(lo: f64, hi: f64, ticks: usize) -> impl Fn(&f64) -> String {
    let raw = ((hi - lo).abs() / ticks.max(1) as f64).max(f64::MIN_POSITIVE);
    let magnitude = 10f64.powf(raw.log10().floor());
    // The finest spacing plotters may choose (it can put a few more ticks than asked).
    let step = [5.0, 2.0, 1.0].into_iter().map(|m| m * magnitude).find(|s| *s <= raw).unwrap_or(magnitude);
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    move |v: &f64| {
        let text = format!("{v:.decimals$}");
        if text.trim_start_matches('-').chars().all(|c| c == '0' || c == '.') {
            text.trim_start_matches('-').to_string()
        } else {
            text
        }
    }
}

type ImageChart<'a, 'b> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Axes with the origin at the top left, as images are shown.
fn image_axes<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    panel: &Panel,
) -> Result<ImageChart<'a, 'b>, ReportError> {
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT, 20))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(panel.x.0..panel.x.1, panel.y.1..panel.y.0)
        .map_err(d)?;
    let (x_ticks, y_ticks) = (tick_labels(panel.x.0, panel.x.1, 10), tick_labels(panel.y.0, panel.y.1, 10));
    chart
        .configure_mesh()
        .disable_mesh()
        .x_label_formatter(&x_ticks)
        .y_label_formatter(&y_ticks)
        .x_desc(&panel.x_label)
        .y_desc(&panel.y_label)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .draw()
        .map_err(d)?;
    Ok(chart)
}

/// The part of `area` whose plotting region (inside the axes of [`image_axes`])
/// has the width/height `ratio`, so that images keep square pixels.
pub fn fit_aspect<'b>(
    area: &DrawingArea<BitMapBackend<'b>, Shift>,
    ratio: f64,
) -> DrawingArea<BitMapBackend<'b>, Shift> {
    fit_aspect_trim(area, ratio).0
}

/// As [`fit_aspect`], also returning the rows trimmed off the top and bottom.
fn fit_aspect_trim<'b>(
    area: &DrawingArea<BitMapBackend<'b>, Shift>,
    ratio: f64,
) -> (DrawingArea<BitMapBackend<'b>, Shift>, i32) {
    let (w, h) = area.dim_in_pixel();
    // Label areas, margins and caption of `image_axes`.
    let plot_w = f64::from(w) - 60.0 - 24.0;
    let plot_h = f64::from(h) - 45.0 - 24.0 - 30.0;
    if plot_w <= 10.0 || plot_h <= 10.0 || !ratio.is_finite() || ratio <= 0.0 {
        return (area.clone(), 0);
    }
    if plot_w / plot_h > ratio {
        let extra = ((plot_w - plot_h * ratio) / 2.0) as i32;
        (area.margin(0, 0, extra, extra), 0)
    } else {
        let extra = ((plot_h - plot_w / ratio) / 2.0) as i32;
        (area.margin(extra, extra, 0, 0), extra)
    }
}

/// An image panel with a colour bar on its right; with `keep_aspect` the image
/// keeps square pixels.
pub fn heatmap(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    panel: &Panel,
    data: ArrayView2<f32>,
    range: (f64, f64),
    cmap: Cmap,
) -> Result<(), ReportError> {
    let (w, _) = area.dim_in_pixel();
    let (main, bar) = area.split_horizontally(w.saturating_sub(130));
    let (main, bar) = if panel.keep_aspect {
        let (rows, cols) = data.dim();
        let (main, trimmed) = fit_aspect_trim(&main, cols as f64 / rows.max(1) as f64);
        (main, bar.margin(trimmed, trimmed, 0, 0))
    } else {
        (main, bar)
    };
    let mut chart = image_axes(&main, panel)?;
    let size = chart.plotting_area().dim_in_pixel();
    let buf = resample(data, size, |block| {
        let finite: Vec<f64> = block.iter().filter(|v| v.is_finite()).map(|&v| f64::from(v)).collect();
        let v = if finite.is_empty() { f64::NAN } else { finite.iter().sum::<f64>() / finite.len() as f64 };
        cmap.colour(v, range)
    });
    let image =
        BitMapElement::with_owned_buffer((panel.x.0, panel.y.0), size, buf).ok_or_else(|| d("raster size mismatch"))?;
    chart.draw_series(std::iter::once(image)).map_err(d)?;
    colour_bar(&bar, range, &panel.bar_label, cmap)
}

fn colour_bar(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    (lo, hi): (f64, f64),
    label: &str,
    cmap: Cmap,
) -> Result<(), ReportError> {
    let mut chart = ChartBuilder::on(area)
        .margin_top(45)
        .margin_bottom(57)
        .margin_right(12)
        .y_label_area_size(85)
        .build_cartesian_2d(0.0..1.0, lo..hi)
        .map_err(d)?;
    let ticks = tick_labels(lo, hi, 10);
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_label_formatter(&ticks)
        .y_desc(label)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(d)?;
    let (pw, ph) = chart.plotting_area().dim_in_pixel();
    let mut buf = Vec::with_capacity((pw * ph * 3) as usize);
    for py in 0..ph {
        let v = hi - (hi - lo) * (f64::from(py) + 0.5) / f64::from(ph.max(1));
        let c = cmap.colour(v, (lo, hi));
        for _ in 0..pw {
            buf.extend_from_slice(&[c.0, c.1, c.2]);
        }
    }
    let image = BitMapElement::with_owned_buffer((0.0, hi), (pw, ph), buf).ok_or_else(|| d("raster size mismatch"))?;
    chart.draw_series(std::iter::once(image)).map_err(d)?;
    Ok(())
}

/// Two probabilities per pixel as colour (first green, second red); returns the
/// chart so that markers can be drawn on top.
pub fn rgb_image<'a, 'b>(
    area: &'a DrawingArea<BitMapBackend<'b>, Shift>,
    panel: &Panel,
    data: ArrayView2<[f32; 2]>,
) -> Result<ImageChart<'a, 'b>, ReportError> {
    let mut chart = image_axes(area, panel)?;
    let size = chart.plotting_area().dim_in_pixel();
    let buf = resample(data, size, |block| {
        let n = block.len().max(1) as f32;
        let (g, r) = block.iter().fold((0.0, 0.0), |(g, r), p| (g + p[0] / n, r + p[1] / n));
        RGBColor((r.clamp(0.0, 1.0) * 255.0) as u8, (g.clamp(0.0, 1.0) * 200.0) as u8, 20)
    });
    let image =
        BitMapElement::with_owned_buffer((panel.x.0, panel.y.0), size, buf).ok_or_else(|| d("raster size mismatch"))?;
    chart.draw_series(std::iter::once(image)).map_err(d)?;
    Ok(chart)
}

/// A named line of (x, y) points in one colour.
pub type Series<'s> = (&'s str, Vec<(f64, f64)>, RGBColor);

/// Line chart of named (x, y) series, with points.
pub fn line_panel(
    area: &DrawingArea<BitMapBackend<'_>, Shift>,
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Series],
    legend: bool,
) -> Result<(), ReportError> {
    let points = series.iter().flat_map(|s| s.1.iter());
    let (x_lo, x_hi) = finite_range(points.clone().map(|p| p.0 as f32));
    let (y_lo, y_hi) = finite_range(points.map(|p| p.1 as f32));
    let pad = 0.05 * (y_hi - y_lo);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(x_lo..x_hi, (y_lo - pad)..(y_hi + pad))
        .map_err(d)?;
    let (x_ticks, y_ticks) = (tick_labels(x_lo, x_hi, 10), tick_labels(y_lo - pad, y_hi + pad, 10));
    // Counts (epochs) are labelled as whole numbers only: "3", not "3.0" or "2.5".
    let counts = series.iter().flat_map(|s| s.1.iter()).all(|p| p.0.fract() == 0.0);
    let x_labels = |v: &f64| match counts {
        true if v.fract().abs() < 1e-9 => format!("{v:.0}"),
        true => String::new(),
        false => x_ticks(v),
    };
    chart
        .configure_mesh()
        .x_label_formatter(&x_labels)
        .y_label_formatter(&y_ticks)
        .x_desc(x_label)
        .y_desc(y_label)
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 16))
        .draw()
        .map_err(d)?;
    for (name, pts, colour) in series {
        let colour = *colour;
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), colour.stroke_width(2)))
            .map_err(d)?
            .label(*name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], colour.stroke_width(2)));
        chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, colour.filled()))).map_err(d)?;
    }
    if legend {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT, 15))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(d)?;
    }
    Ok(())
}

#[cfg(test)]
mod tick_tests {
    use super::tick_labels;

    #[test]
    fn every_tick_of_an_axis_has_the_decimals_its_spacing_needs() {
        let angle = tick_labels(-0.03, 0.15, 10);
        assert_eq!([angle(&0.1), angle(&0.12), angle(&-0.0), angle(&-0.02)], ["0.10", "0.12", "0.00", "-0.02"]);
        let counts = tick_labels(0.0, 40.0, 10);
        assert_eq!([counts(&35.0), counts(&0.0)], ["35", "0"]);
        let frames = tick_labels(0.0, 3.0, 10);
        assert_eq!([frames(&1.5), frames(&2.0)], ["1.5", "2.0"]);
        let nanometres = tick_labels(0.0, 5.1, 10);
        assert_eq!([nanometres(&0.5), nanometres(&4.5)], ["0.5", "4.5"]);
        let tiny = tick_labels(0.0, 0.0, 10);
        assert!(!tiny(&0.0).is_empty());
    }
}
