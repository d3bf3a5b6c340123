//! Fake-quantize modules (`torch.ao.quantization.fake_quantize`): an observer plus quantize /
//! dequantize in float, with what a backward pass needs.
//!
//! | PyTorch | here |
//! |---|---|
//! | `FakeQuantize`, `FixedQParamsFakeQuantize` | [`FakeQuantize`] |
//! | `FusedMovingAvgObsFakeQuantize` | [`FusedMovingAvgObsFakeQuantize`] |
//! | `_LearnableFakeQuantize` | [`LearnableFakeQuantize`] |
//! | `FakeQuantize.with_args(...)` | [`FakeQuantizeSpec`] |
//! | `default_fake_quant`, `default_weight_fake_quant`, ... | functions in [`defaults`] |
//!
//! The observer and fake-quant switches are plain flags, independent of any train / eval mode
//! (the module wrapper decides when to flip them).

pub mod defaults;
mod fbgemm_qparams;
mod fused;
mod kernels;
mod learnable;
mod observed;
mod spec;

use std::any::Any;
use std::fmt::Debug;

use ndarray::{ArrayD, ArrayViewD, Zip};
use qtensor::QScheme;

use crate::observer::{Observation, Observer, QParamsOut, ZeroPoints};
use crate::{DType, QuantError};

pub use fbgemm_qparams::choose_qparams_fbgemm;
pub use fused::FusedMovingAvgObsFakeQuantize;
pub(crate) use kernels::learnable_per_channel_backward;
pub use kernels::ChannelGrads;
pub use learnable::{LearnableFakeQuantize, LearnableGradients};
pub use observed::FakeQuantize;
pub use spec::FakeQuantizeSpec;

/// The result of a fake-quantize forward.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeQuantOutput {
    /// The output (`x` itself, copied, when fake quantization is disabled).
    pub y: ArrayD<f32>,
    /// Where the straight-through gradient passes (`None`: everywhere, fake quant disabled).
    pub mask: Option<ArrayD<bool>>,
    /// What the observer reported for this batch (default if it was disabled).
    pub observation: Observation,
}

impl FakeQuantOutput {
    /// Straight-through backward: `grad_y` where the value was inside the quantization range,
    /// 0 elsewhere. Errors if `grad_y`'s shape differs from the output's.
    pub fn backward(&self, grad_y: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>, QuantError> {
        if grad_y.shape() != self.y.shape() {
            return Err(QuantError::ShapeMismatch {
                observer: "FakeQuantize",
                arg: "grad_y",
                got: grad_y.shape().to_vec(),
                expected: self.y.shape().to_vec(),
            });
        }
        Ok(match &self.mask {
            Some(mask) => Zip::from(&grad_y)
                .and(mask)
                .map_collect(|&g, &m| if m { g } else { 0.0 }),
            None => grad_y.to_owned(),
        })
    }
}

/// A fake-quantize module: observe (if enabled), then quantize-dequantize (if enabled).
pub trait FakeQuantizer: Send + Debug {
    /// PyTorch's class name.
    fn name(&self) -> &'static str;

    /// One training-time forward. Errors on NaN / empty input, or a shape the parameters do not
    /// fit (e.g. a channel count different from the one observed).
    fn forward(&mut self, x: ArrayViewD<'_, f32>) -> Result<FakeQuantOutput, QuantError>;

    /// Parameters from the observer's statistics (PyTorch's `calculate_qparams`).
    fn calculate_qparams(&self) -> Result<QParamsOut, QuantError>;

    /// The scale(s) used by the last forward (`[1.0]` before any).
    fn scale(&self) -> Vec<f32>;

    /// The zero point(s) used by the last forward (`[0]` before any).
    fn zero_point(&self) -> ZeroPoints;

    /// Turns statistics collection on or off (`enable_observer` / `disable_observer`).
    fn enable_observer(&mut self, on: bool);

    /// Turns fake quantization on or off (`enable_fake_quant` / `disable_fake_quant`).
    fn enable_fake_quant(&mut self, on: bool);

    /// Whether the observer runs in `forward`.
    fn observer_enabled(&self) -> bool;

    /// Whether `forward` fake-quantizes.
    fn fake_quant_enabled(&self) -> bool;

    /// Target dtype.
    fn dtype(&self) -> DType;

    /// Scheme.
    fn qscheme(&self) -> QScheme;

    /// Effective integer range.
    fn quant_range(&self) -> (i64, i64);

    /// Channel axis for per-channel modules.
    fn ch_axis(&self) -> Option<usize>;

    /// The observer inside (`activation_post_process`).
    fn observer(&self) -> &dyn Observer;

    /// For downcasting to the concrete module.
    fn as_any(&self) -> &dyn Any;

    /// For downcasting to the concrete module, mutably.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}
