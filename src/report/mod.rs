//! `report` — the figures of the paper for the user's own movie, drawn with
//! plotters from what the analysis file holds: Fig. 2 (a frame, its class
//! probabilities and atoms), Fig. 5 (GMM components, the autoencoder's, the VAE's
//! and the rVAE's manifolds), Fig. 6 (latent maps of the first, middle and last
//! frame), Fig. 7 (latent histograms per frame and for the whole movie), Fig. S1
//! (SSIM between building blocks), the BIC of the mixtures, and training curves;
//! for simulated movies also the order parameters scored against the truth.

mod draw;
mod order;
mod read;

use std::path::{Path, PathBuf};

use ndarray::{s, Array2, Axis};
use plotters::prelude::*;

use crate::store::{AnalysisFile, StoreError};
use draw::{d, heatmap, mosaic, Cmap, Panel};
use read::StoredAnalysis;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Missing(String),
    #[error("drawing {figure}: {message}")]
    Draw { figure: String, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

const FONT: &str = "sans-serif";

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // DejaVu Sans (free licence, assets/fonts/DejaVuSans.LICENSE): the figures
        // look the same on every machine and need no system fonts.
        let bytes: &'static [u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
        if plotters::style::register_font(FONT, FontStyle::Normal, bytes).is_err() {
            log::error!("the embedded font could not be read; figure text will be missing");
        }
    });
}

/// Writes every figure into `out_dir` (created if needed) and returns their paths.
pub fn write_report(file: &AnalysisFile, out_dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    register_font();
    std::fs::create_dir_all(out_dir).map_err(|source| ReportError::Io { path: out_dir.to_path_buf(), source })?;
    let stored = StoredAnalysis::read(file)?;
    let mut written = Vec::new();
    type Figure = dyn Fn(&Path, &StoredAnalysis) -> Result<(), ReportError>;
    let figures: [(&str, &Figure); 7] = [
        ("fig2_segmentation.png", &segmentation_figure),
        ("fig5_building_blocks.png", &building_blocks_figure),
        ("fig6_latent_maps.png", &maps_figure),
        ("fig7_latent_dynamics.png", &dynamics_figure),
        ("figS1_ssim.png", &ssim_figure),
        ("gmm_bic.png", &bic_figure),
        ("training_curves.png", &training_figure),
    ];
    for (name, draw_figure) in figures {
        written.push(draw_atomically(out_dir, name, |temp| draw_figure(temp, &stored))?);
    }
    // Simulated movies know the truth: the order parameters are also scored.
    let has_truth = hdf5::File::open(file.path()).map(|f| f.link_exists("truth")).unwrap_or(false);
    if has_truth {
        match crate::pipeline::score_stored_latents(file) {
            Ok(scores) => written
                .push(draw_atomically(out_dir, "order_parameters.png", |temp| order::order_figure(temp, &scores))?),
            Err(e) => log::warn!("order parameters not scored against the truth: {e}"),
        }
    }
    Ok(written)
}

/// Draws one figure under a temporary name and renames it, so a failure leaves no
/// half figure.
fn draw_atomically(
    out_dir: &Path,
    name: &str,
    draw_figure: impl FnOnce(&Path) -> Result<(), ReportError>,
) -> Result<PathBuf, ReportError> {
    let path = out_dir.join(name);
    let temp = out_dir.join(format!(".partial-{name}"));
    let result = draw_figure(&temp)
        .and_then(|()| std::fs::rename(&temp, &path).map_err(|source| ReportError::Io { path: path.clone(), source }));
    if let Err(e) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(match e {
            ReportError::Draw { message, .. } => ReportError::Draw { figure: name.into(), message },
            other => other,
        });
    }
    log::info!("wrote {}", path.display());
    Ok(path)
}

fn segmentation_figure(path: &Path, a: &StoredAnalysis) -> Result<(), ReportError> {
    let root = BitMapBackend::new(path, (1500, 720)).into_drawing_area();
    root.fill(&WHITE).map_err(d)?;
    let root = root.titled("Frame 0: raw image, class probabilities and atoms (Fig. 2)", (FONT, 26)).map_err(d)?;
    let (left, right) = root.split_horizontally(780);
    let (h, w) = a.frame0.dim();
    let extent = (w as f64 * a.pixel_size / 10.0, h as f64 * a.pixel_size / 10.0);
    let range = draw::percentile_range(a.frame0.iter().copied(), 0.005);
    heatmap(&left, &Panel::image("raw frame", extent, "intensity (counts)"), a.frame0.view(), range, Cmap::Gray)?;
    // Probabilities as colour: carbon green, silicon red, background dark.
    let overlay = a.probabilities0.as_ref().map(|p| {
        let classes = p.len_of(Axis(0));
        Array2::from_shape_fn((h, w), |(y, x)| {
            let c = if classes > 1 { p[[1, y, x]] } else { 0.0 };
            let si = if classes > 2 { p[[2, y, x]] } else { 0.0 };
            // Encoded as one value per channel pair for the RGB raster below.
            [c, si]
        })
    });
    let right = draw::fit_aspect(&right, w as f64 / h as f64);
    let chart = match &overlay {
        Some(o) => {
            draw::rgb_image(&right, &Panel::image("probabilities (C green, Si red) and atoms", extent, ""), o.view())?
        }
        None => draw::rgb_image(
            &right,
            &Panel::image("atoms (no probabilities stored)", extent, ""),
            Array2::from_elem((h, w), [0.0f32, 0.0]).view(),
        )?,
    };
    let mut chart = chart;
    let to_nm = |v: f32| f64::from(v) * a.pixel_size / 10.0;
    chart
        .draw_series(a.atoms0.iter().map(|&(y, x, class)| {
            let colour = if class == 2 { RGBColor(255, 80, 80) } else { RGBColor(255, 255, 255) };
            Circle::new((to_nm(x), to_nm(y)), if class == 2 { 5 } else { 2 }, colour.stroke_width(1))
        }))
        .map_err(d)?;
    root.present().map_err(d)
}

fn building_blocks_figure(path: &Path, a: &StoredAnalysis) -> Result<(), ReportError> {
    let root = BitMapBackend::new(path, (2000, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(d)?;
    let root = root.titled("Building blocks each method finds (Fig. 5)", (FONT, 26)).map_err(d)?;
    let panels = root.split_evenly((1, 4));
    let k = a.window_components.len_of(Axis(0));
    let cols = (k as f64).sqrt().ceil() as usize;
    let rows = k.div_ceil(cols);
    let w = a.window_components.len_of(Axis(1));
    let mut grid = ndarray::Array4::from_elem((rows, cols, w, w), f32::NAN);
    for i in 0..k {
        grid.slice_mut(s![i / cols, i % cols, .., ..]).assign(&a.window_components.slice(s![i, .., ..]));
    }
    let gmm = mosaic(&grid);
    let g_range = draw::finite_range(gmm.iter().copied());
    heatmap(
        &panels[0],
        &Panel::plain(&format!("GMM on raw windows: {k} components (BIC)"), (cols as f64, rows as f64), "component"),
        gmm.view(),
        g_range,
        Cmap::Viridis,
    )?;
    let ae = mosaic(&a.conv_ae_manifold);
    let [(x0, x1), (y0, y1)] = a.conv_ae_range;
    heatmap(
        &panels[1],
        &Panel::manifold("conv autoencoder manifold", (x0, x1), (y0, y1)),
        ae.view(),
        draw::finite_range(ae.iter().copied()),
        Cmap::Viridis,
    )?;
    let (lo, hi) = (a.rvae_axis[0], a.rvae_axis[a.rvae_axis.len() - 1]);
    let vae = mosaic(&a.vae_manifold);
    heatmap(
        &panels[2],
        &Panel::manifold("plain VAE manifold", (lo, hi), (lo, hi)),
        vae.view(),
        draw::finite_range(vae.iter().copied()),
        Cmap::Viridis,
    )?;
    let rvae = mosaic(&a.rvae_manifold);
    heatmap(
        &panels[3],
        &Panel::manifold("rVAE manifold (pose removed)", (lo, hi), (lo, hi)),
        rvae.view(),
        draw::finite_range(rvae.iter().copied()),
        Cmap::Viridis,
    )?;
    root.present().map_err(d)
}

/// The latents drawn in Figs. 6 and 7: the angle and the content latents.
fn shown_latents(a: &StoredAnalysis) -> Vec<usize> {
    a.names.iter().enumerate().filter(|(_, n)| *n == "angle" || n.starts_with('z')).map(|(i, _)| i).collect()
}

fn unit_of(name: &str) -> &'static str {
    if name == "angle" {
        "rad"
    } else {
        "latent units"
    }
}

fn maps_figure(path: &Path, a: &StoredAnalysis) -> Result<(), ReportError> {
    let latents = shown_latents(a);
    let frames = a.map_frames.len();
    let root =
        BitMapBackend::new(path, (560 * frames as u32 + 40, 520 * latents.len() as u32 + 60)).into_drawing_area();
    root.fill(&WHITE).map_err(d)?;
    let root = root.titled("Latents painted on their atoms (Fig. 6)", (FONT, 26)).map_err(d)?;
    let cells = root.split_evenly((latents.len(), frames));
    for (row, &c) in latents.iter().enumerate() {
        let edges = &a.histogram_edges[c];
        let range = (edges[0], edges[edges.len() - 1]);
        for (col, &f) in a.map_frames.iter().enumerate() {
            let m = a.maps[c].slice(s![col, .., ..]);
            let (h, w) = m.dim();
            let extent = (w as f64 * a.pixel_size / 10.0, h as f64 * a.pixel_size / 10.0);
            let title = format!("{} — frame {f}", a.names[c]);
            let label = format!("{} ({})", a.names[c], unit_of(&a.names[c]));
            heatmap(&cells[row * frames + col], &Panel::image(&title, extent, &label), m, range, Cmap::Viridis)?;
        }
    }
    root.present().map_err(d)
}

fn dynamics_figure(path: &Path, a: &StoredAnalysis) -> Result<(), ReportError> {
    let latents = shown_latents(a);
    let root = BitMapBackend::new(path, (1500, 480 * latents.len() as u32 + 60)).into_drawing_area();
    root.fill(&WHITE).map_err(d)?;
    let root = root.titled("Latent distributions over time (Fig. 7)", (FONT, 26)).map_err(d)?;
    let rows = root.split_evenly((latents.len(), 1));
    for (row, &c) in latents.iter().enumerate() {
        let (left, right) = rows[row].split_horizontally(900);
        let hist = a.histograms[c].mapv(|v| v as f32);
        let edges = &a.histogram_edges[c];
        let (lo, hi) = (edges[0], edges[edges.len() - 1]);
        let frames = hist.nrows();
        let unit = unit_of(&a.names[c]);
        let panel = Panel {
            title: format!("{} per frame", a.names[c]),
            x: (lo, hi),
            y: (0.0, frames as f64),
            x_label: format!("{} ({unit})", a.names[c]),
            y_label: "frame".into(),
            bar_label: "atoms per bin".into(),
            keep_aspect: false,
        };
        heatmap(&left, &panel, hist.view(), draw::finite_range(hist.iter().copied()), Cmap::Viridis)?;
        let total: Vec<f64> = hist.sum_axis(Axis(0)).iter().map(|&v| f64::from(v)).collect();
        let width = (hi - lo) / total.len() as f64;
        let top = total.iter().copied().fold(1.0, f64::max) * 1.05;
        let mut chart = ChartBuilder::on(&right)
            .caption(format!("{}: whole movie", a.names[c]), (FONT, 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(lo..hi, 0.0..top)
            .map_err(d)?;
        let (x_ticks, y_ticks) = (draw::tick_labels(lo, hi, 10), draw::tick_labels(0.0, top, 10));
        chart
            .configure_mesh()
            .x_label_formatter(&x_ticks)
            .y_label_formatter(&y_ticks)
            .x_desc(format!("{} ({unit})", a.names[c]))
            .y_desc("atoms")
            .label_style((FONT, 14))
            .draw()
            .map_err(d)?;
        chart
            .draw_series(total.iter().enumerate().map(|(i, &v)| {
                let x = lo + i as f64 * width;
                Rectangle::new([(x, 0.0), (x + width, v)], RGBColor(60, 90, 170).filled())
            }))
            .map_err(d)?;
    }
    root.present().map_err(d)
}

fn ssim_figure(path: &Path, a: &StoredAnalysis) -> Result<(), ReportError> {
    let root = BitMapBackend::new(path, (1200, 650)).into_drawing_area();
    root.fill(&WHITE).map_err(d)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Similarity of the building blocks (Fig. S1): mean pairwise SSIM", (FONT, 24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..a.ssim.len() as f64, 0.0..1.05)
        .map_err(d)?;
    let names: Vec<String> = a.ssim.iter().map(|s| s.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(a.ssim.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.26 && i < names.len() {
                names[i].clone()
            } else {
                String::new()
            }
        })
        .y_desc("mean SSIM between different blocks")
        .label_style((FONT, 16))
        .draw()
        .map_err(d)?;
    let plain = RGBColor(90, 120, 200);
    let turned = RGBColor(230, 140, 40);
    chart
        .draw_series(
            a.ssim
                .iter()
                .enumerate()
                .map(|(i, s)| Rectangle::new([(i as f64 + 0.15, 0.0), (i as f64 + 0.48, s.1)], plain.filled())),
        )
        .map_err(d)?
        .label("as found")
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], plain.filled()));
    chart
        .draw_series(
            a.ssim
                .iter()
                .enumerate()
                .map(|(i, s)| Rectangle::new([(i as f64 + 0.52, 0.0), (i as f64 + 0.85, s.2)], turned.filled())),
        )
        .map_err(d)?
        .label("best turn of one block")
        .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], turned.filled()));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT, 16))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(d)?;
    root.present().map_err(d)
}

fn bic_figure(path: &Path, a: &StoredAnalysis) -> Result<(), ReportError> {
    let root = BitMapBackend::new(path, (1300, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(d)?;
    let panels = root.split_evenly((1, 2));
    for (panel, (title, (ks, bic))) in
        panels.iter().zip([("GMM on the content latents", &a.latent_bic), ("GMM on raw windows", &a.window_bic)])
    {
        draw::line_panel(
            panel,
            &format!("{title}: BIC against components"),
            "components k",
            "BIC",
            &[("BIC", ks.iter().map(|&k| k as f64).zip(bic.iter().copied()).collect(), RGBColor(60, 90, 170))],
            true,
        )?;
    }
    root.present().map_err(d)
}

fn training_figure(path: &Path, a: &StoredAnalysis) -> Result<(), ReportError> {
    let root = BitMapBackend::new(path, (1800, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(d)?;
    let panels = root.split_evenly((1, 3));
    let epochs = |v: &[f64]| -> Vec<(f64, f64)> { v.iter().enumerate().map(|(i, &y)| ((i + 1) as f64, y)).collect() };
    let mut rvae_series = vec![("train", epochs(&a.rvae_train), RGBColor(60, 90, 170))];
    if !a.rvae_holdout.is_empty() {
        rvae_series.push(("held out", epochs(&a.rvae_holdout), RGBColor(230, 140, 40)));
    }
    // When and why training ended, and the epoch whose weights the model kept.
    let stop = &a.rvae_stop;
    if let Some(k) = stop.kept_epoch {
        let values = a.rvae_train.iter().chain(&a.rvae_holdout).copied().filter(|v| v.is_finite());
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
        if lo.is_finite() {
            let x = (k + 1) as f64;
            rvae_series.push(("kept weights", vec![(x, lo), (x, hi)], RGBColor(200, 40, 40)));
        }
    }
    let gain = stop
        .recent_gain
        .map(|g| match 100.0 * g {
            // What the last epochs gained, said as a gain ("−0.0 %" reads as a loss).
            pct if pct < 0.1 => format!(", last {} gained < 0.1 %", crate::rvae::RECENT_EPOCHS),
            pct => format!(", last {} gained {pct:.1} %", crate::rvae::RECENT_EPOCHS),
        })
        .unwrap_or_default();
    let title = match stop.reason.as_str() {
        "" => "rVAE: −ELBO per window".to_string(),
        r => format!("rVAE −ELBO: {r}, {} epochs{gain}", a.rvae_train.len()),
    };
    draw::line_panel(&panels[0], &title, "epoch", "−ELBO", &rvae_series, true)?;
    draw::line_panel(
        &panels[1],
        "conv autoencoder: reconstruction",
        "epoch",
        "MSE per pixel",
        &[("train", epochs(&a.conv_ae_curve), RGBColor(60, 90, 170))],
        true,
    )?;
    draw::line_panel(
        &panels[2],
        "plain VAE: −ELBO per window",
        "epoch",
        "−ELBO",
        &[("train", epochs(&a.vae_curve), RGBColor(60, 90, 170))],
        true,
    )?;
    root.present().map_err(d)
}
