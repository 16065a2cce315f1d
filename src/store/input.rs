//! Reading a user's frames: `.npy` (2-D or 3-D; f32, f64, u8, u16, i16, either byte
//! order), `.tif/.tiff` stacks (8-, 16- or 32-bit grey pages) and `.h5` (a dataset
//! named by the caller, or the `/frames` of an atomvae file). Frames are read one at
//! a time so that long movies stream. The pixel size comes from the caller or the
//! file's own metadata; it is never guessed.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ndarray::{s, Array2};

use super::StoreError;

#[derive(Debug, Clone, Copy, PartialEq)]
enum NpyType {
    F32,
    F64,
    U8,
    U16,
    I16,
}

impl NpyType {
    fn size(self) -> usize {
        match self {
            Self::U8 => 1,
            Self::U16 | Self::I16 => 2,
            Self::F32 => 4,
            Self::F64 => 8,
        }
    }
}

enum Source {
    Npy {
        file: BufReader<File>,
        data_start: u64,
        dtype: NpyType,
        big_endian: bool,
    },
    Tiff {
        decoder: Box<tiff::decoder::Decoder<BufReader<File>>>,
    },
    Hdf5 {
        dataset: hdf5::Dataset,
        two_d: bool,
    },
    /// Frames handed over in memory (the C ABI's `atomvae_analysis_create`).
    Memory {
        frames: ndarray::Array3<f32>,
    },
}

/// A stack of frames on disk, (frames, height, width), read frame by frame as f32.
pub struct FrameStack {
    path: PathBuf,
    source: Source,
    shape: [usize; 3],
    pixel_size: Option<f64>,
}

fn invalid(path: &Path, reason: impl Into<String>) -> StoreError {
    StoreError::Invalid { path: path.to_path_buf(), reason: reason.into() }
}

fn open_file(path: &Path) -> Result<File, StoreError> {
    File::open(path).map_err(|e| StoreError::Io { path: path.to_path_buf(), source: e })
}

impl FrameStack {
    /// A stack already in memory; `label` stands for a path in messages and provenance.
    pub fn from_array(frames: ndarray::Array3<f32>, pixel_size: f64, label: &str) -> Self {
        let (n, h, w) = frames.dim();
        Self {
            path: PathBuf::from(label),
            source: Source::Memory { frames },
            shape: [n, h, w],
            pixel_size: Some(pixel_size),
        }
    }

    /// Opens `path`; `dataset` names the frames inside an HDF5 file (default `frames`).
    pub fn open(path: &Path, dataset: Option<&str>) -> Result<Self, StoreError> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        if !path.exists() {
            return Err(invalid(path, "no such file"));
        }
        match ext.as_str() {
            "npy" => Self::open_npy(path),
            "tif" | "tiff" => Self::open_tiff(path),
            "h5" | "hdf5" => Self::open_hdf5(path, dataset),
            _ => Err(invalid(path, "unknown file type: atomvae reads .npy, .tif/.tiff and .h5 stacks")),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// (frames, height, width).
    pub fn shape(&self) -> [usize; 3] {
        self.shape
    }

    pub fn len(&self) -> usize {
        self.shape[0]
    }

    pub fn is_empty(&self) -> bool {
        self.shape[0] == 0
    }

    /// Pixel size (Å/px) found in the file's metadata, if any.
    pub fn pixel_size(&self) -> Option<f64> {
        self.pixel_size
    }

    /// Frame `index` as f32 (converted from the stored type).
    pub fn frame(&mut self, index: usize) -> Result<Array2<f32>, StoreError> {
        let [n, h, w] = self.shape;
        if index >= n {
            return Err(invalid(&self.path, format!("frame {index} asked of a stack of {n}")));
        }
        let path = self.path.clone();
        match &mut self.source {
            Source::Memory { frames } => Ok(frames.slice(s![index, .., ..]).to_owned()),
            Source::Npy { file, data_start, dtype, big_endian } => {
                let size = dtype.size();
                let mut bytes = vec![0u8; h * w * size];
                file.seek(SeekFrom::Start(*data_start + (index * h * w * size) as u64))
                    .and_then(|_| file.read_exact(&mut bytes))
                    .map_err(|e| invalid(&path, format!("truncated .npy data ({e})")))?;
                let be = *big_endian;
                let values: Vec<f32> = match dtype {
                    NpyType::U8 => bytes.iter().map(|&b| b as f32).collect(),
                    NpyType::U16 => bytes
                        .chunks_exact(2)
                        .map(|c| if be { u16::from_be_bytes([c[0], c[1]]) } else { u16::from_le_bytes([c[0], c[1]]) } as f32)
                        .collect(),
                    NpyType::I16 => bytes
                        .chunks_exact(2)
                        .map(|c| if be { i16::from_be_bytes([c[0], c[1]]) } else { i16::from_le_bytes([c[0], c[1]]) } as f32)
                        .collect(),
                    NpyType::F32 => bytes
                        .chunks_exact(4)
                        .map(|c| {
                            let a = [c[0], c[1], c[2], c[3]];
                            if be { f32::from_be_bytes(a) } else { f32::from_le_bytes(a) }
                        })
                        .collect(),
                    NpyType::F64 => bytes
                        .chunks_exact(8)
                        .map(|c| {
                            let a: [u8; 8] = c.try_into().expect("8 bytes");
                            (if be { f64::from_be_bytes(a) } else { f64::from_le_bytes(a) }) as f32
                        })
                        .collect(),
                };
                Ok(Array2::from_shape_vec((h, w), values).expect("shape checked"))
            }
            Source::Tiff { decoder } => {
                let tiff_err = |e: tiff::TiffError| StoreError::Tiff { path: path.clone(), source: e };
                decoder.seek_to_image(index).map_err(tiff_err)?;
                let dims = decoder.dimensions().map_err(tiff_err)?;
                if dims != (w as u32, h as u32) {
                    return Err(invalid(&path, format!("page {index} is {}×{} px, page 0 is {w}×{h}", dims.0, dims.1)));
                }
                use tiff::decoder::DecodingResult as D;
                let values: Vec<f32> = match decoder.read_image().map_err(tiff_err)? {
                    D::U8(v) => v.into_iter().map(|x| x as f32).collect(),
                    D::U16(v) => v.into_iter().map(|x| x as f32).collect(),
                    D::I16(v) => v.into_iter().map(|x| x as f32).collect(),
                    D::U32(v) => v.into_iter().map(|x| x as f32).collect(),
                    D::I32(v) => v.into_iter().map(|x| x as f32).collect(),
                    D::F32(v) => v,
                    D::F64(v) => v.into_iter().map(|x| x as f32).collect(),
                    _ => return Err(invalid(&path, "unsupported TIFF sample type (use 8/16/32-bit grey)")),
                };
                if values.len() != h * w {
                    return Err(invalid(&path, "TIFF pages must be single-channel (grey) images"));
                }
                Ok(Array2::from_shape_vec((h, w), values).expect("length checked"))
            }
            Source::Hdf5 { dataset, two_d } => {
                let frame: Array2<f32> =
                    if *two_d { dataset.read_2d::<f32>() } else { dataset.read_slice_2d::<f32, _>(s![index, .., ..]) }
                        .map_err(|e| StoreError::hdf5(&path, e))?;
                Ok(frame)
            }
        }
    }

    fn open_npy(path: &Path) -> Result<Self, StoreError> {
        let mut file = BufReader::new(open_file(path)?);
        let mut magic = [0u8; 8];
        file.read_exact(&mut magic).map_err(|_| invalid(path, "not a .npy file (too short)"))?;
        if &magic[..6] != b"\x93NUMPY" {
            return Err(invalid(path, "not a .npy file (bad magic)"));
        }
        let header_len = if magic[6] == 1 {
            let mut b = [0u8; 2];
            file.read_exact(&mut b).map_err(|_| invalid(path, "truncated .npy header"))?;
            u16::from_le_bytes(b) as usize
        } else {
            let mut b = [0u8; 4];
            file.read_exact(&mut b).map_err(|_| invalid(path, "truncated .npy header"))?;
            u32::from_le_bytes(b) as usize
        };
        let prefix = if magic[6] == 1 { 10 } else { 12 };
        let mut header = vec![0u8; header_len];
        file.read_exact(&mut header).map_err(|_| invalid(path, "truncated .npy header"))?;
        let header = String::from_utf8_lossy(&header).into_owned();
        let field = |key: &str| -> Option<String> {
            let at = header.find(&format!("'{key}'"))?;
            let rest = header[at + key.len() + 2..].trim_start().strip_prefix(':')?.trim_start();
            Some(rest.to_string())
        };
        let descr = field("descr").and_then(|r| r.split('\'').nth(1).map(str::to_string)).unwrap_or_default();
        let (big_endian, code) = match descr.chars().next() {
            Some('>') => (true, &descr[1..]),
            Some('<') | Some('|') | Some('=') => (false, &descr[1..]),
            _ => (false, descr.as_str()),
        };
        let dtype = match code {
            "f4" => NpyType::F32,
            "f8" => NpyType::F64,
            "u1" => NpyType::U8,
            "u2" => NpyType::U16,
            "i2" => NpyType::I16,
            other => {
                return Err(invalid(
                    path,
                    format!("unsupported .npy dtype '{other}': use float32/64, uint8/16 or int16"),
                ))
            }
        };
        if field("fortran_order").is_some_and(|v| v.starts_with("True")) {
            return Err(invalid(path, "Fortran-ordered .npy arrays are not supported: save with np.ascontiguousarray"));
        }
        let shape_txt = field("shape")
            .and_then(|r| r.strip_prefix('(').and_then(|r| r.split(')').next()).map(str::to_string))
            .ok_or_else(|| invalid(path, "malformed .npy header (no shape)"))?;
        let dims: Vec<usize> = shape_txt
            .split(',')
            .filter(|t| !t.trim().is_empty())
            .map(|t| t.trim().trim_end_matches('L').parse::<usize>())
            .collect::<Result<_, _>>()
            .map_err(|_| invalid(path, format!("malformed .npy shape ({shape_txt})")))?;
        let shape = stack_shape(path, &dims)?;
        let data_start = (prefix + header_len) as u64;
        let needed = data_start + (shape.iter().product::<usize>() * dtype.size()) as u64;
        let actual = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if actual < needed {
            return Err(invalid(path, format!("truncated .npy file: {actual} bytes, the header promises {needed}")));
        }
        let pixel_size = sidecar_pixel_size(path);
        Ok(Self {
            path: path.to_path_buf(),
            source: Source::Npy { file, data_start, dtype, big_endian },
            shape,
            pixel_size,
        })
    }

    fn open_tiff(path: &Path) -> Result<Self, StoreError> {
        let tiff_err = |e: tiff::TiffError| StoreError::Tiff { path: path.to_path_buf(), source: e };
        let mut decoder = tiff::decoder::Decoder::new(BufReader::new(open_file(path)?))
            .map_err(tiff_err)?
            .with_limits(tiff::decoder::Limits::unlimited());
        let (w, h) = decoder.dimensions().map_err(tiff_err)?;
        let description = decoder.get_tag_ascii_string(tiff::tags::Tag::ImageDescription).ok();
        let x_resolution = decoder.find_tag(tiff::tags::Tag::XResolution).ok().flatten();
        let mut pages = 1;
        while decoder.more_images() {
            decoder.next_image().map_err(tiff_err)?;
            pages += 1;
        }
        let pixel_size = description.as_deref().and_then(|d| description_pixel_size(d, x_resolution));
        Ok(Self {
            path: path.to_path_buf(),
            source: Source::Tiff { decoder: Box::new(decoder) },
            shape: [pages, h as usize, w as usize],
            pixel_size,
        })
    }

    fn open_hdf5(path: &Path, dataset: Option<&str>) -> Result<Self, StoreError> {
        super::check_hdf5_signature(path)?;
        let file = hdf5::File::open(path).map_err(|e| StoreError::hdf5(path, e))?;
        let name = dataset.unwrap_or("frames");
        let ds = file.dataset(name).map_err(|_| {
            invalid(path, format!("no dataset '{name}' (name the frames with --dataset, e.g. --dataset /data/images)"))
        })?;
        let shape = stack_shape(path, &ds.shape())?;
        let attr_f64 = |loc: &hdf5::Location, key: &str| loc.attr(key).ok().and_then(|a| a.read_scalar::<f64>().ok());
        let pixel_size = attr_f64(&ds, "pixel_size_angstrom").or_else(|| attr_f64(&file, "pixel_size_angstrom"));
        let two_d = ds.ndim() == 2;
        Ok(Self { path: path.to_path_buf(), source: Source::Hdf5 { dataset: ds, two_d }, shape, pixel_size })
    }
}

fn stack_shape(path: &Path, dims: &[usize]) -> Result<[usize; 3], StoreError> {
    let shape = match dims {
        [h, w] => [1, *h, *w],
        [n, h, w] => [*n, *h, *w],
        other => {
            return Err(invalid(
                path,
                format!("expected a frame (H, W) or a stack (frames, H, W), got an array of shape {other:?}"),
            ))
        }
    };
    if shape.contains(&0) {
        return Err(invalid(path, format!("empty stack of shape {shape:?}")));
    }
    Ok(shape)
}

/// `NAME.meta.json` beside a `.npy` (as `atomvae simulate` writes it).
fn sidecar_pixel_size(path: &Path) -> Option<f64> {
    let stem = path.file_stem()?.to_string_lossy().into_owned();
    let text = std::fs::read_to_string(path.with_file_name(format!("{stem}.meta.json"))).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["pixel_size"].as_f64().filter(|p| *p > 0.0)
}

/// Pixel size from a TIFF ImageDescription: atomvae's JSON (`pixel_size`, Å) or an
/// ImageJ header (`unit=nm|Å|angstrom` with the XResolution tag in pixels per unit).
fn description_pixel_size(description: &str, x_resolution: Option<tiff::decoder::ifd::Value>) -> Option<f64> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(description) {
        return v["pixel_size"].as_f64().filter(|p| *p > 0.0);
    }
    let unit = description.lines().find_map(|l| l.strip_prefix("unit="))?.trim();
    let per_angstrom = match unit {
        "nm" => 10.0,
        "Å" | "A" | "angstrom" | "\\u00C5" => 1.0,
        "pm" => 0.01,
        _ => return None,
    };
    let pixels_per_unit = match x_resolution? {
        tiff::decoder::ifd::Value::Rational(n, d) if d != 0 => n as f64 / d as f64,
        tiff::decoder::ifd::Value::Float(f) => f as f64,
        _ => return None,
    };
    (pixels_per_unit > 0.0).then(|| per_angstrom / pixels_per_unit)
}
