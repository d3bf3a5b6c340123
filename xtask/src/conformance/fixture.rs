//! The fixture file format (see `conformance/FORMAT.md`): cases and their tensors.

use std::collections::BTreeMap;

use ndarray::{ArrayD, IxDyn};
use qtensor::{QDType, QData, QParams, QTensor};
use serde::Deserialize;
use serde_json::Value;

/// One fixture file.
#[derive(Debug, Deserialize)]
pub struct FixtureFile {
    /// Which PyTorch produced it.
    #[serde(default)]
    pub generator: String,
    /// The cases, in order.
    pub cases: Vec<Case>,
}

/// One reference case.
#[derive(Debug, Deserialize)]
pub struct Case {
    /// Unique name.
    pub name: String,
    /// What is being tested; selects the handler.
    pub kind: String,
    /// Scalar parameters.
    #[serde(default)]
    pub params: BTreeMap<String, Value>,
    /// Input tensors (and lists of tensors).
    #[serde(default)]
    pub inputs: BTreeMap<String, Value>,
    /// Expected results.
    #[serde(default)]
    pub expected: BTreeMap<String, Value>,
}

/// A tensor as written in a fixture: plain (`data`) or quantized (`int_repr` + qparams).
#[derive(Debug, Clone, Deserialize)]
pub struct Tensor {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// `f32`, `u8`, ..., or a quantized dtype.
    pub dtype: String,
    /// Values of a plain tensor.
    #[serde(default)]
    pub data: Vec<f64>,
    /// Integer values of a quantized tensor.
    #[serde(default)]
    pub int_repr: Vec<i64>,
    /// Scheme of a quantized tensor.
    #[serde(default)]
    pub qscheme: Option<String>,
    /// Per-tensor scale.
    #[serde(default)]
    pub scale: Option<f64>,
    /// Per-tensor zero point.
    #[serde(default)]
    pub zero_point: Option<i64>,
    /// Per-channel scales.
    #[serde(default)]
    pub scales: Vec<f64>,
    /// Per-channel zero points (floats for the float-qparams scheme).
    #[serde(default)]
    pub zero_points: Vec<f64>,
    /// Per-channel axis.
    #[serde(default)]
    pub axis: Option<usize>,
}

impl Tensor {
    /// The values of a plain tensor as `f32` (exact: fixtures write exact f32 values).
    pub fn to_f32(&self) -> Result<ArrayD<f32>, String> {
        let values: Vec<f32> = if self.int_repr.is_empty() {
            self.data.iter().map(|&v| v as f32).collect()
        } else {
            return Err(format!("expected a plain tensor, got dtype {}", self.dtype));
        };
        ArrayD::from_shape_vec(IxDyn(&self.shape), values)
            .map_err(|e| format!("tensor of shape {:?}: {e}", self.shape))
    }

    /// The quantized dtype, if this is a quantized tensor.
    pub fn qdtype(&self) -> Option<QDType> {
        QDType::from_name(&self.dtype)
    }

    /// The quantization parameters of a quantized tensor.
    pub fn qparams(&self) -> Result<QParams, String> {
        match self.qscheme.as_deref() {
            Some("per_tensor_affine" | "per_tensor_symmetric") => Ok(QParams::PerTensor {
                scale: self.scale.ok_or("missing scale")?,
                zero_point: self.zero_point.ok_or("missing zero_point")?,
            }),
            Some("per_channel_affine" | "per_channel_symmetric") => Ok(QParams::PerChannel {
                scales: self.scales.clone(),
                zero_points: self.zero_points.iter().map(|&z| z as i64).collect(),
                axis: self.axis.ok_or("missing axis")?,
            }),
            Some("per_channel_affine_float_qparams") => Ok(QParams::PerChannelFloat {
                scales: self.scales.iter().map(|&s| s as f32).collect(),
                zero_points: self.zero_points.iter().map(|&z| z as f32).collect(),
                axis: self.axis.ok_or("missing axis")?,
            }),
            other => Err(format!("not a quantized tensor (qscheme {other:?})")),
        }
    }

    /// The tensor as a [`QTensor`].
    pub fn to_qtensor(&self) -> Result<QTensor, String> {
        let dtype = self
            .qdtype()
            .ok_or_else(|| format!("dtype {} is not quantized", self.dtype))?;
        let dim = IxDyn(&self.shape);
        let ints = &self.int_repr;
        let bad = |e: ndarray::ShapeError| format!("shape {:?}: {e}", self.shape);
        let data = match dtype {
            QDType::QUInt8 => QData::QUInt8(
                ArrayD::from_shape_vec(dim, ints.iter().map(|&v| v as u8).collect())
                    .map_err(bad)?,
            ),
            QDType::QInt8 => QData::QInt8(
                ArrayD::from_shape_vec(dim, ints.iter().map(|&v| v as i8).collect())
                    .map_err(bad)?,
            ),
            QDType::QInt32 => QData::QInt32(
                ArrayD::from_shape_vec(dim, ints.iter().map(|&v| v as i32).collect())
                    .map_err(bad)?,
            ),
        };
        QTensor::from_int_repr(data, self.qparams()?).map_err(|e| e.to_string())
    }
}

impl Case {
    /// A scalar or structured parameter.
    pub fn param(&self, key: &str) -> Result<&Value, String> {
        self.params
            .get(key)
            .ok_or_else(|| format!("missing param '{key}'"))
    }

    /// A numeric parameter.
    pub fn f64(&self, key: &str) -> Result<f64, String> {
        self.param(key)?
            .as_f64()
            .ok_or_else(|| format!("param '{key}' is not a number"))
    }

    /// An integer parameter.
    pub fn i64(&self, key: &str) -> Result<i64, String> {
        self.param(key)?
            .as_i64()
            .ok_or_else(|| format!("param '{key}' is not an integer"))
    }

    /// A string parameter.
    pub fn str(&self, key: &str) -> Result<&str, String> {
        self.param(key)?
            .as_str()
            .ok_or_else(|| format!("param '{key}' is not a string"))
    }

    /// An optional boolean parameter.
    pub fn bool_or(&self, key: &str, default: bool) -> bool {
        self.params
            .get(key)
            .and_then(Value::as_bool)
            .unwrap_or(default)
    }

    /// A list of numbers.
    pub fn f64s(&self, key: &str) -> Result<Vec<f64>, String> {
        self.param(key)?
            .as_array()
            .ok_or_else(|| format!("param '{key}' is not a list"))?
            .iter()
            .map(|v| {
                v.as_f64()
                    .ok_or_else(|| format!("param '{key}': not a number"))
            })
            .collect()
    }

    /// A list of integers.
    pub fn i64s(&self, key: &str) -> Result<Vec<i64>, String> {
        Ok(self.f64s(key)?.into_iter().map(|v| v as i64).collect())
    }

    /// An input tensor.
    pub fn input(&self, key: &str) -> Result<Tensor, String> {
        tensor_of(self.inputs.get(key), key)
    }

    /// A list of input tensors (e.g. observer batches).
    pub fn input_list(&self, key: &str) -> Result<Vec<Tensor>, String> {
        tensor_list(self.inputs.get(key), key)
    }

    /// An expected tensor.
    pub fn expected(&self, key: &str) -> Result<Tensor, String> {
        tensor_of(self.expected.get(key), key)
    }

    /// A list of expected tensors.
    pub fn expected_list(&self, key: &str) -> Result<Vec<Tensor>, String> {
        tensor_list(self.expected.get(key), key)
    }

    /// An expected scalar.
    pub fn expected_f64(&self, key: &str) -> Result<f64, String> {
        self.expected
            .get(key)
            .and_then(Value::as_f64)
            .ok_or_else(|| format!("missing expected number '{key}'"))
    }
}

fn tensor_of(v: Option<&Value>, key: &str) -> Result<Tensor, String> {
    let v = v.ok_or_else(|| format!("missing tensor '{key}'"))?;
    Tensor::deserialize(v).map_err(|e| format!("tensor '{key}': {e}"))
}

fn tensor_list(v: Option<&Value>, key: &str) -> Result<Vec<Tensor>, String> {
    let v = v.ok_or_else(|| format!("missing tensor list '{key}'"))?;
    Vec::<Tensor>::deserialize(v).map_err(|e| format!("tensor list '{key}': {e}"))
}
