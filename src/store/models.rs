//! Models as data: every tensor of a model stored as a dataset named by its variable
//! path (e.g. `down.0.conv1.weight`) under `/models/<name>`, with the model's serde
//! JSON config and its kind as attributes. The same layout serves inside an analysis
//! file and as a stand-alone model file.

use std::path::Path;

use tch::{nn, Kind, Tensor};

use super::{hdf5_err, read_str_attr, write_str_attr, StoreError};

/// A model's configuration and weights, detached from any device.
#[derive(Debug)]
pub struct StoredModel {
    /// What it is, e.g. `unet-segmenter` or `rvae`; checked when loading.
    pub kind: String,
    pub config: serde_json::Value,
    pub tensors: Vec<(String, Tensor)>,
}

impl StoredModel {
    /// Snapshot of every variable of `vs` (trainable or not), as f32 on the CPU.
    pub fn from_var_store(kind: &str, config: serde_json::Value, vs: &nn::VarStore) -> Self {
        let mut tensors: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .map(|(name, t)| (name, t.detach().to_device(tch::Device::Cpu).to_kind(Kind::Float).copy()))
            .collect();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        Self { kind: kind.to_string(), config, tensors }
    }

    /// Copies the stored weights into `vs`, whose variables must match by name and shape.
    pub fn load_into(&self, vs: &mut nn::VarStore) -> Result<(), StoreError> {
        let mismatch = |reason: String| StoreError::Invalid { path: "<model>".into(), reason };
        let vars = vs.variables();
        if vars.len() != self.tensors.len() {
            return Err(mismatch(format!(
                "the {} model holds {} tensors but the network has {}",
                self.kind,
                self.tensors.len(),
                vars.len()
            )));
        }
        tch::no_grad(|| {
            for (name, stored) in &self.tensors {
                let Some(var) = vars.get(name) else {
                    return Err(mismatch(format!("the network has no variable '{name}'")));
                };
                if var.size() != stored.size() {
                    return Err(mismatch(format!(
                        "'{name}' is {:?} in the file, {:?} in the network",
                        stored.size(),
                        var.size()
                    )));
                }
                let mut var = var.shallow_clone();
                var.copy_(&stored.to_kind(var.kind()).to_device(var.device()));
            }
            Ok(())
        })
    }

    /// Writes the model as `parent/<name>`, replacing an older one of that name.
    pub fn write(&self, parent: &hdf5::Group, name: &str) -> hdf5::Result<()> {
        if parent.link_exists(name) {
            parent.unlink(name)?;
        }
        let group = parent.create_group(name)?;
        write_str_attr(&group, "kind", &self.kind)?;
        write_str_attr(&group, "config", &self.config.to_string())?;
        for (var, t) in &self.tensors {
            let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
            let values: Vec<f32> = Vec::try_from(t.flatten(0, -1).to_kind(Kind::Float))
                .map_err(|e| hdf5::Error::from(format!("tensor '{var}': {e}")))?;
            let data = ndarray::ArrayD::from_shape_vec(shape, values).map_err(|e| hdf5::Error::from(e.to_string()))?;
            group.new_dataset_builder().with_data(&data).create(var.as_str())?;
        }
        Ok(())
    }

    /// Reads `parent/<name>`, checking that it is a model of `expected_kind` when given.
    pub fn read(
        parent: &hdf5::Group,
        name: &str,
        expected_kind: Option<&str>,
        path: &Path,
    ) -> Result<Self, StoreError> {
        let bad = |reason: String| StoreError::Invalid { path: path.to_path_buf(), reason };
        let group = parent.group(name).map_err(|_| bad(format!("no model '{name}'")))?;
        let kind = read_str_attr(&group, "kind").map_err(|_| bad(format!("model '{name}' has no 'kind' attribute")))?;
        if let Some(want) = expected_kind {
            if kind != want {
                return Err(bad(format!("model '{name}' is a {kind} model, not a {want} model")));
            }
        }
        let config_text = read_str_attr(&group, "config").map_err(|_| bad(format!("model '{name}' has no config")))?;
        let config = serde_json::from_str(&config_text).map_err(|e| bad(format!("model '{name}' config: {e}")))?;
        let mut tensors = Vec::new();
        for var in group.member_names().map_err(|e| hdf5_err(path, e))? {
            let ds = group.dataset(&var).map_err(|e| hdf5_err(path, e))?;
            let shape: Vec<i64> = ds.shape().iter().map(|&d| d as i64).collect();
            let values = ds.read_raw::<f32>().map_err(|e| hdf5_err(path, e))?;
            tensors.push((var, Tensor::from_slice(&values).reshape(&shape)));
        }
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self { kind, config, tensors })
    }
}

/// Magic bytes of the compact model format (for models embedded in the library or
/// passed through the C ABI as a buffer).
const MAGIC: &[u8; 8] = b"ATVMODL1";

#[derive(serde::Serialize, serde::Deserialize)]
struct BytesHeader {
    kind: String,
    config: serde_json::Value,
    tensors: Vec<(String, Vec<i64>)>,
}

impl StoredModel {
    /// Compact form: magic, u64 header length, JSON header (kind, config, names and
    /// shapes), then every tensor's values as little-endian f32 in header order.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = BytesHeader {
            kind: self.kind.clone(),
            config: self.config.clone(),
            tensors: self.tensors.iter().map(|(n, t)| (n.clone(), t.size())).collect(),
        };
        let json = serde_json::to_vec(&header).expect("header serialises");
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        for (_, t) in &self.tensors {
            let values = Vec::<f32>::try_from(t.flatten(0, -1).to_kind(Kind::Float)).expect("f32 tensor");
            for v in values {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Reads the compact form, refusing anything malformed with a reason.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err("not an atomvae model (bad magic bytes)".into());
        }
        let len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")) as usize;
        let json = bytes.get(16..16usize.saturating_add(len)).ok_or("truncated model header")?;
        let header: BytesHeader = serde_json::from_slice(json).map_err(|e| format!("corrupt model header: {e}"))?;
        let mut offset = 16 + len;
        let mut tensors = Vec::with_capacity(header.tensors.len());
        for (name, shape) in header.tensors {
            if shape.iter().any(|&d| d < 0) {
                return Err(format!("corrupt model: negative dimension in '{name}'"));
            }
            let count = shape
                .iter()
                .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
                .ok_or("corrupt model: size overflow")?;
            let end = count.checked_mul(4).and_then(|b| b.checked_add(offset)).ok_or("corrupt model: size overflow")?;
            let raw = bytes.get(offset..end).ok_or_else(|| format!("truncated model: '{name}' is incomplete"))?;
            let values: Vec<f32> = raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
            tensors.push((name, Tensor::from_slice(&values).reshape(&shape)));
            offset = end;
        }
        if offset != bytes.len() {
            return Err(format!("corrupt model: {} unexpected trailing bytes", bytes.len() - offset));
        }
        Ok(Self { kind: header.kind, config: header.config, tensors })
    }
}
