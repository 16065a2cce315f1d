//! The networks of the rotationally invariant VAE (Bepler et al. 2019, spatial-VAE;
//! the paper's Methods): an encoder from a window to the means and log standard
//! deviations of [γ, dx, dy, z₁…z_k], and a decoder that is an MLP over pixel
//! coordinates — the window's grid, rotated by γ and shifted by (dx, dy), with z's
//! contribution to the first layer computed once per window — that predicts the
//! intensity at each coordinate.

use tch::nn::{self, Module};
use tch::{Kind, Tensor};

use super::{EncoderKind, RvaeConfig};

/// A fully connected layer applied with one fused `addmm` call per use.
#[derive(Debug)]
pub struct Dense {
    pub ws: Tensor,
    pub bs: Option<Tensor>,
}

impl Dense {
    pub fn new(p: nn::Path, cin: i64, cout: i64, bias: bool) -> Self {
        let bound = 1.0 / (cin as f64).sqrt();
        let ws = p.var("weight", &[cout, cin], nn::Init::Uniform { lo: -bound, up: bound });
        let bs = bias.then(|| p.var("bias", &[cout], nn::Init::Uniform { lo: -bound, up: bound }));
        Self { ws, bs }
    }
}

impl Module for Dense {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.ws, self.bs.as_ref())
    }
}

/// An MLP encoder's weights cast and arranged for fast inference
/// ([`Encoder::inference_weights`]).
#[derive(Debug)]
pub struct InferenceWeights {
    layers: Vec<(Tensor, Option<Tensor>)>,
    heads: Tensor,
    heads_bias: Tensor,
    kind: Kind,
}

#[derive(Debug)]
pub enum Encoder {
    Mlp { layers: Vec<Dense>, mean: Dense, logsd: Dense },
    Conv { convs: Vec<nn::Conv2D>, flat: i64, mean: Dense, logsd: Dense },
}

impl Encoder {
    pub fn new(p: &nn::Path, cfg: &RvaeConfig) -> Self {
        let out = 3 + cfg.latent_dim as i64;
        let w = cfg.window as i64;
        match cfg.encoder {
            EncoderKind::Mlp => {
                let mut layers = Vec::new();
                let mut cin = w * w;
                for i in 0..cfg.encoder_layers {
                    layers.push(Dense::new(p / "enc" / i, cin, cfg.hidden, true));
                    cin = cfg.hidden;
                }
                Self::Mlp {
                    layers,
                    mean: Dense::new(p / "enc_mean", cin, out, true),
                    logsd: Dense::new(p / "enc_logsd", cin, out, true),
                }
            }
            EncoderKind::Conv => {
                let cfg2 = nn::ConvConfig { stride: 2, padding: 1, ..Default::default() };
                let convs = vec![nn::conv2d(p / "conv0", 1, 16, 3, cfg2), nn::conv2d(p / "conv1", 16, 32, 3, cfg2)];
                let side = ((w + 1) / 2 + 1) / 2;
                let flat = 32 * side * side;
                Self::Conv {
                    convs,
                    flat,
                    mean: Dense::new(p / "enc_mean", flat, out, true),
                    logsd: Dense::new(p / "enc_logsd", flat, out, true),
                }
            }
        }
    }

    /// The weights of an MLP encoder prepared for inference in `kind` (f32 or
    /// bf16): `mask` (w·w values, a disc model's) folded into the first layer, so
    /// windows are never multiplied by it, and the mean and log σ heads stacked
    /// into one product. `None` for a conv encoder.
    pub fn inference_weights(&self, mask: Option<&Tensor>, kind: Kind) -> Option<InferenceWeights> {
        let Self::Mlp { layers, mean, logsd } = self else { return None };
        let cast = |ws: Tensor, bs: Option<&Tensor>| (ws.to_kind(kind), bs.map(|b| b.to_kind(kind)));
        let layers = layers
            .iter()
            .enumerate()
            .map(|(i, d)| match (i, mask) {
                (0, Some(m)) => cast(&d.ws * m.to_kind(d.ws.kind()).view([1, -1]), d.bs.as_ref()),
                _ => cast(d.ws.shallow_clone(), d.bs.as_ref()),
            })
            .collect();
        let bias = |d: &Dense| {
            d.bs.as_ref().map(|b| b.shallow_clone()).unwrap_or_else(|| d.ws.zeros_like().narrow(1, 0, 1).squeeze_dim(1))
        };
        let heads = Tensor::cat(&[&mean.ws, &logsd.ws], 0);
        let heads_bias = Tensor::cat(&[bias(mean), bias(logsd)], 0);
        Some(InferenceWeights { layers, heads, heads_bias, kind })
    }

    /// As [`Encoder::forward`] on windows multiplied by `mask` (w·w values), for
    /// inference with prepared `weights` (f32 outputs); without them (a conv
    /// encoder) the windows are masked and passed through [`Encoder::forward`].
    /// The flag is whether every pixel was finite, when that was checked: with
    /// prepared weights it is read off the first layer's sums (a NaN or infinite
    /// pixel makes every sum of its window non-finite, even where its weight is
    /// 0, as 0·∞ is NaN), which costs 1/128 of reading the pixels again.
    pub fn forward_fast(
        &self,
        x: &Tensor,
        window: i64,
        mask: Option<&Tensor>,
        weights: Option<&InferenceWeights>,
    ) -> (Tensor, Tensor, Option<bool>) {
        match weights {
            Some(iw) => {
                let mut h = x.to_kind(iw.kind);
                let mut finite = None;
                for (ws, bs) in &iw.layers {
                    let mut sums = h.linear(ws, bs.as_ref());
                    if finite.is_none() {
                        finite = Some(sums.sum(Kind::Float).double_value(&[]).is_finite());
                    }
                    h = sums.tanh_();
                }
                let out = h.to_kind(Kind::Float).linear(&iw.heads, Some(&iw.heads_bias));
                let half = iw.heads.size()[0] / 2;
                (out.narrow(1, 0, half), out.narrow(1, half, half), finite)
            }
            None => {
                let (mean, logsd) = match mask {
                    Some(m) => self.forward(&(x * m.to_kind(x.kind())), window),
                    None => self.forward(x, window),
                };
                (mean, logsd, None)
            }
        }
    }

    /// (batch, w·w) windows → (mean, log σ), each (batch, 3 + k).
    pub fn forward(&self, x: &Tensor, window: i64) -> (Tensor, Tensor) {
        match self {
            Self::Mlp { layers, mean, logsd } => {
                let mut h = x.shallow_clone();
                for l in layers {
                    h = l.forward(&h).tanh();
                }
                (mean.forward(&h), logsd.forward(&h))
            }
            Self::Conv { convs, flat, mean, logsd } => {
                let mut h = x.view([-1, 1, window, window]);
                for c in convs {
                    h = h.apply(c).relu();
                }
                let h = h.view([-1, *flat]);
                (mean.forward(&h), logsd.forward(&h))
            }
        }
    }
}

#[derive(Debug)]
pub struct Decoder {
    coord: Dense,
    latent: Option<Dense>,
    hidden: Vec<Dense>,
    out: Dense,
    /// Element type of the per-pixel hidden layers (f32, or bf16 with f32 master
    /// weights where the CPU multiplies bf16 natively).
    compute: Kind,
    /// Factor on the coordinates entering the first layer ([`RvaeConfig`]).
    coordinate_scale: f64,
}

impl Decoder {
    pub fn new(p: &nn::Path, cfg: &RvaeConfig) -> Self {
        let coord = Dense::new(p / "dec_coord", 2, cfg.hidden, true);
        let latent =
            (cfg.latent_dim > 0).then(|| Dense::new(p / "dec_latent", cfg.latent_dim as i64, cfg.hidden, false));
        let hidden = (0..cfg.decoder_layers).map(|i| Dense::new(p / "dec" / i, cfg.hidden, cfg.hidden, true)).collect();
        Self {
            coord,
            latent,
            hidden,
            out: Dense::new(p / "dec_out", cfg.hidden, 1, true),
            compute: Kind::Float,
            coordinate_scale: cfg.coordinate_scale,
        }
    }

    pub fn set_compute(&mut self, kind: Kind) {
        self.compute = kind;
    }

    /// Intensities at `coords` (batch, P, 2) given content `z` (batch, k) → (batch, P).
    pub fn forward(&self, coords: &Tensor, z: &Tensor) -> Tensor {
        let (b, p) = (coords.size()[0], coords.size()[1]);
        let out_kind = coords.kind();
        let k = (self.compute == Kind::BFloat16 && out_kind != Kind::BFloat16).then_some(Kind::BFloat16);
        // Weights in the compute type (f32 master copies stay with the optimiser).
        let w = |d: &Dense| match k {
            None => (d.ws.shallow_clone(), d.bs.as_ref().map(|b| b.shallow_clone())),
            Some(kind) => (d.ws.to_kind(kind), d.bs.as_ref().map(|b| b.to_kind(kind))),
        };
        let cast = |t: Tensor| match k {
            None => t,
            Some(kind) => t.to_kind(kind),
        };
        let (wc, bc) = w(&self.coord);
        let coords = if self.coordinate_scale == 1.0 { coords.shallow_clone() } else { coords * self.coordinate_scale };
        let mut h = cast(coords).linear(&wc, bc.as_ref());
        if let Some(lat) = &self.latent {
            // z's share of the first layer: once per window, broadcast over its pixels.
            h += cast(lat.forward(z)).unsqueeze(1);
        }
        let mut h = h.tanh().view([b * p, -1]);
        for layer in &self.hidden {
            let (wl, bl) = w(layer);
            h = h.linear(&wl, bl.as_ref()).tanh();
        }
        let (wo, bo) = w(&self.out);
        h.linear(&wo, bo.as_ref()).to_kind(out_kind).view([b, p])
    }
}

/// The window's pixel grid in [−1, 1]² as (P, 2) rows of (x, y), x to the right
/// and y up (as AtomAI's `imcoordgrid`), row-major over the window's pixels.
pub fn coordinate_grid(window: i64, device: tch::Device) -> Tensor {
    let lin = Tensor::linspace(-1.0, 1.0, window, (Kind::Float, device));
    let xs = lin.unsqueeze(0).expand([window, window], false);
    let ys = lin.flip([0]).unsqueeze(1).expand([window, window], false);
    Tensor::stack(&[xs.reshape([-1]), ys.reshape([-1])], 1)
}

/// Rotates the grid by γ (per window; counter-clockwise on screen) and shifts it
/// by (dx, dy) in grid units: (batch, P, 2).
pub fn transform_grid(grid: &Tensor, angle: &Tensor, shift: Option<&Tensor>) -> Tensor {
    let (c, s) = (angle.cos(), angle.sin());
    // Row vectors times [[c, s], [−s, c]]: x' = c·x − s·y, y' = s·x + c·y.
    let rot = Tensor::stack(&[Tensor::stack(&[&c, &s], 1), Tensor::stack(&[-&s, c], 1)], 1);
    let b = angle.size()[0];
    let g = grid.unsqueeze(0).expand([b, -1, -1], false);
    let rotated = g.bmm(&rot);
    match shift {
        Some(d) => rotated + d.unsqueeze(1),
        None => rotated,
    }
}
