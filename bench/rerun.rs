//! Cheap re-runs on big analysis files (issue 13): a 50-frame 1024² simulated movie
//! is imported, segmented, its atoms found and windows cut; then `atoms` is re-run
//! five times in a row with another threshold each time. Records each re-run's wall
//! time, the time of the atom finding alone (the step's own work: reading the
//! probabilities and finding blobs), and the size of the analysis file and of its
//! part files after each re-run. For scale: the time to copy every byte of the
//! analysis (what each update cost when the whole file was copied before a change).
//! Run: `bash bench/run.sh rerun`.

mod common;

use std::path::Path;
use std::time::Instant;

use atomvae::pipeline::{find_atoms_file, import_movie, run_step, AnalyzeSettings, Step};
use atomvae::progress::Silent;
use atomvae::segment::{find_atoms, Segmenter};
use atomvae::sim::{MovieParams, SimParams};
use common::Measurement;
use ndarray::s;

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

/// (main file, part files) in bytes.
fn sizes(path: &Path) -> (u64, u64) {
    let folder = path.with_file_name(atomvae::store::parts_folder_name(path));
    let parts = std::fs::read_dir(folder).map(|d| d.flatten().map(|e| e.metadata().unwrap().len()).sum()).unwrap_or(0);
    (std::fs::metadata(path).unwrap().len(), parts)
}

fn main() {
    tch::set_num_threads(2);
    let work = std::env::temp_dir().join(format!("atomvae-bench-rerun-{}", std::process::id()));
    std::fs::create_dir_all(&work).unwrap();
    let movie = work.join("movie.h5");
    let path = work.join("analysis.h5");
    let sim = SimParams { height: 1024, width: 1024, holes: 2, ..SimParams::default() };
    let movie_params = MovieParams { frames: 50, ..MovieParams::default() };
    atomvae::pipeline::simulate_movie(&sim, &movie_params, 1, &movie, &mut Silent).unwrap();
    let segmenter = Segmenter::embedded(tch::Device::Cpu).unwrap();
    let mut settings = AnalyzeSettings::preset("recipe").unwrap();
    let mut file = import_movie(&movie, None, &path, None, 0, &mut Silent).unwrap();
    let t0 = Instant::now();
    for step in [Step::Segment, Step::Atoms, Step::Subimages] {
        run_step(&mut file, step, &settings, &segmenter, tch::Device::Cpu, &mut Silent).unwrap();
    }
    let prepare_s = t0.elapsed().as_secs_f64();
    let (main0, parts0) = sizes(&path);
    let mut m = vec![
        Measurement { name: "prepare_segment_atoms_subimages_s".into(), unit: "s".into(), value: prepare_s },
        Measurement { name: "before_main_file_mib".into(), unit: "MiB".into(), value: mib(main0) },
        Measurement { name: "before_part_files_mib".into(), unit: "MiB".into(), value: mib(parts0) },
    ];

    // What copying the whole analysis costs (the old per-update price).
    let t = Instant::now();
    let copy = work.join("copy.h5");
    file.copy_to(&copy).unwrap();
    let copy_s = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_file(&copy);
    let _ = std::fs::remove_dir_all(work.join("copy.h5.parts"));
    m.push(Measurement { name: "copy_whole_analysis_s".into(), unit: "s".into(), value: copy_s });

    let pixel_size = file.info().pixel_size;
    let frames = file.info().frames[0];
    for (k, threshold) in [0.45f32, 0.55, 0.5, 0.6, 0.4].into_iter().enumerate() {
        settings.atoms.threshold = threshold;
        // The step's own work, without the update.
        let t = Instant::now();
        let reader = hdf5::File::open(&path).unwrap();
        let probs = reader.dataset("probabilities").unwrap();
        let mut found = 0;
        for f in 0..frames {
            let p: ndarray::Array3<f32> = probs.read_slice(s![f, .., .., ..]).unwrap();
            found += find_atoms(p.view(), pixel_size, &settings.atoms).len();
        }
        drop((probs, reader));
        let compute_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let table = find_atoms_file(&mut file, &settings.atoms, &mut Silent).unwrap();
        let rerun_s = t.elapsed().as_secs_f64();
        assert_eq!(table.len(), found);
        let (main, parts) = sizes(&path);
        let n = k + 1;
        m.push(Measurement { name: format!("rerun{n}_atoms_wall_s"), unit: "s".into(), value: rerun_s });
        m.push(Measurement { name: format!("rerun{n}_atom_finding_alone_s"), unit: "s".into(), value: compute_s });
        m.push(Measurement { name: format!("rerun{n}_main_file_mib"), unit: "MiB".into(), value: mib(main) });
        m.push(Measurement { name: format!("rerun{n}_part_files_mib"), unit: "MiB".into(), value: mib(parts) });
        m.push(Measurement { name: format!("rerun{n}_atoms"), unit: "atoms".into(), value: table.len() as f64 });
    }
    common::write_results(
        "rerun",
        &[],
        &m,
        serde_json::json!({
            "workload": "50 simulated frames of 1024×1024 px (0.104 Å/px, 2 holes), embedded segmenter on CPU (2 threads), recipe preset; then `atoms` re-run 5 times with thresholds 0.45, 0.55, 0.5, 0.6, 0.4",
            "design": "large step-owned arrays (frames, probabilities, subimages) in part files linked from the analysis file (docs/FORMAT.md); an update copies only the small analysis file; the first re-run also removes the windows of the old atoms (their part file is deleted)",
            "before": "sizes after import, segment, atoms, subimages",
        }),
    );
    let _ = std::fs::remove_dir_all(&work);
}
