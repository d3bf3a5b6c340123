//! Quantized element types (`torch.quint8`, `torch.qint8`, `torch.qint32`).

use std::fmt;

/// A quantized dtype: the integer type that stores the values and its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QDType {
    /// Unsigned 8-bit (`torch.quint8`), range 0..=255; the usual activation type.
    QUInt8,
    /// Signed 8-bit (`torch.qint8`), range -128..=127; the usual weight type.
    QInt8,
    /// Signed 32-bit (`torch.qint32`); used for biases and accumulators.
    QInt32,
}

impl QDType {
    /// Smallest representable integer value.
    pub const fn min(self) -> i64 {
        match self {
            QDType::QUInt8 => 0,
            QDType::QInt8 => -128,
            QDType::QInt32 => i32::MIN as i64,
        }
    }

    /// Largest representable integer value.
    pub const fn max(self) -> i64 {
        match self {
            QDType::QUInt8 => 255,
            QDType::QInt8 => 127,
            QDType::QInt32 => i32::MAX as i64,
        }
    }

    /// Bits of storage per element.
    pub const fn bits(self) -> u32 {
        match self {
            QDType::QUInt8 | QDType::QInt8 => 8,
            QDType::QInt32 => 32,
        }
    }

    /// PyTorch's name for it (`quint8`, ...), as used in fixtures and printed output.
    pub const fn name(self) -> &'static str {
        match self {
            QDType::QUInt8 => "quint8",
            QDType::QInt8 => "qint8",
            QDType::QInt32 => "qint32",
        }
    }

    /// Parses PyTorch's name (`quint8`, `torch.qint8`, ...).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim_start_matches("torch.") {
            "quint8" => Some(QDType::QUInt8),
            "qint8" => Some(QDType::QInt8),
            "qint32" => Some(QDType::QInt32),
            _ => None,
        }
    }
}

impl fmt::Display for QDType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "torch.{}", self.name())
    }
}
