//! Elementwise operators: `add`, `add_relu`, `mul`, `mul_relu`, `add_scalar`,
//! `mul_scalar`, `cat` and eval-mode `batch_norm2d`.
//!
//! Numerics follow the fbgemm build of PyTorch 2.11 (`qadd_kernel`,
//! `qmul_kernel`, `_add_scalar_out`, `_mul_scalar_out`, `quantized_cat_impl`,
//! `q_batch_norm_kernel`). Where PyTorch's vectorised lambda and its scalar
//! tail differ (fused vs plain dequantize), the vectorised one is used for
//! every element: that is what PyTorch computes for all but the last
//! `len % (2 * vector width)` elements.

mod batch_norm;
mod binary;
mod cat;
pub(crate) mod kernels;
mod scalar_ops;

pub use batch_norm::{batch_norm2d, batch_norm2d_relu, BatchNorm2d};
pub use binary::{add, add_relu, mul, mul_relu};
pub use cat::{cat, CatInput, Concatenated};
pub use scalar_ops::{add_scalar, mul_scalar};
