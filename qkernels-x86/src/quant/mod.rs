//! Quantization parameters (activations, weights, dynamic choice), 8-bit storage types and
//! PyTorch's rounding rules.
//!
//! The functions here are the scalar building blocks every kernel is written
//! with; each names the PyTorch routine whose float sequence it reproduces.

mod affine;
mod params;
mod qint;
mod rounding;

pub use affine::{Affine, QVec, QView};
pub use params::*;
pub use qint::QInt;
pub use rounding::{
    cvt_round_f32, dequantize_fma, dequantize_plain, dequantize_sub_mul, inv_scale_f32,
    inv_scale_f64, quantize_f32, quantize_val, requantize_from_int, scale_neg_zp_premul,
};
