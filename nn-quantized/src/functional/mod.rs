//! The quantized operator layer (`torch.ops.quantized`, `torch.ao.nn.quantized.functional`):
//! one function per operator over [`QTensor`](qtensor::QTensor)s.
//!
//! Activations are quint8 or qint8, per-tensor quantized, NCHW for spatial operators. Each
//! function checks its operands and returns [`QOpError`] rather than panicking.

mod activation;
mod elementwise;
mod embedding;
mod error;
mod group_norm;
mod linear;
mod norm;
mod operand;
mod packed;
mod pool;
mod qnnpack;

pub use activation::{elu, hardswish, leaky_relu, relu, relu6, sigmoid, tanh};
pub use elementwise::{add, add_relu, add_scalar, cat, mul, mul_relu, mul_scalar};
pub use embedding::{
    embedding_bag_byte, embedding_bag_prepack, embedding_byte, BagMode, Bags, PackedEmbedding,
};
pub use error::QOpError;
pub use group_norm::{group_norm, instance_norm, layer_norm, NormParams};
pub use linear::{conv, linear, linear_dynamic};
pub use norm::{batch_norm2d, BatchNormParams};
pub use packed::{conv_prepack, linear_prepack, ConvOptions, PackedWeight};
pub use pool::{
    adaptive_avg_pool2d, avg_pool2d, max_pool2d, upsample_nearest2d, AvgPool2d, MaxPool2d,
    UpsampleSize,
};

/// `torch.flatten` on a quantized tensor: dimensions `start_dim..=end_dim` merged, parameters kept.
pub fn flatten(
    x: &qtensor::QTensor,
    start_dim: usize,
    end_dim: usize,
) -> Result<qtensor::QTensor, QOpError> {
    Ok(x.flatten(start_dim, end_dim)?)
}
