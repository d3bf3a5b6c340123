//! One entry of a quantized model's state: a quantized tensor (values + qparams), or a float
//! or integer tensor, with its element type and shape.

use std::fmt;

use ndarray::{ArrayD, IxDyn};
use qtensor::{QDType, QScheme, QTensor};

/// The element type of a state entry (`"qint8"`, `"float32"` ... in the file's metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateDType {
    /// `torch.quint8` values (embedding tables).
    QUInt8,
    /// `torch.qint8` values (linear / convolution weights).
    QInt8,
    /// `torch.qint32` values.
    QInt32,
    /// float16 (weights of float16 dynamic modules).
    Float16,
    /// float32 (biases, batch-norm statistics, float parameters).
    Float32,
    /// float64 (output scales, kept exactly).
    Float64,
    /// int64 (output zero points, `num_batches_tracked`).
    Int64,
}

impl StateDType {
    /// Every element type, for parsing.
    pub const ALL: [StateDType; 7] = [
        StateDType::QUInt8,
        StateDType::QInt8,
        StateDType::QInt32,
        StateDType::Float16,
        StateDType::Float32,
        StateDType::Float64,
        StateDType::Int64,
    ];

    /// The name written in the file (`"qint8"`, `"float32"` ...).
    pub const fn name(self) -> &'static str {
        match self {
            StateDType::QUInt8 => "quint8",
            StateDType::QInt8 => "qint8",
            StateDType::QInt32 => "qint32",
            StateDType::Float16 => "float16",
            StateDType::Float32 => "float32",
            StateDType::Float64 => "float64",
            StateDType::Int64 => "int64",
        }
    }

    /// Parses [`StateDType::name`].
    pub fn from_name(name: &str) -> Option<StateDType> {
        StateDType::ALL.into_iter().find(|d| d.name() == name)
    }

    /// The quantized dtype, for the quantized element types.
    pub const fn qdtype(self) -> Option<QDType> {
        match self {
            StateDType::QUInt8 => Some(QDType::QUInt8),
            StateDType::QInt8 => Some(QDType::QInt8),
            StateDType::QInt32 => Some(QDType::QInt32),
            _ => None,
        }
    }

    /// The element type of a quantized dtype.
    pub const fn of_qdtype(d: QDType) -> StateDType {
        match d {
            QDType::QUInt8 => StateDType::QUInt8,
            QDType::QInt8 => StateDType::QInt8,
            QDType::QInt32 => StateDType::QInt32,
        }
    }
}

impl fmt::Display for StateDType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a loader checks an entry against: element type and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    /// Element type.
    pub dtype: StateDType,
    /// Shape (`[]` for a scalar).
    pub shape: Vec<usize>,
}

impl fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.dtype, self.shape)
    }
}

/// One entry of a quantized state dict.
#[derive(Debug, Clone, PartialEq)]
pub enum QStateTensor {
    /// A quantized tensor: integer values with their scale(s), zero point(s) and axis.
    Quantized(QTensor),
    /// float16 values (float16 dynamic weights).
    F16(ArrayD<half::f16>),
    /// float32 values.
    F32(ArrayD<f32>),
    /// float64 values (output scales).
    F64(ArrayD<f64>),
    /// int64 values (output zero points, counters).
    I64(ArrayD<i64>),
}

impl QStateTensor {
    /// A 0-dimensional float64 entry (an output `scale`).
    pub fn scalar_f64(v: f64) -> QStateTensor {
        QStateTensor::F64(ArrayD::from_elem(IxDyn(&[]), v))
    }

    /// A 0-dimensional int64 entry (an output `zero_point`).
    pub fn scalar_i64(v: i64) -> QStateTensor {
        QStateTensor::I64(ArrayD::from_elem(IxDyn(&[]), v))
    }

    /// A float32 entry of the given shape from row-major values; `None` if the count differs.
    pub fn f32_with_shape(values: &[f32], shape: &[usize]) -> Option<QStateTensor> {
        ArrayD::from_shape_vec(IxDyn(shape), values.to_vec())
            .ok()
            .map(QStateTensor::F32)
    }

    /// A 1-dimensional float32 entry (a bias, per-channel statistics).
    pub fn vector_f32(values: &[f32]) -> QStateTensor {
        QStateTensor::F32(ndarray::Array1::from(values.to_vec()).into_dyn())
    }

    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            QStateTensor::Quantized(q) => q.shape(),
            QStateTensor::F16(a) => a.shape(),
            QStateTensor::F32(a) => a.shape(),
            QStateTensor::F64(a) => a.shape(),
            QStateTensor::I64(a) => a.shape(),
        }
    }

    /// The element type.
    pub fn dtype(&self) -> StateDType {
        match self {
            QStateTensor::Quantized(q) => StateDType::of_qdtype(q.dtype()),
            QStateTensor::F16(_) => StateDType::Float16,
            QStateTensor::F32(_) => StateDType::Float32,
            QStateTensor::F64(_) => StateDType::Float64,
            QStateTensor::I64(_) => StateDType::Int64,
        }
    }

    /// The quantization scheme of a quantized entry (`None` for the others).
    pub fn qscheme(&self) -> Option<QScheme> {
        match self {
            QStateTensor::Quantized(q) => Some(q.qscheme()),
            _ => None,
        }
    }

    /// Element type and shape.
    pub fn spec(&self) -> TensorSpec {
        TensorSpec {
            dtype: self.dtype(),
            shape: self.shape().to_vec(),
        }
    }

    /// The entry as `nn`'s float state-dict form, for float32 and int64 entries.
    pub fn to_nn(&self) -> Option<nn::StateTensor> {
        match self {
            QStateTensor::F32(a) => Some(nn::StateTensor::F32(a.clone())),
            QStateTensor::I64(a) => Some(nn::StateTensor::I64(a.clone())),
            _ => None,
        }
    }
}

impl From<nn::StateTensor> for QStateTensor {
    fn from(t: nn::StateTensor) -> QStateTensor {
        match t {
            nn::StateTensor::F32(a) => QStateTensor::F32(a),
            nn::StateTensor::I64(a) => QStateTensor::I64(a),
        }
    }
}

impl From<QTensor> for QStateTensor {
    fn from(q: QTensor) -> QStateTensor {
        QStateTensor::Quantized(q)
    }
}
