//! Weights of dynamic modules: how a float weight becomes a qint8 or float16 one
//! ([`WeightQuantizer`], the weight side of a qconfig) and the stored result ([`DynamicWeight`]).

use half::f16;
use ndarray::{ArrayD, ArrayViewD};
use qtensor::{QDType, QParams, QTensor};

use crate::error::{DynamicError, Result};

/// The dtype the weights of a dynamic module are stored in (`dtype=` of `quantize_dynamic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeightDType {
    /// `torch.qint8`: int8 weights (per-tensor or per-channel), activations quantized per call.
    QInt8,
    /// `torch.float16`: half-precision weights, float32 activations and accumulation.
    Float16,
}

impl WeightDType {
    /// PyTorch's name (`torch.qint8`, `torch.float16`).
    pub const fn torch_name(self) -> &'static str {
        match self {
            WeightDType::QInt8 => "torch.qint8",
            WeightDType::Float16 => "torch.float16",
        }
    }
}

/// The weight side of a dynamic qconfig: what dtype weights are stored in and, for qint8, how a
/// float weight is observed and quantized (PyTorch: `qconfig.weight()` builds a fresh observer,
/// observes the weight, and `_quantize_weight` quantizes it with the observer's parameters).
///
/// `quantization::QConfig` implements it with its weight observer; implement it yourself to
/// bring weights quantized by other means.
pub trait WeightQuantizer {
    /// The dtype weights are stored in; an error (a message) if the configuration has no
    /// dynamic weight dtype (only qint8 and float16 are supported, as in PyTorch).
    fn weight_dtype(&self) -> std::result::Result<WeightDType, String>;

    /// Observes `weight` (shape `(out, in)`) with a fresh observer and returns it quantized to
    /// qint8, per-tensor or per-channel along axis 0. Called only when
    /// [`WeightQuantizer::weight_dtype`] is [`WeightDType::QInt8`].
    fn quantize_weight(&self, weight: ArrayViewD<'_, f32>) -> std::result::Result<QTensor, String>;
}

/// Stores weights as float16 (`float16_dynamic_qconfig`); needs no observer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Float16Weights;

impl WeightQuantizer for Float16Weights {
    fn weight_dtype(&self) -> std::result::Result<WeightDType, String> {
        Ok(WeightDType::Float16)
    }

    fn quantize_weight(&self, _: ArrayViewD<'_, f32>) -> std::result::Result<QTensor, String> {
        Err("Float16Weights stores float16 weights; it does not quantize to qint8".into())
    }
}

/// The largest finite float16 value; fbgemm's fp16 packing saturates weights to `±FP16_MAX`.
pub const FP16_MAX: f32 = 65504.0;

/// The stored weight of a dynamic module.
#[derive(Debug, Clone, PartialEq)]
pub enum DynamicWeight {
    /// A qint8 tensor, per-tensor or per-channel along axis 0.
    QInt8(QTensor),
    /// Float16 values (saturated to `±65504`, rounded to nearest even).
    Float16(ArrayD<f16>),
}

impl DynamicWeight {
    /// Builds the weight `name` of `module` from float values with `quantizer`: a qint8 tensor
    /// from its observer, or float16 values.
    ///
    /// Errors on NaN / infinite weights, a failing quantizer, or a quantized result that is not
    /// qint8 with the weight's shape and parameters along axis 0.
    pub fn from_float(
        module: &'static str,
        name: &str,
        weight: ArrayViewD<'_, f32>,
        quantizer: &dyn WeightQuantizer,
    ) -> Result<DynamicWeight> {
        let fail = |reason: String| DynamicError::WeightQuantization {
            module,
            name: name.to_string(),
            reason,
        };
        if weight.iter().any(|v| !v.is_finite()) {
            return Err(DynamicError::NonFinite {
                module,
                arg: format!("weight '{name}'"),
            });
        }
        match quantizer.weight_dtype().map_err(fail)? {
            WeightDType::Float16 => Ok(DynamicWeight::float16(weight)),
            WeightDType::QInt8 => {
                let q = quantizer.quantize_weight(weight.view()).map_err(fail)?;
                check_qint8(module, name, &q, weight.shape())?;
                Ok(DynamicWeight::QInt8(q))
            }
        }
    }

    /// Float16 weights from float values: saturated to `±65504` (as PyTorch's fp16 prepack
    /// does, with a warning there), then rounded to nearest even.
    pub fn float16(weight: ArrayViewD<'_, f32>) -> DynamicWeight {
        DynamicWeight::Float16(weight.mapv(|v| f16::from_f32(v.clamp(-FP16_MAX, FP16_MAX))))
    }

    /// The storage dtype.
    pub fn dtype(&self) -> WeightDType {
        match self {
            DynamicWeight::QInt8(_) => WeightDType::QInt8,
            DynamicWeight::Float16(_) => WeightDType::Float16,
        }
    }

    /// The shape, `(out_features, in_features)`.
    pub fn shape(&self) -> &[usize] {
        match self {
            DynamicWeight::QInt8(q) => q.shape(),
            DynamicWeight::Float16(a) => a.shape(),
        }
    }

    /// The weight as float values (dequantized, or widened from float16).
    pub fn to_f32(&self) -> ArrayD<f32> {
        match self {
            DynamicWeight::QInt8(q) => q.dequantize(),
            DynamicWeight::Float16(a) => a.mapv(f16::to_f32),
        }
    }

    /// The quantization scheme as PyTorch prints it (`torch.per_tensor_affine`), for qint8.
    pub fn qscheme(&self) -> Option<qtensor::QScheme> {
        match self {
            DynamicWeight::QInt8(q) => Some(q.qscheme()),
            DynamicWeight::Float16(_) => None,
        }
    }
}

/// Checks what a quantizer returned: qint8, the weight's shape, per-channel only along axis 0.
fn check_qint8(module: &'static str, name: &str, q: &QTensor, shape: &[usize]) -> Result<()> {
    let fail = |reason: String| DynamicError::WeightQuantization {
        module,
        name: name.to_string(),
        reason,
    };
    if q.dtype() != QDType::QInt8 {
        return Err(fail(format!(
            "dynamic modules take qint8 or float16 weights, the observer produced {}",
            q.dtype()
        )));
    }
    if q.shape() != shape {
        return Err(fail(format!(
            "the quantizer returned shape {:?} for a weight of shape {shape:?}",
            q.shape()
        )));
    }
    match q.qparams() {
        QParams::PerTensor { .. } | QParams::PerChannel { axis: 0, .. } => Ok(()),
        QParams::PerChannel { axis, .. } => Err(fail(format!(
            "per-channel weights must be quantized along axis 0 (output features), got axis {axis}"
        ))),
        QParams::PerChannelFloat { .. } => Err(fail(
            "float-qparams weights are for embeddings, not linear layers".into(),
        )),
    }
}
