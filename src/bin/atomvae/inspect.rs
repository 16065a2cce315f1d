//! `inspect` (what an analysis file holds) and `info` (versions, libtorch, devices).

use std::path::Path;

use anyhow::Result;

use atomvae::store::AnalysisFile;

pub fn inspect(path: &Path) -> Result<()> {
    let file = AnalysisFile::open(path)?;
    let i = file.info();
    println!("{}", path.display());
    println!("  schema version {}", i.schema_version);
    println!("  frames: {} × {} × {} px at {} Å/px", i.frames[0], i.frames[1], i.frames[2], i.pixel_size);
    println!("  classes: {}", i.class_names.join(", "));
    println!("  probabilities: {}", if i.has_probabilities { "yes" } else { "no" });
    let count = |v: Option<usize>| v.map_or("none".to_string(), |n| n.to_string());
    println!("  atoms: {}", count(i.atoms));
    println!("  windows: {}", count(i.windows));
    println!("  latents: {}", count(i.latents));
    println!("  models: {}", if i.models.is_empty() { "none".into() } else { i.models.join(", ") });
    println!("  steps: {}", i.steps.join(", "));
    Ok(())
}

pub fn info() {
    println!("atomvae {} (git {})", atomvae::VERSION, atomvae::GIT_COMMIT);
    println!("libtorch: {}", atomvae::device::libtorch_lib_dir());
    println!("cuda available: {} ({} devices)", tch::Cuda::is_available(), tch::Cuda::device_count());
    println!("libtorch threads: {}", tch::get_num_threads());
}
