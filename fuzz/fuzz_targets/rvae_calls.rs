//! The rVAE calls on one small trained model — encode, decode and manifold with
//! random batches, columns, NaNs and buffers — and training with random settings.
#![no_main]

mod common;

use std::sync::OnceLock;

use atomvae::ffi::*;
use libfuzzer_sys::fuzz_target;
use safer_ffi::prelude::repr_c;

const W: usize = 8;

fn model() -> &'static repr_c::Box<AtomvaeRvae> {
    static MODEL: OnceLock<repr_c::Box<AtomvaeRvae>> = OnceLock::new();
    MODEL.get_or_init(|| {
        let x: Vec<f32> = (0..40 * W * W).map(|i| (i % 13) as f32 / 13.0).collect();
        let mut s = atomvae_rvae_default_settings();
        s.epochs = 1;
        let mut out = None;
        let status = unsafe { atomvae_rvae_train(
            x.as_ptr(),
            40,
            W,
            Some(&s),
            AtomvaeDevice::Cpu,
            None,
            std::ptr::null_mut(),
            Some(&mut out),
        ) };
        assert_eq!(status, AtomvaeStatus::Ok);
        out.expect("a model")
    })
}

fuzz_target!(|data: &[u8]| {
    let mut b = common::Bytes(data);
    let rvae = Some(&**model());
    let n = b.size(6).min(6);
    let win = [W, W + 1, 0, 3][b.byte() as usize % 4];
    let windows = b.floats(n * win * win);
    let capacity = b.size(64).min(64);
    let (mut mean, mut logvar) = (vec![0f32; capacity], vec![0f32; capacity]);
    let _ = unsafe { atomvae_rvae_encode(rvae, windows.as_ptr(), n, win, mean.as_mut_ptr(), logvar.as_mut_ptr(), capacity) };
    let columns = b.size(6).min(6);
    let latents = b.floats(n * columns);
    let mut decoded = vec![0f32; b.size(6 * W * W).min(6 * W * W)];
    let _ = unsafe { atomvae_rvae_decode(rvae, latents.as_ptr(), n, columns, b.flag(), decoded.as_mut_ptr(), decoded.len()) };
    let grid = b.size(70);
    let mut out = vec![0f32; b.size(4 * W * W).min(4 * W * W)];
    let _ = unsafe { atomvae_rvae_manifold(rvae, grid, out.as_mut_ptr(), out.len()) };
    if b.byte() == 7 {
        let mut s = atomvae_rvae_default_settings();
        s.epochs = (b.byte() % 2) as u32;
        s.batch = b.byte() as u32;
        s.learning_rate = f64::from(b.float());
        s.holdout_fraction = f64::from(b.float());
        s.latent_dim = (b.byte() % 4) as u32;
        s.kl_warmup_weight = f64::from(b.float());
        let count = windows.len() / (W * W);
        let mut trained = None;
        let _ = unsafe { atomvae_rvae_train(
            windows.as_ptr(),
            count,
            W,
            Some(&s),
            AtomvaeDevice::Cpu,
            None,
            std::ptr::null_mut(),
            Some(&mut trained),
        ) };
        atomvae_rvae_free(trained);
    }
});
