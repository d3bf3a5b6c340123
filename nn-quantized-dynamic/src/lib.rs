//! Dynamically quantized modules (`torch.ao.nn.quantized.dynamic`): weights quantized ahead of
//! time (qint8, per-tensor or per-channel; or float16), activations quantized on the fly from
//! each call's own range, float tensors in and out.
//!
//! | PyTorch | here |
//! |---|---|
//! | `nn.quantized.dynamic.Linear` | [`Linear`] |
//! | `nn.intrinsic.quantized.dynamic.LinearReLU` | [`LinearReLU`] |
//! | `nn.quantized.dynamic.LSTM`, `GRU` | [`LSTM`], [`GRU`] (options in [`RnnOptions`]) |
//! | `nn.quantized.dynamic.LSTMCell`, `GRUCell`, `RNNCell` | [`LSTMCell`], [`GRUCell`], [`RNNCell`] |
//! | `Module.from_float(mod)` with `mod.qconfig.weight` | `from_float(&float, &quantizer)` from `nn::Linear`, `nn::LSTM`, `nn::GRU`, `nn::LSTMCell`, `nn::GRUCell`, `nn::RNNCell` (or any module with PyTorch's class and parameter names), with a [`WeightQuantizer`] (`quantization::QConfig` is one) |
//! | a float module's `state_dict()` (`weight_ih_l0`, `bias_hh_l0_reverse`, ...) | `from_state_dict(options, &weights, &quantizer)` over [`FloatWeights`] (`nn::StateDict`, maps of arrays) |
//! | `torch.qint8` / `torch.float16` weights | [`WeightDType`], [`DynamicWeight`] |
//! | a converted model's `state_dict()` / `load_state_dict` | [`nn_quantized::state::QuantizedState`], implemented by every module here (`weight`, `bias` as [`Linear`]'s; `weight_ih_l0`, `bias_hh_l0_reverse` ... as the float recurrent modules' names) |
//! | the cell equations of ATen's `LSTMCell` / `GRUCell` / `SimpleCell` | [`equations`] |
//!
//! Numerics are PyTorch 2.11's. qint8 products go through
//! [`nn_quantized::functional::linear_dynamic`] on the engine current when the module was built
//! (fbgemm: activations 0..=127 since the modules pass `reduce_range=True`; qnnpack: 0..=255).
//! Recurrent layers compute the input-to-hidden product of the whole sequence in one call per
//! layer and direction (one activation range for the whole input, as ATen's CPU path does),
//! then per step the hidden-to-hidden product and the cell equations in ATen's order
//! (`gates = hh + ih`; LSTM `c' = f*c + i*g`, `h' = o*tanh(c')`; GRU
//! `n = tanh(ih_n + r*hh_n)`, `h' = (h - n)*z + n`). Float16 weights are saturated to
//! `±65504`, rounded to nearest even and multiplied in float32.
//!
//! Every constructor and `run` returns [`DynamicError`]; as [`nn::Module`]s the modules return
//! [`nn::NnError`] (shape errors as `InputShape`, the rest as `BadArgument` carrying the full
//! message).
//!
//! Differences from PyTorch:
//! - NaN / infinity in inputs, states, weights or biases is an error (PyTorch computes garbage).
//! - An empty batch or sequence is an error for the recurrent modules.
//! - Float16 weights run on both engines (PyTorch's fp16 linear is fbgemm-only).
//! - `bias=False` recurrent modules are accepted (PyTorch's quantized LSTM requires biases).
//! - `dropout` is stored but never applied: the modules are inference-only.
//! - `PackedSequence` inputs are not supported; recurrent inputs are batched (3-D, cells 2-D),
//!   as PyTorch's dynamic modules require.
//! - `sigmoid` / `tanh` are this crate's vectorized versions (within 3-4 ulp; ATen's Sleef ones
//!   are within 1 ulp), so outputs can differ from PyTorch's in the last bits.
//!
//! ```
//! use ndarray::Array2;
//! use nn_quantized_dynamic::{DynamicWeight, Linear};
//! use qtensor::{quantize_per_tensor, set_engine, Engine, QDType};
//! set_engine(Engine::Qnnpack).unwrap();
//! let w = Array2::from_shape_vec((2, 3), vec![0.5f32, -1.0, 0.25, 1.0, 0.0, -0.5]).unwrap();
//! let qw = quantize_per_tensor(w.view().into_dyn(), 1.0 / 64.0, 0, QDType::QInt8).unwrap();
//! let lin = Linear::new(DynamicWeight::QInt8(qw), Some(vec![0.1, -0.1])).unwrap();
//! let y = lin.run(Array2::from_elem((4, 3), 1.0f32).view().into_dyn()).unwrap();
//! assert_eq!(y.shape(), &[4, 2]);
//! assert!((y[[0, 0]] - (-0.25 + 0.1)).abs() < 1e-2);
//! ```

mod cells;
pub mod equations;
mod error;
mod fp16;
mod input;
mod isa;
mod linear;
mod linear_relu;
mod math;
mod packed;
mod quantized_state;
mod rnn;
mod state;
mod weight;

pub use cells::{GRUCell, LSTMCell, RNNCell};
pub use equations::Nonlinearity;
pub use error::{DynamicError, Result};
pub use linear::Linear;
pub use linear_relu::LinearReLU;
pub use rnn::{GruOutput, LstmOutput, RnnMode, RnnOptions, GRU, LSTM};
pub use state::FloatWeights;
pub use weight::{DynamicWeight, Float16Weights, WeightDType, WeightQuantizer, FP16_MAX};
