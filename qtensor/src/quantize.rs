//! Float -> quantized conversions (`torch.quantize_per_tensor`, `quantize_per_channel`,
//! `quantize_per_tensor_dynamic`) and requantization.

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::qparams::{check_scale, check_zero_point};
use crate::rounding::{choose_qparams, inv_scale, quantize_val};
use crate::tensor::{inner_size, QStorage};
use crate::{QDType, QData, QError, QParams, QTensor};

/// Quantizes `x` with one scale and zero point: `zp + round_half_even(x * (1/scale))`, clamped
/// to the dtype's range (PyTorch's numerics; NaN maps to the zero point).
///
/// Errors if `scale` is not finite and positive or `zero_point` does not fit `dtype`.
pub fn quantize_per_tensor(
    x: ArrayViewD<'_, f32>,
    scale: f64,
    zero_point: i64,
    dtype: QDType,
) -> Result<QTensor, QError> {
    check_scale("scale", scale)?;
    check_zero_point("zero_point", zero_point, dtype)?;
    let inv = inv_scale(scale);
    let (lo, hi) = (dtype.min(), dtype.max());
    let zp = zero_point as i32;
    let data = build(dtype, x, |_, v| quantize_val(v, inv, zp, lo, hi));
    Ok(QTensor::from_parts(
        data,
        QParams::PerTensor { scale, zero_point },
    ))
}

/// Quantizes `x` with a scale and zero point per index of `axis`.
///
/// Errors if `axis` is out of range, the parameter counts differ from the axis size, or any
/// scale / zero point is invalid for `dtype`.
pub fn quantize_per_channel(
    x: ArrayViewD<'_, f32>,
    scales: &[f64],
    zero_points: &[i64],
    axis: usize,
    dtype: QDType,
) -> Result<QTensor, QError> {
    let qparams = QParams::PerChannel {
        scales: scales.to_vec(),
        zero_points: zero_points.to_vec(),
        axis,
    };
    qparams.validate(dtype, x.shape())?;
    let invs: Vec<f32> = scales.iter().map(|&s| inv_scale(s)).collect();
    let inner = inner_size(x.shape(), axis).max(1);
    let channels = scales.len().max(1);
    let (lo, hi) = (dtype.min(), dtype.max());
    let data = build(dtype, x, |i, v| {
        let c = (i / inner) % channels;
        quantize_val(v, invs[c], zero_points[c] as i32, lo, hi)
    });
    Ok(QTensor::from_parts(data, qparams))
}

/// Quantizes `x` per channel with float zero points (`per_channel_affine_float_qparams`, used
/// for embedding weights): `q = round_half_even(x * (1/scale) + zero_point)`, clamped.
pub fn quantize_per_channel_float_qparams(
    x: ArrayViewD<'_, f32>,
    scales: &[f32],
    zero_points: &[f32],
    axis: usize,
    dtype: QDType,
) -> Result<QTensor, QError> {
    if dtype != QDType::QUInt8 {
        return Err(QError::UnsupportedDType {
            op: "quantize_per_channel_float_qparams",
            dtype,
            hint: "float qparams store quint8 values",
        });
    }
    let qparams = QParams::PerChannelFloat {
        scales: scales.to_vec(),
        zero_points: zero_points.to_vec(),
        axis,
    };
    qparams.validate(dtype, x.shape())?;
    let inner = inner_size(x.shape(), axis).max(1);
    let channels = scales.len().max(1);
    let (lo, hi) = (dtype.min(), dtype.max());
    let data = build(dtype, x, |i, v| {
        let c = (i / inner) % channels;
        let t = (v * (1.0 / scales[c]) + zero_points[c]).round_ties_even();
        if t.is_nan() {
            0
        } else {
            (t as i64).clamp(lo, hi)
        }
    });
    Ok(QTensor::from_parts(data, qparams))
}

/// Quantizes `x` with parameters chosen from its own min and max
/// (`torch.quantize_per_tensor_dynamic`), as PyTorch's `ChooseQuantizationParams`;
/// `reduce_range` uses half the integer range (fbgemm's 7-bit activations).
///
/// Errors on an empty tensor, a NaN in `x`, or `qint32` (not supported by PyTorch either).
pub fn quantize_per_tensor_dynamic(
    x: ArrayViewD<'_, f32>,
    dtype: QDType,
    reduce_range: bool,
) -> Result<QTensor, QError> {
    let op = "quantize_per_tensor_dynamic";
    if dtype == QDType::QInt32 {
        return Err(QError::UnsupportedDType {
            op,
            dtype,
            hint: "use quint8 or qint8",
        });
    }
    let (min, max) = min_max(x.view(), op)?;
    let (scale, zero_point) = choose_qparams(
        min,
        max,
        dtype.min() as i32,
        dtype.max() as i32,
        false,
        reduce_range,
    );
    quantize_per_tensor(x, scale, i64::from(zero_point), dtype)
}

/// Minimum and maximum of `x`; errors if it is empty or holds NaN.
pub fn min_max(x: ArrayViewD<'_, f32>, op: &'static str) -> Result<(f32, f32), QError> {
    if x.is_empty() {
        return Err(QError::Empty { op });
    }
    let mut min = f32::INFINITY;
    let mut max = f32::NEG_INFINITY;
    for &v in x.iter() {
        if v.is_nan() {
            return Err(QError::NaN { op });
        }
        min = min.min(v);
        max = max.max(v);
    }
    Ok((min, max))
}

impl QTensor {
    /// Re-expresses the tensor with new parameters and dtype: dequantize, then quantize.
    pub fn requantize(&self, qparams: &QParams, dtype: QDType) -> Result<QTensor, QError> {
        let x = self.dequantize();
        match qparams {
            QParams::PerTensor { scale, zero_point } => {
                quantize_per_tensor(x.view(), *scale, *zero_point, dtype)
            }
            QParams::PerChannel {
                scales,
                zero_points,
                axis,
            } => quantize_per_channel(x.view(), scales, zero_points, *axis, dtype),
            QParams::PerChannelFloat {
                scales,
                zero_points,
                axis,
            } => quantize_per_channel_float_qparams(x.view(), scales, zero_points, *axis, dtype),
        }
    }
}

/// Applies `f(flat_index, value)` to every element of `x` in row-major order, storing as `dtype`.
fn build(dtype: QDType, x: ArrayViewD<'_, f32>, f: impl Fn(usize, f32) -> i64) -> QData {
    fn go<T: QStorage>(x: ArrayViewD<'_, f32>, f: impl Fn(usize, f32) -> i64) -> QData {
        let v: Vec<T> = x
            .iter()
            .enumerate()
            .map(|(i, &v)| T::from_i64(f(i, v)))
            .collect();
        T::wrap(ArrayD::from_shape_vec(IxDyn(x.shape()), v).expect("same element count"))
    }
    match dtype {
        QDType::QUInt8 => go::<u8>(x, f),
        QDType::QInt8 => go::<i8>(x, f),
        QDType::QInt32 => go::<i32>(x, f),
    }
}
