//! The analysis file and model storage: round trips, atomic updates, crash safety
//! and clear errors on bad files.

mod common;

use std::path::{Path, PathBuf};

use atomvae::progress::Silent;
use atomvae::store::{
    load_model_file, now_utc, save_model_file, write_atoms, AnalysisFile, AtomTable, FrameStack, StepRecord,
    StoreError, StoredModel,
};
use common::{atomvae, interrupt, stderr};
use tch::nn::{self, ModuleT};

fn record(step: &str) -> StepRecord {
    StepRecord {
        step: step.into(),
        parameters: serde_json::json!({"test": true}),
        started: now_utc(),
        finished: now_utc(),
        device: "cpu".into(),
        seed: 0,
    }
}

/// A small analysis file made from a simulated movie (through the CLI and `import`).
fn analysis_file(dir: &Path) -> PathBuf {
    let movie = dir.join("movie.npy");
    let out = atomvae(&[
        "-q",
        "simulate",
        "--frames",
        "2",
        "--size",
        "64",
        "48",
        "--holes",
        "0",
        "--out",
        movie.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let path = dir.join("analysis.h5");
    let mut stack = FrameStack::open(&movie, None).unwrap();
    assert_eq!(stack.pixel_size(), Some(0.104), "pixel size from NAME.meta.json");
    let names = vec!["background".to_string(), "C".into(), "Si".into()];
    AnalysisFile::create_from_stack(&path, &mut stack, 0.104, &names, &record("import"), &mut Silent).unwrap();
    path
}

fn net(vs: &nn::Path) -> impl ModuleT {
    nn::seq_t()
        .add(nn::conv2d(vs / "conv", 1, 4, 3, Default::default()))
        .add(nn::batch_norm2d(vs / "bn", 4, Default::default()))
        .add_fn(|x| x.relu().flatten(1, -1))
        .add(nn::linear(vs / "head", 4 * 6 * 6, 3, Default::default()))
}

#[test]
fn a_model_saved_and_loaded_gives_identical_outputs() {
    let dir = tempfile::tempdir().unwrap();
    tch::manual_seed(1);
    let vs = nn::VarStore::new(tch::Device::Cpu);
    let model = net(&vs.root());
    let input = tch::Tensor::randn([5, 1, 8, 8], (tch::Kind::Float, tch::Device::Cpu));
    // One training-mode pass updates the batch-norm running statistics (non-trainable state).
    let _ = model.forward_t(&input, true);
    let expected = model.forward_t(&input, false);

    let config = serde_json::json!({"channels": 4});
    let stored = StoredModel::from_var_store("test-net", config.clone(), &vs);
    let path = dir.path().join("model.h5");
    save_model_file(&path, "net", &stored).unwrap();

    tch::manual_seed(2);
    let mut fresh_vs = nn::VarStore::new(tch::Device::Cpu);
    let fresh = net(&fresh_vs.root());
    assert!(fresh.forward_t(&input, false).ne_tensor(&expected).any().int64_value(&[]) == 1);
    let loaded = load_model_file(&path, None, Some("test-net")).unwrap();
    assert_eq!(loaded.config, config);
    loaded.load_into(&mut fresh_vs).unwrap();
    let got = fresh.forward_t(&input, false);
    assert!(got.equal(&expected), "outputs differ after a round trip");

    let err = load_model_file(&path, None, Some("rvae")).unwrap_err().to_string();
    assert!(err.contains("is a test-net model, not a rvae model"), "{err}");
    let mut other_vs = nn::VarStore::new(tch::Device::Cpu);
    let _ = nn::linear(other_vs.root() / "head", 2, 2, Default::default());
    let err = loaded.load_into(&mut other_vs).unwrap_err().to_string();
    assert!(err.contains("tensors but the network has"), "{err}");
}

#[test]
fn updates_are_atomic_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let path = analysis_file(dir.path());
    let mut file = AnalysisFile::open(&path).unwrap();
    assert_eq!(file.info().frames, [2, 64, 48]);
    assert_eq!(file.info().steps, vec!["import"]);
    let before = std::fs::read(&path).unwrap();

    let failed = file.update(&record("atoms"), |h5| {
        write_atoms(
            h5,
            &AtomTable { frame: vec![0], y: vec![1.0], x: vec![2.0], class: vec![1], confidence: vec![0.9] },
        )
        .map_err(|e| StoreError::hdf5(Path::new("x"), e))?;
        Err(StoreError::Cancelled)
    });
    assert!(matches!(failed, Err(StoreError::Cancelled)));
    assert_eq!(std::fs::read(&path).unwrap(), before, "a failed step leaves the file untouched");
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(!names.iter().any(|n| n.to_string_lossy().contains(".tmp-")), "{names:?}");

    let table = AtomTable {
        frame: vec![0, 1],
        y: vec![1.5, 2.5],
        x: vec![3.0, 4.0],
        class: vec![1, 2],
        confidence: vec![0.9, 0.8],
    };
    file.update(&record("atoms"), |h5| write_atoms(h5, &table).map_err(|e| StoreError::hdf5(Path::new("x"), e)))
        .unwrap();
    assert_eq!(file.read_atoms().unwrap().unwrap(), table);
    assert_eq!(file.info().atoms, Some(2));
    assert_eq!(file.info().steps, vec!["atoms", "import"]);
    let reopened = AnalysisFile::open(&path).unwrap();
    assert_eq!(reopened.read_frame(1).unwrap().dim(), (64, 48));
}

fn expect_invalid(path: &Path, needle: &str) {
    let err = AnalysisFile::open(path).unwrap_err().to_string();
    assert!(err.contains(&path.display().to_string()), "error does not name the file: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
}

#[test]
fn bad_files_get_errors_that_name_the_path_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let good = analysis_file(dir.path());

    let text = dir.path().join("notes.h5");
    std::fs::write(&text, "just some text, not HDF5").unwrap();
    expect_invalid(&text, "not an HDF5 file");

    let foreign = dir.path().join("foreign.h5");
    hdf5::File::create(&foreign).unwrap().new_dataset_builder().with_data(&[1.0f32, 2.0]).create("data").unwrap();
    expect_invalid(&foreign, "not an atomvae analysis file");

    let copy = |name: &str| {
        let p = dir.path().join(name);
        std::fs::copy(&good, &p).unwrap();
        p
    };
    let newer = copy("newer.h5");
    hdf5::File::open_rw(&newer).unwrap().attr("schema_version").unwrap().write_scalar(&99u32).unwrap();
    expect_invalid(&newer, "newer atomvae (schema version 99");

    let missing = copy("missing.h5");
    hdf5::File::open_rw(&missing).unwrap().unlink("frames").unwrap();
    expect_invalid(&missing, "/frames is missing");

    let wrong = copy("wrong.h5");
    {
        let f = hdf5::File::open_rw(&wrong).unwrap();
        f.new_dataset::<f32>().shape([2, 2, 64, 48]).create("probabilities").unwrap();
    }
    expect_invalid(&wrong, "/probabilities has shape [2, 2, 64, 48], expected [2, 3, 64, 48]");

    let ragged = copy("ragged.h5");
    {
        let f = hdf5::File::open_rw(&ragged).unwrap();
        let g = f.create_group("atoms").unwrap();
        for (name, n) in [("frame", 3), ("y", 3), ("x", 2), ("class", 3), ("confidence", 3)] {
            g.new_dataset::<f32>().shape([n]).create(name).unwrap();
        }
    }
    expect_invalid(&ragged, "/atoms columns have different lengths");

    let truncated = copy("truncated.h5");
    let bytes = std::fs::read(&truncated).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let err = AnalysisFile::open(&truncated).unwrap_err().to_string();
    assert!(err.contains("truncated.h5"), "{err}");

    expect_invalid(&dir.path().join("absent.h5"), "no such file");
}

#[test]
fn import_refuses_to_guess_the_pixel_size_and_bad_frames() {
    let dir = tempfile::tempdir().unwrap();
    let npy = dir.path().join("plain.npy");
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }";
    let padded = format!("{header:<53}\n");
    bytes.extend_from_slice(&(padded.len() as u16).to_le_bytes());
    bytes.extend_from_slice(padded.as_bytes());
    for v in [1.0f32, 2.0, 3.0, f32::NAN, 5.0, 6.0, 7.0, 8.0] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(&npy, &bytes).unwrap();
    let out = dir.path().join("a.h5");
    let o = atomvae(&["import", npy.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(stderr(&o).contains("does not say its pixel size; pass --pixel-size"), "{}", stderr(&o));
    let o = atomvae(&["import", npy.to_str().unwrap(), "-o", out.to_str().unwrap(), "--pixel-size", "0.1"]);
    assert!(stderr(&o).contains("frame 0 has a NaN or infinite pixel at (y, x) = (0, 3)"), "{}", stderr(&o));
    assert!(!out.exists());
    let o = atomvae(&["import", dir.path().join("nothing.npy").to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(stderr(&o).contains("no such file"), "{}", stderr(&o));
}

#[test]
fn a_killed_import_leaves_the_previous_analysis_file_intact() {
    let dir = tempfile::tempdir().unwrap();
    let movie = dir.path().join("big.npy");
    let o = atomvae(&[
        "-q",
        "simulate",
        "--frames",
        "60",
        "--size",
        "512",
        "512",
        "--dose",
        "0",
        "--out",
        movie.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let target = work.join("analysis.h5");
    std::fs::write(&target, b"the previous analysis").unwrap();
    let names =
        interrupt(&["-q", "import", movie.to_str().unwrap(), "-o", target.to_str().unwrap()], &work, 2 << 20, "-KILL");
    assert_eq!(std::fs::read(&target).unwrap(), b"the previous analysis");
    assert!(
        names.iter().all(|n| n == "analysis.h5" || n == "analysis.h5.parts" || n.starts_with(".analysis.h5.tmp-")),
        "{names:?}"
    );
    // The next import that succeeds removes what the killed one left in the parts folder.
    let small = dir.path().join("small.npy");
    assert!(atomvae(&["-q", "simulate", "--frames", "1", "--size", "64", "64", "--out", small.to_str().unwrap()])
        .status
        .success());
    let o = atomvae(&["-q", "import", small.to_str().unwrap(), "-o", target.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let parts: Vec<_> = std::fs::read_dir(work.join("analysis.h5.parts")).unwrap().collect();
    assert_eq!(parts.len(), 1, "only the new frames part is left");
}

#[test]
fn steps_out_of_order_say_so_and_leave_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = analysis_file(dir.path());
    let before = std::fs::read(&path).unwrap();
    for (step, expected) in [
        ("subimages", "no /atoms yet; run `atoms` first"),
        ("train-rvae", "no /subimages yet; run `subimages` first"),
        ("encode", "no trained rVAE in /models/rvae; run `train-rvae` first"),
        ("report", "no /latents yet; run `encode` first"),
    ] {
        let o = atomvae(&[step, path.to_str().unwrap(), "--device", "cpu"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(stderr(&o).contains(expected), "{step}: {}", stderr(&o));
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert!(!dir.path().join("analysis_report").exists(), "no figures without an analysis");
}
