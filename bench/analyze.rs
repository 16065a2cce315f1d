//! Scale of the analysis pipeline (issue: a 50-frame 1024² movie through `analyze`
//! with peak memory ≤ 1 GiB beyond the model's own): runs every CLI step (import →
//! segment → atoms → subimages → train-rvae, one epoch → encode → report, baselines two
//! epochs) on a simulated 50-frame 1024² movie under /usr/bin/time and records each
//! step's peak RSS and wall time, next to the RSS of the bare runtime (`atomvae info`,
//! which loads libtorch and nothing else).
//! Run: `bash bench/run.sh analyze`.

mod common;

use std::path::Path;
use std::process::Command;

use common::Measurement;

/// (peak RSS MiB, wall s) of one `atomvae` run.
fn timed(bin: &Path, args: &[&str]) -> (f64, f64) {
    let out =
        Command::new("/usr/bin/time").arg("-f").arg("TIME %M %e").arg(bin).args(args).output().expect("/usr/bin/time");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "atomvae {args:?} failed: {err}");
    let line = err.lines().rev().find(|l| l.starts_with("TIME ")).expect("time output");
    let v: Vec<f64> = line[5..].split_whitespace().map(|t| t.parse().unwrap()).collect();
    (v[0] / 1024.0, v[1])
}

fn main() {
    let bin = common::repo_root().join("target/release/atomvae");
    assert!(bin.exists(), "build the CLI first (cargo build --release)");
    let work = std::env::temp_dir().join(format!("atomvae-bench-analyze-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let movie = work.join("movie.h5");
    let analysis = work.join("analysis.h5");
    let (m, a) = (movie.to_str().unwrap(), analysis.to_str().unwrap());
    let (_, sim_s) =
        timed(&bin, &["-q", "simulate", "--frames", "50", "--size", "1024", "1024", "--holes", "2", "--out", m]);
    let (base_rss, _) = timed(&bin, &["info"]);
    let mut measurements = vec![
        Measurement { name: "simulate_50x1024_wall_s".into(), unit: "s".into(), value: sim_s },
        Measurement {
            name: "runtime_baseline_rss_mib".into(),
            unit: "MiB (atomvae info: libtorch loaded)".into(),
            value: base_rss,
        },
    ];
    let mut total = 0.0;
    let mut peak = 0.0f64;
    for (step, args) in [
        ("import", vec!["-q", "import", m, "-o", a]),
        ("segment", vec!["-q", "segment", a, "--device", "cpu"]),
        ("atoms", vec!["-q", "atoms", a]),
        ("subimages", vec!["-q", "subimages", a]),
        ("train_rvae_1_epoch", vec!["-q", "train-rvae", a, "--epochs", "1", "--device", "cpu"]),
        ("encode", vec!["-q", "encode", a, "--device", "cpu"]),
        ("report_2_baseline_epochs", vec!["-q", "report", a, "--baseline-epochs", "2", "--device", "cpu"]),
    ] {
        let (rss, wall) = timed(&bin, &args);
        total += wall;
        peak = peak.max(rss);
        measurements.push(Measurement {
            name: format!("analyze_50x1024_{step}_peak_rss_mib"),
            unit: "MiB".into(),
            value: rss,
        });
        measurements.push(Measurement {
            name: format!("analyze_50x1024_{step}_wall_s"),
            unit: "s".into(),
            value: wall,
        });
    }
    measurements.push(Measurement { name: "analyze_50x1024_peak_rss_mib".into(), unit: "MiB".into(), value: peak });
    measurements.push(Measurement {
        name: "analyze_50x1024_peak_rss_above_runtime_mib".into(),
        unit: "MiB".into(),
        value: peak - base_rss,
    });
    measurements.push(Measurement {
        name: "analyze_50x1024_wall_s".into(),
        unit: "s (every step; rVAE 1 epoch, baselines 2 epochs)".into(),
        value: total,
    });
    let size = std::fs::metadata(&analysis).map(|m| m.len() as f64 / 1048576.0).unwrap_or(f64::NAN);
    measurements.push(Measurement { name: "analysis_file_mib".into(), unit: "MiB".into(), value: size });
    common::write_results(
        "analyze",
        &[],
        &measurements,
        serde_json::json!({
            "workload": "50 simulated frames of 1024×1024 px (0.104 Å/px, 2 holes), CPU, embedded segmentation model, rVAE trained 1 epoch (the full default is 30)",
            "windows": "4 Å windows at 0.104 Å/px are 38² px; subimages streams them to the file in whole chunks; train-rvae reads them back in shuffled blocks of ≤ 256 MiB per epoch (--resident-mib), encode 16k windows at a time",
        }),
    );
    let _ = std::fs::remove_dir_all(&work);
}
