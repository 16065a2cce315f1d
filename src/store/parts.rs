//! Part files: the large, step-owned arrays of an analysis file (`/frames`,
//! `/probabilities`, `/subimages`) live in files of their own in the folder
//! `<file name>.parts/` beside it, reached from the analysis file by HDF5 external
//! links, so that h5py (or any HDF5 reader) still sees one tree from one open call.
//!
//! Why: every update of the analysis file is made on a copy that is renamed into
//! place (crash safety, [`super::AtomicFile`]). With the big arrays in the file, a
//! re-run of a cheap step such as `atoms` copied gigabytes and HDF5 never gave the
//! space of replaced arrays back. Now the copy holds only the small results, a step
//! writes its big array once into a new part file, and after the rename the part
//! files no version of the file refers to any more are deleted — so a re-run costs
//! what the step computes and the files' total size stays bounded.
//!
//! A part file is never changed after its step committed: a new result is always a
//! new part file (`<object>-<unique>.h5`), so a crash at any moment leaves the old
//! analysis file with all its old parts, plus at most an orphan part file that the
//! next update removes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{read_str_attr, write_str_attr, StoreError};

/// The root attribute of the analysis file that maps each object held in a part
/// file to that file's path relative to the analysis file's folder (JSON object).
pub const PARTS_ATTRIBUTE: &str = "parts";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Name of the folder that holds the part files of the analysis file at `main`.
pub fn parts_folder_name(main: &Path) -> String {
    let name = main.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!("{name}.parts")
}

fn folder_of(main: &Path) -> PathBuf {
    match main.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The objects held in part files and where (relative to the analysis file's folder).
pub fn read_parts_map(file: &hdf5::File) -> BTreeMap<String, String> {
    read_str_attr(file, PARTS_ATTRIBUTE).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default()
}

/// Keeps only the entries whose link still exists in `file` and stores the map.
pub(crate) fn store_parts_map(file: &hdf5::File, mut map: BTreeMap<String, String>) -> hdf5::Result<()> {
    map.retain(|object, _| file.link_exists(object));
    write_str_attr(file, PARTS_ATTRIBUTE, &serde_json::to_string(&map).expect("map of strings"))
}

/// The part files one update (or the creation of a file) makes. Dropped without
/// [`NewParts::keep`], it deletes them (the step failed or was cancelled).
#[derive(Debug)]
pub struct NewParts {
    /// The analysis file's real path (not the temporary copy being written).
    main: PathBuf,
    made: BTreeMap<String, PathBuf>,
    kept: bool,
}

impl NewParts {
    pub fn new(main: &Path) -> Self {
        Self { main: main.to_path_buf(), made: BTreeMap::new(), kept: false }
    }

    /// Makes a new part file for `object` (e.g. "probabilities") and points the link
    /// `object` of `file` (the copy being written) at `/object` in it, replacing
    /// what the link named before. The caller writes `/object` into the returned file.
    pub fn create(&mut self, file: &hdf5::File, object: &str) -> Result<hdf5::File, StoreError> {
        let folder_name = parts_folder_name(&self.main);
        let folder = folder_of(&self.main).join(&folder_name);
        std::fs::create_dir_all(&folder).map_err(|e| StoreError::io(&folder, e))?;
        let unique = format!(
            "{object}-{:x}-{}-{}.h5",
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = folder.join(&unique);
        let h5 = |e| StoreError::hdf5(&self.main, e);
        let part = hdf5::File::create_excl(&path).map_err(h5)?;
        self.made.insert(object.to_string(), path);
        if file.link_exists(object) {
            file.unlink(object).map_err(h5)?;
        }
        let relative = format!("{folder_name}/{unique}");
        file.link_external(&relative, &format!("/{object}"), object).map_err(h5)?;
        let mut map = read_parts_map(file);
        map.insert(object.to_string(), relative);
        store_parts_map(file, map).map_err(h5)?;
        Ok(part)
    }

    /// Flushes every new part file to disk (before the analysis file that links to
    /// them is renamed into place).
    fn sync(&self) -> Result<(), StoreError> {
        for path in self.made.values() {
            let f = std::fs::File::open(path).map_err(|e| StoreError::io(path, e))?;
            f.sync_all().map_err(|e| StoreError::io(path, e))?;
        }
        Ok(())
    }

    /// Makes the new parts durable, moves the analysis file that links to them
    /// (`atomic`, whose parts map is `linked`) into place, then deletes the part
    /// files it no longer links to.
    pub fn publish(self, atomic: super::AtomicFile, linked: &BTreeMap<String, String>) -> Result<(), StoreError> {
        self.sync()?;
        atomic.commit()?;
        self.keep(linked);
        Ok(())
    }

    /// The analysis file that links to the new parts is in place: keep them, and
    /// delete the part files of this analysis file that it no longer links to
    /// (replaced results, results of removed later steps, orphans of killed writers).
    fn keep(mut self, linked: &BTreeMap<String, String>) {
        self.kept = true;
        remove_unlinked_parts(&self.main, linked);
    }
}

impl Drop for NewParts {
    fn drop(&mut self) {
        if !self.kept {
            for path in self.made.values() {
                let _ = std::fs::remove_file(path);
            }
            // The folder too when nothing else is in it (the file's first parts).
            let _ = std::fs::remove_dir(folder_of(&self.main).join(parts_folder_name(&self.main)));
        }
    }
}

/// Deletes the files in this analysis file's own parts folder that `linked` does
/// not name. Only the folder named after the file is touched, never another one
/// (a copy of the file under another name, in the same folder, may still link to
/// the original's parts).
pub fn remove_unlinked_parts(main: &Path, linked: &BTreeMap<String, String>) {
    let folder_name = parts_folder_name(main);
    let folder = folder_of(main).join(&folder_name);
    let Ok(entries) = std::fs::read_dir(&folder) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let relative = format!("{folder_name}/{name}");
        if !linked.values().any(|v| *v == relative) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    // An empty folder goes too (a file whose parts were all removed).
    let _ = std::fs::remove_dir(&folder);
}

/// Checks that every part file the analysis file links to exists, with an error
/// that says how analysis files are moved.
pub fn check_parts(main: &Path, map: &BTreeMap<String, String>) -> Result<(), StoreError> {
    for (object, relative) in map {
        let path = folder_of(main).join(relative);
        if !path.is_file() {
            return Err(StoreError::Invalid {
                path: main.to_path_buf(),
                reason: format!(
                    "/{object} lives in the part file {relative}, which is missing (an analysis file is moved or \
                     copied together with its folder {}; atomvae's copy does both)",
                    relative.split('/').next().unwrap_or(relative)
                ),
            });
        }
    }
    Ok(())
}

/// Copies the analysis file at `from` to `to` with its part files (into `to`'s own
/// parts folder), atomically: `to` appears complete or not at all.
pub fn copy_analysis(from: &Path, to: &Path) -> Result<(), StoreError> {
    let atomic = super::AtomicFile::new(to)?;
    std::fs::copy(from, atomic.temp_path()).map_err(|e| StoreError::io(from, e))?;
    let mut parts = NewParts::new(to);
    let linked = {
        let h5 = |e| StoreError::hdf5(to, e);
        let file = hdf5::File::open_rw(atomic.temp_path()).map_err(h5)?;
        let old = read_parts_map(&file);
        check_parts(from, &old)?;
        for (object, relative) in &old {
            let source = folder_of(from).join(relative);
            // A new, empty part file and its link; then the old part's bytes over it.
            drop(parts.create(&file, object)?);
            let target = parts.made[object].clone();
            std::fs::copy(&source, &target).map_err(|e| StoreError::io(&source, e))?;
        }
        let map = read_parts_map(&file);
        file.close().map_err(h5)?;
        map
    };
    parts.publish(atomic, &linked)
}

/// Moves the analysis file at `from` to `to` with its part files (into `to`'s own
/// parts folder), replacing `to` atomically: until the new `to` is in place the old
/// one stays whole with all its parts; afterwards the old `to`'s parts are deleted.
/// `from` is gone when this returns `Ok` (e.g. an attempt written under a temporary
/// name, published when complete).
pub fn rename_analysis(from: &Path, to: &Path) -> Result<(), StoreError> {
    let atomic = super::AtomicFile::new(to)?;
    std::fs::copy(from, atomic.temp_path()).map_err(|e| StoreError::io(from, e))?;
    let folder_name = parts_folder_name(to);
    let folder = folder_of(to).join(&folder_name);
    let mut moved = Vec::new();
    let linked = {
        let h5 = |e| StoreError::hdf5(to, e);
        let file = hdf5::File::open_rw(atomic.temp_path()).map_err(h5)?;
        let old = read_parts_map(&file);
        check_parts(from, &old)?;
        let mut map = BTreeMap::new();
        for (object, relative) in &old {
            let source = folder_of(from).join(relative);
            let name = relative.rsplit('/').next().unwrap_or(relative);
            let target = folder.join(name);
            std::fs::create_dir_all(&folder).map_err(|e| StoreError::io(&folder, e))?;
            if source != target {
                // Part names are unique, so nothing of the old `to` is overwritten.
                std::fs::rename(&source, &target).map_err(|e| StoreError::io(&source, e))?;
                moved.push((source, target));
            }
            file.unlink(object).map_err(h5)?;
            let new_relative = format!("{folder_name}/{name}");
            file.link_external(&new_relative, &format!("/{object}"), object).map_err(h5)?;
            map.insert(object.clone(), new_relative);
        }
        store_parts_map(&file, map.clone()).map_err(h5)?;
        file.close().map_err(h5)?;
        map
    };
    if let Err(e) = atomic.commit() {
        // `from` keeps its parts.
        for (source, target) in moved.iter().rev() {
            let _ = std::fs::rename(target, source);
        }
        return Err(e);
    }
    remove_unlinked_parts(to, &linked);
    let _ = std::fs::remove_file(from);
    let _ = std::fs::remove_dir(folder_of(from).join(parts_folder_name(from)));
    Ok(())
}

/// Copies every attribute of `from` onto `to` (numbers and numeric arrays of any
/// width, and strings, as atomvae writes them).
fn copy_attributes(from: &hdf5::Location, to: &hdf5::Location) -> hdf5::Result<()> {
    use hdf5::types::{FloatSize, IntSize, TypeDescriptor as T, VarLenAscii, VarLenUnicode};
    for name in from.attr_names()? {
        let attr = from.attr(&name)?;
        let shape = attr.shape();
        macro_rules! numbers {
            ($ty:ty) => {{
                let values: Vec<$ty> = attr.read_raw()?;
                let new = to.new_attr::<$ty>().shape(shape.clone()).create(name.as_str())?;
                new.write_raw(&values)?;
            }};
        }
        match attr.dtype()?.to_descriptor()? {
            T::VarLenUnicode => {
                let v: VarLenUnicode = attr.read_scalar()?;
                to.new_attr::<VarLenUnicode>().create(name.as_str())?.write_scalar(&v)?;
            }
            T::VarLenAscii => {
                let v: VarLenAscii = attr.read_scalar()?;
                to.new_attr::<VarLenAscii>().create(name.as_str())?.write_scalar(&v)?;
            }
            T::Float(FloatSize::U4) => numbers!(f32),
            T::Float(_) => numbers!(f64),
            T::Unsigned(IntSize::U1) | T::Boolean => numbers!(u8),
            T::Unsigned(IntSize::U2) => numbers!(u16),
            T::Unsigned(IntSize::U4) => numbers!(u32),
            T::Unsigned(IntSize::U8) => numbers!(u64),
            T::Integer(IntSize::U1) => numbers!(i8),
            T::Integer(IntSize::U2) => numbers!(i16),
            T::Integer(IntSize::U4) => numbers!(i32),
            T::Integer(IntSize::U8) => numbers!(i64),
            other => return Err(format!("cannot copy the attribute {name} of type {other}").into()),
        }
    }
    Ok(())
}

fn copy_members(
    from: &hdf5::Group,
    to: &hdf5::Group,
    prefix: &str,
    skip: &[String],
    parts: &BTreeMap<String, String>,
) -> hdf5::Result<()> {
    for name in from.member_names()? {
        let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}/{name}") };
        if skip.contains(&path) {
            continue;
        }
        if let Some(relative) = parts.get(&path) {
            // A large array: the link is copied, never the data.
            to.link_external(relative, &format!("/{path}"), &name)?;
        } else if skip.iter().any(|s| s.starts_with(&format!("{path}/"))) {
            let (inner_from, inner_to) = (from.group(&name)?, to.create_group(&name)?);
            copy_attributes(&inner_from, &inner_to)?;
            copy_members(&inner_from, &inner_to, &path, skip, parts)?;
        } else {
            copy_object(from, to, &name).map_err(|_| hdf5::Error::from(format!("cannot copy /{path}")))?;
        }
    }
    Ok(())
}

/// Copies the object `name` of `from` (with everything under it) into `to`.
pub(crate) fn copy_object(from: &hdf5::Group, to: &hdf5::Group, name: &str) -> hdf5::Result<()> {
    let c_name = std::ffi::CString::new(name).map_err(|e| hdf5::Error::from(e.to_string()))?;
    let status = hdf5::sync::sync(|| unsafe {
        hdf5_sys::h5o::H5Ocopy(
            from.id(),
            c_name.as_ptr(),
            to.id(),
            c_name.as_ptr(),
            hdf5_sys::h5p::H5P_DEFAULT,
            hdf5_sys::h5p::H5P_DEFAULT,
        )
    });
    if status < 0 {
        return Err(format!("cannot copy {name}").into());
    }
    Ok(())
}

/// Writes a new file `to` holding what the analysis file `from` holds except the
/// objects at `skip` (paths without the leading "/"), object by object: the copy
/// has no space left over from replaced results (HDF5 does not give such space
/// back within a file), and links to part files stay links.
pub(crate) fn compact_copy(from: &Path, to: &Path, skip: &[String]) -> Result<(), StoreError> {
    let h5 = |e| StoreError::hdf5(from, e);
    let source = hdf5::File::open(from).map_err(h5)?;
    let target = hdf5::File::create(to).map_err(h5)?;
    copy_attributes(&source, &target).map_err(h5)?;
    copy_members(&source, &target, "", skip, &read_parts_map(&source)).map_err(h5)?;
    target.close().map_err(h5)?;
    Ok(())
}
