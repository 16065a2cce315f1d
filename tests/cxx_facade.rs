//! The C++ facade from C++: tests/cxx/facade_test.cpp is compiled with the C++
//! compiler against include/atomvae.hpp, the glue cxx generated for src/cxx.rs
//! and cxx's runtime, linked to the cdylib, and run.

use std::path::{Path, PathBuf};
use std::process::Command;

#[test]
fn the_cpp_facade_from_cpp() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bridge = PathBuf::from(env!("ATOMVAE_CXXBRIDGE_DIR"));
    let cxx_header = PathBuf::from(env!("ATOMVAE_CXX_HEADER"));
    let cxx_runtime = cxx_header.parent().and_then(Path::parent).unwrap().join("src/cxx.cc");
    assert!(cxx_runtime.exists(), "{}", cxx_runtime.display());
    // The cdylib built with these tests (the copy beside the CLI can be stale).
    let lib = Path::new(env!("CARGO_BIN_EXE_atomvae")).parent().unwrap().join("deps");
    let work = tempfile::tempdir().unwrap();
    let exe = work.path().join("facade_test");
    let out = Command::new(std::env::var("CXX").unwrap_or_else(|_| "c++".into()))
        .args(["-std=c++17", "-g", "-Wall", "-Wextra", "-Werror"])
        .arg(format!("-I{}", repo.join("include").display()))
        .arg(format!("-I{}", bridge.join("include").display()))
        .arg(repo.join("tests/cxx/facade_test.cpp"))
        .arg(bridge.join("sources/atomvae/src/cxx.rs.cc"))
        .arg(&cxx_runtime)
        .arg(format!("-L{}", lib.display()))
        .arg("-latomvae")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("a C++ compiler (c++)");
    assert!(out.status.success(), "c++ failed: {}", String::from_utf8_lossy(&out.stderr));
    // cargo's LD_LIBRARY_PATH could point at a stale copy; the rpath is right.
    let run = Command::new(&exe).arg(work.path()).env_remove("LD_LIBRARY_PATH").output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success() && stdout.contains("all C++ facade checks passed"), "{stdout}\n{stderr}");
}
