//! The U-Net (Ronneberger et al. 2015; the paper's DCNN, Methods "Deep learning"):
//! an encoder of 3×3 convolutions with batch norm and ReLU, max-pooling between
//! levels, a decoder of 2×2 transposed convolutions (deterministic on CUDA, unlike
//! bilinear upsampling) with skip connections, and a 1×1 convolution to class
//! scores. Width and depth come from the serde config.

use tch::nn::{self, ModuleT};
use tch::Tensor;

use super::SegmenterConfig;

#[derive(Debug)]
struct ConvBlock {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
}

impl ConvBlock {
    fn new(p: nn::Path, cin: i64, cout: i64) -> Self {
        let cfg = nn::ConvConfig { padding: 1, bias: false, ..Default::default() };
        Self {
            conv1: nn::conv2d(&p / "conv1", cin, cout, 3, cfg),
            bn1: nn::batch_norm2d(&p / "bn1", cout, Default::default()),
            conv2: nn::conv2d(&p / "conv2", cout, cout, 3, cfg),
            bn2: nn::batch_norm2d(&p / "bn2", cout, Default::default()),
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let x = x.apply(&self.conv1).apply_t(&self.bn1, train).relu();
        x.apply(&self.conv2).apply_t(&self.bn2, train).relu()
    }
}

#[derive(Debug)]
pub struct UNet {
    down: Vec<ConvBlock>,
    bottom: ConvBlock,
    up: Vec<(nn::ConvTranspose2D, ConvBlock)>,
    head: nn::Conv2D,
    dropout: f64,
}

impl UNet {
    pub fn new(p: &nn::Path, config: &SegmenterConfig) -> Self {
        let widths: Vec<i64> = (0..=config.depth).map(|d| config.base_channels << d).collect();
        let mut down = Vec::new();
        let mut cin = 1;
        for (d, &w) in widths[..config.depth].iter().enumerate() {
            down.push(ConvBlock::new(p / "down" / d, cin, w));
            cin = w;
        }
        let bottom = ConvBlock::new(p / "bottom", cin, widths[config.depth]);
        let mut up = Vec::new();
        for d in (0..config.depth).rev() {
            let (wide, narrow) = (widths[d + 1], widths[d]);
            let tcfg = nn::ConvTransposeConfig { stride: 2, ..Default::default() };
            let upconv = nn::conv_transpose2d(p / "up" / d / "upconv", wide, narrow, 2, tcfg);
            up.push((upconv, ConvBlock::new(p / "up" / d / "block", 2 * narrow, narrow)));
        }
        let head = nn::conv2d(p / "head", widths[0], config.class_names.len() as i64, 1, Default::default());
        Self { down, bottom, up, head, dropout: config.dropout }
    }

    /// Input sides must be multiples of 2^depth.
    pub fn required_multiple(depth: usize) -> i64 {
        1 << depth
    }
}

impl ModuleT for UNet {
    /// (batch, 1, H, W) normalised frames → (batch, classes, H, W) class scores (logits).
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut skips = Vec::with_capacity(self.down.len());
        let mut x = x.shallow_clone();
        for block in &self.down {
            let y = block.forward(&x, train);
            x = y.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false);
            skips.push(y);
        }
        x = self.bottom.forward(&x, train);
        if self.dropout > 0.0 {
            x = x.dropout(self.dropout, train);
        }
        for ((upconv, block), skip) in self.up.iter().zip(skips.iter().rev()) {
            let y = x.apply(upconv);
            x = block.forward(&Tensor::cat(&[y, skip.shallow_clone()], 1), train);
        }
        x.apply(&self.head)
    }
}
