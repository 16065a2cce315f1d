use atomvae::rvae::{Rvae, RvaeConfig};
use ndarray::Array3;
use std::time::Instant;

fn main() {
    tch::set_num_threads(2);
    let n = 20000usize;
    println!("{:?}", atomvae::rvae::Precision::Auto.kind_for(tch::Device::Cpu));
    println!("{:?}", atomvae::rvae::precision_probe());
    for w in [32usize, 48] {
        let windows = Array3::<f32>::from_shape_fn((n, w, w), |(i, y, x)| ((i * 7 + y * 3 + x) % 17) as f32 / 17.0);
        let model = Rvae::new_seeded(RvaeConfig { window: w, ..RvaeConfig::default() }, tch::Device::Cpu, 0).unwrap();
        let mut best = f64::MAX;
        for _ in 0..5 {
            let t = Instant::now();
            let _l = model.encode(windows.view()).unwrap();
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!("w{w}: encode {best:.4}s ({:.0}/s)", n as f64 / best);
    }
}
