//! Step 6: the latent analysis (`crate::analysis`) of an encoded file, stored
//! under `/analysis` (layout in docs/FORMAT.md) with the two baseline models in
//! `/models/conv_ae` and `/models/vae`.

use ndarray::Array1;

use super::{PipelineError, StoredWindows};
use crate::analysis::{analyse, spread_sample, AnalysisConfig, LatentAnalysis, LatentTable, SsimComparison};
use crate::progress::Progress;
use crate::rvae::{Rvae, WindowRows, ROWS_PER_UNIT};
use crate::store::{now_utc, write_json_attr, write_model, AnalysisFile, StepRecord, StoreError, StoredModel};

/// The windows listed by `sample` (ascending) as one (m, w·w) tensor, read unit
/// by unit.
pub fn read_sample_windows(windows: &StoredWindows, sample: &[usize]) -> Result<tch::Tensor, PipelineError> {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < sample.len() {
        let unit = sample[i] / ROWS_PER_UNIT;
        let start = unit * ROWS_PER_UNIT;
        let len = ROWS_PER_UNIT.min(windows.count() - start);
        let rows = windows.rows(start, len)?;
        let mut local = Vec::new();
        while i < sample.len() && sample[i] < start + len {
            local.push((sample[i] - start) as i64);
            i += 1;
        }
        parts.push(rows.index_select(0, &tch::Tensor::from_slice(&local)));
    }
    Ok(tch::Tensor::cat(&parts, 0))
}

fn ssim_group_name(method: &str) -> String {
    method.to_lowercase().replace(' ', "_")
}

/// Runs the analysis on `/latents` and stores it.
pub fn analyse_latents_file(
    file: &mut AnalysisFile,
    config: &AnalysisConfig,
    device: tch::Device,
    progress: &mut dyn Progress,
) -> Result<LatentAnalysis, PipelineError> {
    let started = now_utc();
    let info = file.info().clone();
    let missing = |what: &str, step: &str| {
        PipelineError::Missing(format!("{}: no {what} yet; run `{step}` first", file.path().display()))
    };
    let super::evaluate::StoredLatents { mean: means, names } = super::evaluate::read_latent_means(file)?;
    let super::evaluate::WindowAtoms { frame, y, x } = super::evaluate::read_window_atoms(file)?;
    if means.nrows() != frame.len() {
        return Err(PipelineError::Missing(format!(
            "{} latent rows for {} windows; run `encode` again",
            means.nrows(),
            frame.len()
        )));
    }
    let stored =
        file.read_model("rvae", Some(crate::rvae::MODEL_KIND)).map_err(|_| missing("/models/rvae", "train-rvae"))?;
    let rvae = Rvae::from_stored(&stored, device)?;
    let windows = StoredWindows::open(file)?;
    let sample = spread_sample(windows.count(), config.baseline_windows.max(1));
    let sample_windows = read_sample_windows(&windows, &sample)?;
    drop(windows);
    let table = LatentTable {
        means: means.view(),
        names: &names,
        frame: &frame,
        y: &y,
        x: &x,
        frames: info.frames,
        pixel_size: info.pixel_size,
    };
    let result = analyse(&table, sample, &sample_windows, &rvae, config, progress)?;
    let record = StepRecord {
        step: "analysis".into(),
        parameters: serde_json::to_value(config).expect("config"),
        started,
        finished: now_utc(),
        device: format!("{device:?}"),
        seed: config.seed,
    };
    let path = file.path().to_path_buf();
    let e = |err| StoreError::hdf5(&path, err);
    file.update(&record, |out| -> Result<(), StoreError> {
        write_analysis(out, &result, config).map_err(e)?;
        let conv = StoredModel::from_var_store(
            crate::analysis::baselines::CONV_AE_KIND,
            serde_json::to_value(result.conv_ae.config()).expect("config"),
            result.conv_ae.var_store(),
        );
        write_model(out, "conv_ae", &conv).map_err(e)?;
        write_model(out, "vae", &result.vae.to_stored()).map_err(e)
    })?;
    Ok(result)
}

fn write_analysis(out: &hdf5::File, a: &LatentAnalysis, config: &AnalysisConfig) -> hdf5::Result<()> {
    let g = crate::store::fresh_group(out, "analysis")?;
    write_json_attr(&g, "columns", &serde_json::to_value(&a.names).expect("names"))?;
    write_json_attr(&g, "config", &serde_json::to_value(config).expect("config"))?;
    let hist = g.create_group("histograms")?;
    let maps = g.create_group("maps")?;
    maps.new_dataset_builder().with_data(&a.map_frames).create("frames")?;
    for (i, name) in a.names.iter().enumerate() {
        hist.new_dataset_builder().with_data(&a.histograms[i]).create(name.as_str())?;
        hist.new_dataset_builder().with_data(&a.histogram_edges[i]).create(format!("{name}_edges").as_str())?;
        let m = &a.maps[i];
        let (_, h, w) = m.dim();
        maps.new_dataset::<f32>().shape(m.dim()).chunk([1, h, w]).deflate(4).create(name.as_str())?.write(m)?;
    }
    g.new_dataset_builder().with_data(&a.coordination).create("coordination")?;
    g.new_dataset_builder().with_data(&a.sample.iter().map(|&i| i as u64).collect::<Vec<_>>()).create("sample")?;
    let rvae = g.create_group("rvae")?;
    rvae.new_dataset_builder().with_data(&a.rvae_manifold).create("manifold")?;
    rvae.new_dataset_builder().with_data(&a.rvae_axis).create("axis")?;
    for (name, sel) in [("latent_gmm", &a.latent_gmm), ("window_gmm", &a.window_gmm)] {
        let gg = g.create_group(name)?;
        gg.new_dataset_builder().with_data(&sel.ks.iter().map(|&k| k as u64).collect::<Vec<_>>()).create("ks")?;
        gg.new_dataset_builder().with_data(&sel.bic).create("bic")?;
        let b = &sel.best;
        let (k, d) = (b.components(), b.dim);
        gg.new_dataset_builder().with_data(&b.weights).create("weights")?;
        gg.new_dataset_builder()
            .with_data(&ndarray::Array2::from_shape_vec((k, d), b.means.clone()).expect("means"))
            .create("means")?;
        gg.new_dataset_builder()
            .with_data(&ndarray::Array3::from_shape_vec((k, d, d), b.covariances.clone()).expect("covariances"))
            .create("covariances")?;
    }
    g.group("latent_gmm")?.new_dataset_builder().with_data(&a.latent_labels).create("labels")?;
    g.group("window_gmm")?.new_dataset_builder().with_data(&a.window_components).create("components")?;
    let ae = g.create_group("conv_ae")?;
    ae.new_dataset_builder().with_data(&a.conv_ae_curve).create("curve")?;
    ae.new_dataset_builder().with_data(&a.conv_ae_manifold).create("manifold")?;
    let range: Array1<f32> = a.conv_ae_range.iter().flat_map(|&(lo, hi)| [lo, hi]).collect();
    ae.new_dataset_builder().with_data(&range).create("range")?;
    let vae = g.create_group("vae")?;
    let curve = ndarray::Array2::from_shape_fn((a.vae_curve.len(), 2), |(r, c)| {
        if c == 0 {
            a.vae_curve[r].0
        } else {
            a.vae_curve[r].1
        }
    });
    vae.new_dataset_builder().with_data(&curve).create("curve")?;
    vae.new_dataset_builder().with_data(&a.vae_manifold).create("manifold")?;
    let ssim = g.create_group("ssim")?;
    for c in &a.ssim {
        write_ssim(&ssim, c)?;
    }
    Ok(())
}

fn write_ssim(parent: &hdf5::Group, c: &SsimComparison) -> hdf5::Result<()> {
    let g = parent.create_group(&ssim_group_name(&c.method))?;
    crate::store::write_str_attr(&g, "method", &c.method)?;
    g.new_dataset_builder().with_data(&c.plain).create("plain")?;
    g.new_dataset_builder().with_data(&c.rotated).create("rotated")?;
    g.new_attr::<f64>().create("mean_plain")?.write_scalar(&c.mean_plain())?;
    g.new_attr::<f64>().create("mean_rotated")?.write_scalar(&c.mean_rotated())
}
