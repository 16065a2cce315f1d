//! Helpers shared by the integration tests that drive the `atomvae` binary.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub fn atomvae(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atomvae")).args(args).output().expect("run atomvae")
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Starts `atomvae args…`, waits until its temporary output in `dir` exceeds
/// `min_bytes`, sends `signal` (e.g. "-KILL", "-INT") and waits for it to exit.
/// Returns the names left in `dir`.
pub fn interrupt(args: &[&str], dir: &Path, min_bytes: u64, signal: &str) -> Vec<String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_atomvae")).args(args).spawn().unwrap();
    let started = Instant::now();
    loop {
        // Bytes being written: temporary files, and new part files of an analysis file.
        let size_of = |d: &Path, all: bool| -> u64 {
            std::fs::read_dir(d)
                .map(|entries| {
                    entries
                        .filter_map(|e| e.ok())
                        .filter(|e| all || e.file_name().to_string_lossy().contains(".tmp-"))
                        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
                        .sum()
                })
                .unwrap_or(0)
        };
        let parts: u64 = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".parts"))
            .map(|e| size_of(&e.path(), true))
            .sum();
        let temp_size = size_of(dir, false) + parts;
        if temp_size > min_bytes {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the writer finished ({status}) before it could be interrupted");
        }
        assert!(started.elapsed() < Duration::from_secs(120), "writer never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    Command::new("kill").args([signal, &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}
