//! Observers without statistics: `PlaceholderObserver`, `NoopObserver`,
//! `FixedQParamsObserver` and the debugging `RecordingObserver`.

use std::any::Any;

use ndarray::{ArrayD, ArrayViewD};
use qtensor::QScheme;

use super::qparams::{ResolvedRange, DEFAULT_EPS};
use super::{Observation, Observer, QParamsOut, ZeroPoints};
use crate::{DType, QuantError};

/// Passes its configuration (dtype, dynamic or not) to the quantized module; collects nothing.
/// Used for float16 and dynamic quantization (`PlaceholderObserver`).
#[derive(Debug, Clone, PartialEq)]
pub struct PlaceholderObserver {
    /// Target dtype (PyTorch's default `float32`).
    pub dtype: DType,
    /// Scheme passed on (default `per_tensor_affine`).
    pub qscheme: QScheme,
    /// Integer range passed on, if any.
    pub quant_min: Option<i64>,
    /// Integer range passed on, if any.
    pub quant_max: Option<i64>,
    /// eps passed on (default f32 epsilon).
    pub eps: f32,
    /// True if the quantize step taking parameters from this observer is dynamic.
    pub is_dynamic: bool,
}

impl Default for PlaceholderObserver {
    fn default() -> Self {
        PlaceholderObserver {
            dtype: DType::Float32,
            qscheme: QScheme::PerTensorAffine,
            quant_min: None,
            quant_max: None,
            eps: DEFAULT_EPS,
            is_dynamic: false,
        }
    }
}

impl PlaceholderObserver {
    /// PyTorch's class name.
    pub const NAME: &'static str = "PlaceholderObserver";

    /// A placeholder for `dtype` (dynamic or not).
    pub fn new(dtype: DType, is_dynamic: bool) -> Self {
        PlaceholderObserver {
            dtype,
            is_dynamic,
            ..Self::default()
        }
    }
}

macro_rules! stateless_observer {
    ($t:ty) => {
        fn name(&self) -> &'static str {
            <$t>::NAME
        }

        fn calculate_qparams(&self) -> Result<QParamsOut, QuantError> {
            Err(QuantError::NoQParams {
                observer: <$t>::NAME,
            })
        }

        fn min_val(&self) -> Vec<f32> {
            Vec::new()
        }

        fn max_val(&self) -> Vec<f32> {
            Vec::new()
        }

        fn dtype(&self) -> DType {
            self.dtype
        }

        fn as_any(&self) -> &dyn Any {
            self
        }
    };
}

impl Observer for PlaceholderObserver {
    stateless_observer!(PlaceholderObserver);

    fn observe(&mut self, _x: ArrayViewD<'_, f32>) -> Result<Observation, QuantError> {
        Ok(Observation::default())
    }

    fn reset(&mut self) {}

    fn qscheme(&self) -> QScheme {
        self.qscheme
    }

    fn quant_range(&self) -> Option<(i64, i64)> {
        self.quant_min.zip(self.quant_max)
    }

    fn is_dynamic(&self) -> bool {
        self.is_dynamic
    }
}

/// Does nothing; marks a tensor as not to be observed (`NoopObserver`, default dtype float16).
#[derive(Debug, Clone, PartialEq)]
pub struct NoopObserver {
    /// Target dtype.
    pub dtype: DType,
}

impl NoopObserver {
    /// PyTorch's class name.
    pub const NAME: &'static str = "NoopObserver";

    /// A no-op observer for `dtype`.
    pub fn new(dtype: DType) -> Self {
        NoopObserver { dtype }
    }
}

impl Observer for NoopObserver {
    stateless_observer!(NoopObserver);

    fn observe(&mut self, _x: ArrayViewD<'_, f32>) -> Result<Observation, QuantError> {
        Ok(Observation::default())
    }

    fn reset(&mut self) {}

    fn qscheme(&self) -> QScheme {
        QScheme::PerTensorAffine
    }

    fn quant_range(&self) -> Option<(i64, i64)> {
        None
    }
}

/// Records a copy of every batch, for debugging (`RecordingObserver`).
#[derive(Debug, Clone, PartialEq)]
pub struct RecordingObserver {
    /// Target dtype (default quint8).
    pub dtype: DType,
    tensors: Vec<ArrayD<f32>>,
}

impl RecordingObserver {
    /// PyTorch's class name.
    pub const NAME: &'static str = "RecordingObserver";

    /// An empty recorder.
    pub fn new(dtype: DType) -> Self {
        RecordingObserver {
            dtype,
            tensors: Vec::new(),
        }
    }

    /// Every batch seen, in order (`get_tensor_value`).
    pub fn tensor_values(&self) -> &[ArrayD<f32>] {
        &self.tensors
    }
}

impl Observer for RecordingObserver {
    stateless_observer!(RecordingObserver);

    fn observe(&mut self, x: ArrayViewD<'_, f32>) -> Result<Observation, QuantError> {
        self.tensors.push(x.to_owned());
        Ok(Observation::default())
    }

    fn reset(&mut self) {
        self.tensors.clear();
    }

    fn qscheme(&self) -> QScheme {
        QScheme::PerTensorAffine
    }

    fn quant_range(&self) -> Option<(i64, i64)> {
        None
    }
}

/// Fixed scale and zero point, for outputs with a known range such as sigmoid (`1/256`, 0) or
/// tanh (`2/256`, 128) (`FixedQParamsObserver`).
#[derive(Debug, Clone, PartialEq)]
pub struct FixedQParamsObserver {
    scale: f32,
    zero_point: i64,
    dtype: DType,
    qscheme: QScheme,
    range: ResolvedRange,
}

impl FixedQParamsObserver {
    /// PyTorch's class name.
    pub const NAME: &'static str = "FixedQParamsObserver";

    /// Fixed parameters over `quant_min..=quant_max` (PyTorch's defaults: quint8, 0..=255,
    /// per_tensor_affine). Errors on a non-positive or non-finite scale, a bad range or a zero
    /// point outside it, or a per-channel scheme.
    pub fn new(
        scale: f32,
        zero_point: i64,
        dtype: DType,
        quant_min: i64,
        quant_max: i64,
    ) -> Result<Self, QuantError> {
        let bad = |reason: &str| QuantError::BadQuantRange {
            observer: Self::NAME,
            quant_min,
            quant_max,
            reason: reason.to_string(),
        };
        if !(scale.is_finite() && scale > 0.0) {
            return Err(QuantError::BadArgument {
                observer: Self::NAME,
                arg: "scale",
                value: scale.to_string(),
                reason: "must be finite and > 0",
            });
        }
        let (dmin, dmax) = dtype.int_range().ok_or(QuantError::Unsupported {
            observer: Self::NAME,
            what: format!("dtype {dtype} is not a quantized dtype"),
        })?;
        if quant_min >= quant_max || quant_min < dmin || quant_max > dmax {
            return Err(bad("need quant_min < quant_max inside the dtype's range"));
        }
        if !(quant_min..=quant_max).contains(&zero_point) {
            return Err(bad("the zero point must lie inside the range"));
        }
        Ok(FixedQParamsObserver {
            scale,
            zero_point,
            dtype,
            qscheme: QScheme::PerTensorAffine,
            range: ResolvedRange {
                quant_min,
                quant_max,
                customized: true,
            },
        })
    }

    /// PyTorch's `default_fixed_qparams_range_neg1to1_observer` (tanh): scale 2/256, zero
    /// point 128, quint8.
    pub fn range_neg1to1() -> Self {
        Self::new(2.0 / 256.0, 128, DType::QUInt8, 0, 255).expect("valid constants")
    }

    /// PyTorch's `default_fixed_qparams_range_0to1_observer` (sigmoid): scale 1/256, zero
    /// point 0, quint8.
    pub fn range_0to1() -> Self {
        Self::new(1.0 / 256.0, 0, DType::QUInt8, 0, 255).expect("valid constants")
    }
}

impl Observer for FixedQParamsObserver {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn observe(&mut self, _x: ArrayViewD<'_, f32>) -> Result<Observation, QuantError> {
        Ok(Observation::default())
    }

    fn calculate_qparams(&self) -> Result<QParamsOut, QuantError> {
        Ok(QParamsOut {
            scales: vec![self.scale],
            zero_points: ZeroPoints::Int(vec![self.zero_point]),
            qscheme: self.qscheme,
            axis: None,
            dtype: self.dtype,
            quant_min: self.range.quant_min,
            quant_max: self.range.quant_max,
            fallback_channels: 0,
        })
    }

    fn reset(&mut self) {}

    fn min_val(&self) -> Vec<f32> {
        Vec::new()
    }

    fn max_val(&self) -> Vec<f32> {
        Vec::new()
    }

    fn dtype(&self) -> DType {
        self.dtype
    }

    fn qscheme(&self) -> QScheme {
        self.qscheme
    }

    fn quant_range(&self) -> Option<(i64, i64)> {
        Some((self.range.quant_min, self.range.quant_max))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
