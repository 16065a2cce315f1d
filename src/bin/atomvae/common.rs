//! Arguments shared by several sub-commands: the device and seed of a step, the
//! analysis file of a step, and the parser of lower-case choices.

use std::path::PathBuf;

use clap::Args;

use atomvae::device::DeviceChoice;

#[derive(Args, Clone)]
pub struct CommonArgs {
    /// Compute device: auto (CUDA when available), cpu or cuda.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Random seed of every random choice of the step.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(Args)]
pub struct StepArgs {
    /// The analysis file (updated in place, atomically).
    pub file: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// A choice given in any case (`--source Atoms`) as the library's serde name.
pub fn parse_choice<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase())).map_err(|e| e.to_string())
}
