//! Segmentation side by side with AtomAI 0.8.1 (the peer) in one run, on the
//! workload of ../shared/anchors/README.md: U-Net training throughput (patches of
//! ≈ 26 Å, batch 8), inference on a 1024² frame, a 10-frame 1024² stack with atom
//! finding, atom-finding accuracy (3 px match radius, 8 px border) and peak memory;
//! CPU, 2 threads. Both tools segment frames made by the peer's own generator
//! (synth.py), so atomvae is also tested on data it was not trained on.
//! Run: `bash bench/run.sh segment` (`ATOMVAE_BENCH_QUICK=1` for a short run).

mod common;

use std::process::Command;
use std::time::Instant;

use atomvae::segment::{
    score_atoms, train_segmenter, AtomFinderConfig, AtomScores, Segmenter, SegmenterConfig, SegmenterTrainConfig,
};
use atomvae::sim::TruthAtom;
use common::{median, Comparison, Measurement};
use serde_json::{json, Value};

fn run_peer(quick: bool, work: &std::path::Path) -> (Value, &'static str) {
    let harness = common::anchors_dir().join("bench_atomai.py");
    let out = work.join("atomai_seg.json");
    let iters = if quick { "30" } else { "100" };
    let status = Command::new(common::peer_python())
        .args([harness.to_str().unwrap(), "--skip", "rvae", "--threads", "2", "--seg-iters", iters])
        .args(["--infer-stack", "10", "--infer-repeats", "3", "--stack-repeats", "1"])
        .args(["--workdir", work.join("atomai").to_str().unwrap(), "--json", out.to_str().unwrap()])
        .status();
    match status {
        Ok(s) if s.success() => {
            (serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap(), "measured in this run")
        }
        _ => {
            eprintln!("AtomAI could not run here; using the anchors' recorded figures instead");
            let anchors = std::fs::read(common::anchors_dir().join("atomai_baseline.json")).expect("anchors");
            (
                serde_json::from_slice(&anchors).unwrap(),
                "recorded in ../shared/anchors/atomai_baseline.json (not this run)",
            )
        }
    }
}

fn load_peer_frames(dir: &std::path::Path) -> (Vec<ndarray::Array2<f32>>, Vec<TruthAtom>) {
    let stack = common::load_stack(&dir.join("frames.npy"));
    let frames = stack.outer_iter().map(|f| f.to_owned()).collect();
    let truth = std::fs::read_to_string(dir.join("atoms.csv"))
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let v: Vec<f64> = l.split(',').map(|t| t.parse().unwrap()).collect();
            TruthAtom {
                frame: v[0] as u32,
                y: v[1] as f32,
                x: v[2] as f32,
                class: v[3] as u8,
                z: if v[3] as u8 == 2 { 14 } else { 6 },
                grain: 0,
                sublattice: 0,
            }
        })
        .collect();
    (frames, truth)
}

fn main() {
    let quick = std::env::var_os("ATOMVAE_BENCH_QUICK").is_some();
    let work = std::env::temp_dir().join(format!("atomvae-bench-segment-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let (peer, peer_source) = run_peer(quick, &work);

    let frames_dir = work.join("peer_frames");
    let st = Command::new(common::python())
        .args([common::repo_root().join("bench/peer_frames.py").to_str().unwrap()])
        .args([
            "--synth",
            common::anchors_dir().join("synth.py").to_str().unwrap(),
            "--out",
            frames_dir.to_str().unwrap(),
        ])
        .status()
        .expect("peer frames");
    assert!(st.success());
    let (frames, truth) = load_peer_frames(&frames_dir);

    tch::set_num_threads(2);
    let device = tch::Device::Cpu;
    // Training throughput: patches of 128² at 0.2 Å/px (25.6 Å, the field of view of the
    // peer's 256² patches at 0.104 Å/px), data simulated on the fly and included.
    let mut fresh = Segmenter::new_seeded(SegmenterConfig::default(), device, 0).unwrap();
    let train_cfg = SegmenterTrainConfig {
        epochs: 1,
        batches_per_epoch: if quick { 20 } else { 60 },
        holdout_batches: 1,
        ..SegmenterTrainConfig::default()
    };
    let report = train_segmenter(&mut fresh, &train_cfg, &mut atomvae::progress::Silent, |_, _, _| true).unwrap();

    let seg = Segmenter::embedded(device).unwrap();
    let px = 0.104;
    let mut single = Vec::new();
    for _ in 0..3 {
        let t0 = Instant::now();
        let _ = seg.predict_grid(frames[0].view(), px).unwrap();
        single.push(t0.elapsed().as_secs_f64());
    }
    let finder = AtomFinderConfig::default();
    let t0 = Instant::now();
    let mut found_all = Vec::new();
    for f in &frames {
        found_all.push(seg.find_atoms(f.view(), px, &finder).unwrap().0);
    }
    let stack_s = t0.elapsed().as_secs_f64();
    let mpix = 1024.0 * 1024.0 / 1e6;
    let per_frame: Vec<AtomScores> = found_all
        .iter()
        .enumerate()
        .map(|(k, found)| {
            let t: Vec<TruthAtom> = truth.iter().filter(|a| a.frame == k as u32).copied().collect();
            score_atoms(found, &t, (1024, 1024), px, 3.0 * px, 8.0)
        })
        .collect();
    let pooled = AtomScores::pooled(&per_frame);
    let ours_acc = json!({
        "precision": pooled.precision,
        "recall": pooled.recall,
        "mean_loc_error_A": pooled.mean_error,
        "si_recall": pooled.si_recall,
        "si_precision": pooled.si_precision,
        "n_gt": pooled.true_positives + pooled.false_negatives,
    });
    let ours_rss = common::vm_hwm_mib();

    let pv = |path: &[&str]| path.iter().fold(&peer, |v, k| &v[*k]).as_f64().unwrap_or(f64::NAN);
    let comparisons = vec![
        Comparison {
            name: "unet_train_patches_per_s".into(),
            unit: "patches/s (≈26 Å field, batch 8)".into(),
            atomvae: report.patches_per_second,
            atomai: pv(&["seg_train", "images_per_s"]),
            higher_is_better: true,
        },
        Comparison {
            name: "infer_1024_frame_network_mpix_per_s".into(),
            unit: "MPix/s".into(),
            atomvae: mpix / median(&single),
            atomai: pv(&["seg_infer", "single_nn_MPix_per_s"]),
            higher_is_better: true,
        },
        Comparison {
            name: "infer_stack10_1024_with_atoms_mpix_per_s".into(),
            unit: "MPix/s".into(),
            atomvae: 10.0 * mpix / stack_s,
            atomai: pv(&["seg_infer", "stack_nn_plus_locator_MPix_per_s"]),
            higher_is_better: true,
        },
        Comparison {
            name: "peak_rss_mib".into(),
            unit: "MiB (whole run)".into(),
            atomvae: ours_rss,
            atomai: pv(&["ru_maxrss_MiB"]),
            higher_is_better: false,
        },
    ];
    let peer_acc = &peer["seg_infer"]["accuracy"];
    let measurements = vec![
        Measurement {
            name: "atom_precision_peer_frames".into(),
            unit: "fraction".into(),
            value: ours_acc["precision"].as_f64().unwrap(),
        },
        Measurement {
            name: "atom_recall_peer_frames".into(),
            unit: "fraction".into(),
            value: ours_acc["recall"].as_f64().unwrap(),
        },
        Measurement {
            name: "atom_mean_error_peer_frames_A".into(),
            unit: "Å".into(),
            value: ours_acc["mean_loc_error_A"].as_f64().unwrap(),
        },
        Measurement {
            name: "unet_train_holdout_loss_after_run".into(),
            unit: "cross-entropy".into(),
            value: *report.holdout_loss.last().unwrap(),
        },
        Measurement {
            name: "infer_1024_frame_network_s".into(),
            unit: "s (median of 3)".into(),
            value: median(&single),
        },
        Measurement {
            name: "embedded_model_params".into(),
            unit: "count".into(),
            value: seg.to_stored().tensors.iter().map(|(_, t)| t.numel() as f64).sum(),
        },
    ];
    common::write_results(
        if quick { "segment_quick" } else { "segment" },
        &comparisons,
        &measurements,
        json!({
            "peer": format!("AtomAI 0.8.1 via ../shared/anchors/bench_atomai.py --skip rvae, {peer_source}"),
            "peer_config": peer["config"],
            "accuracy": {"atomvae_on_peer_frames": ours_acc, "atomai_on_peer_frames": peer_acc},
            "frames": "10 frames from the peer's generator synth.py (1024², 0.104 Å/px, dose 20, 3 grains, 0.5 % Si), min-max normalised; match radius 3 px, border 8 px",
            "atomvae_model": "embedded U-Net (base 8 channels, depth 3) at 0.2 Å/px; frames are resampled to it and atoms mapped back",
            "threads": 2,
            "training_note": "atomvae's rate includes simulating its training data on the fly; AtomAI's excludes data generation",
        }),
    );
    let _ = std::fs::remove_dir_all(&work);
}
