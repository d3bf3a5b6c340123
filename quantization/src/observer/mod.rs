//! Observers (`torch.ao.quantization.observer`): stateful statistics collectors fed batch after
//! batch, each able to compute quantization parameters from what it saw.
//!
//! | PyTorch | here |
//! |---|---|
//! | `MinMaxObserver` | [`MinMaxObserver`] |
//! | `MovingAverageMinMaxObserver` | [`MovingAverageMinMaxObserver`] |
//! | `PerChannelMinMaxObserver` | [`PerChannelMinMaxObserver`] |
//! | `MovingAveragePerChannelMinMaxObserver` | [`MovingAveragePerChannelMinMaxObserver`] |
//! | `HistogramObserver` | [`HistogramObserver`] |
//! | `PlaceholderObserver`, `NoopObserver`, `FixedQParamsObserver`, `RecordingObserver` | [`PlaceholderObserver`], [`NoopObserver`], [`FixedQParamsObserver`], [`RecordingObserver`] |
//! | `UniformQuantizationObserverBase._calculate_qparams` | [`QParamsRule`] |
//! | `Observer.with_args(...)` | [`ObserverSpec`] |
//!
//! Differences from PyTorch, all on bad input: NaN is an error ([`QuantError::NaN`]) and
//! leaves the state unchanged; `+-inf` values are skipped by every observer (PyTorch skips them in
//! `HistogramObserver` only; the min/max observers would record an infinite range) and counted
//! in the returned [`Observation`]; empty tensors are an error (PyTorch returns silently).

pub mod defaults;
mod fixed;
pub mod histogram;
mod minmax;
mod per_channel;
mod qparams;
pub(crate) mod scan;
mod spec;

use std::any::Any;
use std::fmt::Debug;

use ndarray::ArrayViewD;
use qtensor::{QParams, QScheme};

use crate::{DType, QuantError};

pub use fixed::{FixedQParamsObserver, NoopObserver, PlaceholderObserver, RecordingObserver};
pub use histogram::HistogramObserver;
pub use minmax::{MinMaxObserver, MovingAverageMinMaxObserver};
pub(crate) use per_channel::per_channel_update;
pub use per_channel::{MovingAveragePerChannelMinMaxObserver, PerChannelMinMaxObserver};
pub use qparams::{QParamsRule, ResolvedRange, UniformOptions, DEFAULT_EPS};
pub use spec::ObserverSpec;

/// What one `observe` call did besides updating the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Observation {
    /// Number of `+inf` / `-inf` values skipped (PyTorch warns "torch.inf detected in input
    /// tensor, ignoring input").
    pub infinities_ignored: usize,
    /// True if nothing was left to observe after skipping infinities (the state is unchanged).
    pub all_ignored: bool,
}

/// Zero points as computed: integers, or floats for `per_channel_affine_float_qparams`.
#[derive(Debug, Clone, PartialEq)]
pub enum ZeroPoints {
    /// Integer zero points (every scheme but float-qparams).
    Int(Vec<i64>),
    /// Float zero points (`per_channel_affine_float_qparams`).
    Float(Vec<f32>),
}

impl ZeroPoints {
    /// Number of zero points.
    pub fn len(&self) -> usize {
        match self {
            ZeroPoints::Int(v) => v.len(),
            ZeroPoints::Float(v) => v.len(),
        }
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The integer zero points, if these are integers.
    pub fn as_int(&self) -> Option<&[i64]> {
        match self {
            ZeroPoints::Int(v) => Some(v),
            ZeroPoints::Float(_) => None,
        }
    }

    /// The zero points as `f64`, whatever their kind.
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            ZeroPoints::Int(v) => v.iter().map(|&z| z as f64).collect(),
            ZeroPoints::Float(v) => v.iter().map(|&z| f64::from(z)).collect(),
        }
    }
}

/// The result of `calculate_qparams`: PyTorch's `(scale, zero_point)` tensors plus what a
/// quantized tensor needs to use them.
#[derive(Debug, Clone, PartialEq)]
pub struct QParamsOut {
    /// Scales (`float32`, one per channel; one element for per-tensor).
    pub scales: Vec<f32>,
    /// Zero points, one per scale.
    pub zero_points: ZeroPoints,
    /// The observer's scheme.
    pub qscheme: QScheme,
    /// Channel axis for per-channel results.
    pub axis: Option<usize>,
    /// The observer's dtype.
    pub dtype: DType,
    /// Effective lower end of the integer range.
    pub quant_min: i64,
    /// Effective upper end of the integer range.
    pub quant_max: i64,
    /// How many channels got PyTorch's fallback (scale 1, zero point 0) because nothing was
    /// observed for them; for an observer that saw nothing at all this is 1 (and the result has
    /// one element, as PyTorch's).
    pub fallback_channels: usize,
}

impl QParamsOut {
    /// True if this is (or contains) PyTorch's "must run observer before calling
    /// calculate_qparams" fallback.
    pub fn is_fallback(&self) -> bool {
        self.fallback_channels > 0
    }

    /// The parameters as a quantized tensor's [`QParams`] (per-tensor, per-channel along
    /// `axis`, or float-qparams). Errors if the dtype has no `qtensor` counterpart.
    pub fn to_qparams(&self) -> Result<QParams, QuantError> {
        match (&self.zero_points, self.axis) {
            (ZeroPoints::Int(z), None) => Ok(QParams::PerTensor {
                scale: f64::from(self.scales[0]),
                zero_point: z[0],
            }),
            (ZeroPoints::Int(z), Some(axis)) => Ok(QParams::PerChannel {
                scales: self.scales.iter().map(|&s| f64::from(s)).collect(),
                zero_points: z.clone(),
                axis,
            }),
            (ZeroPoints::Float(z), axis) => Ok(QParams::PerChannelFloat {
                scales: self.scales.clone(),
                zero_points: z.clone(),
                axis: axis.unwrap_or(0),
            }),
        }
    }
}

/// A stateful observer: fed batches with [`Observer::observe`], asked for parameters with
/// [`Observer::calculate_qparams`]. Implemented by every observer in this module; users can
/// implement it for their own (e.g. percentile) observers and put them in a
/// [`QConfig`](crate::QConfig) through a custom factory.
pub trait Observer: Send + Debug {
    /// PyTorch's class name (used in error messages).
    fn name(&self) -> &'static str;

    /// Updates the statistics with one batch (PyTorch's `forward`). Errors on NaN and empty
    /// input (state unchanged); infinities are skipped and counted.
    fn observe(&mut self, x: ArrayViewD<'_, f32>) -> Result<Observation, QuantError>;

    /// Scale(s) and zero point(s) from the statistics so far.
    fn calculate_qparams(&self) -> Result<QParamsOut, QuantError>;

    /// Forgets everything observed (`reset_min_max_vals`; the histogram too).
    fn reset(&mut self);

    /// The recorded minimum(s) as PyTorch stores them (`[+inf]` before any batch for per-tensor
    /// observers, empty for per-channel ones and for observers without statistics).
    fn min_val(&self) -> Vec<f32>;

    /// The recorded maximum(s) (`[-inf]` before any batch for per-tensor observers).
    fn max_val(&self) -> Vec<f32>;

    /// Target dtype.
    fn dtype(&self) -> DType;

    /// Scheme.
    fn qscheme(&self) -> QScheme;

    /// Effective integer range, for the observers that have one.
    fn quant_range(&self) -> Option<(i64, i64)>;

    /// Channel axis of per-channel observers.
    fn ch_axis(&self) -> Option<usize> {
        None
    }

    /// True for placeholders standing for dynamic quantization (`is_dynamic`).
    fn is_dynamic(&self) -> bool {
        false
    }

    /// For downcasting to the concrete observer.
    fn as_any(&self) -> &dyn Any;
}
