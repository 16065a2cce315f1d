//! `ffi` — the product's C ABI (safer-ffi; header generated into
//! include/atomvae.h). Every exported function catches panics and returns an
//! `AtomvaeStatus`; the message of the last failure on the calling thread is
//! copied out by `atomvae_last_error`. Handles are opaque, created by
//! `*_new`/`*_load`/`*_train` and released by the matching `*_free` (NULL is
//! accepted; a handle must not be used after it is freed); each guards its model
//! with a mutex, so a handle may be used from
//! any thread (calls on one handle are serialised). Output buffers are always
//! caller-allocated: every output has a documented size (or a size query with
//! capacity 0) and a call with too small a buffer returns
//! `ATOMVAE_STATUS_BUFFER_TOO_SMALL` and writes nothing. Arrays are f32, row-major,
//! (y, x) as everywhere in atomvae. Long calls take a progress callback whose
//! `false` return cancels; a cancelled call returns `Cancelled` and
//! produces no output.
//! No science here: each function checks its arguments and calls `segment`,
//! `rvae` or `pipeline`.

// C entry points that take raw buffers are `unsafe fn`: that a non-NULL pointer
// holds the documented number of elements is the caller's contract (stated in the
// header), which Rust cannot check. Their one safety contract is the header's
// "Rules of this ABI" (buffers hold their documented sizes, handles are live),
// written once there rather than in every function's docs.
#![allow(clippy::missing_safety_doc)]

mod analysis;
mod handles;
mod json;

use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicI32, Ordering};

use safer_ffi::prelude::*;

pub use analysis::*;
pub use handles::*;
pub use json::*;

/// Version of this ABI; grows when a function or type changes incompatibly.
pub const ABI_VERSION: u32 = 1;

/// Outcome of every call.
#[derive_ReprC]
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtomvaeStatus {
    /// Success.
    Ok = 0,
    /// A null pointer, an impossible shape or length, a NaN, an unusable setting.
    InvalidArgument = 1,
    /// A model file or buffer that is not a usable model of the expected kind.
    BadModel = 2,
    /// Reading or writing a file failed.
    Io = 3,
    /// The progress callback asked to stop; nothing was produced.
    Cancelled = 4,
    /// An output buffer is smaller than the result; nothing was written.
    BufferTooSmall = 5,
    /// The requested device is not available (e.g. CUDA without a GPU).
    DeviceUnavailable = 6,
    /// A bug inside atomvae (a caught panic); the message says where.
    Internal = 7,
}

/// Where models run.
#[derive_ReprC]
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtomvaeDevice {
    /// CUDA when libtorch sees a GPU, else the CPU.
    Auto = 0,
    /// The CPU, always available.
    Cpu = 1,
    /// The first CUDA device; `DeviceUnavailable` without one.
    Cuda = 2,
}

impl AtomvaeDevice {
    fn resolve(self) -> Result<tch::Device, FfiError> {
        let choice = match self {
            Self::Auto => crate::device::DeviceChoice::Auto,
            Self::Cpu => crate::device::DeviceChoice::Cpu,
            Self::Cuda => crate::device::DeviceChoice::Cuda,
        };
        choice.resolve().map_err(|e| FfiError::new(AtomvaeStatus::DeviceUnavailable, e.to_string()))
    }
}

/// A failure on its way to the caller: a status and a message.
#[derive(Debug)]
pub(crate) struct FfiError {
    status: AtomvaeStatus,
    message: String,
}

impl FfiError {
    pub(crate) fn new(status: AtomvaeStatus, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(AtomvaeStatus::InvalidArgument, message)
    }
}

impl From<crate::segment::SegmentError> for FfiError {
    fn from(e: crate::segment::SegmentError) -> Self {
        use crate::segment::SegmentError as E;
        let status = match &e {
            E::Cancelled => AtomvaeStatus::Cancelled,
            E::BadModel(_) => AtomvaeStatus::BadModel,
            _ => AtomvaeStatus::InvalidArgument,
        };
        Self::new(status, e.to_string())
    }
}

impl From<crate::rvae::RvaeError> for FfiError {
    fn from(e: crate::rvae::RvaeError) -> Self {
        use crate::rvae::RvaeError as E;
        let status = match &e {
            E::Cancelled => AtomvaeStatus::Cancelled,
            E::BadModel(_) => AtomvaeStatus::BadModel,
            E::BadInput(_) => AtomvaeStatus::InvalidArgument,
        };
        Self::new(status, e.to_string())
    }
}

impl From<crate::store::StoreError> for FfiError {
    fn from(e: crate::store::StoreError) -> Self {
        let status = match &e {
            crate::store::StoreError::Cancelled => AtomvaeStatus::Cancelled,
            _ => AtomvaeStatus::Io,
        };
        Self::new(status, e.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// The thread count asked for by `atomvae_set_threads` (0: libtorch's default).
static THREADS: AtomicI32 = AtomicI32::new(0);

/// Runs an exported function's body: its error or panic becomes a status and
/// the thread's last-error message. libtorch's (OpenMP's) thread count is a
/// per-thread setting, so the process-wide count of `atomvae_set_threads` is
/// applied on whichever thread calls.
pub(crate) fn guarded(body: impl FnOnce() -> Result<(), FfiError>) -> AtomvaeStatus {
    let threads = THREADS.load(Ordering::Relaxed);
    if threads > 0 && tch::get_num_threads() != threads {
        tch::set_num_threads(threads);
    }
    let outcome = catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        Err(FfiError::new(AtomvaeStatus::Internal, format!("internal error: {what}")))
    });
    match outcome {
        Ok(()) => {
            LAST_ERROR.with(|m| m.borrow_mut().clear());
            AtomvaeStatus::Ok
        }
        Err(e) => {
            LAST_ERROR.with(|m| *m.borrow_mut() = e.message);
            e.status
        }
    }
}

/// The ABI version this library implements: 1 for this header. A program
/// checks it at start-up against the version it was written for.
#[ffi_export]
pub fn atomvae_abi_version() -> u32 {
    ABI_VERSION
}

/// The library version, e.g. "0.1.0" (static; do not free).
#[ffi_export]
pub fn atomvae_version() -> char_p::Ref<'static> {
    static VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    char_p::Ref::try_from(VERSION).expect("a NUL-terminated literal")
}

/// Copies the message of the last failed call on this thread (NUL-terminated,
/// truncated to `capacity`) into `buffer` and returns its full length including
/// the NUL. `buffer` may be NULL with `capacity` 0 to ask for the length. An
/// empty message (length 1) means the last call succeeded.
#[ffi_export]
pub unsafe fn atomvae_last_error(buffer: *mut u8, capacity: usize) -> usize {
    LAST_ERROR.with(|m| {
        let message = m.borrow();
        let bytes = message.as_bytes();
        if !buffer.is_null() && capacity > 0 {
            let n = bytes.len().min(capacity - 1);
            // SAFETY: the caller promises `buffer` holds `capacity` bytes; we
            // write n + 1 ≤ capacity of them.
            unsafe {
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), buffer, n);
                *buffer.add(n) = 0;
            }
        }
        bytes.len() + 1
    })
}

/// Threads libtorch uses for every later atomvae call of this process, on any
/// calling thread (n ≥ 1).
#[ffi_export]
pub fn atomvae_set_threads(n: i32) -> AtomvaeStatus {
    guarded(|| {
        if n < 1 {
            return Err(FfiError::invalid(format!("thread count must be at least 1, got {n}")));
        }
        THREADS.store(n, Ordering::Relaxed);
        tch::set_num_threads(n);
        Ok(())
    })
}

/// True when libtorch sees a CUDA device.
#[ffi_export]
pub fn atomvae_cuda_available() -> bool {
    catch_unwind(tch::Cuda::is_available).unwrap_or(false)
}

/// Generates the C header (behind the `headers` feature).
#[cfg(feature = "headers")]
pub fn generate_header(path: &std::path::Path) -> std::io::Result<()> {
    safer_ffi::headers::builder()
        .with_guard("ATOMVAE_H")
        .with_banner(concat!(
            "/* atomvae C ABI — generated from src/ffi by safer-ffi; do not edit.\n",
            " * Regenerate: cargo run --release --features headers --bin atomvae-header\n",
            " *\n",
            " * Rules of this ABI (version 1):\n",
            " * - Status: every call that can fail returns AtomvaeStatus_t; on failure\n",
            " *   atomvae_last_error() copies the message of the calling thread's last call.\n",
            " * - Threads: any function may be called from any thread. A handle serialises\n",
            " *   the calls made on it (one at a time); separate handles run in parallel.\n",
            " * - Buffers: all outputs are allocated by the caller. Each function documents\n",
            " *   the size it needs; a smaller capacity returns ATOMVAE_STATUS_BUFFER_TOO_SMALL\n",
            " *   and writes nothing (counts and lengths are still set, so a first call with\n",
            " *   capacity 0 asks for the size; a size of 0 returns OK and a NULL buffer is\n",
            " *   accepted). Capacities count elements of the buffer's type (bytes for text).\n",
            " * - No overlap: output buffers must not overlap each other or any input;\n",
            " *   overlapping buffers are refused with INVALID_ARGUMENT.\n",
            " * - Arrays are row-major; float arrays f32 unless stated; positions (y, x) in\n",
            " *   pixels with (0, 0) the centre of the top-left pixel; angles in radians.\n",
            " * - Handles: created by *_new / *_load / *_train / *_open, released by the\n",
            " *   matching *_free (NULL ignored); a freed handle must not be used again.\n",
            " *   Inputs are only read during the call; nothing keeps a caller's pointer.\n",
            " * - Progress callbacks run on the calling thread; returning false cancels:\n",
            " *   the call returns ATOMVAE_STATUS_CANCELLED and produces no output.\n",
            " * - No call ever unwinds a panic into the caller (it becomes INTERNAL).\n",
            " */\n"
        ))
        .to_file(path)?
        .generate()
}
