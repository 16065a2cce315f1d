//! The arithmetic of the decoder's per-pixel layers (where the rVAE spends nearly
//! all its FLOPs): f32, or bf16 activations and products with f32 master weights.
//! `Auto` takes whichever a short timed probe finds faster on this CPU: no rule on
//! CPU flags holds everywhere (bf16 was 3.5× faster than f32 on an AMD EPYC with
//! AVX-512 BF16, and 1.5× slower on an Intel Xeon with the same flag and no AMX).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// Arithmetic of the decoder's per-pixel layers during training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// On a CPU, the faster of f32 and bf16 as timed on this machine ([`cpu_probe`]);
    /// f32 on other devices.
    #[default]
    Auto,
    Fp32,
    /// bf16 activations and matrix products with f32 weights, loss and optimiser.
    Bf16,
}

/// True when this CPU multiplies bf16 natively (Linux: from /proc/cpuinfo). The
/// environment variable `ATOMVAE_NO_BF16` (any value) says no, for comparisons.
pub fn cpu_has_native_bf16() -> bool {
    if std::env::var_os("ATOMVAE_NO_BF16").is_some() {
        return false;
    }
    std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| s.lines().any(|l| l.starts_with("flags") && (l.contains(" amx_bf16") || l.contains(" avx512_bf16"))))
        .unwrap_or(false)
}

impl Precision {
    pub fn kind_for(self, device: Device) -> Kind {
        match self {
            Self::Fp32 => Kind::Float,
            Self::Bf16 => Kind::BFloat16,
            Self::Auto if device == Device::Cpu => cpu_probe().choice,
            Self::Auto => Kind::Float,
        }
    }
}

/// What the probe measured: the best time of each arithmetic on the workload of
/// one training step of the decoder's per-pixel layers, and the choice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeResult {
    pub f32_seconds: f64,
    /// `None` when bf16 was not timed (no native bf16 in the CPU flags: emulated
    /// bf16 is always slower).
    pub bf16_seconds: Option<f64>,
    pub choice: Kind,
}

/// bf16 must win by this factor: a tie goes to f32, the reference arithmetic.
const BF16_MARGIN: f64 = 1.15;
/// A probe's choice is remembered only when its f32/bf16 ratio is this far from the
/// margin (e.g. outside 0.88–1.50): clear enough that load cannot have decided it.
const CLEAR_FACTOR: f64 = 1.3;

/// The timed probe (~0.3 s), run once per CPU model and thread count: its result
/// is kept in the user's cache folder (`$XDG_CACHE_HOME/atomvae/precision.json`,
/// else `~/.cache/atomvae/`), so that every process on a machine (e.g. the workers
/// of a Dask cluster) encodes and trains in the same arithmetic. A close call is
/// not remembered (see `CLEAR_FACTOR`); delete the file to measure again.
pub fn cpu_probe() -> ProbeResult {
    static RESULT: OnceLock<ProbeResult> = OnceLock::new();
    *RESULT.get_or_init(|| {
        if !cpu_has_native_bf16() {
            return ProbeResult { f32_seconds: f64::NAN, bf16_seconds: None, choice: Kind::Float };
        }
        let key = format!(
            "{} | {} threads | atomvae {} | libtorch {TORCH_VERSION}",
            cpu_model(),
            tch::get_num_threads(),
            crate::VERSION
        );
        let cache = cache_file();
        let mut known: serde_json::Map<String, serde_json::Value> = cache
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        if let Some(found) = known.get(&key).and_then(from_json) {
            return found;
        }
        let result = time_probe();
        // A close call may have been decided by load on the machine: keep it for
        // this process only, so that the next one measures again.
        let ratio = result.f32_seconds / result.bf16_seconds.unwrap_or(f64::NAN);
        let clear = !(BF16_MARGIN / CLEAR_FACTOR..=BF16_MARGIN * CLEAR_FACTOR).contains(&ratio);
        if let (Some(path), true) = (cache, clear) {
            known.insert(key, to_json(&result));
            let text = serde_json::to_vec_pretty(&known).expect("json");
            // Written whole under a temporary name, then renamed: readers never see half.
            let temp = path.with_extension(format!("tmp-{}", std::process::id()));
            let _ = std::fs::create_dir_all(path.parent().unwrap_or(std::path::Path::new(".")));
            if std::fs::write(&temp, text).is_ok() {
                let _ = std::fs::rename(&temp, &path);
            }
        }
        result
    })
}

/// The libtorch the project builds against (scripts/setup.sh pins torch 2.13.0).
const TORCH_VERSION: &str = "2.13";

fn cache_file() -> Option<std::path::PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cache")))?;
    Some(base.join("atomvae").join("precision.json"))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

fn to_json(r: &ProbeResult) -> serde_json::Value {
    serde_json::json!({
        "f32_ms": r.f32_seconds * 1e3,
        "bf16_ms": r.bf16_seconds.map(|b| b * 1e3),
        "choice": if r.choice == Kind::BFloat16 { "bf16" } else { "fp32" },
    })
}

fn from_json(v: &serde_json::Value) -> Option<ProbeResult> {
    let choice = match v.get("choice")?.as_str()? {
        "bf16" => Kind::BFloat16,
        "fp32" => Kind::Float,
        _ => return None,
    };
    Some(ProbeResult {
        f32_seconds: v.get("f32_ms")?.as_f64()? / 1e3,
        bf16_seconds: v.get("bf16_ms").and_then(|b| b.as_f64()).map(|b| b / 1e3),
        choice,
    })
}

fn time_probe() -> ProbeResult {
    {
        let (mut best_f32, mut best_bf16) = (Duration::MAX, Duration::MAX);
        // Alternating repeats, best of each: a burst of load hits both alike.
        for _ in 0..5 {
            best_f32 = best_f32.min(time_decoder_step(Kind::Float));
            best_bf16 = best_bf16.min(time_decoder_step(Kind::BFloat16));
        }
        let (f, b) = (best_f32.as_secs_f64(), best_bf16.as_secs_f64());
        let choice = if f > BF16_MARGIN * b { Kind::BFloat16 } else { Kind::Float };
        log::info!("precision probe: f32 {:.1} ms, bf16 {:.1} ms per decoder step → {choice:?}", f * 1e3, b * 1e3);
        ProbeResult { f32_seconds: f, bf16_seconds: Some(b), choice }
    }
}

/// One forward and backward pass of two 128-wide per-pixel layers on 32 windows of
/// 32² px, the way the decoder computes them (weights cast to the compute type).
fn time_decoder_step(kind: Kind) -> Duration {
    let rows = 32 * 32 * 32;
    let opts = (Kind::Float, Device::Cpu);
    let x = Tensor::rand([rows, 128], opts).to_kind(kind);
    let w1 = (Tensor::rand([128, 128], opts) * 0.1).set_requires_grad(true);
    let w2 = (Tensor::rand([128, 128], opts) * 0.1).set_requires_grad(true);
    let start = Instant::now();
    let h = x.linear::<Tensor>(&w1.to_kind(kind), None).tanh();
    let out = h.linear::<Tensor>(&w2.to_kind(kind), None).tanh();
    out.to_kind(Kind::Float).sum(Kind::Float).backward();
    start.elapsed()
}
