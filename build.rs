//! Embeds torch's `lib/` folder as an rpath in every binary, test and the cdylib,
//! so that nothing needs LD_LIBRARY_PATH at run time. torch-sys reports the
//! folder it linked against through its `links = "tch"` metadata.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    match std::env::var("DEP_TCH_LIBTORCH_LIB") {
        Ok(lib_dir) => {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
            println!("cargo:rustc-env=ATOMVAE_LIBTORCH_LIB={lib_dir}");
        }
        Err(_) => println!("cargo:rustc-env=ATOMVAE_LIBTORCH_LIB="),
    }
}
