//! The C ABI from C: tests/c_abi/abi_test.c, compiled with `cc` against
//! include/atomvae.h and the cdylib, exercises every function and its error
//! paths, plainly and under AddressSanitizer + LeakSanitizer; and the checked-in
//! header is what the source generates.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where cargo put the cdylib it built with these tests (`deps/` beside the CLI;
/// the copy one level up is only refreshed by a top-level `cargo build`).
fn library_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_atomvae")).parent().unwrap().join("deps");
    assert!(dir.join("libatomvae.so").exists(), "no libatomvae.so in {}", dir.display());
    dir
}

fn build_and_run(extra_flags: &[&str], env: &[(&str, &str)]) {
    let work = tempfile::tempdir().unwrap();
    // The movie the C program takes through the whole pipeline.
    let movie = work.path().join("movie.h5");
    let sim = Command::new(env!("CARGO_BIN_EXE_atomvae"))
        .args(["-q", "simulate", "--frames", "2", "--size", "96", "96", "--pixel-size", "0.2", "--holes", "0"])
        .arg("--out")
        .arg(&movie)
        .output()
        .unwrap();
    assert!(sim.status.success(), "{}", String::from_utf8_lossy(&sim.stderr));
    let exe = work.path().join("abi_test");
    let lib = library_dir();
    let cc = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=c11", "-g", "-Wall", "-Wextra", "-Werror"])
        .args(extra_flags)
        .arg(format!("-I{}", repo().join("include").display()))
        .arg(repo().join("tests/c_abi/abi_test.c"))
        .arg(format!("-L{}", lib.display()))
        .arg("-latomvae")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lm")
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("a C compiler (cc)");
    assert!(cc.status.success(), "cc failed: {}", String::from_utf8_lossy(&cc.stderr));
    // cargo's LD_LIBRARY_PATH would put the possibly stale copy of the library
    // first; the program finds the right one through its rpath.
    let run =
        Command::new(&exe).arg(work.path()).env_remove("LD_LIBRARY_PATH").envs(env.iter().copied()).output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "{out}\n{err}");
    assert!(out.contains("all C ABI checks passed"), "{out}\n{err}");
}

#[test]
fn every_function_and_error_path_from_c() {
    build_and_run(&[], &[]);
}

#[test]
fn from_c_under_address_and_leak_sanitizer() {
    build_and_run(
        &["-fsanitize=address", "-fno-omit-frame-pointer"],
        &[("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=23")],
    );
}

#[cfg(feature = "headers")]
#[test]
fn the_checked_in_header_is_what_the_source_generates() {
    let work = tempfile::tempdir().unwrap();
    let fresh = work.path().join("atomvae.h");
    atomvae::ffi::generate_header(&fresh).unwrap();
    let checked_in = std::fs::read_to_string(repo().join("include/atomvae.h")).unwrap();
    assert!(
        std::fs::read_to_string(&fresh).unwrap() == checked_in,
        "include/atomvae.h is stale: run `cargo run --release --features headers --bin atomvae-header`"
    );
}
