use std::time::Instant;
use tch::{Device, Kind, Tensor};
fn main() {
    tch::set_num_threads(2);
    for kind in [Kind::Float, Kind::BFloat16] {
        for n in [1024i64, 2048] {
            let a = Tensor::rand([n, n], (Kind::Float, Device::Cpu)).to_kind(kind);
            let b = Tensor::rand([n, n], (Kind::Float, Device::Cpu)).to_kind(kind);
            let _ = a.matmul(&b);
            let mut best = f64::MAX;
            for _ in 0..4 {
                let t = Instant::now();
                let _ = a.matmul(&b);
                best = best.min(t.elapsed().as_secs_f64());
            }
            println!("{kind:?} {n}: {:.1} GFLOP/s", 2.0 * (n as f64).powi(3) / best / 1e9);
        }
        // encoder-shaped: 20000x1024 @ 1024x128
        let x = Tensor::rand([20000, 1024], (Kind::Float, Device::Cpu)).to_kind(kind);
        let w = Tensor::rand([128, 1024], (Kind::Float, Device::Cpu)).to_kind(kind);
        let mut best = f64::MAX;
        for _ in 0..4 {
            let t = Instant::now();
            let _ = x.linear::<Tensor>(&w, None);
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "{kind:?} encoder-shaped linear: {:.1} GFLOP/s ({:.4}s)",
            2.0 * 20000.0 * 1024.0 * 128.0 / best / 1e9,
            best
        );
    }
}
