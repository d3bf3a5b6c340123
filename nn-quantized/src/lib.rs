//! Quantized operators and modules (`torch.ops.quantized`, `torch.ao.nn.quantized`).
//!
//! [`functional`] is the operator layer: one function per quantized operator over
//! [`qtensor::QTensor`], dispatching to the kernels of the current engine
//! ([`qtensor::engine`]): `qkernels-x86` for fbgemm.

pub mod functional;

pub use functional::QOpError;
