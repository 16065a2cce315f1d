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

fn parts_of(path: &std::path::Path) -> Vec<(String, std::time::SystemTime)> {
    let folder = path.with_file_name(atomvae::store::parts_folder_name(path));
    let mut v: Vec<_> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().modified().unwrap())
        })
        .collect();
    v.sort();
    v
}

fn total_size(path: &std::path::Path) -> u64 {
    let folder = path.with_file_name(atomvae::store::parts_folder_name(path));
    std::fs::metadata(path).unwrap().len()
        + std::fs::read_dir(folder).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum::<u64>()
}

/// The large arrays live in part files that a re-run of a later step neither copies
/// nor rewrites; replaced parts are deleted, so re-runs keep the size bounded; a
/// copy made by the library carries its parts and outlives re-runs of the original.
#[test]
fn reruns_leave_the_large_arrays_alone_and_keep_the_size_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let movie = dir.path().join("sim.h5");
    let sim = SimParams { height: 128, width: 128, pixel_size: 0.2, ..SimParams::default() };
    simulate_movie(&sim, &MovieParams { frames: 2, ..MovieParams::default() }, 5, &movie, &mut Silent).unwrap();
    let path = dir.path().join("movie.h5");
    let mut file = atomvae::pipeline::import_movie(&movie, None, &path, None, 0, &mut Silent).unwrap();
    let segmenter = Segmenter::embedded(tch::Device::Cpu).unwrap();
    let mut settings = AnalyzeSettings::preset("recipe").unwrap();
    for step in [Step::Segment, Step::Atoms, Step::Subimages] {
        run_step(&mut file, step, &settings, &segmenter, tch::Device::Cpu, &mut Silent).unwrap();
    }
    let before = parts_of(&path);
    let names: Vec<&str> = before.iter().map(|(n, _)| n.split('-').next().unwrap()).collect();
    assert_eq!(names, ["frames", "probabilities", "subimages"]);

    let copy = dir.path().join("elsewhere").join("copy.h5");
    std::fs::create_dir(copy.parent().unwrap()).unwrap();
    let copied = file.copy_to(&copy).unwrap();
    assert_eq!(copied.info().windows, file.info().windows);

    let mut sizes = Vec::new();
    for threshold in [0.4, 0.5, 0.6, 0.45, 0.55] {
        settings.atoms.threshold = threshold;
        run_step(&mut file, Step::Atoms, &settings, &segmenter, tch::Device::Cpu, &mut Silent).unwrap();
        // Frames and probabilities untouched (same files, same times); the windows of
        // the old atoms went with the update.
        assert_eq!(parts_of(&path), before[..2].to_vec());
        assert!(file.info().atoms.unwrap() > 100);
        sizes.push(total_size(&path));
    }
    let (low, high) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
    assert!(high - low < 64 << 10, "the file grows with re-runs: {sizes:?}");

    // The copy still reads whole, windows included, from its own parts folder.
    let reopened = AnalysisFile::open(&copy).unwrap();
    assert_eq!(reopened.info().windows, copied.info().windows);
    let windows = reopened.read_raw("/subimages/windows").unwrap();
    assert_eq!(windows.shape[0], copied.info().windows.unwrap());

    // A file whose parts folder was lost says what happened.
    std::fs::rename(dir.path().join("movie.h5.parts"), dir.path().join("moved")).unwrap();
    let err = AnalysisFile::open(&path).unwrap_err().to_string();
    assert!(err.contains("movie.h5.parts") && err.contains("missing"), "{err}");
}
