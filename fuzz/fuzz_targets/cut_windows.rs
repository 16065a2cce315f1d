//! `atomvae_cut_windows` with random images, centres (NaN, far outside), window
//! sizes and output buffers.
#![no_main]

mod common;

use atomvae::ffi::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut b = common::Bytes(data);
    let (h, w) = (b.size(40), b.size(40));
    let image = b.floats(h.saturating_mul(w).min(40 * 40));
    let (h, w) = if h.saturating_mul(w) > image.len() { (0, 0) } else { (h, w) };
    let count = b.size(8).min(8);
    let centres: Vec<f32> = (0..2 * count).map(|_| b.float()).collect();
    let window = b.size(600);
    let capacity = b.size(4096).min(4096);
    let mut out = vec![0f32; capacity];
    let _ = unsafe { atomvae_cut_windows(
        image.as_ptr(),
        h,
        w,
        centres.as_ptr(),
        count,
        window,
        b.flag(),
        out.as_mut_ptr(),
        out.len(),
    ) };
});
