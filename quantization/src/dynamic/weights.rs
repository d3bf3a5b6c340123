//! [`QConfig`] as the weight quantizer of dynamic modules: `mod.qconfig.weight()` builds a fresh
//! observer (or fake-quantize module), observes the weight, and `_quantize_weight` quantizes it
//! with the resulting parameters (clamped to the observer's range, `_clamp_weights`).

use ndarray::ArrayViewD;
use nn_quantized_dynamic::{WeightDType, WeightQuantizer};
use qtensor::{quantize_per_channel, quantize_per_tensor, QDType, QParams, QTensor};

use crate::qconfig::{PostProcess, QConfig};
use crate::weight_clamp::clamp_weights;
use crate::DType;

/// The dynamic weight dtype of a target dtype (only qint8 and float16, as PyTorch asserts).
pub(crate) fn weight_dtype_of(dtype: Option<DType>) -> Result<WeightDType, String> {
    match dtype {
        Some(DType::QInt8) => Ok(WeightDType::QInt8),
        Some(DType::Float16) => Ok(WeightDType::Float16),
        Some(other) => Err(format!(
            "the only supported dtypes for dynamic quantized modules are qint8 and float16, got {other:?}"
        )),
        None => Err("the qconfig's weight entry builds no observer (Identity)".into()),
    }
}

impl WeightQuantizer for QConfig {
    fn weight_dtype(&self) -> Result<WeightDType, String> {
        match self.weight.dtype() {
            Some(d) => weight_dtype_of(Some(d)),
            None => weight_dtype_of(self.weight.build().map_err(|e| e.to_string())?.dtype()),
        }
    }

    fn quantize_weight(&self, weight: ArrayViewD<'_, f32>) -> Result<QTensor, String> {
        let text = |e: crate::QuantError| e.to_string();
        let qparams = match self.weight.build().map_err(text)? {
            PostProcess::Observer(mut obs) => {
                obs.observe(weight.view()).map_err(text)?;
                obs.calculate_qparams().map_err(text)?
            }
            PostProcess::FakeQuantize(mut fq) => {
                fq.forward(weight.view()).map_err(text)?;
                fq.calculate_qparams().map_err(text)?
            }
            PostProcess::Identity => {
                return Err("the qconfig's weight entry builds no observer (Identity)".into())
            }
        };
        if qparams.is_fallback() {
            return Err("the weight observer saw no finite value".into());
        }
        let (lo, hi) = (qparams.quant_min, qparams.quant_max);
        let q = match qparams.to_qparams().map_err(text)? {
            QParams::PerTensor { scale, zero_point } => {
                quantize_per_tensor(weight, scale, zero_point, QDType::QInt8)
            }
            QParams::PerChannel {
                scales,
                zero_points,
                axis,
            } => quantize_per_channel(weight, &scales, &zero_points, axis, QDType::QInt8),
            QParams::PerChannelFloat { .. } => {
                return Err(
                    "float-qparams observers are for embeddings, not dynamic linear weights".into(),
                )
            }
        };
        q.and_then(|q| clamp_weights(q, lo, hi))
            .map_err(|e| e.to_string())
    }
}
