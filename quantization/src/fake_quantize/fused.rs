//! `FusedMovingAvgObsFakeQuantize`: PyTorch's `fused_moving_avg_obs_fake_quant` kernel, the
//! default fake-quant of QAT. The running min / max live in a moving-average observer; the
//! parameters of each forward come from fbgemm's `ChooseQuantizationParams` on them.

use std::any::Any;

use ndarray::ArrayViewD;
use qtensor::QScheme;

use super::fbgemm_qparams::choose_qparams_fbgemm;
use super::kernels::fake_quantize;
use super::{FakeQuantOutput, FakeQuantizer};
use crate::observer::{
    per_channel_update, scan, MovingAverageMinMaxObserver, MovingAveragePerChannelMinMaxObserver,
    Observation, Observer, QParamsOut, ZeroPoints,
};
use crate::{DType, QuantError};

/// The moving-average observer inside: per tensor or per channel (axis 0 only, as PyTorch).
#[derive(Debug, Clone)]
enum Running {
    PerTensor(MovingAverageMinMaxObserver),
    PerChannel(MovingAveragePerChannelMinMaxObserver),
}

/// Observer and fake quantization in one kernel (`FusedMovingAvgObsFakeQuantize`): the running
/// min / max are updated with `min += c * (batch_min - min)` (the first batch sets them), the
/// scale and zero point recomputed with fbgemm's rule, then the input is fake-quantized.
#[derive(Debug, Clone)]
pub struct FusedMovingAvgObsFakeQuantize {
    running: Running,
    scale: Vec<f32>,
    zero_point: Vec<i64>,
    quant_min: i64,
    quant_max: i64,
    symmetric: bool,
    observer_enabled: bool,
    fake_quant_enabled: bool,
}

impl FusedMovingAvgObsFakeQuantize {
    /// PyTorch's class name.
    pub const NAME: &'static str = "FusedMovingAvgObsFakeQuantize";

    /// Wraps a per-tensor moving-average observer.
    pub fn per_tensor(observer: MovingAverageMinMaxObserver) -> Self {
        Self::with(Running::PerTensor(observer))
    }

    /// Wraps a per-channel moving-average observer; PyTorch's fused kernel supports channel
    /// axis 0 only, so other axes are an error. Float-qparams schemes are not supported.
    pub fn per_channel(
        observer: MovingAveragePerChannelMinMaxObserver,
    ) -> Result<Self, QuantError> {
        let axis = observer.ch_axis().unwrap_or(0);
        if axis != 0 {
            return Err(QuantError::Unsupported {
                observer: Self::NAME,
                what: format!(
                    "per-channel fake quant in fused_moving_avg_obs_fake_quant is only supported on axis 0, got {axis}"
                ),
            });
        }
        if observer.qscheme() == QScheme::PerChannelAffineFloatQParams {
            return Err(QuantError::Unsupported {
                observer: Self::NAME,
                what: "per_channel_affine_float_qparams is not supported; use FakeQuantize".into(),
            });
        }
        Ok(Self::with(Running::PerChannel(observer)))
    }

    /// Wraps an observer built elsewhere (e.g. from a spec): it must be one of the two
    /// moving-average observers.
    pub fn from_observer(observer: &dyn Observer) -> Result<Self, QuantError> {
        let any = observer.as_any();
        if let Some(o) = any.downcast_ref::<MovingAverageMinMaxObserver>() {
            Ok(Self::per_tensor(o.clone()))
        } else if let Some(o) = any.downcast_ref::<MovingAveragePerChannelMinMaxObserver>() {
            Self::per_channel(o.clone())
        } else {
            Err(QuantError::Unsupported {
                observer: Self::NAME,
                what: format!(
                    "the fused observer + fake quant works with the moving-average min/max observers only, got {}",
                    observer.name()
                ),
            })
        }
    }

    fn with(running: Running) -> Self {
        let obs: &dyn Observer = match &running {
            Running::PerTensor(o) => o,
            Running::PerChannel(o) => o,
        };
        let (quant_min, quant_max) = obs.quant_range().unwrap_or((0, 255));
        let symmetric = obs.qscheme().is_symmetric();
        FusedMovingAvgObsFakeQuantize {
            running,
            scale: vec![1.0],
            zero_point: vec![0],
            quant_min,
            quant_max,
            symmetric,
            observer_enabled: true,
            fake_quant_enabled: true,
        }
    }

    fn choose(&self, min: f32, max: f32) -> (f32, i64) {
        choose_qparams_fbgemm(min, max, self.quant_min, self.quant_max, self.symmetric)
    }

    /// Observes one batch per channel (axis 0) and recomputes the per-channel parameters.
    fn per_channel_step(&mut self, x: &ArrayViewD<'_, f32>) -> Result<Observation, QuantError> {
        let Running::PerChannel(o) = &mut self.running else {
            unreachable!("per_channel_step on a per-tensor module")
        };
        let mut obs = Observation::default();
        if self.observer_enabled {
            let (cur, seen) = scan::per_channel_min_max(x, 0, Self::NAME)?;
            per_channel_update(o, &cur)?;
            obs = seen;
        }
        if self.fake_quant_enabled {
            let channels = x.shape().first().copied().unwrap_or(0);
            let (mins, maxs) = (o.min_val(), o.max_val());
            let (mins, maxs) = if mins.is_empty() {
                (
                    vec![f32::INFINITY; channels],
                    vec![f32::NEG_INFINITY; channels],
                )
            } else {
                (mins, maxs)
            };
            let chosen: Vec<(f32, i64)> = mins
                .iter()
                .zip(&maxs)
                .map(|(&a, &b)| self.choose(a, b))
                .collect();
            self.scale = chosen.iter().map(|c| c.0).collect();
            self.zero_point = chosen.iter().map(|c| c.1).collect();
        }
        Ok(obs)
    }
}

impl FakeQuantizer for FusedMovingAvgObsFakeQuantize {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn forward(&mut self, x: ArrayViewD<'_, f32>) -> Result<FakeQuantOutput, QuantError> {
        if x.is_empty() {
            return Err(QuantError::Empty {
                observer: Self::NAME,
            });
        }
        let (observation, axis) = match &mut self.running {
            Running::PerTensor(o) => {
                let mut obs = Observation::default();
                if self.observer_enabled {
                    let (cur, seen) = scan::min_max(&x, Self::NAME)?;
                    if let Some(cur) = cur {
                        o.update(cur);
                    }
                    obs = seen;
                }
                if self.fake_quant_enabled {
                    let (lo, hi) = o.state().unwrap_or((f32::INFINITY, f32::NEG_INFINITY));
                    let (s, z) = self.choose(lo, hi);
                    self.scale = vec![s];
                    self.zero_point = vec![z];
                }
                (obs, None)
            }
            Running::PerChannel(_) => {
                if x.ndim() == 0 {
                    return Err(QuantError::ChAxisOutOfRange {
                        observer: Self::NAME,
                        ch_axis: 0,
                        rank: 0,
                    });
                }
                (self.per_channel_step(&x)?, Some(0))
            }
        };
        if !self.fake_quant_enabled {
            return Ok(FakeQuantOutput {
                y: x.to_owned(),
                mask: None,
                observation,
            });
        }
        let fq = fake_quantize(
            x,
            &self.scale,
            &ZeroPoints::Int(self.zero_point.clone()),
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

    /// The observer's `_calculate_qparams` on the running min / max (as PyTorch's
    /// `calculate_qparams`, which differs slightly from the fbgemm rule used in `forward`).
    fn calculate_qparams(&self) -> Result<QParamsOut, QuantError> {
        self.observer().calculate_qparams()
    }

    fn scale(&self) -> Vec<f32> {
        self.scale.clone()
    }

    fn zero_point(&self) -> ZeroPoints {
        ZeroPoints::Int(self.zero_point.clone())
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
        self.observer().dtype()
    }

    fn qscheme(&self) -> QScheme {
        self.observer().qscheme()
    }

    fn quant_range(&self) -> (i64, i64) {
        (self.quant_min, self.quant_max)
    }

    fn ch_axis(&self) -> Option<usize> {
        match self.running {
            Running::PerTensor(_) => None,
            Running::PerChannel(_) => Some(0),
        }
    }

    fn observer(&self) -> &dyn Observer {
        match &self.running {
            Running::PerTensor(o) => o,
            Running::PerChannel(o) => o,
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
