//! Tiled inference: a frame of any size is resampled to the model's pixel size,
//! normalised as in training, cut into overlapping tiles that go through the network
//! in batches (no autograd), and the softmax outputs are blended with weights that
//! fade over the overlap, so tile seams leave no mark and memory stays bounded.

use ndarray::{s, Array2, Array3, ArrayView2};
use tch::{nn::ModuleT, Kind, Tensor};

use super::resample::{resize, target_grid};
use super::{SegmentError, Segmenter};

/// Robust normalisation shared by training and inference: the 1st percentile maps
/// to 0 and the 99th (about the top of the carbon peaks) to 1, so neither holes,
/// bright dopants nor contamination shift the scale much.
pub fn normalize(img: &mut Array2<f32>) -> Result<(), SegmentError> {
    let mut sample: Vec<f32> = img.iter().step_by(img.len() / 100_000 + 1).copied().collect();
    let n = sample.len();
    let lo = *sample.select_nth_unstable_by(n / 100, f32::total_cmp).1;
    let hi = *sample.select_nth_unstable_by(n - 1 - n / 100, f32::total_cmp).1;
    let span = hi - lo;
    if span.is_nan() || span <= f32::EPSILON * hi.abs().max(1.0) {
        return Err(SegmentError::BadInput("the frame is (nearly) constant: there is nothing to segment".into()));
    }
    img.mapv_inplace(|v| (v - lo) / span);
    Ok(())
}

/// Validates a raw frame before any work.
/// Pixel sizes (Å/px) a frame may have: finer would resample a frame to absurd
/// sizes, coarser cannot resolve atoms at all.
pub const MIN_PIXEL_SIZE: f64 = 0.005;
pub const MAX_PIXEL_SIZE: f64 = 50.0;

pub fn check_frame(frame: ArrayView2<f32>, pixel_size: f64) -> Result<(), SegmentError> {
    let (h, w) = frame.dim();
    if h == 0 || w == 0 {
        return Err(SegmentError::BadInput(format!("empty frame ({h}×{w} px)")));
    }
    if !(MIN_PIXEL_SIZE..=MAX_PIXEL_SIZE).contains(&pixel_size) {
        return Err(SegmentError::BadInput(format!(
            "pixel size must be {MIN_PIXEL_SIZE}–{MAX_PIXEL_SIZE} Å/px, got {pixel_size}"
        )));
    }
    if let Some(k) = frame.iter().position(|v| !v.is_finite()) {
        return Err(SegmentError::BadInput(format!("NaN or infinite pixel at (y, x) = ({}, {})", k / w, k % w)));
    }
    let (lo, hi) = frame.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    if hi - lo <= 1e-6 * lo.abs().max(hi.abs()) {
        return Err(SegmentError::BadInput("the frame is constant: there is nothing to segment".into()));
    }
    Ok(())
}

/// 1-D blending weights: 1 in the middle of a tile, a linear ramp over the overlap.
fn ramp(len: usize, overlap: usize) -> Vec<f32> {
    (0..len).map(|i| (((i.min(len - 1 - i)) as f32 + 1.0) / (overlap.max(1) as f32 + 1.0)).min(1.0)).collect()
}

fn tile_starts(len: usize, tile: usize, step: usize) -> Vec<usize> {
    let mut starts: Vec<usize> = (0..).map(|k| k * step).take_while(|&s| s + tile < len).collect();
    starts.push(len - tile);
    starts.dedup();
    starts
}

/// Prediction of one frame on the model's grid.
#[derive(Debug, Clone)]
pub struct GridPrediction {
    /// (classes, h, w) probabilities on the model's grid.
    pub probabilities: Array3<f32>,
    /// out/in scale per axis between the original frame and the model grid.
    pub scale: (f64, f64),
    /// Original (height, width).
    pub original: (usize, usize),
}

impl Segmenter {
    /// Class probabilities of `frame` (at `pixel_size` Å/px) on the model's grid.
    pub fn predict_grid(&self, frame: ArrayView2<f32>, pixel_size: f64) -> Result<GridPrediction, SegmentError> {
        check_frame(frame, pixel_size)?;
        let cfg = &self.config;
        let ((gh, gw), scale) = target_grid(frame.dim(), pixel_size, cfg.pixel_size);
        let multiple = 1usize << cfg.depth;
        if gh < multiple * 2 || gw < multiple * 2 {
            return Err(SegmentError::BadInput(format!(
                "the frame ({}×{} px at {pixel_size} Å/px) is too small: it covers less than {:.1} Å",
                frame.dim().0,
                frame.dim().1,
                2.0 * multiple as f64 * cfg.pixel_size
            )));
        }
        let mut img = resize(frame, gh, gw);
        normalize(&mut img)?;
        // Pad (by reflection) to at least one tile and to the network's multiple.
        let tile_h = cfg.tile.min(gh.div_ceil(multiple) * multiple);
        let tile_w = cfg.tile.min(gw.div_ceil(multiple) * multiple);
        let (ph, pw) = (gh.max(tile_h), gw.max(tile_w));
        let padded = if (ph, pw) == (gh, gw) {
            img
        } else {
            Array2::from_shape_fn((ph, pw), |(r, c)| {
                let rr = if r < gh { r } else { (2 * gh).saturating_sub(r + 2).min(gh - 1) };
                let cc = if c < gw { c } else { (2 * gw).saturating_sub(c + 2).min(gw - 1) };
                img[[rr, cc]]
            })
        };
        let overlap = cfg.overlap.min(tile_h / 2).min(tile_w / 2);
        let ys = tile_starts(ph, tile_h, tile_h - overlap);
        let xs = tile_starts(pw, tile_w, tile_w - overlap);
        let (wy, wx) = (ramp(tile_h, overlap), ramp(tile_w, overlap));
        let classes = cfg.class_names.len();
        let mut acc = Array3::<f32>::zeros((classes, ph, pw));
        let mut weight = Array2::<f32>::zeros((ph, pw));
        let origins: Vec<(usize, usize)> = ys.iter().flat_map(|&y| xs.iter().map(move |&x| (y, x))).collect();
        for batch in origins.chunks(cfg.batch_tiles.max(1)) {
            let mut data: Vec<f32> = Vec::with_capacity(batch.len() * tile_h * tile_w);
            for &(y, x) in batch {
                data.extend(padded.slice(s![y..y + tile_h, x..x + tile_w]).iter());
            }
            let input = Tensor::from_slice(&data).reshape([batch.len() as i64, 1, tile_h as i64, tile_w as i64]);
            let probs = tch::no_grad(|| {
                self.net
                    .forward_t(&input.to_device(self.device), false)
                    .softmax(1, Kind::Float)
                    .to_device(tch::Device::Cpu)
            });
            let values = Vec::<f32>::try_from(probs.flatten(0, -1)).map_err(|e| SegmentError::Torch(e.to_string()))?;
            let per_tile = classes * tile_h * tile_w;
            for (t, &(y, x)) in batch.iter().enumerate() {
                let tile = &values[t * per_tile..(t + 1) * per_tile];
                for r in 0..tile_h {
                    for c in 0..tile_w {
                        let wgt = wy[r] * wx[c];
                        weight[[y + r, x + c]] += wgt;
                        for k in 0..classes {
                            acc[[k, y + r, x + c]] += wgt * tile[(k * tile_h + r) * tile_w + c];
                        }
                    }
                }
            }
        }
        let mut probabilities = acc.slice(s![.., ..gh, ..gw]).to_owned();
        for k in 0..classes {
            let mut plane = probabilities.index_axis_mut(ndarray::Axis(0), k);
            plane /= &weight.slice(s![..gh, ..gw]);
        }
        Ok(GridPrediction { probabilities, scale, original: frame.dim() })
    }

    /// Class probabilities resampled back onto the frame's own pixels (classes, H, W).
    pub fn predict(&self, frame: ArrayView2<f32>, pixel_size: f64) -> Result<Array3<f32>, SegmentError> {
        let grid = self.predict_grid(frame, pixel_size)?;
        Ok(grid.to_original())
    }
}

impl GridPrediction {
    pub fn to_original(&self) -> Array3<f32> {
        let (h, w) = self.original;
        let classes = self.probabilities.dim().0;
        let mut out = Array3::<f32>::zeros((classes, h, w));
        for k in 0..classes {
            let plane = resize(self.probabilities.index_axis(ndarray::Axis(0), k), h, w);
            out.index_axis_mut(ndarray::Axis(0), k).assign(&plane);
        }
        out
    }
}
