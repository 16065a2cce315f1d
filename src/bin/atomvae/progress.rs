//! The terminal progress bar (indicatif) that the library's long steps report to.

use indicatif::{ProgressBar, ProgressStyle};

use atomvae::progress::{CancelFlag, Progress};

/// A terminal progress bar (hidden when stderr is not a terminal) that also carries
/// the Ctrl-C flag.
pub struct BarProgress {
    bar: Option<ProgressBar>,
    cancel: CancelFlag,
}

impl BarProgress {
    pub fn new(cancel: &CancelFlag) -> Self {
        Self { bar: None, cancel: cancel.clone() }
    }
}

impl Progress for BarProgress {
    fn start(&mut self, phase: &str, total: u64) {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{msg:>16} [{bar:30}] {pos}/{len} {per_sec} eta {eta}")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_message(phase.to_string());
        log::debug!("{phase}: {total} steps");
        self.bar = Some(bar);
    }
    fn advance(&mut self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
    }
    fn cancelled(&self) -> bool {
        self.cancel.is_raised()
    }
    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}
