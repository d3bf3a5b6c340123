//! Quantized tensors, the bottom of the workspace (the quantized side of `torch.Tensor`).
//!
//! | PyTorch | here |
//! |---|---|
//! | `torch.quint8`, `qint8`, `qint32` | [`QDType`] |
//! | `torch.per_tensor_affine`, ... | [`QScheme`] |
//! | a quantized `torch.Tensor` | [`QTensor`] (integer [`QData`] + [`QParams`]) |
//! | `torch.quantize_per_tensor` / `_per_channel` / `_per_tensor_dynamic` | [`quantize_per_tensor`], [`quantize_per_channel`], [`quantize_per_tensor_dynamic`] |
//! | `Tensor.dequantize`, `int_repr`, `q_scale`, `q_zero_point`, `q_per_channel_*` | methods of [`QTensor`] |
//! | `_make_per_tensor_quantized_tensor` | [`QTensor::from_int_repr`] |
//! | `reshape`, `permute`, `transpose`, `narrow`, `select`, `flatten`, `unsqueeze` | methods of [`QTensor`] (see `shape`) |
//! | `torch.fake_quantize_per_tensor_affine`, `_per_channel_affine`, `_fake_quantize_learnable_per_tensor_affine` | [`fake_quant`] |
//! | `torch.backends.quantized.engine` | [`engine()`], [`set_engine`], [`Engine`] |
//! | `torch.set_num_threads`, `get_num_threads` | [`threads::set_num_threads`], [`threads::num_threads`] |
//!
//! Numerics are PyTorch's (see [`rounding`]): `q = clamp(zp + round_half_even(x * (1/scale)))`
//! with the reciprocal computed in `f32`, and `x = scale * (q - zp)`. Float tensors are
//! `ndarray::ArrayD<f32>`.
//!
//! ```
//! use ndarray::array;
//! use qtensor::{quantize_per_tensor, QDType};
//! let x = array![[-1.0f32, 0.0], [0.5, 2.0]].into_dyn();
//! let q = quantize_per_tensor(x.view(), 0.5, 2, QDType::QUInt8).unwrap();
//! assert_eq!(q.as_u8().unwrap().iter().copied().collect::<Vec<_>>(), [0, 2, 3, 6]);
//! assert_eq!(q.dequantize(), x);
//! ```

mod dtype;
mod engine;
mod error;
pub mod fake_quant;
mod qparams;
mod quantize;
pub mod rounding;
mod scheme;
mod shape;
mod tensor;
pub mod threads;

pub use dtype::QDType;
pub use engine::{default_engine, engine, set_engine, supported_engines, Engine};
pub use error::QError;
pub use fake_quant::{
    fake_quantize_per_channel_affine, fake_quantize_per_tensor_affine,
    learnable_fake_quantize_per_tensor_affine, learnable_fake_quantize_per_tensor_affine_backward,
    FakeQuantized, LearnableGrads,
};
pub use qparams::{check_scale, check_zero_point, QParams};
pub use quantize::{
    min_max, quantize_per_channel, quantize_per_channel_float_qparams, quantize_per_tensor,
    quantize_per_tensor_dynamic,
};
pub use scheme::QScheme;
pub use tensor::{QData, QStorage, QTensor};
