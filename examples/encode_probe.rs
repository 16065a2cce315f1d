use atomvae::rvae::{Rvae, RvaeConfig};
use ndarray::Array3;
use std::time::Instant;
use tch::{Kind, Tensor};

fn main() {
    tch::set_num_threads(2);
    let n = 20000usize;
    for w in [32usize, 48] {
        let windows = Array3::<f32>::from_shape_fn((n, w, w), |(i, y, x)| ((i * 7 + y * 3 + x) % 17) as f32 / 17.0);
        let model = Rvae::new_seeded(RvaeConfig { window: w, ..RvaeConfig::default() }, tch::Device::Cpu, 0).unwrap();
        for _ in 0..2 {
            let t = Instant::now();
            let x = model.windows_tensor(windows.view()).unwrap();
            let t1 = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let _l = model.encode_tensor(&x);
            let t2 = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let _l = model.encode(windows.view()).unwrap();
            let t3 = t.elapsed().as_secs_f64();
            // raw matmul
            let t = Instant::now();
            let wt = Tensor::randn([128, (w * w) as i64], (Kind::Float, tch::Device::Cpu));
            let _ = tch::no_grad(|| x.linear::<Tensor>(&wt, None).tanh());
            let t4 = t.elapsed().as_secs_f64();
            println!("w{w}: to_tensor {t1:.4}s encode_tensor {t2:.4}s total {t3:.4}s ({:.0}/s) one linear {t4:.4}", n as f64 / t3);
        }
    }
}
