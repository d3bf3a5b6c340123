//! A stand-in observer holding the parameters a trained activation fake-quant computed, so
//! the eager convert's constructors can read them while the fake quant itself stays in the
//! QAT model until the conversion has succeeded.

use std::any::Any;

use ndarray::ArrayViewD;
use qtensor::QScheme;

use crate::observer::{Observation, Observer, QParamsOut};
use crate::{DType, QuantError};

/// Reports fixed `calculate_qparams` results; observing is an error.
#[derive(Debug, Clone)]
pub(crate) struct FrozenQParams {
    name: &'static str,
    qparams: QParamsOut,
}

impl FrozenQParams {
    /// The parameters of a fake quant (or observer) named `name`.
    pub(crate) fn new(name: &'static str, qparams: QParamsOut) -> FrozenQParams {
        FrozenQParams { name, qparams }
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
        Ok(self.qparams.clone())
    }

    fn reset(&mut self) {}

    fn min_val(&self) -> Vec<f32> {
        Vec::new()
    }

    fn max_val(&self) -> Vec<f32> {
        Vec::new()
    }

    fn dtype(&self) -> DType {
        self.qparams.dtype
    }

    fn qscheme(&self) -> QScheme {
        self.qparams.qscheme
    }

    fn quant_range(&self) -> Option<(i64, i64)> {
        Some((self.qparams.quant_min, self.qparams.quant_max))
    }

    fn ch_axis(&self) -> Option<usize> {
        self.qparams.axis
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
