//! Per-tensor affine quantization parameters and views over quantized data.

use super::QInt;
use crate::op_error::OpError;

/// Per-tensor affine quantization: `real = scale * (q - zero_point)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    /// Step between consecutive quantized values.
    pub scale: f64,
    /// Quantized value that represents real 0.
    pub zero_point: i32,
}

impl Affine {
    /// Parameters from a scale and a zero point (checked where used).
    pub const fn new(scale: f64, zero_point: i32) -> Self {
        Affine { scale, zero_point }
    }

    /// Checks that the scale is finite and positive (also once rounded to
    /// `f32`, as the kernels use it) and that the zero point is representable
    /// in `T`.
    pub fn validate<T: QInt>(&self, what: &'static str) -> Result<(), OpError> {
        let s32 = self.scale as f32;
        if !(self.scale.is_finite() && self.scale > 0.0 && s32.is_finite() && s32 > 0.0) {
            return Err(OpError::InvalidScale {
                what,
                scale: self.scale,
            });
        }
        if self.zero_point < T::QMIN || self.zero_point > T::QMAX {
            return Err(OpError::ZeroPointOutOfRange {
                what,
                zero_point: self.zero_point,
                min: T::QMIN,
                max: T::QMAX,
            });
        }
        Ok(())
    }

    /// `scale` rounded to `f32`, as PyTorch's kernels hold it.
    pub fn scale_f32(&self) -> f32 {
        self.scale as f32
    }
}

/// Borrowed quantized data with its parameters.
#[derive(Clone, Copy, Debug)]
pub struct QView<'a, T> {
    /// Quantized values (row-major).
    pub data: &'a [T],
    /// Their quantization parameters.
    pub q: Affine,
}

impl<'a, T: QInt> QView<'a, T> {
    /// A view of `data` quantized with `q`.
    pub const fn new(data: &'a [T], q: Affine) -> Self {
        QView { data, q }
    }
}

/// Owned quantized data with the parameters an operator chose for it.
#[derive(Clone, Debug, PartialEq)]
pub struct QVec<T> {
    /// Quantized values (row-major).
    pub data: Vec<T>,
    /// Their quantization parameters.
    pub q: Affine,
}
