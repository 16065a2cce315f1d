//! rVAE training and encoding side by side with AtomAI 0.8.1 in one run, on the
//! workload of ../shared/anchors/README.md: N = 20,000 windows of 32 px (5 epochs)
//! and of 48 px (2 epochs), batch 100, 2 content latents (+ angle, dx, dy), Adam
//! 1e-4, CPU, 2 threads. Both tools train on the very same windows (made by the
//! peer's own harness code, bench/peer_windows.py). Reports windows/s for training
//! and encoding, the final −ELBO of both after the same epochs, and peak RSS.
//! Run: `bash bench/run.sh rvae` (`ATOMVAE_BENCH_QUICK=1`: N = 4,000, 32 px, 2 epochs).

mod common;

use std::process::Command;
use std::time::Instant;

use atomvae::progress::Silent;
use atomvae::rvae::{train_rvae, Precision, Rvae, RvaeConfig, RvaeTrainConfig};
use common::{median, Comparison, Measurement};
use serde_json::json;

/// Best GFLOP/s of a 2048³ matrix product in libtorch on this process's threads.
fn matmul_peak_gflops(kind: tch::Kind) -> f64 {
    gemm_gflops(2048, 2048, 2048, kind, false)
}

/// Best GFLOP/s libtorch reaches on the products one step makes at this shape: a
/// (m × k) by (k × n) product, and with `backward` also the two products of its
/// gradients (m × n by n × k, and k × m by m × n), on this process's threads.
/// This is the ceiling for a layer of that shape, whatever else the step costs.
fn gemm_gflops(m: i64, k: i64, n: i64, kind: tch::Kind, backward: bool) -> f64 {
    let opts = (tch::Kind::Float, tch::Device::Cpu);
    let x = tch::Tensor::rand([m, k], opts).to_kind(kind);
    let w = tch::Tensor::rand([n, k], opts).to_kind(kind);
    let g = tch::Tensor::rand([m, n], opts).to_kind(kind);
    let step = || {
        let _ = x.matmul(&w.tr());
        if backward {
            let _ = g.matmul(&w);
            let _ = g.tr().matmul(&x);
        }
    };
    step();
    let mut best = f64::MAX;
    for _ in 0..7 {
        let t0 = Instant::now();
        step();
        best = best.min(t0.elapsed().as_secs_f64());
    }
    let products = if backward { 3.0 } else { 1.0 };
    products * 2.0 * (m * k * n) as f64 / best / 1e9
}

fn main() {
    let quick = std::env::var_os("ATOMVAE_BENCH_QUICK").is_some();
    // ATOMVAE_BENCH_RVAE_N and ATOMVAE_BENCH_RVAE_PLAN ("32:5,48:2": window:epochs)
    // shorten the run (both tools get the same workload).
    let (mut n, mut plan): (usize, Vec<(usize, usize)>) =
        if quick { (4000, vec![(32, 2)]) } else { (20000, vec![(32, 5), (48, 2)]) };
    if let Some(v) = std::env::var("ATOMVAE_BENCH_RVAE_N").ok().and_then(|v| v.parse().ok()) {
        n = v;
    }
    if let Ok(v) = std::env::var("ATOMVAE_BENCH_RVAE_PLAN") {
        plan = v
            .split(',')
            .map(|p| {
                let (w, e) = p.split_once(':').expect("window:epochs");
                (w.parse().unwrap(), e.parse().unwrap())
            })
            .collect();
    }
    let holdout = std::env::var_os("ATOMVAE_BENCH_NO_HOLDOUT").is_none();
    let work = std::env::temp_dir().join(format!("atomvae-bench-rvae-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let windows_arg = plan.iter().map(|(w, _)| w.to_string()).collect::<Vec<_>>().join(",");
    let epochs_arg = plan.iter().map(|(_, e)| e.to_string()).collect::<Vec<_>>().join(",");

    // The peer, measured in this run.
    let peer_json = work.join("atomai_rvae.json");
    let status = Command::new(common::peer_python())
        .arg(common::anchors_dir().join("bench_atomai.py"))
        .args(["--skip", "seg", "--threads", "2", "--rvae-n", &n.to_string(), "--rvae-windows", &windows_arg])
        .args(["--rvae-epochs", &epochs_arg, "--workdir", work.join("atomai").to_str().unwrap()])
        .args(["--json", peer_json.to_str().unwrap()])
        .status()
        .expect("run the AtomAI harness (see ../shared/anchors/README.md for its set-up)");
    assert!(status.success(), "the AtomAI harness failed");
    let peer: serde_json::Value = serde_json::from_slice(&std::fs::read(&peer_json).unwrap()).unwrap();

    // The same windows for atomvae.
    let st = Command::new(common::peer_python())
        .arg(common::repo_root().join("bench/peer_windows.py"))
        .args(["--synth", common::anchors_dir().join("synth.py").to_str().unwrap(), "--out", work.to_str().unwrap()])
        .args(["--n", &n.to_string(), "--windows", &windows_arg])
        .status()
        .expect("peer windows");
    assert!(st.success());

    tch::set_num_threads(2);
    let mut comparisons = Vec::new();
    let mut measurements = Vec::new();
    let mut notes = serde_json::Map::new();
    let peak_f32 = matmul_peak_gflops(tch::Kind::Float);
    let peak_bf16 = matmul_peak_gflops(tch::Kind::BFloat16);
    let probe = atomvae::rvae::precision_probe();
    let auto_kind = Precision::Auto.kind_for(tch::Device::Cpu);
    measurements.push(Measurement {
        name: "matmul_peak_f32_gflops".into(),
        unit: "GFLOP/s (2048³, 2 threads)".into(),
        value: peak_f32,
    });
    measurements.push(Measurement {
        name: "matmul_peak_bf16_gflops".into(),
        unit: "GFLOP/s (2048³, 2 threads)".into(),
        value: peak_bf16,
    });
    measurements.push(Measurement {
        name: "precision_probe_f32_ms".into(),
        unit: "ms per probe step".into(),
        value: probe.f32_seconds * 1e3,
    });
    measurements.push(Measurement {
        name: "precision_probe_bf16_ms".into(),
        unit: "ms per probe step".into(),
        value: probe.bf16_seconds.unwrap_or(f64::NAN) * 1e3,
    });
    notes.insert("precision_auto_chose".into(), json!(format!("{auto_kind:?}")));
    for &(w, epochs) in &plan {
        let windows = common::load_stack(&work.join(format!("windows_{w}.npy")));
        let flops = RvaeConfig { window: w, ..RvaeConfig::default() }.training_flops_per_window();
        // f32 alone first (the reference arithmetic), then `auto` (what users get).
        let mut f32_model =
            Rvae::new_seeded(RvaeConfig { window: w, ..RvaeConfig::default() }, tch::Device::Cpu, 0).unwrap();
        let f32_cfg = RvaeTrainConfig {
            epochs,
            batch: 100,
            holdout_fraction: 0.0,
            seed: 0,
            precision: Precision::Fp32,
            ..RvaeTrainConfig::default()
        };
        let f32_report = train_rvae(&mut f32_model, windows.view(), &f32_cfg, &mut Silent).unwrap();
        let f32_rate = n as f64 / median(&f32_report.epochs.iter().map(|e| e.seconds).collect::<Vec<_>>());
        let mut model =
            Rvae::new_seeded(RvaeConfig { window: w, ..RvaeConfig::default() }, tch::Device::Cpu, 0).unwrap();
        // As the peer: every window trains (its fit() holds none out), batch 100, lr 1e-4.
        let cfg = RvaeTrainConfig { epochs, batch: 100, holdout_fraction: 0.0, seed: 0, ..RvaeTrainConfig::default() };
        let report = train_rvae(&mut model, windows.view(), &cfg, &mut Silent).unwrap();
        let per_epoch: Vec<f64> = report.epochs.iter().map(|e| e.seconds).collect();
        let train_rate = n as f64 / median(&per_epoch);
        let peer_rate = peer[format!("rvae_{w}")]["train_subimages_per_s"].as_f64().unwrap();
        comparisons.push(Comparison {
            name: format!("rvae_train_w{w}_f32_windows_per_s"),
            unit: "windows/s (median epoch, --precision fp32)".into(),
            atomvae: f32_rate,
            atomai: peer_rate,
            higher_is_better: true,
        });
        comparisons.push(Comparison {
            name: format!("rvae_w{w}_f32_final_train_neg_elbo_after_{epochs}_epochs"),
            unit: "−ELBO per window (AtomAI's scaling)".into(),
            atomvae: f32_report.epochs.last().unwrap().train.neg_elbo,
            atomai: peer[format!("rvae_{w}")]["final_loss_neg_elbo"].as_f64().unwrap(),
            higher_is_better: false,
        });
        let auto_peak = if auto_kind == tch::Kind::BFloat16 { peak_bf16 } else { peak_f32 };
        for (label, rate, peak) in [("f32", f32_rate, peak_f32), ("auto", train_rate, auto_peak)] {
            measurements.push(Measurement {
                name: format!("rvae_train_w{w}_{label}_fraction_of_matmul_peak"),
                unit: "training FLOPs × windows/s ÷ matmul peak of the same arithmetic".into(),
                value: flops.total() * rate / (peak * 1e9),
            });
        }
        measurements.push(Measurement {
            name: format!("rvae_train_w{w}_gflop_per_window"),
            unit: "GFLOP (forward + backward, matrix products)".into(),
            value: flops.total() / 1e9,
        });
        measurements.push(Measurement {
            name: format!("rvae_train_w{w}_decoder_per_pixel_share_of_flops"),
            unit: "fraction".into(),
            value: flops.decoder_per_pixel / flops.total(),
        });
        // How far the hardware lets these ratios go: libtorch's own products at the
        // shapes that dominate (the decoder's hidden × hidden layer per micro-batch
        // of pixels, forward and backward; the encoder's first layer per block),
        // as if nothing else cost time. A ratio above its ceiling is out of reach
        // without fewer FLOPs.
        let peer_encode = peer[format!("rvae_{w}")]["encode_subimages_per_s"].as_f64().unwrap();
        let hidden = RvaeConfig::default().hidden;
        let encoder_first_flops = 2.0 * (w * w) as f64 * hidden as f64;
        for (label, kind) in [("f32", tch::Kind::Float), ("bf16", tch::Kind::BFloat16)] {
            let pixels = atomvae::rvae::auto_micro_batch(1, kind) as i64;
            let decoder = gemm_gflops(pixels, hidden, hidden, kind, true);
            let encoder = gemm_gflops(2048, (w * w) as i64, hidden, kind, false);
            let train_ceiling = decoder * 1e9 / flops.total();
            let encode_ceiling = encoder * 1e9 / encoder_first_flops;
            measurements.push(Measurement {
                name: format!("gemm_w{w}_decoder_layer_{label}_gflops"),
                unit: format!("GFLOP/s ({pixels} × {hidden} by {hidden} × {hidden}, forward + both gradients)"),
                value: decoder,
            });
            measurements.push(Measurement {
                name: format!("gemm_w{w}_encoder_first_layer_{label}_gflops"),
                unit: format!("GFLOP/s (2048 × {} by {} × {hidden})", w * w, w * w),
                value: encoder,
            });
            measurements.push(Measurement {
                name: format!("rvae_train_w{w}_{label}_ceiling_ratio"),
                unit: "windows/s if every training FLOP ran at the decoder layer's rate ÷ AtomAI's windows/s".into(),
                value: train_ceiling / peer_rate,
            });
            measurements.push(Measurement {
                name: format!("rvae_encode_w{w}_{label}_ceiling_ratio"),
                unit: "windows/s if only the encoder's first layer cost time ÷ AtomAI's windows/s".into(),
                value: encode_ceiling / peer_encode,
            });
        }
        // Encoding as users get it (`auto`), then in f32 (the reference arithmetic).
        let encode_rate = |model: &Rvae| {
            let mut enc = Vec::new();
            for _ in 0..5 {
                let t0 = Instant::now();
                let _ = model.encode(windows.view()).unwrap();
                enc.push(t0.elapsed().as_secs_f64());
            }
            n as f64 / median(&enc)
        };
        let enc_rate = encode_rate(&model);
        model.set_encode_precision(Precision::Fp32);
        let enc_f32_rate = encode_rate(&model);
        let final_train = report.epochs.last().unwrap().train.neg_elbo;
        let peer_w = &peer[format!("rvae_{w}")];
        comparisons.push(Comparison {
            name: format!("rvae_train_w{w}_windows_per_s"),
            unit: format!("windows/s (median epoch, --precision auto = {auto_kind:?})"),
            atomvae: train_rate,
            atomai: peer_w["train_subimages_per_s"].as_f64().unwrap(),
            higher_is_better: true,
        });
        comparisons.push(Comparison {
            name: format!("rvae_encode_w{w}_windows_per_s"),
            unit: format!("windows/s (median of 5, --precision auto = {auto_kind:?})"),
            atomvae: enc_rate,
            atomai: peer_w["encode_subimages_per_s"].as_f64().unwrap(),
            higher_is_better: true,
        });
        comparisons.push(Comparison {
            name: format!("rvae_encode_w{w}_f32_windows_per_s"),
            unit: "windows/s (median of 5, --precision fp32)".into(),
            atomvae: enc_f32_rate,
            atomai: peer_w["encode_subimages_per_s"].as_f64().unwrap(),
            higher_is_better: true,
        });
        comparisons.push(Comparison {
            name: format!("rvae_w{w}_final_train_neg_elbo_after_{epochs}_epochs"),
            unit: "−ELBO per window (AtomAI's scaling)".into(),
            atomvae: final_train,
            atomai: peer_w["final_loss_neg_elbo"].as_f64().unwrap(),
            higher_is_better: false,
        });
        notes.insert(format!("w{w}_atomvae_epochs"), serde_json::to_value(&report.epochs).unwrap());
        notes.insert(format!("w{w}_atomai_elbo_per_epoch"), peer_w["elbo_per_epoch"].clone());
        // Held-out −ELBO of atomvae on windows it never saw (the peer reports none).
        if !holdout {
            continue;
        }
        let mut held_model =
            Rvae::new_seeded(RvaeConfig { window: w, ..RvaeConfig::default() }, tch::Device::Cpu, 0).unwrap();
        let held_cfg = RvaeTrainConfig { holdout_fraction: 0.25, ..cfg.clone() };
        let held = train_rvae(&mut held_model, windows.view(), &held_cfg, &mut Silent).unwrap();
        let last = held.epochs.last().unwrap();
        measurements.push(Measurement {
            name: format!("rvae_w{w}_75_25_train_neg_elbo"),
            unit: "−ELBO".into(),
            value: last.train.neg_elbo,
        });
        measurements.push(Measurement {
            name: format!("rvae_w{w}_75_25_holdout_neg_elbo"),
            unit: "−ELBO".into(),
            value: last.holdout.unwrap().neg_elbo,
        });
    }
    comparisons.push(Comparison {
        name: "peak_rss_mib".into(),
        unit: "MiB (whole run)".into(),
        atomvae: common::vm_hwm_mib(),
        atomai: peer["ru_maxrss_MiB"].as_f64().unwrap_or(f64::NAN),
        higher_is_better: false,
    });
    notes.insert(
        "peer".into(),
        json!("AtomAI 0.8.1 via ../shared/anchors/bench_atomai.py --skip seg, measured in this run"),
    );
    notes.insert(
        "data".into(),
        json!(format!("N = {n} windows per size from the peer's harness (synth.make_movie(7), 8 frames, GT atoms)")),
    );
    common::write_results(
        if quick { "rvae_quick" } else { "rvae" },
        &comparisons,
        &measurements,
        serde_json::Value::Object(notes),
    );
    let _ = std::fs::remove_dir_all(&work);
}
