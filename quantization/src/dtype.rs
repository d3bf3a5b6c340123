//! The dtype an observer or fake-quantize module targets (`dtype=` in PyTorch).

use std::fmt;

use qtensor::QDType;

/// Target dtype of an observer: a quantized integer type, or a float type for the placeholder
/// observers used by float16 / weight-only configurations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// `torch.quint8`, 0..=255.
    QUInt8,
    /// `torch.qint8`, -128..=127.
    QInt8,
    /// `torch.qint32`.
    QInt32,
    /// `torch.quint4x2` (two 4-bit values per byte, 0..=15; embedding weights).
    QUInt4x2,
    /// `torch.float16` (placeholder observers only).
    Float16,
    /// `torch.float32` (placeholder observers only).
    Float32,
}

impl DType {
    /// The quantized tensor dtype this maps to, if there is one in `qtensor`.
    pub const fn qdtype(self) -> Option<QDType> {
        match self {
            DType::QUInt8 => Some(QDType::QUInt8),
            DType::QInt8 => Some(QDType::QInt8),
            DType::QInt32 => Some(QDType::QInt32),
            DType::QUInt4x2 | DType::Float16 | DType::Float32 => None,
        }
    }

    /// True for the integer (quantized) dtypes.
    pub const fn is_quantized(self) -> bool {
        !matches!(self, DType::Float16 | DType::Float32)
    }

    /// `torch.iinfo(dtype).min / .max`, for the quantized dtypes.
    pub const fn int_range(self) -> Option<(i64, i64)> {
        match self {
            DType::QUInt8 => Some((0, 255)),
            DType::QInt8 => Some((-128, 127)),
            DType::QInt32 => Some((i32::MIN as i64, i32::MAX as i64)),
            DType::QUInt4x2 => Some((0, 15)),
            DType::Float16 | DType::Float32 => None,
        }
    }

    /// `torch.iinfo(dtype).bits`: 8 for the 8-bit types, 32 for qint32 (quint4x2 reports 8, as
    /// its storage byte does).
    pub const fn bits(self) -> u32 {
        match self {
            DType::QUInt8 | DType::QInt8 | DType::QUInt4x2 => 8,
            DType::QInt32 | DType::Float32 => 32,
            DType::Float16 => 16,
        }
    }

    /// PyTorch's name (`quint8`, `float16`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            DType::QUInt8 => "quint8",
            DType::QInt8 => "qint8",
            DType::QInt32 => "qint32",
            DType::QUInt4x2 => "quint4x2",
            DType::Float16 => "float16",
            DType::Float32 => "float32",
        }
    }

    /// Parses PyTorch's name, with or without the `torch.` prefix.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            DType::QUInt8,
            DType::QInt8,
            DType::QInt32,
            DType::QUInt4x2,
            DType::Float16,
            DType::Float32,
        ]
        .into_iter()
        .find(|d| d.name() == name.trim_start_matches("torch."))
    }
}

impl From<QDType> for DType {
    fn from(d: QDType) -> Self {
        match d {
            QDType::QUInt8 => DType::QUInt8,
            QDType::QInt8 => DType::QInt8,
            QDType::QInt32 => DType::QInt32,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "torch.{}", self.name())
    }
}
