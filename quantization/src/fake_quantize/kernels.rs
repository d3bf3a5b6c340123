//! The element-wise fake-quant kernels the modules apply: `qtensor`'s per-tensor / per-channel
//! ones, plus the float-zero-point per-channel forward and the per-channel learnable backward
//! that `qtensor` does not have.

use ndarray::{ArrayD, ArrayViewD, Axis, Zip};
use qtensor::FakeQuantized;

use crate::observer::ZeroPoints;
use crate::QuantError;

/// Fake-quantizes `x` with the given parameters: per-tensor when `axis` is `None`, otherwise per
/// channel along `axis` (integer or float zero points).
pub(crate) fn fake_quantize(
    x: ArrayViewD<'_, f32>,
    scales: &[f32],
    zero_points: &ZeroPoints,
    axis: Option<usize>,
    quant_min: i64,
    quant_max: i64,
) -> Result<FakeQuantized, QuantError> {
    Ok(match (axis, zero_points) {
        (None, ZeroPoints::Int(z)) => {
            qtensor::fake_quantize_per_tensor_affine(x, scales[0], z[0], quant_min, quant_max)?
        }
        (Some(axis), ZeroPoints::Int(z)) => {
            qtensor::fake_quantize_per_channel_affine(x, scales, z, axis, quant_min, quant_max)?
        }
        (axis, ZeroPoints::Float(z)) => {
            per_channel_float_zp(x, scales, z, axis.unwrap_or(0), quant_min, quant_max)?
        }
    })
}

fn check_channels(
    x: &ArrayViewD<'_, f32>,
    axis: usize,
    counts: [usize; 2],
) -> Result<(), QuantError> {
    let shape = x.shape();
    if axis >= shape.len() {
        return Err(qtensor::QError::AxisOutOfRange {
            arg: "axis",
            axis,
            rank: shape.len(),
        }
        .into());
    }
    for (arg, got) in ["scales", "zero_points"].into_iter().zip(counts) {
        if got != shape[axis] {
            return Err(qtensor::QError::ChannelCountMismatch {
                arg,
                got,
                expected: shape[axis],
                axis,
            }
            .into());
        }
    }
    Ok(())
}

/// Per-channel fake quantization with float zero points (PyTorch's float-zero-point CPU kernel):
/// `q = round(zp + x * (1/scale))`, `y = (clamp(q) - zp) * scale`, in `f32`.
pub(crate) fn per_channel_float_zp(
    x: ArrayViewD<'_, f32>,
    scales: &[f32],
    zero_points: &[f32],
    axis: usize,
    quant_min: i64,
    quant_max: i64,
) -> Result<FakeQuantized, QuantError> {
    check_channels(&x, axis, [scales.len(), zero_points.len()])?;
    for &s in scales {
        qtensor::check_scale("scales", f64::from(s))?;
    }
    let mut y = x.to_owned();
    let mut mask = ArrayD::from_elem(x.raw_dim(), false);
    let (lo, hi) = (quant_min as f32, quant_max as f32);
    for (c, (mut yc, mut mc)) in y
        .axis_iter_mut(Axis(axis))
        .zip(mask.axis_iter_mut(Axis(axis)))
        .enumerate()
    {
        let (s, z) = (scales[c], zero_points[c]);
        let inv = 1.0f32 / s;
        Zip::from(&mut yc).and(&mut mc).for_each(|v, m| {
            let q = (z + *v * inv).round_ties_even();
            *m = lo <= q && q <= hi;
            *v = (q.max(lo).min(hi) - z) * s;
        });
    }
    Ok(FakeQuantized { y, mask })
}

/// Gradients of the learnable per-channel fake quantization, per channel.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelGrads {
    /// Gradient with respect to the input.
    pub grad_x: ArrayD<f32>,
    /// Gradient with respect to each channel's scale.
    pub grad_scale: Vec<f32>,
    /// Gradient with respect to each channel's (float) zero point.
    pub grad_zero_point: Vec<f32>,
}

/// Backward of `_fake_quantize_learnable_per_channel_affine` (PyTorch's CPU kernel, zero points
/// rounded half to even and clamped): in-range elements pass `grad_y` to `x` and add
/// `grad_y * (fq(x) - x) / scale` to their channel's scale gradient; out-of-range ones add
/// `grad_y * (qmin|qmax - zp)` to the scale and `-grad_y * scale` to the zero point; both scaled
/// by `grad_factor`. Channel sums are accumulated in `f64`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn learnable_per_channel_backward(
    grad_y: ArrayViewD<'_, f32>,
    x: ArrayViewD<'_, f32>,
    scales: &[f32],
    zero_points: &[f32],
    axis: usize,
    quant_min: i64,
    quant_max: i64,
    grad_factor: f32,
) -> Result<ChannelGrads, QuantError> {
    check_channels(&x, axis, [scales.len(), zero_points.len()])?;
    if grad_y.shape() != x.shape() {
        return Err(qtensor::QError::ShapeMismatch {
            arg: "grad_y",
            got: grad_y.shape().to_vec(),
            expected: x.shape().to_vec(),
        }
        .into());
    }
    let mut grad_x = ArrayD::zeros(x.raw_dim());
    let mut grad_scale = Vec::with_capacity(scales.len());
    let mut grad_zp = Vec::with_capacity(scales.len());
    for (c, ((xc, gc), mut dxc)) in x
        .axis_iter(Axis(axis))
        .zip(grad_y.axis_iter(Axis(axis)))
        .zip(grad_x.axis_iter_mut(Axis(axis)))
        .enumerate()
    {
        let s = scales[c];
        let z = zero_points[c]
            .round_ties_even()
            .clamp(quant_min as f32, quant_max as f32);
        let inv = 1.0f32 / s;
        let (small, big) = (quant_min as f32 - z, quant_max as f32 - z);
        let (mut ds, mut dz) = (0.0f64, 0.0f64);
        Zip::from(&xc)
            .and(&gc)
            .and(&mut dxc)
            .for_each(|&xv, &dy, dx| {
                let q = (z + xv * inv).round_ties_even() as i64;
                let inside = q >= quant_min && q <= quant_max;
                *dx = if inside { dy } else { 0.0 };
                if inside {
                    let fq = (q as f32 - z) * s;
                    ds += f64::from(dy * (fq - xv) * inv * grad_factor);
                } else {
                    let bound = if q < quant_min { small } else { big };
                    ds += f64::from(dy * bound * grad_factor);
                    dz += f64::from(-dy * s * grad_factor);
                }
            });
        grad_scale.push(ds as f32);
        grad_zp.push(dz as f32);
    }
    Ok(ChannelGrads {
        grad_x,
        grad_scale,
        grad_zero_point: grad_zp,
    })
}
