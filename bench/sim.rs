//! Simulator speed: one 1024×1024 frame on one core, side by side with the peer's
//! numpy generator (AtomAI harness, ../shared/anchors/synth.py) on the same
//! workload (3 grains, 0.5 % Si, 2 holes of 6–15 Å, dose 20), interleaved rounds.
//! Run: `bash bench/run.sh sim` (or `cargo bench --bench sim`).

mod common;

use std::process::Command;
use std::time::Instant;

use atomvae::sim::{simulate_frame, MovieParams, SimParams, Simulator};
use common::{median, Comparison, Measurement};

fn peer_params(size: usize) -> SimParams {
    SimParams {
        height: size,
        width: size,
        grains: 3,
        si_fraction: 0.005,
        holes: 2,
        hole_radius: [6.0, 15.0],
        dose: 20.0,
        background: 0.05,
        stone_wales: 0,
        ..SimParams::default()
    }
}

fn main() {
    let rounds = 5;
    let size = 1024;
    let synth = common::anchors_dir().join("synth.py");
    let timer = common::repo_root().join("bench/peer_synth_timer.py");
    let (mut ours, mut peer) = (Vec::new(), Vec::new());
    let _ = simulate_frame(&peer_params(size), 999).expect("warm-up");
    for round in 0..rounds {
        for k in 0..3 {
            let t0 = Instant::now();
            let frame = simulate_frame(&peer_params(size), (round * 3 + k) as u64).expect("frame");
            ours.push(t0.elapsed().as_secs_f64());
            assert!(frame.atoms.len() > 3000);
        }
        let out = Command::new(common::python())
            .env("OMP_NUM_THREADS", "1")
            .env("OPENBLAS_NUM_THREADS", "1")
            .args([timer.to_str().unwrap(), "--synth", synth.to_str().unwrap(), "--size", "1024", "--repeats", "3"])
            .args(["--seed", &(100 * round).to_string()])
            .output()
            .expect("run the peer's generator");
        assert!(out.status.success(), "peer failed: {}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("peer json");
        peer.extend(v["seconds"].as_array().unwrap().iter().map(|s| s.as_f64().unwrap()));
        eprintln!("round {round}: atomvae {:.3} s, peer {:.3} s", median(&ours), median(&peer));
    }
    // A movie frame also pays for the specimen's evolution.
    let movie = MovieParams { frames: 6, ..MovieParams::default() };
    let t0 = Instant::now();
    let n = Simulator::new(peer_params(size), movie.clone(), 1).unwrap().count();
    let movie_s = t0.elapsed().as_secs_f64() / n as f64;

    let (ours_med, peer_med) = (median(&ours), median(&peer));
    let spread = |v: &[f64]| {
        let (lo, hi) = v.iter().fold((f64::INFINITY, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
        serde_json::json!([lo, hi])
    };
    common::write_results(
        "sim",
        &[Comparison {
            name: "simulate_frame_1024_s".into(),
            unit: "s/frame (median, 1 core)".into(),
            atomvae: ours_med,
            atomai: peer_med,
            higher_is_better: false,
        }],
        &[
            Measurement { name: "simulate_frame_1024_s".into(), unit: "s".into(), value: ours_med },
            Measurement {
                name: "simulate_movie_frame_1024_s".into(),
                unit: "s/frame incl. evolution".into(),
                value: movie_s,
            },
        ],
        serde_json::json!({
            "peer": "AtomAI harness generator ../shared/anchors/synth.py make_frame (numpy, OMP_NUM_THREADS=1)",
            "samples": {"atomvae": ours.len(), "atomai": peer.len()},
            "spread_s": {"atomvae": spread(&ours), "atomai": spread(&peer)},
            "workload": "1024x1024 px at 0.104 A/px, 3 grains, 0.5 % Si, 1 % vacancies, 2 holes 6-15 A, dose 20, read noise 0.05"
        }),
    );
}
