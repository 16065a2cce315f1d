//! Progress reporting and cancellation for long work, shared by the CLI (progress
//! bars, Ctrl-C), the C ABI (callbacks) and the tests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub trait Progress {
    /// A new phase of `total` units begins (frames, epochs, batches…).
    fn start(&mut self, phase: &str, total: u64);
    /// `n` more units are done.
    fn advance(&mut self, n: u64);
    /// True when the caller asked to stop; long work checks it between units.
    fn cancelled(&self) -> bool;
    /// The phase is over.
    fn finish(&mut self) {}
}

/// Reports nothing and never cancels.
pub struct Silent;

impl Progress for Silent {
    fn start(&mut self, _: &str, _: u64) {}
    fn advance(&mut self, _: u64) {}
    fn cancelled(&self) -> bool {
        false
    }
}

/// Passes everything on, naming each phase with a suffix (e.g. "run 2 of 3"), so that
/// a progress bar that starts over says why.
pub struct Labelled<'a> {
    pub inner: &'a mut dyn Progress,
    pub label: String,
}

impl Progress for Labelled<'_> {
    fn start(&mut self, phase: &str, total: u64) {
        self.inner.start(&format!("{phase} ({})", self.label), total);
    }
    fn advance(&mut self, n: u64) {
        self.inner.advance(n);
    }
    fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
    fn finish(&mut self) {
        self.inner.finish();
    }
}

/// Logs each phase and cancels when a shared flag is raised (e.g. by Ctrl-C).
#[derive(Clone, Default)]
pub struct CancelFlag(pub Arc<AtomicBool>);

impl CancelFlag {
    pub fn raise(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_raised(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Progress for CancelFlag {
    fn start(&mut self, phase: &str, total: u64) {
        log::debug!("{phase}: {total} steps");
    }
    fn advance(&mut self, _: u64) {}
    fn cancelled(&self) -> bool {
        self.is_raised()
    }
}
