//! `segment` — steps 1–2 of the paper (Kalinin et al. 2021, Fig. 1 and Methods
//! "Deep learning"): a U-Net trained on simulated frames turns a raw frame into
//! per-pixel class probabilities (background, C, Si), and atom finding turns those
//! into an atom table. Frames are resampled to the model's pixel size, normalised,
//! segmented tile by tile, and atoms are mapped back to the frame's own pixels.

mod atoms;
mod eval;
mod infer;
mod resample;
mod species;
mod train;
mod unet;

pub use atoms::{find_atoms, AtomFinderConfig, FoundAtom};
pub use eval::{score_atoms, AtomScores};
pub use infer::{check_frame, normalize, GridPrediction, MAX_PIXEL_SIZE, MIN_PIXEL_SIZE};
pub use resample::{resize, target_grid, to_original, to_resampled};
pub use species::check_silicon;
pub use train::{train_segmenter, training_pair, SegmenterTrainConfig, TrainReport};
pub use unet::UNet;

use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};
use tch::nn;

use crate::store::StoredModel;

/// Kind tag of segmentation models in the store.
pub const MODEL_KIND: &str = "unet-segmenter";

/// The default graphene model, trained by `atomvae train-segmenter` (see
/// docs/MODELS.md for the exact command); empty in a build made before it existed.
static EMBEDDED_MODEL: &[u8] = include_bytes!("default_model.bin");

#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    #[error("bad input: {0}")]
    BadInput(String),
    #[error("bad model: {0}")]
    BadModel(String),
    #[error("libtorch: {0}")]
    Torch(String),
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Device(#[from] crate::device::DeviceError),
    #[error(transparent)]
    Sim(#[from] crate::sim::SimError),
}

/// Architecture and operating point of a segmentation model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SegmenterConfig {
    /// Channels of the first level; each deeper level doubles them.
    pub base_channels: i64,
    /// Number of poolings (levels below the first).
    pub depth: usize,
    /// Dropout before the decoder (0 = none).
    pub dropout: f64,
    /// Class names, background first.
    pub class_names: Vec<String>,
    /// The pixel size (Å/px) the network works at; frames are resampled to it.
    pub pixel_size: f64,
    /// Tile edge (model pixels) and overlap of tiled inference.
    pub tile: usize,
    pub overlap: usize,
    /// Tiles per forward pass.
    pub batch_tiles: usize,
    /// How the weights were made (command, training settings, losses), if recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub training: Option<serde_json::Value>,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        Self {
            base_channels: 8,
            depth: 3,
            dropout: 0.0,
            class_names: crate::sim::CLASS_NAMES.iter().map(|s| s.to_string()).collect(),
            pixel_size: 0.2,
            tile: 256,
            overlap: 24,
            batch_tiles: 4,
            training: None,
        }
    }
}

/// A segmentation network with its configuration, on a device.
pub struct Segmenter {
    vs: nn::VarStore,
    net: UNet,
    config: SegmenterConfig,
    device: tch::Device,
}

impl std::fmt::Debug for Segmenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segmenter").field("config", &self.config).field("device", &self.device).finish()
    }
}

impl Segmenter {
    /// A freshly initialised (untrained) network, its weights drawn from `seed`.
    pub fn new_seeded(config: SegmenterConfig, device: tch::Device, seed: u64) -> Result<Self, SegmentError> {
        let seg = Self::new(config, device)?;
        crate::init::seeded_init(&seg.vs, seed);
        Ok(seg)
    }

    /// A network to be filled with stored weights (its initial weights are arbitrary).
    pub fn new(config: SegmenterConfig, device: tch::Device) -> Result<Self, SegmentError> {
        if config.class_names.len() < 2 || config.depth == 0 || config.depth > 6 || config.base_channels < 1 {
            return Err(SegmentError::BadModel(format!("unusable segmenter configuration {config:?}")));
        }
        if !(config.pixel_size.is_finite() && config.pixel_size > 0.0) || config.tile < (4 << config.depth) {
            return Err(SegmentError::BadModel("pixel size must be > 0 and tiles at least 4·2^depth px".into()));
        }
        let vs = nn::VarStore::new(device);
        let net = UNet::new(&vs.root(), &config);
        Ok(Self { vs, net, config, device })
    }

    pub fn config(&self) -> &SegmenterConfig {
        &self.config
    }

    pub fn device(&self) -> tch::Device {
        self.device
    }

    pub fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// Rebuilds a model from the store.
    pub fn from_stored(model: &StoredModel, device: tch::Device) -> Result<Self, SegmentError> {
        if model.kind != MODEL_KIND {
            return Err(SegmentError::BadModel(format!("a {} model is not a segmentation model", model.kind)));
        }
        let config: SegmenterConfig =
            serde_json::from_value(model.config.clone()).map_err(|e| SegmentError::BadModel(format!("config: {e}")))?;
        let mut seg = Self::new(config, device)?;
        model.load_into(&mut seg.vs).map_err(|e| SegmentError::BadModel(e.to_string()))?;
        Ok(seg)
    }

    pub fn to_stored(&self) -> StoredModel {
        StoredModel::from_var_store(MODEL_KIND, serde_json::to_value(&self.config).expect("config"), &self.vs)
    }

    /// A model from its compact bytes (see [`StoredModel::to_bytes`]).
    pub fn from_bytes(bytes: &[u8], device: tch::Device) -> Result<Self, SegmentError> {
        let model = StoredModel::from_bytes(bytes).map_err(SegmentError::BadModel)?;
        Self::from_stored(&model, device)
    }

    /// The default graphene model shipped inside the library.
    pub fn embedded(device: tch::Device) -> Result<Self, SegmentError> {
        if EMBEDDED_MODEL.is_empty() {
            return Err(SegmentError::BadModel(
                "this build has no embedded segmentation model; train one with `atomvae train-segmenter`".into(),
            ));
        }
        Self::from_bytes(EMBEDDED_MODEL, device)
    }

    /// Atoms of one frame, in the frame's own pixels, with a border margin applied.
    pub fn find_atoms(
        &self,
        frame: ArrayView2<f32>,
        pixel_size: f64,
        finder: &AtomFinderConfig,
    ) -> Result<(Vec<FoundAtom>, GridPrediction), SegmentError> {
        let grid = self.predict_grid(frame, pixel_size)?;
        let mut atoms = atoms_in_original_pixels(&grid, self.config.pixel_size, finder);
        check_silicon(frame, pixel_size, &mut atoms, finder.si_min_ratio);
        Ok((atoms, grid))
    }
}

/// Finds atoms on a grid prediction and maps them to the original pixels.
pub fn atoms_in_original_pixels(
    grid: &GridPrediction,
    grid_pixel_size: f64,
    finder: &AtomFinderConfig,
) -> Vec<FoundAtom> {
    // The border is in original pixels: applied after mapping back.
    let on_grid = AtomFinderConfig { border: 0.0, ..finder.clone() };
    find_atoms(grid.probabilities.view(), grid_pixel_size, &on_grid)
        .into_iter()
        .map(|a| {
            let (y, x) = to_original(a.y, a.x, grid.scale);
            FoundAtom { y, x, ..a }
        })
        .filter(|a| finder.inside_border(a.y, a.x, grid.original))
        .collect()
}
