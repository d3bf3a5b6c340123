//! Compute kernels behind the float layers: the f32 GEMM and the convolution lowering.
//!
//! The only `unsafe` code of the crate lives here: [`gemm`] wraps the `gemm` crate's raw-pointer
//! entry point behind a bounds-checked safe function, and the AVX2 variants of the depthwise
//! and few-row kernels are `#[target_feature]` functions behind runtime detection.

pub(crate) mod fast_math;
pub(crate) mod gemm;
pub(crate) mod im2col;
pub(crate) mod packed_gemm;
pub(crate) mod rnn_cell;
pub(crate) mod small_gemm;
