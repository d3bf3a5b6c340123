//! `FakeQuantizeSpec`: a fake-quantize class with its observer's arguments, as data
//! (PyTorch's `FakeQuantize.with_args(observer=..., ...)`).

use super::{FakeQuantize, FakeQuantizer, FusedMovingAvgObsFakeQuantize, LearnableFakeQuantize};
use crate::observer::ObserverSpec;
use crate::{DType, QuantError};

/// A fake-quantize class and its observer; [`FakeQuantizeSpec::build`] makes a fresh module.
#[derive(Debug, Clone, PartialEq)]
pub enum FakeQuantizeSpec {
    /// `FakeQuantize.with_args(observer=...)` (a fixed-qparams observer gives
    /// `FixedQParamsFakeQuantize`).
    FakeQuantize(ObserverSpec),
    /// `FusedMovingAvgObsFakeQuantize.with_args(observer=...)`: the observer must be a
    /// moving-average min/max observer.
    Fused(ObserverSpec),
    /// `_LearnableFakeQuantize.with_args(observer=..., scale, zero_point, channel_len,
    /// use_grad_scaling)`.
    Learnable {
        /// The observer for static estimates.
        observer: ObserverSpec,
        /// Initial scale.
        scale: f32,
        /// Initial zero point.
        zero_point: f32,
        /// Number of channels for per-channel parameters (`None`: per tensor).
        channel_len: Option<usize>,
        /// Scale gradients by `1/sqrt(numel * quant_max)`.
        use_grad_scaling: bool,
    },
}

impl FakeQuantizeSpec {
    /// The observer spec inside.
    pub fn observer(&self) -> &ObserverSpec {
        match self {
            FakeQuantizeSpec::FakeQuantize(o) | FakeQuantizeSpec::Fused(o) => o,
            FakeQuantizeSpec::Learnable { observer, .. } => observer,
        }
    }

    /// The target dtype.
    pub fn dtype(&self) -> DType {
        self.observer().dtype()
    }

    /// A fresh module; errors as the observer's constructor, or if the class does not accept
    /// the observer.
    pub fn build(&self) -> Result<Box<dyn FakeQuantizer>, QuantError> {
        Ok(match self {
            FakeQuantizeSpec::FakeQuantize(o) => Box::new(FakeQuantize::new(o.build()?)?),
            FakeQuantizeSpec::Fused(o) => Box::new(FusedMovingAvgObsFakeQuantize::from_observer(
                o.build()?.as_ref(),
            )?),
            FakeQuantizeSpec::Learnable {
                observer,
                scale,
                zero_point,
                channel_len,
                use_grad_scaling,
            } => Box::new(LearnableFakeQuantize::new(
                observer.build()?,
                *scale,
                *zero_point,
                *channel_len,
                *use_grad_scaling,
            )?),
        })
    }
}
