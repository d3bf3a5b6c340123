//! Compute kernels behind the float layers: the f32 GEMM and the convolution lowering.
//!
//! The only `unsafe` code of the crate lives here, in [`gemm`], which wraps the `gemm` crate's
//! raw-pointer entry point behind a bounds-checked safe function.

pub(crate) mod gemm;
pub(crate) mod im2col;
