//! atomvae — physical order parameters from atom-resolved electron-microscopy movies.
//!
//! Reproduces the workflow of Kalinin, Dyck, Jesse & Ziatdinov, "Exploring order
//! parameters and dynamic processes in disordered systems via variational
//! autoencoders", Science Advances 7, eabd5084 (2021): simulated training data →
//! U-Net segmentation → atom finding → windows around atoms → rotationally invariant
//! VAE → latent maps and dynamics. One module per step; see README.md.

pub mod analysis;
mod cxx;
pub mod device;
pub mod ffi;
pub mod init;
pub mod pipeline;
pub mod progress;
pub mod report;
pub mod rvae;
pub mod segment;
pub mod sim;
pub mod store;
pub mod subimages;

/// Version of this library (from Cargo.toml).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit this library was built from ("unknown" outside a git checkout).
pub const GIT_COMMIT: &str = env!("ATOMVAE_GIT_COMMIT");
