//! Fused modules (`torch.ao.nn.intrinsic`, `.quantized`) and the batch-norm folding they rely on.
//!
//! | PyTorch | here |
//! |---|---|
//! | `nni.ConvReLU1d/2d/3d`, `ConvBn1d/2d/3d`, `ConvBnReLU1d/2d/3d`, `LinearReLU`, `LinearBn1d`, `BNReLU2d/3d` | [`modules::fused`] (re-exported at the root) |
//! | `nniq.ConvReLU1d/2d/3d`, `LinearReLU`, `BNReLU2d/3d` | [`quantized`] |
//! | `nniqat.ConvBn1d/2d/3d`, `ConvBnReLU1d/2d/3d`, `ConvReLU1d/2d/3d`, `LinearReLU`, `LinearBn1d` | [`qat`] |
//! | `nniqat.ConvBn1d/2d/3d`, `ConvBnReLU1d/2d/3d`, `ConvReLU1d/2d/3d`, `LinearReLU`, `LinearBn1d` | [`qat`] |
//! | `torch.nn.utils.fusion.fuse_conv_bn_weights` | [`fold::fuse_conv_bn_weights`] |
//! | `torch.nn.utils.fusion.fuse_linear_bn_weights` | [`fold::fuse_linear_bn_weights`] |
//!
//! The quantized fused modules implement [`nn_quantized::state::QuantizedState`] with the
//! unfused modules' names (`weight`, `bias`, `scale`, `zero_point` ...), so
//! [`nn_quantized::save_quantized`] / [`nn_quantized::load_quantized`] cover them; they register
//! themselves for it when constructed.
//!
//! The fused float modules are what `quantization::fuse_modules` produces: sequential
//! containers whose forward is the float composition, swapped as one unit by convert.

pub mod fold;
pub mod modules;
pub mod qat;

pub use fold::{fuse_conv_bn_weights, fuse_linear_bn_weights, BatchNormStats, FoldError};
pub use modules::fused::*;
pub use modules::quantized;
