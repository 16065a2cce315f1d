//! Random calls into the C ABI — random shapes and lengths (zero, mismatched,
//! too small), NULL pointers, NaN and infinite values, out-of-range settings —
//! must never panic, crash or write past a buffer: every call returns a status,
//! success only when the arguments were valid, and a failure leaves its message.
//! (A stable-Rust smoke of what the cargo-fuzz targets explore at length.)

use atomvae::ffi::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A buffer with guard values after `len` usable elements; `intact` checks them.
struct Guarded {
    data: Vec<f32>,
    len: usize,
}

const GUARD: f32 = -12345.5;

impl Guarded {
    fn new(len: usize) -> Self {
        Self { data: vec![GUARD; len + 16], len }
    }
    fn ptr(&mut self) -> *mut f32 {
        self.data.as_mut_ptr()
    }
    fn intact(&self) -> bool {
        self.data[self.len..].iter().all(|&v| v == GUARD)
    }
}

/// Values in [−1, 2); one in five buffers gets a NaN or an infinity somewhere.
fn random_values(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..n).map(|_| rng.gen_range(-1.0..2.0)).collect();
    if n > 0 && rng.gen_bool(0.2) {
        let at = rng.gen_range(0..n);
        v[at] = if rng.gen_bool(0.5) { f32::NAN } else { f32::INFINITY };
    }
    v
}

fn message_after_failure(status: AtomvaeStatus) {
    if status != AtomvaeStatus::Ok {
        assert!(unsafe { atomvae_last_error(std::ptr::null_mut(), 0) } > 1, "{status:?} without a message");
    }
}

#[test]
fn random_calls_never_crash_and_always_answer() {
    let mut rng = ChaCha8Rng::seed_from_u64(20261124);
    let mut seg = None;
    assert_eq!(atomvae_segmenter_new(None, AtomvaeDevice::Cpu, Some(&mut seg)), AtomvaeStatus::Ok);
    let mut settings = atomvae_rvae_default_settings();
    settings.epochs = 1;
    let x: Vec<f32> = (0..40 * 64).map(|i| ((i % 17) as f32) / 17.0).collect();
    let mut rvae = None;
    let status = unsafe {
        atomvae_rvae_train(
            x.as_ptr(),
            40,
            8,
            Some(&settings),
            AtomvaeDevice::Cpu,
            None,
            std::ptr::null_mut(),
            Some(&mut rvae),
        )
    };
    assert_eq!(status, AtomvaeStatus::Ok);
    let mut successes = [0usize; 3];
    for _ in 0..400 {
        let h = [0, 1, 3, 17, 40][rng.gen_range(0..5)];
        let w = [0, 1, 5, 24, 33][rng.gen_range(0..5)];
        let given = rng.gen_range(0..=h * w + 2);
        let frame = random_values(&mut rng, given.max(h * w));
        let frame_ptr = if rng.gen_bool(0.1) { std::ptr::null() } else { frame.as_ptr() };
        let need = 3 * h * w;
        let mut out = Guarded::new(if rng.gen_bool(0.8) { need } else { need.saturating_sub(1) });
        let px = [0.2, -1.0, f64::NAN, 0.05][rng.gen_range(0..4)];
        let status = unsafe { atomvae_segment_frame(seg.as_deref(), frame_ptr, h, w, px, out.ptr(), out.len) };
        assert!(out.intact(), "segment wrote past its buffer");
        let valid = h * w > 0
            && !frame_ptr.is_null()
            && frame[..h * w].iter().all(|v| v.is_finite())
            && px > 0.0
            && out.len >= need;
        if status == AtomvaeStatus::Ok {
            assert!(valid, "accepted an invalid call: {h}×{w}, px {px}, buffer {}", out.len);
            successes[0] += 1;
        }
        message_after_failure(status);

        // Atom finding on random "probabilities".
        let classes = rng.gen_range(0..4);
        let probs = random_values(&mut rng, classes * h * w);
        let mut atoms = vec![AtomvaeAtom::default(); rng.gen_range(0..4)];
        let mut count = 0usize;
        let status = unsafe {
            atomvae_find_atoms(
                probs.as_ptr(),
                classes,
                h,
                w,
                0.2,
                rng.gen_range(-0.5..1.5),
                rng.gen_range(-1.0..3.0),
                atoms.as_mut_ptr(),
                atoms.len(),
                Some(&mut count),
            )
        };
        if status == AtomvaeStatus::Ok {
            assert!(count <= atoms.len());
            successes[1] += 1;
        }
        message_after_failure(status);

        // Encoding and decoding random batches.
        let n = rng.gen_range(0..5);
        let win = [8, 7, 0][rng.gen_range(0..3)];
        let windows = random_values(&mut rng, n * win * win);
        let cols = atomvae_rvae_latent_columns(rvae.as_deref());
        let cap = if rng.gen_bool(0.8) { n * cols } else { (n * cols).saturating_sub(1) };
        let (mut mean, mut logvar) = (Guarded::new(cap), Guarded::new(cap));
        let status =
            unsafe { atomvae_rvae_encode(rvae.as_deref(), windows.as_ptr(), n, win, mean.ptr(), logvar.ptr(), cap) };
        assert!(mean.intact() && logvar.intact(), "encode wrote past its buffers");
        if status == AtomvaeStatus::Ok {
            assert!(n > 0 && win == 8 && cap >= n * cols && windows.iter().all(|v| v.is_finite()));
            successes[2] += 1;
        }
        message_after_failure(status);
        let columns = [2, 5, 4, 0][rng.gen_range(0..4)];
        let latents = random_values(&mut rng, n * columns);
        let cap = n * 64 - usize::from(rng.gen_bool(0.2) && n > 0);
        let mut decoded = Guarded::new(cap);
        let status = unsafe {
            atomvae_rvae_decode(rvae.as_deref(), latents.as_ptr(), n, columns, rng.gen_bool(0.5), decoded.ptr(), cap)
        };
        assert!(decoded.intact(), "decode wrote past its buffer");
        message_after_failure(status);
        // Windows around random centres.
        let centres = random_values(&mut rng, 2 * n);
        let win = rng.gen_range(0..6);
        let mut cut = Guarded::new(n * win * win);
        let status = unsafe {
            atomvae_cut_windows(frame.as_ptr(), h, w, centres.as_ptr(), n, win, rng.gen_bool(0.5), cut.ptr(), cut.len)
        };
        assert!(cut.intact(), "cut_windows wrote past its buffer");
        message_after_failure(status);
    }
    assert!(successes.iter().all(|&k| k > 5), "valid calls succeed too: {successes:?}");
    // NULL handles everywhere.
    assert_eq!(atomvae_rvae_window(None), 0);
    let mut buf = [0f32; 4];
    assert_eq!(unsafe { atomvae_rvae_manifold(None, 2, buf.as_mut_ptr(), buf.len()) }, AtomvaeStatus::InvalidArgument);
    atomvae_rvae_free(rvae);
    atomvae_segmenter_free(seg);
}
