use tch::{Kind, Tensor};
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let threads: i32 = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(2);
    let micro: i64 = args.get(2).map(|s| s.parse().unwrap()).unwrap_or(100);
    let kind = if args.get(3).map(|s| s.as_str()) == Some("bf16") { Kind::BFloat16 } else { Kind::Float };
    tch::set_num_threads(threads);
    let dev = tch::Device::Cpu;
    let p = 1024i64;
    let w1 = Tensor::randn([128, 128], (Kind::Float, dev)).set_requires_grad(true);
    let w2 = Tensor::randn([128, 128], (Kind::Float, dev)).set_requires_grad(true);
    let b = Tensor::zeros([128], (Kind::Float, dev)).set_requires_grad(true);
    let iters = 10;
    let t0 = std::time::Instant::now();
    for _ in 0..iters {
        let mut s = 0;
        while s < 100 {
            let h = Tensor::randn([micro * p, 128], (kind, dev));
            let y = h.linear(&w1.to_kind(kind), Some(&b.to_kind(kind))).tanh();
            let y = y.linear(&w2.to_kind(kind), Some(&b.to_kind(kind))).tanh();
            let l = y.to_kind(Kind::Float).square().sum(Kind::Float);
            l.backward();
            s += micro;
        }
    }
    let dt = t0.elapsed().as_secs_f64() / iters as f64;
    println!(
        "threads {threads} micro {micro} {kind:?}: {:.3} s per 100 windows → {:.0} windows/s (2 hidden layers only)",
        dt,
        100.0 / dt
    );
}
