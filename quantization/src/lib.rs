//! The calibration core of `torch.ao.quantization`: observers, fake-quantize modules and
//! `QConfig`, with PyTorch 2.11's numerics.
//!
//! | PyTorch | here |
//! |---|---|
//! | `torch.ao.quantization.observer.*` | [`observer`] ([`Observer`] trait, one struct per class, [`ObserverSpec`]) |
//! | `torch.ao.quantization.fake_quantize.*`, `_LearnableFakeQuantize` | [`fake_quantize`] |
//! | `QConfig`, `default_qconfig`, `get_default_qconfig`, ... | [`qconfig`] |
//!
//! Observers and fake-quantize modules are plain stateful structs working on `ndarray` views;
//! the module system wraps them. Every fallible call returns [`QuantError`].
//!
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
mod error;
pub mod fake_quantize;
pub mod observer;
pub mod qconfig;

pub use dtype::DType;
pub use error::QuantError;
pub use fake_quantize::{
    FakeQuantOutput, FakeQuantize, FakeQuantizeSpec, FakeQuantizer, FusedMovingAvgObsFakeQuantize,
    LearnableFakeQuantize, LearnableGradients,
};
pub use observer::{
    FixedQParamsObserver, HistogramObserver, MinMaxObserver, MovingAverageMinMaxObserver,
    MovingAveragePerChannelMinMaxObserver, NoopObserver, Observation, Observer, ObserverSpec,
    PerChannelMinMaxObserver, PlaceholderObserver, QParamsOut, QParamsRule, RecordingObserver,
    UniformOptions, ZeroPoints,
};
pub use qconfig::{
    get_default_qat_qconfig, get_default_qconfig, Backend, PostProcess, QConfig, QConfigEntry,
};
