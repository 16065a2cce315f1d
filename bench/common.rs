//! Shared parts of the benchmark programs: machine description, medians and the
//! results file `bench/results/<name>.json` in the project's agreed layout.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn command_output(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.split_whitespace().nth(1)).and_then(|k| k.parse::<f64>().ok()))
        .map(|kib| kib / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!("{cpu}, {cores} cores, {mem_gib:.0} GiB, flags: {}", cpu_flags().join(" "))
}

/// Which of the CPU features that decide the arithmetic's speed this CPU has.
pub fn cpu_flags() -> Vec<&'static str> {
    let flags = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("flags")).map(|l| format!("{l} ")))
        .unwrap_or_default();
    ["amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2", "fma"]
        .into_iter()
        .filter(|f| flags.contains(&format!(" {f} ")))
        .collect()
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Location of the peer's anchors (AtomAI harness), `../shared/anchors` by default.
pub fn anchors_dir() -> PathBuf {
    std::env::var_os("ATOMVAE_ANCHORS").map(PathBuf::from).unwrap_or_else(|| repo_root().join("../shared/anchors"))
}

/// The Python with the project's venv (torch, numpy), from scripts/setup.sh.
pub fn python() -> PathBuf {
    std::env::var_os("ATOMVAE_VENV").map(|v| PathBuf::from(v).join("bin/python")).unwrap_or_else(|| "python3".into())
}

pub struct Comparison {
    pub name: String,
    pub unit: String,
    pub atomvae: f64,
    pub atomai: f64,
    /// True when a larger value is better (throughput), false for times and memory.
    pub higher_is_better: bool,
}

pub struct Measurement {
    pub name: String,
    pub unit: String,
    pub value: f64,
}

pub fn write_results(name: &str, comparisons: &[Comparison], measurements: &[Measurement], notes: Value) {
    let comps: Vec<Value> = comparisons
        .iter()
        .map(|c| {
            let ratio = if c.higher_is_better { c.atomvae / c.atomai } else { c.atomai / c.atomvae };
            json!({"name": c.name, "unit": c.unit, "atomvae": c.atomvae, "atomai": c.atomai, "ratio": ratio})
        })
        .collect();
    let meas: Vec<Value> =
        measurements.iter().map(|m| json!({"name": m.name, "unit": m.unit, "value": m.value})).collect();
    let doc = json!({
        "date": command_output("date", &["-u", "+%Y-%m-%dT%H:%M:%SZ"]),
        "machine": machine(),
        "git": command_output("git", &["-C", repo_root().to_str().unwrap_or("."), "rev-parse", "--short", "HEAD"]),
        "comparisons": comps,
        "measurements": meas,
        "notes": notes,
    });
    let dir = repo_root().join("bench/results");
    std::fs::create_dir_all(&dir).expect("bench/results");
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&doc).expect("json") + "\n").expect("write results");
    println!("{}", serde_json::to_string_pretty(&doc).expect("json"));
    println!("wrote {}", path.display());
}

/// The python that has AtomAI installed (../shared/anchors/README.md), from
/// $ATOMAI_PYTHON or /opt/venvs/atomai.
pub fn peer_python() -> PathBuf {
    std::env::var_os("ATOMAI_PYTHON").map(PathBuf::from).unwrap_or_else(|| "/opt/venvs/atomai/bin/python".into())
}

/// Peak resident memory of this process so far (MiB).
pub fn vm_hwm_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map(|kib| kib / 1024.0)
        .unwrap_or(f64::NAN)
}

/// A whole (N, H, W) stack from a .npy, .tif or .h5 file, through atomvae's own reader.
pub fn load_stack(path: &std::path::Path) -> ndarray::Array3<f32> {
    let mut stack = atomvae::store::FrameStack::open(path, None).expect("readable stack");
    let [n, h, w] = stack.shape();
    let mut out = ndarray::Array3::<f32>::zeros((n, h, w));
    for k in 0..n {
        out.index_axis_mut(ndarray::Axis(0), k).assign(&stack.frame(k).expect("frame"));
    }
    out
}

/// An (N, H, W) f32 stack as a .npy file (for the peer, which reads numpy).
pub fn write_npy(path: &std::path::Path, data: &ndarray::Array3<f32>) {
    use std::io::Write;
    let (n, h, w) = data.dim();
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, {h}, {w}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    out.write_all(b"\x93NUMPY\x01\x00").unwrap();
    out.write_all(&(header.len() as u16).to_le_bytes()).unwrap();
    out.write_all(header.as_bytes()).unwrap();
    for v in data.iter() {
        out.write_all(&v.to_le_bytes()).unwrap();
    }
}
