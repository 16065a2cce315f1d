//! Order parameters scored against the simulator's ground truth (issue 14 §4), for
//! atomvae's rVAE (the recipe preset) and AtomAI's rVAE trained on the same windows,
//! scored by the same library code (`atomvae::analysis::order`):
//! angle → sublattice accuracy (bulk atoms), z1 → disorder ROC AUC, per-frame mean z1
//! against the true disordered fraction (Pearson r), and both of the latter for the
//! content latents' distance from the bulk mode, each over training seeds.
//!
//! Movies: the demo's (12 frames of 256² px at 0.2 Å/px, 3 growing holes, 2 %
//! vacancies, contamination), one per simulation seed. Environment:
//! ATOMVAE_BENCH_ORDER_MOVIES (simulation seeds, default "7,8"),
//! ATOMVAE_BENCH_ORDER_SEEDS (training seeds per movie and method, default 3),
//! ATOMVAE_BENCH_ORDER_PEER_EPOCHS (AtomAI's epochs, default: as many as atomvae's
//! first training ran, at most 60).
//! Run: `bash bench/run.sh order`.

mod common;

use std::process::Command;
use std::time::Instant;

use atomvae::analysis::order::{score_order_parameters, EncodedWindows, OrderScores};
use atomvae::pipeline::{
    demo_movie, import_movie, read_truth_atoms, read_window_atoms, run_step, score_stored_latents,
    score_training_seeds, simulate_movie, AnalyzeSettings, Spread, Step,
};
use atomvae::progress::Silent;
use atomvae::segment::Segmenter;
use common::{Comparison, Measurement};
use serde_json::json;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn figures(s: &OrderScores) -> [f64; 5] {
    [
        s.sublattice_accuracy,
        s.z1_auc.auc_sign_free,
        s.dynamics_r_sign_free,
        s.distance_auc.auc,
        s.distance_dynamics_r.abs(),
    ]
}

const FIGURES: [(&str, &str); 5] = [
    ("sublattice_accuracy", "fraction of bulk atoms (goal ≥ 0.98)"),
    ("z1_disorder_auc", "ROC AUC, sign-free (goal ≥ 0.9)"),
    ("dynamics_pearson_r", "|r| of per-frame mean z1 vs disordered fraction (goal ≥ 0.9)"),
    ("distance_disorder_auc", "ROC AUC of the content latents' distance from their median (the bulk mode)"),
    ("distance_dynamics_pearson_r", "|r| of the per-frame mean distance from the bulk mode vs disordered fraction"),
];

fn main() {
    tch::set_num_threads(2);
    let movies: Vec<u64> = std::env::var("ATOMVAE_BENCH_ORDER_MOVIES")
        .unwrap_or_else(|_| "7,8".into())
        .split(',')
        .map(|s| s.trim().parse().expect("simulation seeds"))
        .collect();
    let seeds: u64 = env_or("ATOMVAE_BENCH_ORDER_SEEDS", 3);
    let work = std::env::temp_dir().join(format!("atomvae-bench-order-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let segmenter = Segmenter::embedded(tch::Device::Cpu).unwrap();
    let settings = AnalyzeSettings::preset("recipe").unwrap();
    let settings = AnalyzeSettings {
        atoms: atomvae::segment::AtomFinderConfig { border: 8.0, ..settings.atoms.clone() },
        ..settings
    };
    let (mut ours, mut peer): (Vec<[f64; FIGURES.len()]>, Vec<[f64; FIGURES.len()]>) = (Vec::new(), Vec::new());
    let mut runs = Vec::new();
    let mut measurements = Vec::new();
    for &movie_seed in &movies {
        let (sim, movie_params) = demo_movie();
        let movie = work.join(format!("movie-{movie_seed}.h5"));
        simulate_movie(&sim, &movie_params, movie_seed, &movie, &mut Silent).unwrap();
        let path = work.join(format!("analysis-{movie_seed}.h5"));
        let mut file = import_movie(&movie, None, &path, None, 0, &mut Silent).unwrap();
        for step in [Step::Segment, Step::Atoms, Step::Subimages] {
            run_step(&mut file, step, &settings, &segmenter, tch::Device::Cpu, &mut Silent).unwrap();
        }
        // atomvae: seed 0 through the pipeline's own steps, then seeds 1… afresh.
        let t = Instant::now();
        for step in [Step::TrainRvae, Step::Encode] {
            run_step(&mut file, step, &settings, &segmenter, tch::Device::Cpu, &mut Silent).unwrap();
        }
        let first_s = t.elapsed().as_secs_f64();
        let stored = file.read_model("rvae", None).unwrap();
        // The report lists one record per epoch trained.
        let our_epochs = stored.config["training"]["report"]["epochs"].as_array().map_or(0, Vec::len);
        let mut our_runs = vec![(0u64, score_stored_latents(&file).unwrap())];
        let later: Vec<u64> = (1..seeds).collect();
        for r in score_training_seeds(&file, &later, tch::Device::Cpu, &mut Silent).unwrap() {
            our_runs.push((r.seed, r.scores));
        }
        measurements.push(Measurement {
            name: format!("movie{movie_seed}_atomvae_first_training_and_encoding_s"),
            unit: "s".into(),
            value: first_s,
        });
        // AtomAI on the very same windows.
        let reader = hdf5::File::open(&path).unwrap();
        let windows: ndarray::Array3<f32> = reader.dataset("subimages/windows").unwrap().read().unwrap();
        drop(reader);
        let npy = work.join(format!("windows-{movie_seed}.npy"));
        common::write_npy(&npy, &windows);
        let peer_epochs = env_or("ATOMVAE_BENCH_ORDER_PEER_EPOCHS", our_epochs.clamp(1, 60));
        let truth = read_truth_atoms(&file).unwrap();
        let atoms = read_window_atoms(&file).unwrap();
        let names: Vec<String> = ["angle", "dx", "dy", "z1", "z2"].iter().map(|s| s.to_string()).collect();
        let mut peer_runs = Vec::new();
        for seed in 0..seeds {
            let out = work.join(format!("peer-{movie_seed}-{seed}.npy"));
            let t = Instant::now();
            let status = Command::new(common::peer_python())
                .arg(common::repo_root().join("bench/peer_rvae_order.py"))
                .args(["--windows", npy.to_str().unwrap(), "--epochs", &peer_epochs.to_string()])
                .args(["--seed", &seed.to_string(), "--out", out.to_str().unwrap()])
                .status()
                .expect("run AtomAI (see ../shared/anchors/README.md for its set-up)");
            assert!(status.success(), "AtomAI's rVAE failed");
            measurements.push(Measurement {
                name: format!("movie{movie_seed}_atomai_seed{seed}_training_and_encoding_s"),
                unit: "s".into(),
                value: t.elapsed().as_secs_f64(),
            });
            let z = common::load_stack(&out);
            let means = z.index_axis(ndarray::Axis(2), 0).to_owned();
            let encoded =
                EncodedWindows { frame: &atoms.frame, y: &atoms.y, x: &atoms.x, means: means.view(), names: &names };
            peer_runs.push((seed, score_order_parameters(&encoded, &truth, file.info().pixel_size).unwrap()));
        }
        for (who, list, store) in [("atomvae", &our_runs, &mut ours), ("atomai", &peer_runs, &mut peer)] {
            for (seed, s) in list.iter() {
                store.push(figures(s));
                println!(
                    "movie {movie_seed}, {who}, seed {seed}: sublattice {:.3}, z1 AUC {:.3}, dynamics |r| {:.3}, \
                     distance AUC {:.3}, |r| {:.3}",
                    s.sublattice_accuracy,
                    s.z1_auc.auc_sign_free,
                    s.dynamics_r_sign_free,
                    s.distance_auc.auc,
                    s.distance_dynamics_r.abs()
                );
                runs.push(json!({"movie_seed": movie_seed, "method": who, "training_seed": seed, "scores": s}));
            }
        }
        measurements.push(Measurement {
            name: format!("movie{movie_seed}_windows"),
            unit: "windows".into(),
            value: windows.dim().0 as f64,
        });
        measurements.push(Measurement {
            name: format!("movie{movie_seed}_atomvae_epochs"),
            unit: "epochs".into(),
            value: our_epochs as f64,
        });
        measurements.push(Measurement {
            name: format!("movie{movie_seed}_atomai_epochs"),
            unit: "epochs".into(),
            value: peer_epochs as f64,
        });
    }
    let mut comparisons = Vec::new();
    let mut spreads = serde_json::Map::new();
    for (k, (name, unit)) in FIGURES.iter().enumerate() {
        let (a, b) = (Spread::of(ours.iter().map(|f| f[k])), Spread::of(peer.iter().map(|f| f[k])));
        comparisons.push(Comparison {
            name: format!("{name}_mean"),
            unit: unit.to_string(),
            atomvae: a.mean,
            atomai: b.mean,
            higher_is_better: true,
        });
        comparisons.push(Comparison {
            name: format!("{name}_worst_seed"),
            unit: unit.to_string(),
            atomvae: a.min,
            atomai: b.min,
            higher_is_better: true,
        });
        spreads.insert(name.to_string(), json!({"atomvae": a, "atomai": b}));
    }
    common::write_results(
        "order",
        &comparisons,
        &measurements,
        json!({
            "workload": format!("the demo's movie (12 frames, 256² px at 0.2 Å/px, 3 growing holes, 2 % vacancies, contamination) for simulation seeds {movies:?}; embedded segmenter; recipe windows (4 Å, bilinear centring, border 8 px); {seeds} training seeds per movie and method"),
            "atomvae": "recipe preset: disc, no shift latents, content KL ×0.1 for the first 10 epochs, learning rate annealed to the end of the epochs or the time budget, stopping sooner if the held-out −ELBO stops improving (≤ 200 epochs, ≤ 10 min), best weights; up to three whole runs from other initial weights while z1 sets the windows far from the bulk mode apart with ROC AUC < 0.9, the best run kept",
            "atomai": "atomai.models.rVAE((w, w), latent_dim=2, seed) with its defaults (shift latents on, Adam 1e-4), batch 100, on the same windows; epochs as noted",
            "scoring": "atomvae::analysis::order for both: 3γ split per frame and grain on bulk atoms; z1 AUC sign-free; |r| over frames",
            "spread_over_seeds_and_movies": spreads,
            "runs": runs,
        }),
    );
    let _ = std::fs::remove_dir_all(&work);
}
