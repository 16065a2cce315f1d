//! Writes the C header of the ABI (src/ffi) to include/atomvae.h, or to the path
//! given as the only argument. Run: `cargo run --release --features headers --bin atomvae-header`.

fn main() -> std::io::Result<()> {
    let path = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("include/atomvae.h"));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    atomvae::ffi::generate_header(&path)?;
    println!("wrote {}", path.display());
    Ok(())
}
