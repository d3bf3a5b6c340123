//! Portable Rust kernels: the reference that defines the numerics, used on every target and as
//! the ground truth for the NEON paths.

pub(crate) mod dwconv;
pub(crate) mod elementwise;
pub(crate) mod gemm;
pub(crate) mod pool;
