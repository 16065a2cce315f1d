//! ABI handles from several threads: two threads, each with its own handles,
//! segment and train at once and get exactly what one thread gets doing the same
//! work one after the other.

use atomvae::ffi::*;

fn windows(n: usize, w: usize, phase: f64) -> Vec<f32> {
    let c = (w as f64 - 1.0) / 2.0;
    (0..n * w * w)
        .map(|i| {
            let (k, y, x) = (i / (w * w), (i / w) % w, i % w);
            let a = phase + 0.37 * k as f64;
            let (by, bx) = (c + 3.0 * a.sin(), c + 3.0 * a.cos());
            (-((y as f64 - by).powi(2) + (x as f64 - bx).powi(2)) / 3.0).exp() as f32
        })
        .collect()
}

/// Trains an rVAE through the ABI and returns its encodings of the windows, and
/// the probabilities of a frame segmented through the ABI.
fn work(phase: f64) -> (Vec<f32>, Vec<f32>) {
    let (n, w) = (80, 12);
    let x = windows(n, w, phase);
    let mut settings = atomvae_rvae_default_settings();
    settings.epochs = 2;
    settings.batch = 20;
    settings.seed = 3;
    let mut rvae = None;
    let status = unsafe {
        atomvae_rvae_train(
            x.as_ptr(),
            n,
            w,
            Some(&settings),
            AtomvaeDevice::Cpu,
            None,
            std::ptr::null_mut(),
            Some(&mut rvae),
        )
    };
    assert_eq!(status, AtomvaeStatus::Ok);
    let cols = atomvae_rvae_latent_columns(rvae.as_deref());
    let (mut mean, mut logvar) = (vec![0f32; n * cols], vec![0f32; n * cols]);
    let status = unsafe {
        atomvae_rvae_encode(rvae.as_deref(), x.as_ptr(), n, w, mean.as_mut_ptr(), logvar.as_mut_ptr(), mean.len())
    };
    assert_eq!(status, AtomvaeStatus::Ok);
    atomvae_rvae_free(rvae);

    let mut seg = None;
    assert_eq!(atomvae_segmenter_new(None, AtomvaeDevice::Cpu, Some(&mut seg)), AtomvaeStatus::Ok);
    let (h, wd) = (48, 56);
    let frame: Vec<f32> = (0..h * wd).map(|i| ((i as f64 * 0.3 + phase).sin() * 0.5 + 0.5) as f32).collect();
    let mut probs = vec![0f32; 3 * h * wd];
    let status =
        unsafe { atomvae_segment_frame(seg.as_deref(), frame.as_ptr(), h, wd, 0.2, probs.as_mut_ptr(), probs.len()) };
    assert_eq!(status, AtomvaeStatus::Ok);
    atomvae_segmenter_free(seg);
    (mean, probs)
}

#[test]
fn two_threads_with_their_own_handles_match_one_thread() {
    let sequential = [work(0.0), work(1.0)];
    let parallel: Vec<_> = [0.0, 1.0]
        .map(|phase| std::thread::spawn(move || work(phase)))
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert_eq!(parallel[0], sequential[0]);
    assert_eq!(parallel[1], sequential[1]);
}

#[test]
fn one_handle_is_usable_from_another_thread() {
    let mut seg = None;
    assert_eq!(atomvae_segmenter_new(None, AtomvaeDevice::Cpu, Some(&mut seg)), AtomvaeStatus::Ok);
    let seg = std::sync::Arc::new(seg.unwrap());
    let other = std::sync::Arc::clone(&seg);
    let classes = std::thread::spawn(move || atomvae_segmenter_classes(Some(&other))).join().unwrap();
    assert_eq!(classes, 3);
    // The last error is per thread: a failure here is not seen there.
    assert_eq!(atomvae_set_threads(0), AtomvaeStatus::InvalidArgument);
    let elsewhere = std::thread::spawn(|| unsafe { atomvae_last_error(std::ptr::null_mut(), 0) }).join().unwrap();
    assert_eq!(elsewhere, 1, "a fresh thread has no error message");
    assert!(unsafe { atomvae_last_error(std::ptr::null_mut(), 0) } > 1);
}
