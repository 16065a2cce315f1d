//! `atomvae_segment_frame` / `atomvae_segment_stack` with random shapes, pixel
//! sizes, buffers (short, NULL) and pixel values (NaN, inf).
#![no_main]

mod common;

use atomvae::ffi::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut b = common::Bytes(data);
    let mut seg = None;
    let _ = atomvae_segmenter_new(None, AtomvaeDevice::Cpu, Some(&mut seg));
    let (h, w) = (b.size(48), b.size(48));
    let pixels = b.floats(h.saturating_mul(w).min(48 * 48));
    let px = f64::from(b.float());
    let capacity = b.size(3 * 48 * 48);
    let mut out = vec![0f32; capacity.min(3 * 48 * 48)];
    let frame = if b.flag() { std::ptr::null() } else { pixels.as_ptr() };
    // Lengths beyond what the buffers hold are the caller's contract; keep them honest.
    let h = if h.saturating_mul(w) > pixels.len() { 0 } else { h };
    let _ = unsafe { atomvae_segment_frame(seg.as_deref(), frame, h, w, px, out.as_mut_ptr(), out.len()) };
    let count = if b.flag() { 1 } else { 0 };
    let _ = unsafe { atomvae_segment_stack(
        seg.as_deref(),
        frame,
        count,
        h,
        w,
        px,
        out.as_mut_ptr(),
        out.len(),
        None,
        std::ptr::null_mut(),
    ) };
    atomvae_segmenter_free(seg);
});
