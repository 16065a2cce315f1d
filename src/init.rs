//! Deterministic weight initialisation from a seed of our own, independent of
//! libtorch's global random state: two models made with the same seed are
//! identical even when other threads draw random numbers meanwhile (as parallel
//! tests, or a host application, do).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{nn, Tensor};

/// Redraws every weight of ≥ 2 dimensions, and the bias beside it, uniformly in
/// ±1/√fan_in (PyTorch's default bound), in the order of the variable names; sets
/// the other scales (`*.weight`, batch norm) to 1 and shifts (`*.bias`) to 0, as
/// PyTorch does. Running statistics are left as they are.
pub fn seeded_init(vs: &nn::VarStore, seed: u64) {
    let vars = vs.variables();
    let mut names: Vec<&String> = vars.keys().collect();
    names.sort();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    tch::no_grad(|| {
        for name in names {
            let t = &vars[name];
            let size = t.size();
            let fan_in = if size.len() >= 2 {
                size[1..].iter().product::<i64>()
            } else if let Some(stem) = name.strip_suffix(".bias").or_else(|| name.strip_suffix("bias")) {
                match vars.get(&format!("{stem}.weight")).or_else(|| vars.get(&format!("{stem}weight"))) {
                    Some(w) if w.dim() >= 2 => w.size()[1..].iter().product::<i64>(),
                    _ => {
                        let _ = t.shallow_clone().fill_(0.0);
                        continue;
                    }
                }
            } else {
                if name.ends_with("weight") {
                    let _ = t.shallow_clone().fill_(1.0);
                }
                continue;
            };
            let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
            let values: Vec<f32> = (0..t.numel()).map(|_| rng.gen_range(-bound..bound)).collect();
            let mut target = t.shallow_clone();
            target.copy_(&Tensor::from_slice(&values).view(size.as_slice()).to_kind(t.kind()).to_device(t.device()));
        }
    });
}

/// A (rows, cols) tensor of standard normal draws from `rng`.
pub fn normal_tensor(rng: &mut ChaCha8Rng, rows: i64, cols: i64, device: tch::Device) -> Tensor {
    let values: Vec<f32> = (0..rows * cols).map(|_| rng.sample(rand_distr::StandardNormal)).collect();
    Tensor::from_slice(&values).view([rows, cols]).to_device(device)
}
