//! Embeds torch's `lib/` folder as an rpath in every binary, test and the cdylib,
//! so that nothing needs LD_LIBRARY_PATH at run time. torch-sys reports the
//! folder it linked against through its `links = "tch"` metadata. Also records the
//! git commit for the provenance of analysis files.
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
    match std::env::var("DEP_TCH_LIBTORCH_LIB") {
        Ok(lib_dir) => {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
            println!("cargo:rustc-env=ATOMVAE_LIBTORCH_LIB={lib_dir}");
        }
        Err(_) => println!("cargo:rustc-env=ATOMVAE_LIBTORCH_LIB="),
    }
}
