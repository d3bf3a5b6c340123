//! Quantized CPU kernels with the numerics of PyTorch's `fbgemm` engine (x86).
//!
//! Kernels are pure functions over slices, shapes and quantization parameters:
//! no tensors, no modules. Every public entry point validates its input and
//! returns a typed error instead of panicking. Fast paths (AVX2, AVX-512) are
//! chosen once at run time (see [`isa`]) and are tested bit-for-bit against
//! the portable scalar path, which itself follows PyTorch's float sequence
//! (fused multiply-add where PyTorch fuses, inverse scales computed in `f32`
//! or `f64` exactly as PyTorch does, round-half-to-even).
//!
//! Map (PyTorch name -> here):
//! - `quantized::add`, `add_relu`, `mul`, `mul_relu`, `add_scalar`,
//!   `mul_scalar`, `cat`, `batch_norm2d` -> [`elementwise`]
//! - `relu`, `relu6`, `hardswish`, `sigmoid`, `tanh`, `leaky_relu`, `elu` ->
//!   [`activation`]
//! - `max_pool2d`, `avg_pool2d`, `adaptive_avg_pool2d`, `upsample_nearest2d` ->
//!   [`pool`]
//! - quantization parameters, storage types and rounding rules -> [`quant`];
//!   errors -> [`op_error`]; NCHW shapes -> [`nchw`].

pub mod activation;
pub mod elementwise;
pub mod isa;
pub mod nchw;
pub mod op_error;
pub mod pool;
pub mod quant;
