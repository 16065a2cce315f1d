//! Reading any part of an analysis file by its HDF5 path, for callers that only
//! see the C ABI (the Python package's `AnalysisFile`): a JSON listing of every
//! group and dataset with its attributes, and the raw little-endian bytes of one
//! numeric dataset. The layout itself is docs/FORMAT.md.

use hdf5::types::{FloatSize, IntSize, TypeDescriptor, VarLenAscii, VarLenUnicode};
use serde_json::{json, Map, Value};

use super::{hdf5_err, AnalysisFile, StoreError};

/// A numeric dataset read whole: its element type (numpy's name), shape and bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct RawDataset {
    pub dtype: &'static str,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

fn numpy_name(descriptor: &TypeDescriptor) -> Option<&'static str> {
    use TypeDescriptor as T;
    Some(match descriptor {
        T::Float(FloatSize::U4) => "float32",
        T::Float(FloatSize::U8) => "float64",
        T::Unsigned(IntSize::U1) | T::Boolean => "uint8",
        T::Unsigned(IntSize::U2) => "uint16",
        T::Unsigned(IntSize::U4) => "uint32",
        T::Unsigned(IntSize::U8) => "uint64",
        T::Integer(IntSize::U1) => "int8",
        T::Integer(IntSize::U2) => "int16",
        T::Integer(IntSize::U4) => "int32",
        T::Integer(IntSize::U8) => "int64",
        _ => return None,
    })
}

/// An attribute as JSON: strings stay strings (JSON stored in them is left for the
/// caller to parse), numbers and numeric arrays become numbers and lists.
fn attribute_value(attr: &hdf5::Attribute) -> Value {
    let Ok(descriptor) = attr.dtype().and_then(|t| t.to_descriptor()) else { return Value::Null };
    let shaped = |list: Vec<Value>| {
        if attr.is_scalar() {
            list.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(list)
        }
    };
    let value = match descriptor {
        TypeDescriptor::VarLenUnicode => attr.read_scalar::<VarLenUnicode>().map(|s| json!(s.as_str())),
        TypeDescriptor::VarLenAscii => attr.read_scalar::<VarLenAscii>().map(|s| json!(s.as_str())),
        TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_) | TypeDescriptor::Boolean => {
            attr.read_raw::<i64>().map(|v| shaped(v.into_iter().map(|x| json!(x)).collect()))
        }
        TypeDescriptor::Float(_) => attr.read_raw::<f64>().map(|v| shaped(v.into_iter().map(|x| json!(x)).collect())),
        _ => Ok(Value::Null),
    };
    value.unwrap_or(Value::Null)
}

fn attributes(loc: &hdf5::Location) -> Value {
    let mut map = Map::new();
    for name in loc.attr_names().unwrap_or_default() {
        if let Ok(attr) = loc.attr(&name) {
            map.insert(name, attribute_value(&attr));
        }
    }
    Value::Object(map)
}

fn walk(group: &hdf5::Group, prefix: &str, groups: &mut Vec<Value>, datasets: &mut Vec<Value>) -> hdf5::Result<()> {
    let mut names = group.member_names()?;
    names.sort();
    for name in names {
        let path = format!("{prefix}/{name}");
        if let Ok(ds) = group.dataset(&name) {
            let dtype = ds.dtype().and_then(|t| t.to_descriptor()).ok();
            datasets.push(json!({
                "path": path,
                "dtype": dtype.as_ref().and_then(numpy_name),
                "shape": ds.shape(),
                "attributes": attributes(&ds),
            }));
        } else if let Ok(sub) = group.group(&name) {
            groups.push(json!({ "path": path, "attributes": attributes(&sub) }));
            walk(&sub, &path, groups, datasets)?;
        }
    }
    Ok(())
}

impl AnalysisFile {
    /// Everything the file holds: `{"attributes": {…root…}, "groups": [{"path",
    /// "attributes"}], "datasets": [{"path", "dtype", "shape", "attributes"}]}`,
    /// paths absolute (`/atoms/y`), members in name order. `dtype` is numpy's name
    /// of the element type, or null for a type [`Self::read_raw`] cannot read.
    pub fn contents(&self) -> Result<Value, StoreError> {
        let file = hdf5::File::open(self.path()).map_err(|e| hdf5_err(self.path(), e))?;
        let (mut groups, mut datasets) = (Vec::new(), Vec::new());
        walk(&file, "", &mut groups, &mut datasets).map_err(|e| hdf5_err(self.path(), e))?;
        Ok(json!({ "attributes": attributes(&file), "groups": groups, "datasets": datasets }))
    }

    /// The dataset at `path` (e.g. `/latents/mean`) whole, as little-endian bytes
    /// of its own element type.
    pub fn read_raw(&self, path: &str) -> Result<RawDataset, StoreError> {
        let invalid = |reason: String| StoreError::Invalid { path: self.path().to_path_buf(), reason };
        let file = hdf5::File::open(self.path()).map_err(|e| hdf5_err(self.path(), e))?;
        let ds = file.dataset(path).map_err(|_| invalid(format!("no dataset {path}")))?;
        let descriptor = ds.dtype().and_then(|t| t.to_descriptor()).map_err(|e| hdf5_err(self.path(), e))?;
        let dtype = numpy_name(&descriptor)
            .ok_or_else(|| invalid(format!("{path} holds {descriptor}, not numbers atomvae reads")))?;
        let e = |err| hdf5_err(self.path(), err);
        fn bytes<T: Copy>(values: Vec<T>, to_le: impl Fn(T) -> Vec<u8>) -> Vec<u8> {
            values.into_iter().flat_map(to_le).collect()
        }
        let data = match dtype {
            "float32" => bytes(ds.read_raw::<f32>().map_err(e)?, |v| v.to_le_bytes().to_vec()),
            "float64" => bytes(ds.read_raw::<f64>().map_err(e)?, |v| v.to_le_bytes().to_vec()),
            "uint8" => ds.read_raw::<u8>().map_err(e)?,
            "uint16" => bytes(ds.read_raw::<u16>().map_err(e)?, |v| v.to_le_bytes().to_vec()),
            "uint32" => bytes(ds.read_raw::<u32>().map_err(e)?, |v| v.to_le_bytes().to_vec()),
            "uint64" => bytes(ds.read_raw::<u64>().map_err(e)?, |v| v.to_le_bytes().to_vec()),
            "int8" => bytes(ds.read_raw::<i8>().map_err(e)?, |v| v.to_le_bytes().to_vec()),
            "int16" => bytes(ds.read_raw::<i16>().map_err(e)?, |v| v.to_le_bytes().to_vec()),
            "int32" => bytes(ds.read_raw::<i32>().map_err(e)?, |v| v.to_le_bytes().to_vec()),
            _ => bytes(ds.read_raw::<i64>().map_err(e)?, |v| v.to_le_bytes().to_vec()),
        };
        Ok(RawDataset { dtype, shape: ds.shape(), bytes: data })
    }
}
