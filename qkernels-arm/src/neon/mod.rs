//! AArch64 NEON kernels (`std::arch::aarch64`). Each body is a `#[target_feature]` `unsafe fn`
//! behind a safe wrapper that checks every bound the body relies on; results equal the
//! portable reference bit for bit.

pub(crate) mod dwconv;
pub(crate) mod gemm;
pub(crate) mod gemm_dot;
pub(crate) mod lut;
pub(crate) mod pool;
pub(crate) mod requant;
pub(crate) mod vadd;
