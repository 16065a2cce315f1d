//! Re-running a step never leaves results that no longer follow from its inputs:
//! every step removes the results (and records) of the steps after it, in the same
//! atomic update; and each record's `finished` time is taken when the step ends.

use atomvae::pipeline::{run_step, simulate_movie, AnalyzeSettings, Step};
use atomvae::progress::Silent;
use atomvae::segment::Segmenter;
use atomvae::sim::{MovieParams, SimParams};
use atomvae::store::AnalysisFile;

fn present(file: &AnalysisFile) -> Vec<&'static str> {
    let f = hdf5::File::open(file.path()).unwrap();
    ["probabilities", "atoms", "subimages", "models/rvae", "latents", "analysis"]
        .into_iter()
        .filter(|p| f.link_exists(p))
        .collect()
}

#[test]
fn a_rerun_step_removes_every_later_result_and_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("movie.h5");
    let sim = SimParams { height: 128, width: 128, pixel_size: 0.2, ..SimParams::default() };
    simulate_movie(&sim, &MovieParams { frames: 2, ..MovieParams::default() }, 3, &path, &mut Silent).unwrap();
    let mut file = AnalysisFile::open(&path).unwrap();
    let segmenter = Segmenter::embedded(tch::Device::Cpu).unwrap();
    let mut settings = AnalyzeSettings::preset("recipe").unwrap();
    settings.training.epochs = 1;
    let run = |file: &mut AnalysisFile, step: Step| {
        run_step(file, step, &settings, &segmenter, tch::Device::Cpu, &mut Silent).unwrap();
    };
    for step in [Step::Segment, Step::Atoms, Step::Subimages, Step::TrainRvae, Step::Encode] {
        run(&mut file, step);
    }
    assert_eq!(present(&file), ["probabilities", "atoms", "subimages", "models/rvae", "latents"]);

    // A new model: the old latents were made by the old one.
    run(&mut file, Step::TrainRvae);
    assert_eq!(present(&file), ["probabilities", "atoms", "subimages", "models/rvae"]);
    assert!(!file.info().steps.contains(&"encode".to_string()), "{:?}", file.info().steps);

    // New probabilities: atoms, windows, the model and their records all go.
    run(&mut file, Step::Segment);
    assert_eq!(present(&file), ["probabilities"]);
    let steps = &file.info().steps;
    for gone in ["atoms", "subimages", "train-rvae", "encode"] {
        assert!(!steps.contains(&gone.to_string()), "{gone} still recorded: {steps:?}");
    }

    // `finished` is when the step ended, not when its record was made.
    let f = hdf5::File::open(file.path()).unwrap();
    let attr = |name: &str| -> String {
        let a = f.group("provenance/segment").unwrap().attr(name).unwrap();
        a.read_scalar::<hdf5::types::VarLenUnicode>().unwrap().as_str().to_string()
    };
    assert!(attr("finished") >= attr("started"));
}
