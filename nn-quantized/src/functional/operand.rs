//! Turning `QTensor` operands into kernel views and kernel outputs back into `QTensor`s.

use ndarray::{ArrayD, IxDyn};
use qkernels_x86::quant::{Affine, QInt};
use qtensor::{QDType, QParams, QStorage, QTensor};

use super::QOpError;

/// The per-tensor parameters of an activation operand, or a typed error.
pub fn affine(op: &'static str, arg: &'static str, x: &QTensor) -> Result<Affine, QOpError> {
    match x.qparams() {
        QParams::PerTensor { scale, zero_point } => Ok(Affine::new(*scale, *zero_point as i32)),
        _ => Err(QOpError::PerChannelActivation { op, arg }),
    }
}

/// Output parameters given by the caller, checked against the dtype.
pub fn out_affine(scale: f64, zero_point: i64, dtype: QDType) -> Result<Affine, QOpError> {
    qtensor::check_scale("output scale", scale)?;
    qtensor::check_zero_point("output zero_point", zero_point, dtype)?;
    Ok(Affine::new(scale, zero_point as i32))
}

/// Builds a per-tensor quantized tensor from kernel output.
pub fn build<T: QStorage>(shape: &[usize], data: Vec<T>, q: Affine) -> Result<QTensor, QOpError> {
    let array = ArrayD::from_shape_vec(IxDyn(shape), data).map_err(|e| QOpError::Shape {
        op: "output",
        msg: e.to_string(),
    })?;
    Ok(QTensor::from_int_repr(
        T::wrap(array),
        QParams::PerTensor {
            scale: q.scale,
            zero_point: i64::from(q.zero_point),
        },
    )?)
}

/// An 8-bit activation storage type usable by the kernels (`u8` quint8, `i8` qint8).
pub trait Act: QInt + QStorage {
    /// The tensor's values if its dtype is this type.
    fn values(x: &QTensor) -> Option<&[Self]>;
}

impl Act for u8 {
    fn values(x: &QTensor) -> Option<&[u8]> {
        x.as_u8().and_then(|v| v.to_slice())
    }
}

impl Act for i8 {
    fn values(x: &QTensor) -> Option<&[i8]> {
        x.as_i8().and_then(|v| v.to_slice())
    }
}

/// The values of operand `arg` as `T`, or a dtype error.
pub fn values<'a, T: Act>(
    op: &'static str,
    arg: &'static str,
    x: &'a QTensor,
) -> Result<&'a [T], QOpError> {
    T::values(x).ok_or(QOpError::DType {
        op,
        arg,
        got: x.dtype(),
        expected: T::NAME,
    })
}

/// Calls `$f::<T>(args)` with `T` the storage type of the 8-bit activation `$x`; qint32 is a
/// typed error.
macro_rules! by_dtype {
    ($op:expr, $x:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $x.dtype() {
            qtensor::QDType::QUInt8 => $f::<u8>($($arg),*),
            qtensor::QDType::QInt8 => $f::<i8>($($arg),*),
            got @ qtensor::QDType::QInt32 => Err($crate::functional::QOpError::DType {
                op: $op,
                arg: "input",
                got,
                expected: "quint8 or qint8",
            }),
        }
    };
}
pub(crate) use by_dtype;

/// Maps a kernel error into [`QOpError::Kernel`].
pub fn kernel_err<E: std::fmt::Display>(op: &'static str) -> impl Fn(E) -> QOpError {
    move |e| QOpError::Kernel {
        op,
        msg: e.to_string(),
    }
}
