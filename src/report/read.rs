//! What the figures need, read from an analysis file.

use ndarray::{s, Array2, Array3, Array4};

use super::ReportError;
use crate::store::{AnalysisFile, StoreError};

pub struct StoredAnalysis {
    pub pixel_size: f64,
    pub frame0: Array2<f32>,
    pub probabilities0: Option<Array3<f32>>,
    /// (y, x, class) of the atoms of frame 0.
    pub atoms0: Vec<(f32, f32, u8)>,
    pub names: Vec<String>,
    pub histogram_edges: Vec<Vec<f64>>,
    pub histograms: Vec<Array2<u32>>,
    pub map_frames: Vec<u32>,
    pub maps: Vec<Array3<f32>>,
    pub window_components: Array3<f32>,
    pub conv_ae_manifold: Array4<f32>,
    pub conv_ae_range: [(f64, f64); 2],
    pub vae_manifold: Array4<f32>,
    pub rvae_manifold: Array4<f32>,
    pub rvae_axis: Vec<f64>,
    /// (method, mean SSIM as found, mean SSIM at the best turn).
    pub ssim: Vec<(String, f64, f64)>,
    pub latent_bic: (Vec<u64>, Vec<f64>),
    pub window_bic: (Vec<u64>, Vec<f64>),
    pub rvae_train: Vec<f64>,
    pub rvae_holdout: Vec<f64>,
    pub rvae_stop: RvaeStop,
    pub conv_ae_curve: Vec<f64>,
    pub vae_curve: Vec<f64>,
}

impl StoredAnalysis {
    pub fn read(file: &AnalysisFile) -> Result<Self, ReportError> {
        let path = file.path();
        let e = |err| ReportError::Store(StoreError::hdf5(path, err));
        let h5 = hdf5::File::open(path).map_err(e)?;
        let a = h5.group("analysis").map_err(|_| {
            ReportError::Missing(format!("{}: no /analysis yet; run `report` without --no-analysis", path.display()))
        })?;
        let names: Vec<String> = crate::store::read_str_attr(&a, "columns")
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .ok_or_else(|| ReportError::Missing("/analysis has no column names".into()))?;
        let (mut histogram_edges, mut histograms, mut maps) = (Vec::new(), Vec::new(), Vec::new());
        for name in &names {
            let hist = a.group("histograms").map_err(e)?;
            histograms.push(hist.dataset(name).and_then(|d| d.read_2d()).map_err(e)?);
            histogram_edges.push(hist.dataset(&format!("{name}_edges")).and_then(|d| d.read_raw()).map_err(e)?);
            maps.push(a.dataset(&format!("maps/{name}")).and_then(|d| d.read::<f32, ndarray::Ix3>()).map_err(e)?);
        }
        let read4 = |p: &str| -> Result<Array4<f32>, ReportError> {
            a.dataset(p).and_then(|d| d.read::<f32, ndarray::Ix4>()).map_err(e)
        };
        let f64s = |p: &str| -> Result<Vec<f64>, ReportError> { a.dataset(p).and_then(|d| d.read_raw()).map_err(e) };
        let u64s = |p: &str| -> Result<Vec<u64>, ReportError> { a.dataset(p).and_then(|d| d.read_raw()).map_err(e) };
        let ssim_group = a.group("ssim").map_err(e)?;
        let mut ssim = Vec::new();
        for g in ssim_group.groups().map_err(e)? {
            let method = crate::store::read_str_attr(&g, "method").map_err(e)?;
            let plain = g.attr("mean_plain").and_then(|v| v.read_scalar::<f64>()).map_err(e)?;
            let rotated = g.attr("mean_rotated").and_then(|v| v.read_scalar::<f64>()).map_err(e)?;
            ssim.push((method, plain, rotated));
        }
        // The order of the paper's Fig. 5: GMM, autoencoder, VAE, rVAE.
        let rank = |m: &str| ["GMM", "conv AE", "VAE", "rVAE"].iter().position(|x| *x == m).unwrap_or(9);
        ssim.sort_by_key(|s| rank(&s.0));
        let range: Vec<f32> = a.dataset("conv_ae/range").and_then(|d| d.read_raw()).map_err(e)?;
        let vae_curve: Array2<f64> = a.dataset("vae/curve").and_then(|d| d.read_2d()).map_err(e)?;
        let frame0 = file.read_frame(0)?;
        let probabilities0 = match h5.dataset("probabilities") {
            Ok(p) => Some(p.read_slice::<f32, _, ndarray::Ix3>(s![0, .., .., ..]).map_err(e)?),
            Err(_) => None,
        };
        let atoms0 = file
            .read_atoms()?
            .map(|t| (0..t.len()).filter(|&i| t.frame[i] == 0).map(|i| (t.y[i], t.x[i], t.class[i])).collect())
            .unwrap_or_default();
        let (rvae_train, rvae_holdout, rvae_stop) = rvae_curves(file)?;
        let map_frames = a.dataset("maps/frames").and_then(|d| d.read_raw()).map_err(e)?;
        Ok(Self {
            pixel_size: file.info().pixel_size,
            frame0,
            probabilities0,
            atoms0,
            names,
            histogram_edges,
            histograms,
            map_frames,
            maps,
            window_components: a
                .dataset("window_gmm/components")
                .and_then(|d| d.read::<f32, ndarray::Ix3>())
                .map_err(e)?,
            conv_ae_manifold: read4("conv_ae/manifold")?,
            conv_ae_range: [(f64::from(range[0]), f64::from(range[1])), (f64::from(range[2]), f64::from(range[3]))],
            vae_manifold: read4("vae/manifold")?,
            rvae_manifold: read4("rvae/manifold")?,
            rvae_axis: a
                .dataset("rvae/axis")
                .and_then(|d| d.read_raw::<f32>())
                .map_err(e)?
                .into_iter()
                .map(f64::from)
                .collect(),
            ssim,
            latent_bic: (u64s("latent_gmm/ks")?, f64s("latent_gmm/bic")?),
            window_bic: (u64s("window_gmm/ks")?, f64s("window_gmm/bic")?),
            rvae_train,
            rvae_holdout,
            rvae_stop,
            conv_ae_curve: f64s("conv_ae/curve")?,
            vae_curve: vae_curve.column(0).to_vec(),
        })
    }
}

/// Why the rVAE's training ended, the epoch (0-based) whose weights it kept, and
/// the best held-out −ELBO's relative gain over the last epochs.
#[derive(Debug, Clone, Default)]
pub struct RvaeStop {
    pub reason: String,
    pub kept_epoch: Option<usize>,
    pub recent_gain: Option<f64>,
}

type Curves = (Vec<f64>, Vec<f64>, RvaeStop);

/// Train and held-out −ELBO per epoch from the stored rVAE's training record, why
/// training ended and which epoch's weights were kept.
fn rvae_curves(file: &AnalysisFile) -> Result<Curves, ReportError> {
    let model = file.read_model("rvae", Some(crate::rvae::MODEL_KIND))?;
    let report = &model.config["training"]["report"];
    let epochs = report["epochs"].as_array().cloned().unwrap_or_default();
    let pick = |key: &str| -> Vec<f64> { epochs.iter().filter_map(|e| e[key]["neg_elbo"].as_f64()).collect() };
    let stop = RvaeStop {
        reason: report["stop_reason"].as_str().unwrap_or("").to_string(),
        kept_epoch: report["best_epoch"].as_u64().map(|e| e as usize),
        recent_gain: report["recent_gain"].as_f64(),
    };
    Ok((pick("train"), pick("holdout"), stop))
}
