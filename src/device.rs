//! Where tensors live: the user's `--device auto|cpu|cuda` choice resolved against
//! what libtorch can see, and the libtorch thread count.

use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA when libtorch sees a GPU, else the CPU.
    #[default]
    Auto,
    Cpu,
    Cuda,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DeviceError {
    #[error("unknown device '{0}': use auto, cpu or cuda")]
    Unknown(String),
    #[error("--device cuda was asked for, but libtorch sees no CUDA device")]
    CudaUnavailable,
}

impl FromStr for DeviceChoice {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda),
            _ => Err(DeviceError::Unknown(s.to_string())),
        }
    }
}

impl DeviceChoice {
    pub fn resolve(self) -> Result<tch::Device, DeviceError> {
        match self {
            Self::Cpu => Ok(tch::Device::Cpu),
            Self::Auto => Ok(tch::Device::cuda_if_available()),
            Self::Cuda if tch::Cuda::is_available() => Ok(tch::Device::Cuda(0)),
            Self::Cuda => Err(DeviceError::CudaUnavailable),
        }
    }
}

/// A short description of a resolved device for logs and provenance.
pub fn describe(device: tch::Device) -> String {
    match device {
        tch::Device::Cpu => format!("cpu ({} libtorch threads)", tch::get_num_threads()),
        tch::Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}"),
    }
}

/// The folder of the libtorch shared libraries this build links against.
pub fn libtorch_lib_dir() -> &'static str {
    env!("ATOMVAE_LIBTORCH_LIB")
}

/// Keeps glibc from returning every large tensor buffer to the kernel: by default
/// allocations above a (dynamic) threshold are mmap-ed and unmapped on free, so the
/// decoder's per-pass activations (a few MB each) page-fault and get zeroed on every
/// pass. Measured on the rVAE at 32 px: 730 → 1,100 windows/s. Buffers above 32 MB
/// (streamed window blocks) are still mapped, so they go back when freed. Called once before
/// training; glibc only, a no-op elsewhere.
pub fn tune_allocator() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes allocator parameters; any value is valid.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        }
    });
}
