//! A stand-in observer holding what a trained activation fake-quant reports, so the eager
//! convert's constructors can read its parameters while the fake quant itself stays in the
//! QAT model until the conversion has succeeded.

use std::any::Any;

use ndarray::ArrayViewD;
use qtensor::QScheme;

use crate::observer::{Observation, Observer, QParamsOut};
use crate::{DType, QuantError};

/// Reports the fixed `calculate_qparams` result (or error) of another observer, and its
/// dtype, scheme and range; observing is an error.
#[derive(Debug, Clone)]
pub(crate) struct FrozenQParams {
    name: &'static str,
    qparams: Result<QParamsOut, QuantError>,
    dtype: DType,
    qscheme: QScheme,
    quant_range: Option<(i64, i64)>,
    ch_axis: Option<usize>,
    is_dynamic: bool,
}

impl FrozenQParams {
    /// What `source` (the observer of a fake quant named `name`) reports now.
    pub(crate) fn of(
        name: &'static str,
        source: &dyn Observer,
        qparams: Result<QParamsOut, QuantError>,
    ) -> FrozenQParams {
        FrozenQParams {
            name,
            qparams,
            dtype: source.dtype(),
            qscheme: source.qscheme(),
            quant_range: source.quant_range(),
            ch_axis: source.ch_axis(),
            is_dynamic: source.is_dynamic(),
        }
    }
}

impl Observer for FrozenQParams {
    fn name(&self) -> &'static str {
        self.name
    }

    fn observe(&mut self, _x: ArrayViewD<'_, f32>) -> Result<Observation, QuantError> {
        Err(QuantError::Unsupported {
            observer: self.name,
            what: "the parameters were frozen for convert; nothing more is observed".into(),
        })
    }

    fn calculate_qparams(&self) -> Result<QParamsOut, QuantError> {
        self.qparams.clone()
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
        self.quant_range
    }

    fn ch_axis(&self) -> Option<usize> {
        self.ch_axis
    }

    fn is_dynamic(&self) -> bool {
        self.is_dynamic
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
