//! `_LearnableFakeQuantize`: fake quantization with a trainable scale and (float) zero point
//! (LSQ / TQT), per tensor or per channel.

use std::any::Any;

use ndarray::{ArrayD, ArrayViewD};
use qtensor::QScheme;

use super::kernels::{fake_quantize, learnable_per_channel_backward};
use super::{FakeQuantOutput, FakeQuantizer};
use crate::observer::{Observation, Observer, QParamsOut, ZeroPoints, DEFAULT_EPS};
use crate::{DType, QuantError};

/// Gradients of one learnable fake-quant step.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnableGradients {
    /// Gradient with respect to the input.
    pub grad_x: ArrayD<f32>,
    /// Gradient with respect to each scale (one per channel, or one).
    pub grad_scale: Vec<f32>,
    /// Gradient with respect to each (float) zero point.
    pub grad_zero_point: Vec<f32>,
}

/// What the backward needs from the last forward.
#[derive(Debug, Clone)]
struct Saved {
    x: ArrayD<f32>,
    scale: Vec<f32>,
    zero_point: Vec<f32>,
    grad_factor: f32,
    fake_quantized: bool,
}

/// Fake quantization whose scale and zero point are parameters (`_LearnableFakeQuantize`).
/// Starts in "static estimate" mode (the observer sets the parameters each forward); after
/// [`LearnableFakeQuantize::enable_param_learning`] the parameters are only changed by the
/// caller's optimizer through [`LearnableFakeQuantize::set_params`], using the gradients from
/// [`LearnableFakeQuantize::backward`].
#[derive(Debug)]
pub struct LearnableFakeQuantize {
    observer: Box<dyn Observer>,
    scale: Vec<f32>,
    zero_point: Vec<f32>,
    quant_min: i64,
    quant_max: i64,
    use_grad_scaling: bool,
    static_enabled: bool,
    learning_enabled: bool,
    fake_quant_enabled: bool,
    eps: f32,
    saved: Option<Saved>,
}

impl LearnableFakeQuantize {
    /// PyTorch's class name.
    pub const NAME: &'static str = "_LearnableFakeQuantize";

    /// Wraps a fresh observer, with initial `scale` / `zero_point` repeated `channel_len` times
    /// (`None`: per tensor). Errors if the observer has no integer range or the initial values
    /// are not finite (scale > 0).
    pub fn new(
        observer: Box<dyn Observer>,
        scale: f32,
        zero_point: f32,
        channel_len: Option<usize>,
        use_grad_scaling: bool,
    ) -> Result<Self, QuantError> {
        let Some((quant_min, quant_max)) = observer.quant_range() else {
            return Err(QuantError::Unsupported {
                observer: Self::NAME,
                what: format!("{} has no quantization range", observer.name()),
            });
        };
        if !(scale.is_finite() && scale > 0.0 && zero_point.is_finite()) {
            return Err(QuantError::BadArgument {
                observer: Self::NAME,
                arg: "scale / zero_point",
                value: format!("{scale} / {zero_point}"),
                reason: "scale must be finite and > 0, zero point finite",
            });
        }
        let n = match channel_len {
            None => 1,
            Some(0) => {
                return Err(QuantError::BadArgument {
                    observer: Self::NAME,
                    arg: "channel_len",
                    value: "0".into(),
                    reason: "must be a positive integer",
                })
            }
            Some(n) => n,
        };
        Ok(LearnableFakeQuantize {
            observer,
            scale: vec![scale; n],
            zero_point: vec![zero_point; n],
            quant_min,
            quant_max,
            use_grad_scaling,
            static_enabled: true,
            learning_enabled: false,
            fake_quant_enabled: true,
            eps: DEFAULT_EPS,
            saved: None,
        })
    }

    /// Learn the parameters: fake quant on, observer off (`enable_param_learning`).
    pub fn enable_param_learning(&mut self) {
        self.learning_enabled = true;
        self.fake_quant_enabled = true;
        self.static_enabled = false;
    }

    /// Parameters from the observer each step: fake quant on, learning off
    /// (`enable_static_estimate`).
    pub fn enable_static_estimate(&mut self) {
        self.learning_enabled = false;
        self.fake_quant_enabled = true;
        self.static_enabled = true;
    }

    /// Observe only: output is the input (`enable_static_observation`).
    pub fn enable_static_observation(&mut self) {
        self.learning_enabled = false;
        self.fake_quant_enabled = false;
        self.static_enabled = true;
    }

    /// Whether gradients are scaled by `1/sqrt(numel * quant_max)` (`use_grad_scaling`).
    pub fn use_grad_scaling(&self) -> bool {
        self.use_grad_scaling
    }

    /// Whether the parameters are being learned (`learning_enabled`).
    pub fn learning_enabled(&self) -> bool {
        self.learning_enabled
    }

    /// The float zero point parameters.
    pub fn zero_point_param(&self) -> &[f32] {
        &self.zero_point
    }

    /// Sets the parameters (after an optimizer step). Errors on a length change, a
    /// non-positive / non-finite scale or a non-finite zero point.
    pub fn set_params(&mut self, scale: &[f32], zero_point: &[f32]) -> Result<(), QuantError> {
        if scale.len() != self.scale.len() || zero_point.len() != self.zero_point.len() {
            return Err(QuantError::BadArgument {
                observer: Self::NAME,
                arg: "scale / zero_point",
                value: format!("{} / {} values", scale.len(), zero_point.len()),
                reason: "must keep the number of channels",
            });
        }
        if scale.iter().any(|s| !(s.is_finite() && *s > 0.0))
            || zero_point.iter().any(|z| !z.is_finite())
        {
            return Err(QuantError::BadArgument {
                observer: Self::NAME,
                arg: "scale / zero_point",
                value: format!("{scale:?} / {zero_point:?}"),
                reason: "scale must be finite and > 0, zero point finite",
            });
        }
        self.scale = scale.to_vec();
        self.zero_point = zero_point.to_vec();
        Ok(())
    }

    fn axis(&self) -> Option<usize> {
        if self.observer.qscheme().is_per_channel() {
            Some(self.observer.ch_axis().unwrap_or(0))
        } else {
            None
        }
    }

    /// Gradients of the last forward with respect to its input, scale(s) and zero point(s).
    /// When fake quantization was off, `grad_x = grad_y` and the parameter gradients are 0.
    pub fn backward(&self, grad_y: ArrayViewD<'_, f32>) -> Result<LearnableGradients, QuantError> {
        let saved = self.saved.as_ref().ok_or(QuantError::NoForward {
            observer: Self::NAME,
        })?;
        if grad_y.shape() != saved.x.shape() {
            return Err(QuantError::ShapeMismatch {
                observer: Self::NAME,
                arg: "grad_y",
                got: grad_y.shape().to_vec(),
                expected: saved.x.shape().to_vec(),
            });
        }
        let n = saved.scale.len();
        if !saved.fake_quantized {
            return Ok(LearnableGradients {
                grad_x: grad_y.to_owned(),
                grad_scale: vec![0.0; n],
                grad_zero_point: vec![0.0; n],
            });
        }
        let (qmin, qmax) = (self.quant_min, self.quant_max);
        match self.axis() {
            None => {
                let g = qtensor::learnable_fake_quantize_per_tensor_affine_backward(
                    grad_y,
                    saved.x.view(),
                    saved.scale[0],
                    saved.zero_point[0],
                    qmin,
                    qmax,
                    saved.grad_factor,
                )?;
                Ok(LearnableGradients {
                    grad_x: g.grad_x,
                    grad_scale: vec![g.grad_scale],
                    grad_zero_point: vec![g.grad_zero_point],
                })
            }
            Some(axis) => {
                let g = learnable_per_channel_backward(
                    grad_y,
                    saved.x.view(),
                    &saved.scale,
                    &saved.zero_point,
                    axis,
                    qmin,
                    qmax,
                    saved.grad_factor,
                )?;
                Ok(LearnableGradients {
                    grad_x: g.grad_x,
                    grad_scale: g.grad_scale,
                    grad_zero_point: g.grad_zero_point,
                })
            }
        }
    }
}

impl FakeQuantizer for LearnableFakeQuantize {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn forward(&mut self, x: ArrayViewD<'_, f32>) -> Result<FakeQuantOutput, QuantError> {
        let mut observation = Observation::default();
        if self.static_enabled {
            observation = self.observer.observe(x.view())?;
            let q = self.observer.calculate_qparams()?;
            if q.scales.len() != self.scale.len() {
                return Err(QuantError::ChannelCountChanged {
                    observer: Self::NAME,
                    expected: self.scale.len(),
                    got: q.scales.len(),
                });
            }
            self.scale = q.scales;
            self.zero_point = q.zero_points.to_f64().iter().map(|&z| z as f32).collect();
        } else {
            self.scale.iter_mut().for_each(|s| *s = s.max(self.eps));
        }
        if !self.fake_quant_enabled {
            self.saved = Some(Saved {
                x: x.to_owned(),
                scale: self.scale.clone(),
                zero_point: self.zero_point.clone(),
                grad_factor: 1.0,
                fake_quantized: false,
            });
            return Ok(FakeQuantOutput {
                y: x.to_owned(),
                mask: None,
                observation,
            });
        }
        if x.is_empty() {
            return Err(QuantError::Empty {
                observer: Self::NAME,
            });
        }
        if self.observer.qscheme().is_symmetric() {
            self.zero_point.iter_mut().for_each(|z| *z = 0.0);
        }
        let grad_factor = if self.use_grad_scaling {
            (1.0 / ((x.len() as f64) * self.quant_max as f64).sqrt()) as f32
        } else {
            1.0
        };
        let (qmin, qmax) = (self.quant_min, self.quant_max);
        let rounded: Vec<i64> = self
            .zero_point
            .iter()
            .map(|z| z.round_ties_even().clamp(qmin as f32, qmax as f32) as i64)
            .collect();
        let fq = fake_quantize(
            x.view(),
            &self.scale,
            &ZeroPoints::Int(rounded),
            self.axis(),
            qmin,
            qmax,
        )?;
        self.saved = Some(Saved {
            x: x.to_owned(),
            scale: self.scale.clone(),
            zero_point: self.zero_point.clone(),
            grad_factor,
            fake_quantized: true,
        });
        Ok(FakeQuantOutput {
            y: fq.y,
            mask: Some(fq.mask),
            observation,
        })
    }

    /// The current parameters: scale clamped below at eps, zero point rounded and clamped into
    /// the range (PyTorch also clamps the stored scale in place; here the stored value is left
    /// alone until the next forward).
    fn calculate_qparams(&self) -> Result<QParamsOut, QuantError> {
        let (qmin, qmax) = (self.quant_min, self.quant_max);
        Ok(QParamsOut {
            scales: self.scale.iter().map(|s| s.max(self.eps)).collect(),
            zero_points: ZeroPoints::Int(
                self.zero_point
                    .iter()
                    .map(|z| z.round_ties_even().clamp(qmin as f32, qmax as f32) as i64)
                    .collect(),
            ),
            qscheme: self.observer.qscheme(),
            axis: self.axis(),
            dtype: self.observer.dtype(),
            quant_min: qmin,
            quant_max: qmax,
            fallback_channels: 0,
        })
    }

    fn scale(&self) -> Vec<f32> {
        self.scale.clone()
    }

    fn zero_point(&self) -> ZeroPoints {
        ZeroPoints::Float(self.zero_point.clone())
    }

    fn enable_observer(&mut self, on: bool) {
        self.static_enabled = on;
    }

    fn enable_fake_quant(&mut self, on: bool) {
        self.fake_quant_enabled = on;
    }

    fn observer_enabled(&self) -> bool {
        self.static_enabled
    }

    fn fake_quant_enabled(&self) -> bool {
        self.fake_quant_enabled
    }

    fn dtype(&self) -> DType {
        self.observer.dtype()
    }

    fn qscheme(&self) -> QScheme {
        self.observer.qscheme()
    }

    fn quant_range(&self) -> (i64, i64) {
        (self.quant_min, self.quant_max)
    }

    fn ch_axis(&self) -> Option<usize> {
        self.axis()
    }

    fn observer(&self) -> &dyn Observer {
        self.observer.as_ref()
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
