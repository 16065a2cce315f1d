//! `atomvae_find_atoms` on random probability maps, shapes, thresholds,
//! borders and buffers (including the size query with capacity 0).
#![no_main]

mod common;

use atomvae::ffi::*;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut b = common::Bytes(data);
    let (classes, h, w) = (b.size(4), b.size(40), b.size(40));
    let n = classes.saturating_mul(h).saturating_mul(w);
    let probs = b.floats(n.min(4 * 40 * 40));
    let (classes, h, w) = if n > probs.len() { (0, 0, 0) } else { (classes, h, w) };
    let mut atoms = vec![AtomvaeAtom::default(); b.size(64).min(64)];
    let mut count = 0usize;
    let count_ptr = if b.flag() { None } else { Some(&mut count) };
    let _ = unsafe { atomvae_find_atoms(
        probs.as_ptr(),
        classes,
        h,
        w,
        f64::from(b.float()),
        f64::from(b.float()),
        f64::from(b.float()),
        atoms.as_mut_ptr(),
        atoms.len(),
        count_ptr,
    ) };
});
