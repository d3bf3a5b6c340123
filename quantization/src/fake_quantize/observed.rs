//! `FakeQuantize` (and `FixedQParamsFakeQuantize`): any observer with an integer range, then
//! `fake_quantize_per_tensor_affine` / `_per_channel_affine` with its parameters.

use std::any::Any;

use ndarray::ArrayViewD;
use qtensor::QScheme;

use super::kernels::fake_quantize;
use super::{FakeQuantOutput, FakeQuantizer};
use crate::observer::{FixedQParamsObserver, Observation, Observer, QParamsOut, ZeroPoints};
use crate::{DType, QuantError};

/// Observer + fake quantization (`FakeQuantize`). With a [`FixedQParamsObserver`] this is
/// PyTorch's `FixedQParamsFakeQuantize`.
#[derive(Debug)]
pub struct FakeQuantize {
    observer: Box<dyn Observer>,
    scale: Vec<f32>,
    zero_point: ZeroPoints,
    quant_min: i64,
    quant_max: i64,
    observer_enabled: bool,
    fake_quant_enabled: bool,
}

impl FakeQuantize {
    /// PyTorch's class name.
    pub const NAME: &'static str = "FakeQuantize";

    /// Wraps a fresh observer. Errors if it has no integer range (placeholders).
    pub fn new(observer: Box<dyn Observer>) -> Result<Self, QuantError> {
        let Some((quant_min, quant_max)) = observer.quant_range() else {
            return Err(QuantError::Unsupported {
                observer: Self::NAME,
                what: format!(
                    "{} has no quantization range; FakeQuantize needs a uniform or fixed-qparams observer",
                    observer.name()
                ),
            });
        };
        let zero_point = if observer.qscheme() == QScheme::PerChannelAffineFloatQParams {
            ZeroPoints::Float(vec![0.0])
        } else {
            ZeroPoints::Int(vec![0])
        };
        let mut fq = FakeQuantize {
            observer,
            scale: vec![1.0],
            zero_point,
            quant_min,
            quant_max,
            observer_enabled: true,
            fake_quant_enabled: true,
        };
        if fq.is_fixed() {
            // FixedQParamsFakeQuantize: the buffers are the observer's fixed parameters.
            let q = fq.observer.calculate_qparams()?;
            fq.scale = q.scales;
            fq.zero_point = q.zero_points;
        }
        Ok(fq)
    }

    fn is_fixed(&self) -> bool {
        self.observer
            .as_any()
            .downcast_ref::<FixedQParamsObserver>()
            .is_some()
    }
}

impl FakeQuantizer for FakeQuantize {
    fn name(&self) -> &'static str {
        if self.is_fixed() {
            "FixedQParamsFakeQuantize"
        } else {
            Self::NAME
        }
    }

    fn forward(&mut self, x: ArrayViewD<'_, f32>) -> Result<FakeQuantOutput, QuantError> {
        let mut observation = Observation::default();
        if self.observer_enabled {
            observation = self.observer.observe(x.view())?;
            let q = self.observer.calculate_qparams()?;
            self.scale = q.scales;
            self.zero_point = q.zero_points;
        }
        if !self.fake_quant_enabled {
            return Ok(FakeQuantOutput {
                y: x.to_owned(),
                mask: None,
                observation,
            });
        }
        if x.is_empty() {
            return Err(QuantError::Empty {
                observer: self.name(),
            });
        }
        let axis = self.ch_axis();
        let fq = fake_quantize(
            x,
            &self.scale,
            &self.zero_point,
            axis,
            self.quant_min,
            self.quant_max,
        )?;
        Ok(FakeQuantOutput {
            y: fq.y,
            mask: Some(fq.mask),
            observation,
        })
    }

    fn calculate_qparams(&self) -> Result<QParamsOut, QuantError> {
        self.observer.calculate_qparams()
    }

    fn scale(&self) -> Vec<f32> {
        self.scale.clone()
    }

    fn zero_point(&self) -> ZeroPoints {
        self.zero_point.clone()
    }

    fn enable_observer(&mut self, on: bool) {
        self.observer_enabled = on;
    }

    fn enable_fake_quant(&mut self, on: bool) {
        self.fake_quant_enabled = on;
    }

    fn observer_enabled(&self) -> bool {
        self.observer_enabled
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
        self.observer
            .qscheme()
            .is_per_channel()
            .then(|| self.observer.ch_axis())
            .flatten()
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
