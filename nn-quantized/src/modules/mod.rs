//! Quantized modules (`torch.ao.nn.quantized`), each an [`nn::Module`] taking and returning
//! quantized tensors; one file per family.
//!
//! Modules are built from already quantized weights and output parameters (the `from_float`
//! step, observers to parameters, lives in the `quantization` crate's convert). Weights are
//! packed once, for the engine current at construction. Feeding a float tensor to any of them
//! is [`nn::NnError::FloatInput`], naming the module and the fix (insert a `QuantStub`).

mod activation;
mod batchnorm;
mod conv;
mod dropout;
mod embedding;
mod functional_modules;
mod linear;
mod normalization;
mod stubs;
pub mod util;

pub use activation::{Hardswish, LeakyReLU, ReLU6, Sigmoid, Tanh, ELU};
pub use batchnorm::{BatchNorm2d, BatchNorm3d, BatchNormCore, BatchNormStats};
pub use conv::{Conv1d, Conv2d, Conv3d, ConvCore, ConvTranspose2d};
pub use dropout::Dropout;
pub use embedding::{Embedding, EmbeddingBag};
pub use functional_modules::QFunctional;
pub use linear::Linear;
pub use normalization::{GroupNorm, InstanceNorm1d, InstanceNorm2d, InstanceNorm3d, LayerNorm};
pub use stubs::{DeQuantize, Quantize};
