//! The calibration core of `torch.ao.quantization`: observers, fake-quantize modules and
//! `QConfig`, with PyTorch 2.11's numerics.
//!
//! | PyTorch | here |
//! |---|---|
//! | `torch.ao.quantization.observer.*` | [`observer`] ([`Observer`] trait, one struct per class, [`ObserverSpec`]) |
//! | `torch.ao.quantization.fake_quantize.*`, `_LearnableFakeQuantize` | [`fake_quantize`] |
//! | `QConfig`, `default_qconfig`, `get_default_qconfig`, ... | [`qconfig`] |
//! | `fuse_modules`, `prepare`, `convert`, `quantize`, `QuantWrapper`, mappings | [`eager`] |
//! | `prepare_qat`, `quantize_qat`, convert of a QAT model, `disable_observer` ..., the fake quants as modules | [`qat`] |
//! | `quantize_dynamic`, the dynamic module mapping | [`dynamic`] |
//! | `torch.fx`, `quantize_fx` (`prepare_fx`, `convert_fx` ...), `QConfigMapping` | [`fx`] |
//! | saving / loading a converted model (`torch.save(qmodel.state_dict())`, `load_state_dict`) | [`save_quantized`], [`load_quantized`] (from [`nn_quantized::state`]) |
//!
//! Observers and fake-quantize modules are plain stateful structs working on `ndarray` views;
//! the module system wraps them. Every fallible call returns [`QuantError`].
//!
//! Numerics are PyTorch's: observer statistics and `_calculate_qparams` in `float32` with
//! PyTorch's operation order, `HistogramObserver`'s `histc` / `linspace` / re-binning / L2
//! search with the `float32` / `float64` mix of the Python code (see
//! [`observer::histogram::torch_ops`]), and the fused QAT fake-quant with fbgemm's
//! `ChooseQuantizationParams` ([`fake_quantize::choose_qparams_fbgemm`]).
//!
//! Where this crate differs from PyTorch (all on input PyTorch handles badly or not at all):
//!
//! - NaN input is an error naming the observer, and the state is left as it was (PyTorch lets
//!   NaN into min / max).
//! - `+-inf` values are skipped by every observer and the fused fake quant, and counted in the
//!   returned [`Observation`] (PyTorch skips them in `HistogramObserver` only; the min / max
//!   observers would record an infinite range).
//! - An empty input is an error (PyTorch returns silently).
//! - A custom range needs both `quant_min` and `quant_max` (PyTorch ignores one alone) and must
//!   fit the dtype (PyTorch checks only the length of qint8 / qint32 ranges).
//! - Symmetric quint8 with `reduce_range` is an error for every uniform observer (PyTorch raises
//!   for the min / max observers but lets `HistogramObserver` produce a zero point of 128 outside
//!   0..=127).
//! - A per-channel observer's channel that only ever saw infinities gets the fallback (scale 1,
//!   zero point 0) and [`QParamsOut::fallback_channels`] counts it.
//! - `LearnableFakeQuantize::calculate_qparams` does not clamp the stored scale in place; the
//!   per-channel learnable backward sums the channel gradients in `f64`.
//! - As in PyTorch, a finite range wider than `f32::MAX` (e.g. `-3e38..3e38`) overflows to an
//!   infinite scale; nothing checks for it.
//! ```
//! use ndarray::array;
//! use quantization::{MinMaxObserver, Observer, UniformOptions};
//! let mut obs = MinMaxObserver::new(UniformOptions::per_tensor()).unwrap();
//! obs.observe(array![-1.0f32, 0.5, 3.0].into_dyn().view()).unwrap();
//! let q = obs.calculate_qparams().unwrap();
//! assert_eq!(q.zero_points.as_int().unwrap(), &[64]);
//! assert!((q.scales[0] - 4.0 / 255.0).abs() < 1e-7);
//! ```

mod dtype;
pub mod dynamic;
pub mod eager;
mod error;
pub mod fake_quantize;
pub mod fx;
pub mod observer;
pub mod qat;
pub mod qconfig;
mod weight_clamp;

pub use dtype::DType;
pub use error::QuantError;
pub use fake_quantize::{
    FakeQuantOutput, FakeQuantize, FakeQuantizeSpec, FakeQuantizer, FusedMovingAvgObsFakeQuantize,
    LearnableFakeQuantize, LearnableGradients,
};
pub use nn_quantized::state::{load_quantized, save_quantized, StateError};
pub use observer::{
    FixedQParamsObserver, HistogramObserver, MinMaxObserver, MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver, NoopObserver, Observation, Observer, ObserverSpec,
    PerChannelMinMaxObserver, PlaceholderObserver, QParamsOut, QParamsRule, RecordingObserver,
    UniformOptions, ZeroPoints,
};
pub use qconfig::{
    get_default_qat_qconfig, get_default_qconfig, Backend, PostProcess, QConfig, QConfigEntry,
};
