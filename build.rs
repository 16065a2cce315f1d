//! Embeds torch's `lib/` folder as an rpath in every binary, test and the cdylib,
//! so that nothing needs LD_LIBRARY_PATH at run time (for the Python wheel, feature
//! `wheel`, a relative one into the installed torch package instead). torch-sys reports the
//! folder it linked against through its `links = "tch"` metadata. Also records the
//! git commit for the provenance of analysis files, and builds the C++ side of
//! the cxx facade (src/cxx.rs); the path of cxx's own runtime source is passed on
//! so that the C++ test program can compile it next to the generated glue.
fn main() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ATOMVAE_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let wheel = std::env::var_os("CARGO_FEATURE_WHEEL").is_some();
    // rpaths and --as-needed are ELF linker matters; on Windows the Python package
    // adds torch's lib/ to the DLL search path instead.
    let elf = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os != "windows" && os != "macos");
    match std::env::var("DEP_TCH_LIBTORCH_LIB") {
        Ok(lib_dir) if !elf => println!("cargo:rustc-env=ATOMVAE_LIBTORCH_LIB={lib_dir}"),
        Ok(lib_dir) => {
            if wheel {
                // The wheel's library lands in site-packages/atomvae/_native/ and
                // finds torch's lib/ beside it: no path of this machine is kept.
                println!("cargo:rustc-link-arg-cdylib=-Wl,-rpath,$ORIGIN/../../torch/lib");
            } else {
                println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
            }
            println!("cargo:rustc-env=ATOMVAE_LIBTORCH_LIB={lib_dir}");
            // The linker's --as-needed drops libtorch_cuda (nothing refers to it by
            // symbol), which would leave CUDA silently unavailable on GPU machines.
            if std::path::Path::new(&lib_dir).join("libtorch_cuda.so").exists() {
                println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
                println!("cargo:rustc-link-arg=-ltorch_cuda");
                println!("cargo:rustc-link-arg=-Wl,--as-needed");
            }
        }
        Err(_) => println!("cargo:rustc-env=ATOMVAE_LIBTORCH_LIB="),
    }
    cxx_build::bridge("src/cxx.rs").std("c++17").compile("atomvae-cxx");
    println!("cargo:rerun-if-changed=src/cxx.rs");
    // For the C++ test program: where the generated glue is, and cxx's own
    // header (its runtime source, cxx.cc, sits in ../src beside it).
    println!("cargo:rustc-env=ATOMVAE_CXXBRIDGE_DIR={}/cxxbridge", std::env::var("OUT_DIR").unwrap_or_default());
    println!("cargo:rustc-env=ATOMVAE_CXX_HEADER={}", std::env::var("DEP_CXXBRIDGE1_HEADER").unwrap_or_default());
}
