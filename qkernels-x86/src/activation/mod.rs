//! Activations: `relu`, `relu6` (integer clamps that keep the input
//! parameters), and `hardswish`, `sigmoid`, `tanh`, `leaky_relu`, `elu`
//! (dequantize -> float function -> quantize, as PyTorch's fbgemm-build
//! kernels `qhardswish_kernel`, `qsigmoid_kernel`, `qtanh_kernel`,
//! `leaky_qrelu_out_kernel`, `qelu_kernel` do in their vectorised lambdas).
//!
//! The float functions use `f64` `exp`/`tanh`/`expm1` rounded to `f32`
//! where PyTorch uses SLEEF's 1-ulp `f32` versions; the two can differ in the
//! last bit, which moves a quantized output by one only when the value lies
//! on a rounding boundary.

mod clamp;
mod float_ops;
pub(crate) mod kernels;

pub use clamp::{relu, relu6};
pub use float_ops::{elu, hardswish, leaky_relu, sigmoid, tanh, tanh_output_qparams};
