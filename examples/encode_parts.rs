use std::time::Instant;
use tch::{Device, Kind, Tensor};
fn best<F: FnMut()>(mut f: F) -> f64 {
    let mut b = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        f();
        b = b.min(t.elapsed().as_secs_f64());
    }
    b
}
fn main() {
    tch::set_num_threads(2);
    let n = 20000usize;
    let p = 1024usize;
    let v: Vec<f32> = (0..n * p).map(|i| (i % 17) as f32 / 17.0).collect();
    let x = Tensor::from_slice(&v).view([n as i64, p as i64]);
    let w = Tensor::rand([128, p as i64], (Kind::Float, Device::Cpu)).to_kind(Kind::BFloat16);
    let w2 = Tensor::rand([128, 128], (Kind::Float, Device::Cpu)).to_kind(Kind::BFloat16);
    for block in [512usize, 1024, 2048, 4096, 8192] {
        let t = best(|| {
            for s in (0..n).step_by(block) {
                let l = block.min(n - s);
                let h = x.narrow(0, s as i64, l as i64).to_kind(Kind::BFloat16).linear::<Tensor>(&w, None).tanh();
                let _ = h.linear::<Tensor>(&w2, None).tanh().to_kind(Kind::Float);
            }
        });
        println!("block {block}: {t:.4} ({:.0}/s)", n as f64 / t);
    }
}
