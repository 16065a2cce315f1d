//! Steps 4 and 5 (the paper's Methods, rVAE): the rVAE trained on the stored
//! windows into `/models/rvae`, and every window's latents into `/latents`.

use super::windows::StoredWindows;
use super::PipelineError;
use crate::progress::Progress;
use crate::rvae::{train_rvae_rows, Rvae, RvaeConfig, RvaeTrainConfig, RvaeTrainReport};
use crate::store::{now_utc, write_model, AnalysisFile, StepRecord, StoreError};

/// Step 4: an rVAE trained on `/subimages`, stored as `/models/rvae` with its
/// training curves in the model's config.
pub fn train_rvae_file(
    file: &mut AnalysisFile,
    model_config: &RvaeConfig,
    train_config: &RvaeTrainConfig,
    device: tch::Device,
    progress: &mut dyn Progress,
) -> Result<(Rvae, RvaeTrainReport), PipelineError> {
    let started = now_utc();
    let windows = StoredWindows::open(file)?;
    let config = RvaeConfig { window: windows.size_px(), ..model_config.clone() };
    let mut model = Rvae::new_seeded(config, device, train_config.seed)?;
    let report = train_rvae_rows(&mut model, &windows, train_config, progress)?;
    drop(windows);
    let mut stored = model.to_stored();
    stored.config["training"] = serde_json::json!({"train_config": train_config, "report": report});
    let record = StepRecord {
        step: "train-rvae".into(),
        parameters: serde_json::json!({"model": model.config(), "training": train_config}),
        started,
        finished: now_utc(),
        device: format!("{device:?}"),
        seed: train_config.seed,
    };
    let path = file.path().to_path_buf();
    file.update(&record, |out| write_model(out, "rvae", &stored).map_err(|e| StoreError::hdf5(&path, e)))?;
    Ok((model, report))
}

/// Step 5: latents of every window with the stored rVAE into `/latents`.
/// Reports progress per block of windows and can be cancelled between blocks.
pub fn encode_file(
    file: &mut AnalysisFile,
    device: tch::Device,
    progress: &mut dyn Progress,
) -> Result<crate::rvae::Latents, PipelineError> {
    let started = now_utc();
    if !file.info().models.iter().any(|m| m == "rvae") {
        return Err(PipelineError::Missing(format!(
            "{}: no trained rVAE in /models/rvae; run `train-rvae` first",
            file.path().display()
        )));
    }
    // A model that is there but unreadable is reported as what it is.
    let stored = file.read_model("rvae", Some(crate::rvae::MODEL_KIND))?;
    let model = Rvae::from_stored(&stored, device)?;
    let windows = StoredWindows::open(file)?;
    if windows.size_px() != model.config().window {
        return Err(PipelineError::Missing(format!(
            "the windows are {0}×{0} px but the stored rVAE takes {1}×{1} px; train it again",
            windows.size_px(),
            model.config().window
        )));
    }
    let latents = super::evaluate::encode_windows(&model, &windows, device, progress)?;
    drop(windows);
    let record = StepRecord {
        step: "encode".into(),
        parameters: serde_json::json!({"model": "rvae"}),
        started,
        finished: now_utc(),
        device: format!("{device:?}"),
        seed: 0,
    };
    let path = file.path().to_path_buf();
    let e = |err| StoreError::hdf5(&path, err);
    file.update(&record, |out| {
        // An analysis of older latents no longer matches them.
        if out.link_exists("analysis") {
            out.unlink("analysis").map_err(e)?;
        }
        let g = crate::store::fresh_group(out, "latents").map_err(e)?;
        g.new_dataset_builder().with_data(&latents.mean).create("mean").map_err(e)?;
        g.new_dataset_builder().with_data(&latents.logvar).create("logvar").map_err(e)?;
        crate::store::write_json_attr(&g, "columns", &serde_json::to_value(&latents.names).expect("names")).map_err(e)
    })?;
    Ok(latents)
}
