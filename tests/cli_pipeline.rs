//! `atomvae analyze` / `segment` / `atoms` on a simulated movie, end to end through
//! the analysis file, checked against the movie's ground truth.

mod common;

use common::{atomvae, stderr};

#[test]
fn analyze_segments_and_finds_the_true_atoms() {
    let dir = tempfile::tempdir().unwrap();
    let movie = dir.path().join("movie.h5");
    let out = dir.path().join("analysis.h5");
    let o = atomvae(&[
        "-q",
        "simulate",
        "--frames",
        "3",
        "--size",
        "256",
        "320",
        "--seed",
        "1000500",
        "--out",
        movie.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let args = [
        "-q",
        "analyze",
        movie.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--device",
        "cpu",
        "--rvae-epochs",
        "1",
        "--preset",
        "paper",
    ];
    let o = atomvae(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    // analyze ends with the report, next to the file.
    for figure in ["fig2_segmentation.png", "fig5_building_blocks.png", "fig7_latent_dynamics.png"] {
        assert!(dir.path().join("analysis_report").join(figure).is_file(), "{figure} missing");
    }

    let f = hdf5::File::open(&out).unwrap();
    assert_eq!(f.dataset("probabilities").unwrap().shape(), vec![3, 3, 256, 320]);
    let probs = f.dataset("probabilities").unwrap().read_raw::<f32>().unwrap();
    let plane = 256 * 320;
    for k in (0..plane).step_by(997) {
        let s: f32 = (0..3).map(|c| probs[c * plane + k]).sum();
        assert!((s - 1.0).abs() < 1e-3, "probabilities sum to {s}");
    }
    let truth_file = hdf5::File::open(&movie).unwrap();
    let read_in =
        |file: &hdf5::File, g: &str, c: &str| file.dataset(&format!("{g}/{c}")).unwrap().read_raw::<f32>().unwrap();
    let frame_in = |file: &hdf5::File, g: &str| file.dataset(&format!("{g}/frame")).unwrap().read_raw::<u32>().unwrap();
    let read = |g: &str, c: &str| read_in(&f, g, c);
    let (fy, fx, ff) = (read("atoms", "y"), read("atoms", "x"), frame_in(&f, "atoms"));
    let (ty, tx, tf) = (
        read_in(&truth_file, "truth/atoms", "y"),
        read_in(&truth_file, "truth/atoms", "x"),
        frame_in(&truth_file, "truth/atoms"),
    );
    let inner = |y: f32, x: f32| y > 8.0 && x > 8.0 && y < 247.0 && x < 311.0;
    let truth_inner: Vec<usize> = (0..ty.len()).filter(|&i| inner(ty[i], tx[i])).collect();
    let matched = truth_inner
        .iter()
        .filter(|&&i| (0..fy.len()).any(|j| ff[j] == tf[i] && (fy[j] - ty[i]).hypot(fx[j] - tx[i]) < 3.0))
        .count();
    let recall = matched as f64 / truth_inner.len() as f64;
    assert!(recall > 0.98, "recall {recall} of {} true atoms", truth_inner.len());
    let found_inner = (0..fy.len()).filter(|&j| inner(fy[j], fx[j])).count();
    assert!(
        (found_inner as f64) < 1.02 * truth_inner.len() as f64,
        "{found_inner} found vs {} true",
        truth_inner.len()
    );
    let conf = read("atoms", "confidence");
    assert!(conf.iter().all(|c| (0.0..=1.0).contains(c)));
    let steps = f.group("provenance").unwrap().member_names().unwrap();
    for s in ["import", "segment", "atoms", "subimages", "train-rvae", "encode", "analysis"] {
        assert!(steps.contains(&s.to_string()), "{steps:?}");
    }
    assert!(f.group("models/segmenter").is_ok() && f.group("models/rvae").is_ok());
    let windows = f.dataset("subimages/windows").unwrap().shape();
    let latents = f.dataset("latents/mean").unwrap().shape();
    assert_eq!(windows[1..], [38, 38], "the paper preset's 4 Å at 0.104 Å/px");
    assert_eq!(latents, vec![windows[0], 5]);
    let index = f.dataset("subimages/atom_index").unwrap().read_raw::<u64>().unwrap();
    let classes = f.dataset("atoms/class").unwrap().read_raw::<u8>().unwrap();
    assert!(index.iter().all(|&i| classes[i as usize] == 1), "windows sit on C atoms");
}

#[test]
fn segment_refuses_a_bad_model_and_atoms_needs_probabilities() {
    let dir = tempfile::tempdir().unwrap();
    let movie = dir.path().join("movie.h5");
    let o = atomvae(&[
        "-q",
        "simulate",
        "--frames",
        "1",
        "--size",
        "128",
        "128",
        "--holes",
        "0",
        "--out",
        movie.to_str().unwrap(),
    ]);
    assert!(o.status.success());
    let o = atomvae(&["atoms", movie.to_str().unwrap()]);
    assert!(stderr(&o).contains("no /probabilities yet; run `segment` first"), "{}", stderr(&o));
    let junk = dir.path().join("junk.bin");
    std::fs::write(&junk, b"not a model at all").unwrap();
    let before = std::fs::read(&movie).unwrap();
    let o = atomvae(&["segment", movie.to_str().unwrap(), "--model", junk.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bad magic bytes"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&movie).unwrap(), before, "the file is untouched");
}
