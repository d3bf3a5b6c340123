//! Quantized operators and modules (`torch.ops.quantized`, `torch.ao.nn.quantized`).
//!
//! | PyTorch | here |
//! |---|---|
//! | `torch.ops.quantized.*`, `torch.ao.nn.quantized.functional` | [`functional`] |
//! | saving / loading a converted model's `state_dict` | [`state`] ([`save_quantized`], [`load_quantized`]) |
//! | `torch.ao.nn.quantized.Quantize`, `DeQuantize`, `Linear`, `Conv1d/2d/3d`, `ConvTranspose2d`, `BatchNorm2d/3d`, `LayerNorm`, `GroupNorm`, `InstanceNorm1d/2d/3d`, `ReLU6`, `Hardswish`, `ELU`, `LeakyReLU`, `Sigmoid`, `Dropout`, `QFunctional`, `Embedding`, `EmbeddingBag` | [`modules`] (re-exported at the root) |
//!
//! [`functional`] is the operator layer: one function per quantized operator over
//! [`qtensor::QTensor`], dispatching to the kernels of the current engine
//! ([`qtensor::engine`]): `qkernels-x86` for fbgemm, `qkernels-arm` for qnnpack.
//! [`modules`] are [`nn::Module`]s over it; [`register_quant_ops`] lets `nn`'s float pooling
//! and activation layers run on quantized tensors with the same kernels.

pub mod functional;
pub mod modules;
mod quant_ops;
pub mod state;

pub use functional::QOpError;
pub use modules::*;
pub use quant_ops::register_quant_ops;
pub use state::{load_quantized, save_quantized};
