//! Segmentation and atom finding: the network, its training, tiled inference and
//! the embedded model's accuracy on simulated frames from seeds never used in
//! training (training draws its seeds from a ChaCha stream; these are fixed ≥ 10⁶).

use atomvae::segment::{
    score_atoms, train_segmenter, AtomFinderConfig, AtomScores, Segmenter, SegmenterConfig, SegmenterTrainConfig,
};
use atomvae::sim::{simulate_frame, SimParams, Simulator};
use atomvae::store::StoredModel;
use tch::nn::ModuleT;

fn cpu() -> tch::Device {
    tch::Device::Cpu
}

#[test]
fn unet_maps_frames_to_class_scores_of_the_same_size() {
    let vs = tch::nn::VarStore::new(cpu());
    let config = SegmenterConfig::default();
    let x = tch::Tensor::randn([2, 1, 64, 48], (tch::Kind::Float, cpu()));
    let y = atomvae::segment::UNet::new(&vs.root(), &config).forward_t(&x, false);
    assert_eq!(y.size(), vec![2, 3, 64, 48]);
}

fn tiny_training(seed: u64) -> (Segmenter, atomvae::segment::TrainReport) {
    let mut seg =
        Segmenter::new_seeded(SegmenterConfig { base_channels: 4, ..SegmenterConfig::default() }, cpu(), seed).unwrap();
    let cfg = SegmenterTrainConfig {
        epochs: 3,
        batches_per_epoch: 12,
        batch: 4,
        patch: 64,
        learning_rate: 5e-3,
        holdout_batches: 2,
        seed,
        ..SegmenterTrainConfig::default()
    };
    let report = train_segmenter(&mut seg, &cfg, &mut atomvae::progress::Silent, |_, _, _| true).unwrap();
    (seg, report)
}

fn weights(seg: &Segmenter) -> Vec<(String, Vec<f32>)> {
    StoredModel::from_var_store("x", serde_json::Value::Null, seg.var_store())
        .tensors
        .into_iter()
        .map(|(n, t)| (n, Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()))
        .collect()
}

#[test]
fn training_is_deterministic_and_lowers_the_held_out_loss() {
    let (a, report) = tiny_training(3);
    let (b, _) = tiny_training(3);
    let (c, _) = tiny_training(4);
    assert_eq!(weights(&a), weights(&b), "same seed, same weights");
    assert_ne!(weights(&a), weights(&c), "another seed, other weights");
    let first = report.holdout_loss[0];
    let last = *report.holdout_loss.last().unwrap();
    assert!(last < 0.8 * first, "held-out loss {:?}", report.holdout_loss);
    assert!(report.patches_per_second > 0.0);
}

fn embedded() -> Segmenter {
    Segmenter::embedded(cpu()).expect("the library ships a default model")
}

#[test]
fn embedded_model_meets_the_accuracy_targets_at_full_and_half_dose() {
    let seg = embedded();
    let finder = AtomFinderConfig::default();
    for dose in [40.0, 20.0] {
        let mut per_frame = Vec::new();
        for seed in [1_000_101u64, 1_000_102] {
            let params =
                SimParams { height: 1024, width: 1024, dose, holes: 2, contamination: 1, ..SimParams::default() };
            let mut sim =
                Simulator::new(params.clone(), atomvae::sim::MovieParams { frames: 1, ..Default::default() }, seed)
                    .unwrap();
            let sample = sim.sample().clone();
            let frame = sim.next().unwrap();
            let (found, _) = seg.find_atoms(frame.image.view(), params.pixel_size, &finder).unwrap();
            let s = score_atoms(&found, &frame.atoms, (1024, 1024), params.pixel_size, 0.3, 8.0);
            per_frame.push(s);
            // Nothing is found inside holes or contamination. The rim itself is fuzzy (amorphous
            // atoms touch the lattice there): a stray find within one bond length plus the
            // probe's reach of the rim counts against precision above, not here.
            for a in &found {
                let p = [(a.y - 511.5) * params.pixel_size, (a.x - 511.5) * params.pixel_size];
                for blob in sample.holes.iter().chain(&sample.contamination) {
                    let depth = -blob.radial_excess(p);
                    assert!(depth < 2.5, "atom found at {:?}, {depth:.2} Å inside a hole or contamination", (a.y, a.x));
                }
            }
        }
        let pooled = AtomScores::pooled(&per_frame);
        let (precision, recall, mean_error) = (pooled.precision, pooled.recall, pooled.mean_error);
        let (si_p, si_r, si_true) = (pooled.si_precision, pooled.si_recall, pooled.si_true);
        eprintln!("dose {dose}: precision {precision:.4} recall {recall:.4} error {mean_error:.4} Å, Si P {si_p:.3} R {si_r:.3}");
        assert!(precision >= 0.99 && recall >= 0.99, "dose {dose}: precision {precision:.4}, recall {recall:.4}");
        assert!(mean_error <= 0.05, "dose {dose}: mean position error {mean_error:.4} Å");
        assert!(si_r >= 0.95 && si_p >= 0.95, "dose {dose}: Si precision {si_p:.3}, recall {si_r:.3} ({si_true} Si)");
    }
}

#[test]
fn other_pixel_sizes_are_resampled_and_atoms_mapped_back() {
    let seg = embedded();
    for (pixel_size, size) in [(0.07, 700), (0.16, 400)] {
        let params = SimParams { height: size, width: size, pixel_size, holes: 1, ..SimParams::default() };
        let frame = simulate_frame(&params, 1_000_200).unwrap();
        let (found, _) = seg.find_atoms(frame.image.view(), pixel_size, &AtomFinderConfig::default()).unwrap();
        let s = score_atoms(&found, &frame.atoms, (size, size), pixel_size, 0.3, 8.0);
        assert!(s.precision > 0.98 && s.recall > 0.98, "{pixel_size} Å/px: {s:?}");
        assert!(s.mean_error < 0.06, "{pixel_size} Å/px: {s:?}");
    }
}

#[test]
fn inference_is_repeatable_tiles_leave_no_seams_and_any_size_works() {
    let seg = embedded();
    let params = SimParams { height: 300, width: 300, ..SimParams::default() };
    let frame = simulate_frame(&params, 1_000_300).unwrap();
    let a = seg.predict(frame.image.view(), 0.104).unwrap();
    let b = seg.predict(frame.image.view(), 0.104).unwrap();
    assert_eq!(a, b, "identical maps on repeated runs");
    assert_eq!(a.dim(), (3, 300, 300));
    let sums = a.sum_axis(ndarray::Axis(0));
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-4));

    // Small tiles with overlap vs one tile covering the frame: blending leaves no seams.
    let mut small = StoredModel::from_var_store(
        atomvae::segment::MODEL_KIND,
        serde_json::to_value(SegmenterConfig { tile: 64, overlap: 16, ..seg.config().clone() }).unwrap(),
        seg.var_store(),
    );
    small.kind = atomvae::segment::MODEL_KIND.into();
    let tiled = Segmenter::from_stored(&small, cpu()).unwrap().predict(frame.image.view(), 0.104).unwrap();
    let diff = (&tiled - &a).mapv(f32::abs);
    let mean = diff.mean().unwrap();
    assert!(mean < 0.01, "mean difference between tilings {mean}");

    for (h, w) in [(64, 64), (100, 333)] {
        let f = simulate_frame(&SimParams { height: h, width: w, holes: 0, ..SimParams::default() }, 5).unwrap();
        assert_eq!(seg.predict(f.image.view(), 0.104).unwrap().dim(), (3, h, w));
    }
    let big = ndarray::Array2::from_shape_fn((4096, 4096), |(r, c)| {
        ((r as f32 * 0.61).sin() * (c as f32 * 0.59).cos()).abs()
    });
    let (atoms, grid) = seg.find_atoms(big.view(), 0.104, &AtomFinderConfig::default()).unwrap();
    assert_eq!(grid.original, (4096, 4096));
    assert!(atoms.len() < 4096 * 4096 / 100);
}

#[test]
fn bad_input_and_bad_models_get_clear_errors() {
    let seg = embedded();
    let mut frame =
        simulate_frame(&SimParams { height: 128, width: 128, holes: 0, ..SimParams::default() }, 1).unwrap().image;
    frame[[5, 7]] = f32::NAN;
    let e = seg.predict(frame.view(), 0.104).unwrap_err().to_string();
    assert!(e.contains("NaN or infinite pixel at (y, x) = (5, 7)"), "{e}");
    let flat = ndarray::Array2::<f32>::from_elem((128, 128), 3.0);
    let e = seg.predict(flat.view(), 0.104).unwrap_err().to_string();
    assert!(e.contains("constant"), "{e}");
    let tiny = ndarray::Array2::<f32>::from_shape_fn((6, 6), |(r, c)| (r + c) as f32);
    let e = seg.predict(tiny.view(), 0.104).unwrap_err().to_string();
    assert!(e.contains("too small"), "{e}");
    let e = seg.predict(frame.view(), -1.0).unwrap_err().to_string();
    assert!(e.contains("pixel size"), "{e}");

    let e = Segmenter::from_bytes(b"definitely not a model", cpu()).unwrap_err().to_string();
    assert!(e.contains("bad magic"), "{e}");
    let mut bytes = seg.to_stored().to_bytes();
    bytes.truncate(bytes.len() - 100);
    let e = Segmenter::from_bytes(&bytes, cpu()).unwrap_err().to_string();
    assert!(e.contains("truncated model"), "{e}");
    let mut other = seg.to_stored();
    other.kind = "rvae".into();
    let e = Segmenter::from_stored(&other, cpu()).unwrap_err().to_string();
    assert!(e.contains("not a segmentation model"), "{e}");
}

#[test]
fn a_stored_movie_with_ground_truth_is_scored_frame_by_frame_and_pooled() {
    use atomvae::pipeline::{evaluate_segmenter, simulate_movie, EvaluationFrames, MatchSettings};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("movie.h5");
    let sim = SimParams { height: 256, width: 256, si_fraction: 0.05, ..SimParams::default() };
    let movie = atomvae::sim::MovieParams { frames: 3, ..Default::default() };
    simulate_movie(&sim, &movie, 1_000_400, &path, &mut atomvae::progress::Silent).unwrap();
    let matching = MatchSettings { radius: 0.3, border: 8.0 };
    let finder = AtomFinderConfig::default();
    let evaluation = evaluate_segmenter(
        &embedded(),
        EvaluationFrames::Movie(&path),
        &finder,
        &matching,
        &mut atomvae::progress::Silent,
    )
    .unwrap();
    assert_eq!(evaluation.frames.len(), 3);
    assert_eq!(evaluation.pixel_size, sim.pixel_size);
    let p = &evaluation.pooled;
    let summed = |f: fn(&AtomScores) -> usize| evaluation.frames.iter().map(|s| f(&s.scores)).sum::<usize>();
    assert_eq!(p.true_positives, summed(|s| s.true_positives));
    assert_eq!(p.si_true, summed(|s| s.si_true));
    assert!(p.si_true >= 10, "the movie has Si: {p:?}");
    assert!(p.f1() > 0.98 && p.si_precision >= 0.95 && p.si_recall >= 0.95, "{p:?}");
    // A movie without ground truth is refused with a message saying so.
    let bare = dir.path().join("bare.h5");
    {
        let file = hdf5::File::create(&bare).unwrap();
        file.new_dataset_builder().with_data(&ndarray::Array3::<f32>::ones((1, 64, 64))).create("frames").unwrap();
        file.new_attr::<f64>().create("pixel_size_angstrom").unwrap().write_scalar(&0.1).unwrap();
    }
    let refused = evaluate_segmenter(
        &embedded(),
        EvaluationFrames::Movie(&bare),
        &finder,
        &matching,
        &mut atomvae::progress::Silent,
    );
    let message = refused.expect_err("no ground truth").to_string();
    assert!(message.contains("/truth/atoms"), "{message}");
}
