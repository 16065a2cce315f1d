//! The rotationally invariant VAE: its loss terms, gradients, disentanglement of
//! rotation and translation, reproducibility, storage and input checks.

use atomvae::progress::Silent;
use atomvae::rvae::{train_rvae, Rvae, RvaeConfig, RvaeTrainConfig, RvaeTrainReport};
use ndarray::{Array2, Array3};

fn cpu() -> tch::Device {
    tch::Device::Cpu
}

/// Windows of an asymmetric motif (three blobs in an L) turned by `angles` and
/// shifted by `shifts` (px).
fn l_motifs(w: usize, angles: &[f64], shifts: &[(f64, f64)]) -> Array3<f32> {
    let c = (w as f64 - 1.0) / 2.0;
    let blobs = [(0.0, 0.0, 1.0), (0.0, 4.0, 0.8), (-5.0, 0.0, 0.6)];
    Array3::from_shape_fn((angles.len(), w, w), |(k, r, col)| {
        let (s, co) = angles[k].sin_cos();
        let (dy, dx) = shifts[k];
        blobs
            .iter()
            .map(|&(by, bx, amp)| {
                // Counter-clockwise on screen (y down).
                let (ry, rx) = (by * co - bx * s, bx * co + by * s);
                let d2 = (r as f64 - c - ry - dy).powi(2) + (col as f64 - c - rx - dx).powi(2);
                amp * (-d2 / 3.0).exp()
            })
            .sum::<f64>() as f32
    })
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// Circular correlation (Fisher & Lee / Jammalamadaka) of two angle samples.
fn circular_correlation(a: &[f64], b: &[f64]) -> f64 {
    let mean_angle = |v: &[f64]| v.iter().map(|x| x.sin()).sum::<f64>().atan2(v.iter().map(|x| x.cos()).sum::<f64>());
    let (ma, mb) = (mean_angle(a), mean_angle(b));
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - ma).sin() * (y - mb).sin()).sum();
    let da: f64 = a.iter().map(|x| (x - ma).sin().powi(2)).sum();
    let db: f64 = b.iter().map(|y| (y - mb).sin().powi(2)).sum();
    num / (da * db).sqrt()
}

#[test]
fn kl_terms_equal_their_closed_forms() {
    let mean = tch::Tensor::from_slice(&[0.7f32, -0.3, 0.0]).view([1, 3]);
    let logsd = tch::Tensor::from_slice(&[(0.5f32).ln(), 0.0, (2.0f32).ln()]).view([1, 3]);
    let kl = f64::try_from(atomvae::rvae::gaussian_kl(&mean, &logsd).sum(tch::Kind::Double)).unwrap();
    // KL(N(μ, σ²) ‖ N(0, 1)) = ½(σ² + μ² − 1) − ln σ, summed over the three.
    let closed: f64 =
        [(0.7f64, 0.5f64), (-0.3, 1.0), (0.0, 2.0)].iter().map(|&(m, s)| 0.5 * (s * s + m * m - 1.0) - s.ln()).sum();
    assert!((kl - closed).abs() < 1e-5, "{kl} vs {closed}");
    // The rotation term ignores the mean: KL(N(μ, σ²) ‖ N(μ, s²)) = ln(s/σ) + σ²/(2s²) − ½.
    let ls = tch::Tensor::from_slice(&[(0.05f32).ln()]);
    let rot = f64::try_from(atomvae::rvae::rotation_kl(&ls, 0.1).sum(tch::Kind::Double)).unwrap();
    let closed = (0.1f64 / 0.05).ln() + 0.05f64.powi(2) / (2.0 * 0.01) - 0.5;
    assert!((rot - closed).abs() < 1e-5, "{rot} vs {closed}");
}

#[test]
fn the_loss_gradient_matches_finite_differences() {
    tch::manual_seed(0);
    let cfg = RvaeConfig { window: 6, hidden: 5, latent_dim: 1, ..RvaeConfig::default() };
    let mut model = Rvae::new(cfg, cpu()).unwrap();
    model.set_kind(tch::Kind::Double);
    let x = tch::Tensor::rand([3, 36], (tch::Kind::Double, cpu()));
    let loss = |m: &Rvae| m.deterministic_loss(&x);
    let l0 = loss(&model);
    l0.backward();
    let vars = model.var_store().variables();
    let mut checked = 0;
    for name in [
        "enc.0.weight",
        "enc_mean.weight",
        "dec_coord.weight",
        "dec_latent.weight",
        "dec.1.weight",
        "dec_out.bias",
        "enc_logsd.bias",
    ] {
        let v = vars[name].shallow_clone();
        let grad = f64::try_from(v.grad().flatten(0, -1).get(0)).unwrap();
        let eps = 1e-6;
        let orig = f64::try_from(v.flatten(0, -1).get(0)).unwrap();
        let _ = tch::no_grad(|| v.flatten(0, -1).get(0).fill_(orig + eps));
        let up = f64::try_from(loss(&model)).unwrap();
        let _ = tch::no_grad(|| v.flatten(0, -1).get(0).fill_(orig - eps));
        let down = f64::try_from(loss(&model)).unwrap();
        let _ = tch::no_grad(|| v.flatten(0, -1).get(0).fill_(orig));
        let numeric = (up - down) / (2.0 * eps);
        assert!(
            (grad - numeric).abs() <= 1e-6 + 1e-4 * numeric.abs(),
            "{name}: autograd {grad} vs finite differences {numeric}"
        );
        checked += 1;
    }
    assert_eq!(checked, 7);
}

/// A trained model, its windows, and the true angles and (y, x) shifts.
type Disentangled = (Rvae, Array3<f32>, Vec<f64>, Vec<(f64, f64)>);

fn disentangle_model(seed: u64) -> Disentangled {
    let n = 1500;
    let w = 16;
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
    use rand::Rng;
    let angles: Vec<f64> = (0..n).map(|_| rng.gen_range(-1.3..1.3)).collect();
    let shifts: Vec<(f64, f64)> = (0..n).map(|_| (rng.gen_range(-1.5..1.5), rng.gen_range(-1.5..1.5))).collect();
    let windows = l_motifs(w, &angles, &shifts);
    // The rotation term penalises only the spread of q(γ|x) (AtomAI's form), so the
    // angle's mean is free over any range whatever s_γ is; a wide s_γ would instead
    // force wide, noisy angle samples. The paper's s_γ = 0.1 rad is the right setting.
    let cfg =
        RvaeConfig { window: w, hidden: 64, rotation_prior: 0.1, translation_prior: 0.3, ..RvaeConfig::default() };
    let mut model = Rvae::new_seeded(cfg, cpu(), seed).unwrap();
    let train = RvaeTrainConfig {
        epochs: 60,
        batch: 50,
        learning_rate: 2e-3,
        holdout_fraction: 0.1,
        seed,
        ..RvaeTrainConfig::default()
    };
    train_rvae(&mut model, windows.view(), &train, &mut Silent).unwrap();
    (model, windows, angles, shifts)
}

#[test]
fn rotation_and_translation_are_disentangled() {
    let (model, windows, angles, shifts) = disentangle_model(1);
    let lat = model.encode(windows.view()).unwrap();
    let got_angle: Vec<f64> = lat.mean.column(0).iter().map(|&v| v as f64).collect();
    let rho = circular_correlation(&got_angle, &angles).abs();
    assert!(rho >= 0.9, "circular correlation of encoded and true angles {rho:.3}");
    for c in 3..5 {
        let z: Vec<f64> = lat.mean.column(c).iter().map(|&v| v as f64).collect();
        let r = pearson(&z, &angles);
        // A latent that carries no information (its means squeezed far inside the unit
        // prior) may correlate with anything; what matters is how much of a unit-variance
        // latent the angle explains: below what |r| = 0.2 would explain.
        let mean = z.iter().sum::<f64>() / z.len() as f64;
        let var = z.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / z.len() as f64;
        assert!(r * r * var < 0.04, "content latent z{} follows the angle (r = {r:.3}, variance {var:.3})", c - 2);
    }
    let dx: Vec<f64> = lat.mean.column(1).iter().map(|&v| v as f64).collect();
    let dy: Vec<f64> = lat.mean.column(2).iter().map(|&v| v as f64).collect();
    let (sy, sx): (Vec<f64>, Vec<f64>) = shifts.iter().copied().unzip();
    // The grid is turned, then shifted: (dx, dy) live in the turned frame. Turned back
    // by the encoded angle (either sense; a global offset is a fixed linear map), they
    // must predict the true shifts linearly.
    let best = [1.0, -1.0]
        .iter()
        .map(|&sense| {
            let (u, v): (Vec<f64>, Vec<f64>) = (0..dx.len())
                .map(|k| {
                    let (s, c) = (sense * got_angle[k]).sin_cos();
                    (c * dx[k] - s * dy[k], s * dx[k] + c * dy[k])
                })
                .unzip();
            multiple_correlation(&sx, &u, &v).min(multiple_correlation(&sy, &u, &v))
        })
        .fold(0.0, f64::max);
    assert!(best >= 0.9, "translation latents explain the true shifts with R = {best:.3}");
}

/// Multiple correlation R of `y` regressed on two predictors.
fn multiple_correlation(y: &[f64], a: &[f64], b: &[f64]) -> f64 {
    let n = y.len() as f64;
    let centre = |v: &[f64]| {
        let m = v.iter().sum::<f64>() / n;
        v.iter().map(|x| x - m).collect::<Vec<_>>()
    };
    let (y, a, b) = (centre(y), centre(a), centre(b));
    let dot = |p: &[f64], q: &[f64]| p.iter().zip(q).map(|(x, z)| x * z).sum::<f64>();
    let (saa, sbb, sab, say, sby, syy) = (dot(&a, &a), dot(&b, &b), dot(&a, &b), dot(&a, &y), dot(&b, &y), dot(&y, &y));
    let det = saa * sbb - sab * sab;
    let (ca, cb) = ((say * sbb - sby * sab) / det, (sby * saa - say * sab) / det);
    ((ca * say + cb * sby) / syy).max(0.0).sqrt()
}

#[test]
fn training_is_reproducible_and_models_round_trip() {
    let windows = l_motifs(12, &[0.1, 0.5, -0.4, 1.0, 0.0, -1.2, 0.3, 0.8], &[(0.0, 0.0); 8]);
    let windows = ndarray::concatenate(ndarray::Axis(0), &[windows.view(); 25]).unwrap();
    let run = || {
        let mut m = Rvae::new_seeded(RvaeConfig { window: 12, hidden: 32, ..RvaeConfig::default() }, cpu(), 5).unwrap();
        let cfg = RvaeTrainConfig { epochs: 2, batch: 40, seed: 5, ..RvaeTrainConfig::default() };
        let report = train_rvae(&mut m, windows.view(), &cfg, &mut Silent).unwrap();
        (m, report)
    };
    let (a, report) = run();
    let (b, _) = run();
    let (la, lb) = (a.encode(windows.view()).unwrap(), b.encode(windows.view()).unwrap());
    assert_eq!(la, lb, "same seed, same data ⇒ same latents");
    assert_eq!(report.train_windows + report.holdout_windows, 200);
    assert_eq!(report.holdout_windows, 50);
    assert!(report.epochs.iter().all(|e| e.holdout.is_some()));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rvae.h5");
    atomvae::store::save_model_file(&path, "rvae", &a.to_stored()).unwrap();
    let loaded =
        Rvae::from_stored(&atomvae::store::load_model_file(&path, None, Some("rvae")).unwrap(), cpu()).unwrap();
    assert_eq!(loaded.encode(windows.view()).unwrap(), la, "save → load → identical encodings");
}

#[test]
fn decoding_with_and_without_pose_and_the_manifold() {
    tch::manual_seed(2);
    let model = Rvae::new(RvaeConfig { window: 10, hidden: 16, ..RvaeConfig::default() }, cpu()).unwrap();
    let full = Array2::from_shape_vec((2, 5), vec![0.0, 0.0, 0.0, 0.5, -0.5, 1.2, 2.0, -1.0, 0.5, -0.5]).unwrap();
    let with = model.decode(&full, true).unwrap();
    let without = model.decode(&full, false).unwrap();
    let content = model.decode(&full.slice(ndarray::s![.., 3..]).to_owned(), true).unwrap();
    assert_eq!(with.dim(), (2, 10, 10));
    assert_eq!(
        with.index_axis(ndarray::Axis(0), 0),
        without.index_axis(ndarray::Axis(0), 0),
        "zero pose changes nothing"
    );
    assert_ne!(
        with.index_axis(ndarray::Axis(0), 1),
        without.index_axis(ndarray::Axis(0), 1),
        "a pose turns and shifts"
    );
    assert_eq!(without, content, "ignoring the pose = decoding the content alone");
    let (grid, axis) = model.manifold(4).unwrap();
    assert_eq!(grid.dim(), (4, 4, 10, 10));
    assert_eq!(axis.len(), 4);
    assert!((axis[0] + 1.6449).abs() < 1e-4);
    // The manifold's (row 0, column 2) is z = (axis[2], axis[0]).
    let single = model.decode(&Array2::from_shape_vec((1, 2), vec![axis[2], axis[0]]).unwrap(), true).unwrap();
    // Equal up to rounding: a batch of 16 and a batch of 1 may take different GEMM
    // kernels (seen on an AMD EPYC with AVX-512 BF16).
    let diff = (&grid.slice(ndarray::s![0, 2, .., ..]) - &single.index_axis(ndarray::Axis(0), 0))
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()));
    assert!(diff < 1e-5, "the manifold's (0, 2) window differs from decoding it alone by {diff}");
}

/// The encoder finds NaN and infinite pixels by its first layer's sums, not by
/// reading the pixels: every one must still be refused, named by its window, in
/// either arithmetic, in and outside a disc model's disc, in any block.
#[test]
fn encoding_refuses_every_non_finite_pixel() {
    use atomvae::rvae::{EncoderKind, Precision};
    let n = 2500; // more than one encoder block (2048)
    for (disc, encoder) in [(false, EncoderKind::Mlp), (true, EncoderKind::Mlp), (false, EncoderKind::Conv)] {
        let config = RvaeConfig { window: 8, hidden: 8, disc, encoder, ..RvaeConfig::default() };
        let mut model = Rvae::new_seeded(config, cpu(), 1).unwrap();
        let precisions: &[Precision] =
            if atomvae::rvae::cpu_has_native_bf16() { &[Precision::Fp32, Precision::Bf16] } else { &[Precision::Fp32] };
        for &precision in precisions {
            model.set_encode_precision(precision);
            for (window, pixel) in [(7, [0, 0]), (2100, [4, 4]), (n - 1, [7, 0])] {
                for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                    let mut windows = Array3::<f32>::from_elem((n, 8, 8), 0.5);
                    windows[[window, pixel[0], pixel[1]]] = bad;
                    let e = model.encode(windows.view()).unwrap_err().to_string();
                    assert!(
                        e.contains(&format!("window {window} has a NaN or infinite pixel")),
                        "{bad} at {pixel:?} of window {window} ({encoder:?}, disc {disc}, {precision:?}): {e}"
                    );
                }
            }
            let latents = model.encode(Array3::<f32>::from_elem((n, 8, 8), 0.5).view()).unwrap();
            assert!(latents.mean.iter().chain(latents.logvar.iter()).all(|v| v.is_finite()));
            if encoder == EncoderKind::Mlp {
                let e = model.encode(Array3::<f32>::from_elem((3, 8, 8), f32::MAX).view()).unwrap_err().to_string();
                assert!(e.contains("windows 0–2 hold values too large for the encoder"), "{precision:?}: {e}");
            }
        }
    }
}

#[test]
fn bad_input_gets_clear_errors() {
    let model = Rvae::new(RvaeConfig { window: 8, hidden: 8, ..RvaeConfig::default() }, cpu()).unwrap();
    let e = model.encode(Array3::<f32>::zeros((0, 8, 8)).view()).unwrap_err().to_string();
    assert!(e.contains("no windows"), "{e}");
    let e = model.encode(Array3::<f32>::zeros((3, 10, 10)).view()).unwrap_err().to_string();
    assert!(e.contains("windows of 10×10 px given to a model of 8×8"), "{e}");
    let mut nan = Array3::<f32>::zeros((3, 8, 8));
    nan[[2, 1, 1]] = f32::NAN;
    let e = model.encode(nan.view()).unwrap_err().to_string();
    assert!(e.contains("window 2 has a NaN"), "{e}");
    let e = model.decode(&Array2::zeros((1, 4)), true).unwrap_err().to_string();
    assert!(e.contains("latent vectors of length 4; this model takes 2 (content) or 5"), "{e}");
    let mut cutter = atomvae::subimages::WindowCutter::new(
        atomvae::subimages::WindowConfig { size_px: Some(64), ..Default::default() },
        0.1,
    )
    .unwrap();
    let e = cutter.add_frame(0, Array2::<f32>::zeros((32, 32)).view(), &[(0, 16.0, 16.0, 1)]).unwrap_err().to_string();
    assert!(e.contains("does not fit"), "{e}");
}

#[test]
fn bf16_decoder_arithmetic_trains_as_well_as_f32() {
    let angles: Vec<f64> = (0..300).map(|k| (k as f64 * 0.37).sin() * 1.2).collect();
    let windows = l_motifs(16, &angles, &vec![(0.0, 0.0); 300]);
    let run = |precision| {
        let mut m = Rvae::new_seeded(RvaeConfig { window: 16, hidden: 32, ..RvaeConfig::default() }, cpu(), 9).unwrap();
        let cfg = RvaeTrainConfig {
            epochs: 4,
            batch: 50,
            learning_rate: 2e-3,
            precision,
            holdout_fraction: 0.2,
            seed: 9,
            ..RvaeTrainConfig::default()
        };
        let report = train_rvae(&mut m, windows.view(), &cfg, &mut Silent).unwrap();
        report.epochs.last().unwrap().holdout.unwrap().neg_elbo
    };
    let (f32_elbo, bf16_elbo) = (run(atomvae::rvae::Precision::Fp32), run(atomvae::rvae::Precision::Bf16));
    assert!((bf16_elbo - f32_elbo).abs() < 0.03 * f32_elbo, "held-out −ELBO f32 {f32_elbo:.4} vs bf16 {bf16_elbo:.4}");
}

/// Windows served a range at a time, recording every request (as the analysis
/// file serves them).
struct CountingRows {
    x: tch::Tensor,
    requests: std::cell::RefCell<Vec<(usize, usize)>>,
}

impl atomvae::rvae::WindowRows for CountingRows {
    fn count(&self) -> usize {
        self.x.size()[0] as usize
    }
    fn pixels(&self) -> usize {
        self.x.size()[1] as usize
    }
    fn rows(&self, start: usize, len: usize) -> Result<tch::Tensor, atomvae::rvae::RvaeError> {
        self.requests.borrow_mut().push((start, len));
        Ok(self.x.narrow(0, start as i64, len as i64).copy())
    }
}

/// Counts the training units reported.
#[derive(Default)]
struct Tally(u64, u64);

impl atomvae::progress::Progress for Tally {
    fn start(&mut self, _: &str, total: u64) {
        self.0 = total;
    }
    fn advance(&mut self, n: u64) {
        self.1 += n;
    }
    fn cancelled(&self) -> bool {
        false
    }
}

#[test]
fn window_sets_larger_than_memory_are_streamed_in_blocks_and_still_train() {
    use atomvae::rvae::{train_rvae_rows, ROWS_PER_UNIT};
    let n = 2 * ROWS_PER_UNIT + 452;
    let angles: Vec<f64> = (0..n).map(|k| (k as f64 * 0.37).sin() * 1.2).collect();
    let windows = l_motifs(12, &angles, &vec![(0.0, 0.0); n]);
    let flat = tch::Tensor::from_slice(windows.as_slice().unwrap()).view([n as i64, 144]);
    let run = |resident_mib| {
        let source = CountingRows { x: flat.shallow_clone(), requests: Default::default() };
        let mut m = Rvae::new_seeded(RvaeConfig { window: 12, hidden: 32, ..RvaeConfig::default() }, cpu(), 3).unwrap();
        let cfg = RvaeTrainConfig {
            epochs: 3,
            batch: 64,
            learning_rate: 2e-3,
            resident_mib,
            seed: 3,
            ..RvaeTrainConfig::default()
        };
        let mut tally = Tally::default();
        let report = train_rvae_rows(&mut m, &source, &cfg, &mut tally).unwrap();
        (report, source.requests.into_inner(), tally)
    };
    // 1 MiB holds one unit of 1024 windows of 12² f32 (590 kB): three blocks.
    let (streamed, requests, tally) = run(1);
    assert!(requests.iter().all(|&(_, len)| len <= ROWS_PER_UNIT), "one unit in memory at a time: {requests:?}");
    // Every epoch reads each unit once to train and once to score the held-out rows;
    // at the end the first unit once more, to number the content latents.
    assert_eq!(requests.len(), 3 * 3 * 2 + 1);
    assert_eq!(requests.last(), Some(&(0, ROWS_PER_UNIT)));
    let mut first_epoch: Vec<_> = requests[..3].to_vec();
    first_epoch.sort();
    assert_eq!(first_epoch, vec![(0, 1024), (1024, 1024), (2048, 452)]);
    assert_eq!(tally.1, tally.0, "every training window is visited once per epoch");
    assert_eq!(tally.0 as usize, 3 * streamed.train_windows);
    // Everything fits in 256 MiB: read once, shuffled whole.
    let (resident, requests, _) = run(256);
    assert_eq!(requests, first_epoch.to_vec(), "read once, unit by unit");
    assert_eq!(resident.holdout_windows, streamed.holdout_windows, "same split either way");
    let (first, last) = (&streamed.epochs[0], streamed.epochs.last().unwrap());
    let (s_last, r_last) = (last.holdout.unwrap().neg_elbo, resident.epochs.last().unwrap().holdout.unwrap().neg_elbo);
    assert!(s_last < 0.8 * first.train.neg_elbo, "streamed training learns: {} → {s_last}", first.train.neg_elbo);
    assert!((s_last - r_last).abs() < 0.1 * r_last, "streamed {s_last:.3} vs resident {r_last:.3}");
}

/// The encoder's fast path (caller's memory without a copy, a disc model's mask
/// folded into the first layer) gives what the plain network computes on masked
/// windows, for any memory order of the input.
#[test]
fn fast_encoding_equals_the_plain_network_on_masked_windows() {
    let w = 12;
    let windows = l_motifs(w, &[0.0, 0.7, 1.9, 2.8, 4.0], &[(0.0, 0.0); 5]);
    let mut model =
        Rvae::new_seeded(RvaeConfig { window: w, disc: true, hidden: 32, ..RvaeConfig::default() }, cpu(), 3).unwrap();
    model.set_encode_precision(atomvae::rvae::Precision::Fp32);
    let fast = model.encode(windows.view()).unwrap();
    // The inscribed disc (radius (w − 1)/2 px around the centre), by hand.
    let c = (w as f64 - 1.0) / 2.0;
    let mut masked = windows.clone();
    for ((_, y, x), v) in masked.indexed_iter_mut() {
        if ((y as f64 - c).powi(2) + (x as f64 - c).powi(2)).sqrt() > c {
            *v = 0.0;
        }
    }
    let x = tch::Tensor::from_slice(masked.as_slice().unwrap()).view([5, (w * w) as i64]);
    let (mean, _) = tch::no_grad(|| model.encoder().forward(&x, w as i64));
    let plain = Vec::<f32>::try_from(mean.view([-1])).unwrap();
    for (a, b) in fast.mean.iter().zip(&plain) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    // Fortran order (a transposed copy viewed back): same numbers.
    let mut fortran = Array3::<f32>::zeros((w, w, 5));
    fortran.assign(&windows.view().permuted_axes([2, 1, 0]));
    let other = model.encode(fortran.view().permuted_axes([2, 1, 0])).unwrap();
    assert_eq!(other.mean, fast.mean);
    // bf16 arithmetic: the same latents to well within their spread.
    model.set_encode_precision(atomvae::rvae::Precision::Bf16);
    let low = model.encode(windows.view()).unwrap();
    for col in 0..fast.mean.ncols() {
        let (a, b) = (fast.mean.column(col), low.mean.column(col));
        let spread = a.std(0.0).max(1e-3);
        let worst = a.iter().zip(b.iter()).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(worst < 0.05 * spread, "column {col}: {worst} vs spread {spread}");
    }
}

/// `--precision auto` on a CPU takes the faster arithmetic as timed on this machine
/// (f32 unless bf16 wins by 15 %).
#[test]
fn automatic_precision_follows_the_timed_probe() {
    let probe = atomvae::rvae::precision_probe();
    let auto = atomvae::rvae::Precision::Auto.kind_for(cpu());
    assert_eq!(auto, probe.choice);
    match probe.bf16_seconds {
        Some(b) => {
            assert!(probe.f32_seconds > 0.0 && b > 0.0);
            assert_eq!(probe.choice == tch::Kind::BFloat16, probe.f32_seconds > 1.15 * b, "{probe:?}");
        }
        None => assert_eq!(probe.choice, tch::Kind::Float),
    }
}

/// The warm-up's batch size (`kl_warmup_batch`) applies to the warm-up epochs and
/// to nothing else.
#[test]
fn the_warmup_batch_applies_to_the_warmup_only() {
    let windows = l_motifs(12, &[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5], &[(0.0, 0.0); 8]);
    let config = RvaeConfig { window: 12, hidden: 16, ..RvaeConfig::default() };
    let base = RvaeTrainConfig { epochs: 3, batch: 2, holdout_fraction: 0.25, seed: 2, ..RvaeTrainConfig::default() };
    let curve = |cfg: &RvaeTrainConfig| -> Vec<f64> {
        let mut model = Rvae::new_seeded(config.clone(), cpu(), 1).unwrap();
        let report = train_rvae(&mut model, windows.view(), cfg, &mut Silent).unwrap();
        report.epochs.iter().map(|e| e.train.neg_elbo).collect()
    };
    let plain = curve(&base);
    // No warm-up epochs: the warm-up batch changes nothing.
    assert_eq!(curve(&RvaeTrainConfig { kl_warmup_batch: 6, ..base.clone() }), plain);
    // One warm-up epoch (weight 1, so only the batch differs): the same batch as
    // the rest changes nothing; another batch changes the first epoch already.
    let warm = RvaeTrainConfig { kl_warmup_epochs: 1, ..base.clone() };
    assert_eq!(curve(&RvaeTrainConfig { kl_warmup_batch: 2, ..warm.clone() }), plain);
    let larger = curve(&RvaeTrainConfig { kl_warmup_batch: 6, ..warm });
    assert_ne!(larger[0], plain[0], "{larger:?} vs {plain:?}");
}

/// Several warm-up tries: the model's own warm-up goes on unless another try's
/// ended clearly lower, in which case training starts again from that try's
/// initial weights; the report lists each try's held-out −ELBO.
#[test]
fn warmup_tries_set_a_poor_warmup_aside() {
    let windows = l_motifs(12, &[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5], &[(0.0, 0.0); 8]);
    let config = RvaeConfig { window: 12, hidden: 16, ..RvaeConfig::default() };
    let base = RvaeTrainConfig {
        epochs: 4,
        batch: 2,
        holdout_fraction: 0.25,
        kl_warmup_epochs: 2,
        kl_warmup_weight: 5.0,
        seed: 2,
        ..RvaeTrainConfig::default()
    };
    let tries = RvaeTrainConfig { kl_warmup_tries: 3, ..base.clone() };
    let curve = |r: &RvaeTrainReport| -> Vec<f64> { r.epochs.iter().map(|e| e.holdout.unwrap().neg_elbo).collect() };
    let fresh = || Rvae::new_seeded(config.clone(), cpu(), 1).unwrap();
    let plain = train_rvae(&mut fresh(), windows.view(), &base, &mut Silent).unwrap();
    assert!(plain.warmup_tries.is_empty() && plain.chosen_warmup.is_none());
    let tried = train_rvae(&mut fresh(), windows.view(), &tries, &mut Silent).unwrap();
    assert_eq!(tried.warmup_tries.len(), 3);
    assert_eq!(tried.epochs.len(), 4, "the report is the whole run trained on");
    // The first try is the model's own warm-up: the plain run's.
    assert!((tried.warmup_tries[0] - curve(&plain)[1]).abs() < 1e-9, "{:?} vs {:?}", tried.warmup_tries, plain);
    match tried.chosen_warmup.unwrap() {
        0 => assert_eq!(curve(&tried), curve(&plain)),
        other => assert!(tried.warmup_tries[other] < 0.9 * tried.warmup_tries[0], "{:?}", tried.warmup_tries),
    }

    // Weights ×8 saturate the tanh layers: that warm-up ends far above a fresh try's,
    // and the run reported starts from the best other try's weights.
    let mut spoiled = fresh();
    tch::no_grad(|| {
        for (_, v) in spoiled.var_store().variables() {
            v.shallow_clone().copy_(&(&v * 8.0));
        }
    });
    let rescued = train_rvae(&mut spoiled, windows.view(), &tries, &mut Silent).unwrap();
    let chosen = rescued.chosen_warmup.unwrap();
    let others = rescued.warmup_tries[1..].iter().copied().fold(f64::INFINITY, f64::min);
    assert!(chosen > 0 && rescued.warmup_tries[chosen] == others, "{:?}", rescued.warmup_tries);
    assert!(others < 0.9 * rescued.warmup_tries[0], "{:?}", rescued.warmup_tries);
    assert_eq!(rescued.epochs.len(), 4);
    assert!((curve(&rescued)[1] - others).abs() < 1e-6 * others, "{:?} vs {others}", curve(&rescued));
}

/// Training says why it ended: all epochs run, converged (no 0.1 % held-out
/// improvement for `patience` epochs), or out of time.
#[test]
fn training_reports_when_and_why_it_stopped() {
    let windows = l_motifs(12, &[0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5], &[(0.0, 0.0); 8]);
    let config = RvaeConfig { window: 12, hidden: 16, ..RvaeConfig::default() };
    let base = RvaeTrainConfig { epochs: 6, batch: 4, holdout_fraction: 0.25, seed: 2, ..RvaeTrainConfig::default() };
    let train = |cfg: &RvaeTrainConfig| {
        let mut model = Rvae::new_seeded(config.clone(), cpu(), 1).unwrap();
        train_rvae(&mut model, windows.view(), cfg, &mut Silent).unwrap()
    };
    let all = train(&base);
    assert_eq!((all.stop_reason.as_str(), all.epochs.len()), ("all epochs", 6));

    // A learning rate too small to move the held-out −ELBO by 0.1 %: converged after
    // the first epoch and `patience` more.
    let still = train(&RvaeTrainConfig { learning_rate: 1e-9, early_stop_patience: 2, ..base.clone() });
    assert_eq!((still.stop_reason.as_str(), still.epochs.len()), ("converged", 3));
    assert!(still.stopped_early && still.best_epoch.is_some());

    // With a decay patience of 1 the rate halves after every flat epoch (the first
    // epoch is an improvement on nothing), and each epoch records the rate it
    // trained with.
    let decayed =
        train(&RvaeTrainConfig { learning_rate: 1e-9, early_stop_patience: 4, lr_decay_patience: 1, ..base.clone() });
    let rates: Vec<f64> = decayed.epochs.iter().map(|e| e.learning_rate).collect();
    assert_eq!(rates, [1e-9, 1e-9, 5e-10, 2.5e-10, 1.25e-10], "{rates:?}");

    // Annealed after a warm-up of 2 epochs: the rate holds, then falls linearly
    // towards 0 at the end of the last epoch (no time budget to end it sooner).
    let annealed = train(&RvaeTrainConfig { learning_rate: 1e-3, kl_warmup_epochs: 2, anneal: true, ..base.clone() });
    let rates: Vec<f64> = annealed.epochs.iter().map(|e| e.learning_rate).collect();
    let expected = [1e-3, 1e-3, 1e-3, 0.75e-3, 0.5e-3, 0.25e-3];
    assert!(rates.iter().zip(expected).all(|(r, e)| (r - e).abs() < 1e-12), "{rates:?}");
    assert_eq!(annealed.stop_reason, "annealed");

    let hurried = train(&RvaeTrainConfig { time_budget_s: 1e-9, ..base.clone() });
    assert_eq!((hurried.stop_reason.as_str(), hurried.epochs.len()), ("time budget", 1));
}

/// Whole runs tried while z1 leaves the windows farthest from the bulk on both
/// sides: the report lists each run's one-sidedness, stops trying once a run is
/// one-sided enough, and the model keeps the weights of the most one-sided run.
#[test]
fn one_sided_tries_keep_the_run_whose_z1_is_most_one_sided() {
    use atomvae::analysis::order::{distance_from_median, far_windows_one_sided};
    // A bulk of one motif and three kinds of "defect": the motif plus or minus the
    // difference one turn makes, and plus another's; a little noise on every window.
    // Two kinds depart in opposite directions, so a latent sets them apart on both
    // sides of the bulk more often than not, and runs are tried again.
    let motifs = l_motifs(12, &[0.0, 1.2, -2.0], &[(0.0, 0.0); 3]);
    let (motif, one_turn, another) = (
        motifs.index_axis(ndarray::Axis(0), 0),
        motifs.index_axis(ndarray::Axis(0), 1),
        motifs.index_axis(ndarray::Axis(0), 2),
    );
    let windows = Array3::from_shape_fn((60, 12, 12), |(k, r, c)| {
        let (a, b) = match k {
            0..42 => (0.0, 0.0),
            _ => [(1.0, 0.0), (-1.0, 0.0), (0.0, 1.0)][k % 3],
        };
        let noise = 0.05 * (((k * 131 + r * 17 + c * 7) % 23) as f32 / 11.0 - 1.0);
        motif[[r, c]] + a * (one_turn[[r, c]] - motif[[r, c]]) + b * (another[[r, c]] - motif[[r, c]]) + noise
    });
    let config = RvaeConfig { window: 12, hidden: 16, rotation: false, translation: false, ..RvaeConfig::default() };
    let base = RvaeTrainConfig { epochs: 3, batch: 10, learning_rate: 5e-3, seed: 3, ..RvaeTrainConfig::default() };
    let fresh = || Rvae::new_seeded(config.clone(), cpu(), 1).unwrap();
    let once = train_rvae(&mut fresh(), windows.view(), &base, &mut Silent).unwrap();
    assert_eq!((once.one_sided.len(), once.chosen_run), (1, Some(0)));

    let tries = RvaeTrainConfig { one_sided_tries: 4, ..base };
    let mut model = fresh();
    let mut phases = Phases(Vec::new());
    let report = train_rvae(&mut model, windows.view(), &tries, &mut phases).unwrap();
    let scores = &report.one_sided;
    eprintln!("one-sidedness of each run: {scores:?}");
    // Each run's progress starts over under its own name.
    let expected: Vec<String> = (1..=scores.len())
        .map(|run| if run == 1 { "train rVAE".into() } else { format!("train rVAE (run {run} of at most 4)") })
        .collect();
    assert_eq!(phases.0, expected);
    assert_eq!(scores[0], once.one_sided[0], "the first run is the plain one");
    assert!((2..=4).contains(&scores.len()), "the first run is not one-sided enough here: {scores:?}");
    // Tries go on only while z1 is not one-sided enough.
    assert!(scores[..scores.len() - 1].iter().all(|&s| s < 0.9), "{scores:?}");
    assert!(scores.len() == 4 || *scores.last().unwrap() >= 0.9, "{scores:?}");
    let chosen = report.chosen_run.unwrap();
    assert!(scores.iter().all(|&s| s <= scores[chosen]), "kept run {chosen} of {scores:?}");
    // The model holds the kept run's weights: its z1 is exactly that one-sided.
    model.set_encode_precision(atomvae::rvae::Precision::Fp32);
    let latents = model.encode(windows.view()).unwrap();
    let content: Vec<Vec<f64>> =
        (3..5).map(|c| latents.mean.column(c).iter().map(|&v| f64::from(v)).collect()).collect();
    let measured = far_windows_one_sided(&content[0], &distance_from_median(&content)).unwrap();
    assert!(
        (measured - scores[chosen]).abs() < 1e-9,
        "the model's z1: {measured} vs the kept run's {}",
        scores[chosen]
    );
}

/// Records the phases a training run announces.
struct Phases(Vec<String>);

impl atomvae::progress::Progress for Phases {
    fn start(&mut self, phase: &str, _total: u64) {
        self.0.push(phase.to_string());
    }
    fn advance(&mut self, _n: u64) {}
    fn cancelled(&self) -> bool {
        false
    }
}
