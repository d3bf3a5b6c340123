//! Fake quantization: quantize then dequantize in float, with straight-through gradients
//! (`torch.fake_quantize_per_tensor_affine`, `_per_channel_affine`, and the learnable variant).

use ndarray::{ArrayD, ArrayViewD, Zip};

use crate::tensor::inner_size;
use crate::QError;

/// Output of a fake-quantize forward: the values and the mask of elements that were inside the
/// quantization range (gradients pass through those only).
#[derive(Debug, Clone, PartialEq)]
pub struct FakeQuantized {
    /// `(clamp(zp + round(x / scale), qmin, qmax) - zp) * scale`.
    pub y: ArrayD<f32>,
    /// True where `qmin <= zp + round(x / scale) <= qmax`.
    pub mask: ArrayD<bool>,
}

impl FakeQuantized {
    /// Straight-through backward: `grad_y` where the mask is set, 0 elsewhere.
    pub fn backward(&self, grad_y: ArrayViewD<'_, f32>) -> Result<ArrayD<f32>, QError> {
        if grad_y.shape() != self.mask.shape() {
            return Err(QError::ShapeMismatch {
                arg: "grad_y",
                got: grad_y.shape().to_vec(),
                expected: self.mask.shape().to_vec(),
            });
        }
        Ok(Zip::from(&grad_y)
            .and(&self.mask)
            .map_collect(|&g, &m| g * f32::from(u8::from(m))))
    }
}

/// Checks `quant_min < quant_max` and that a zero point lies between them.
fn check_range(quant_min: i64, quant_max: i64) -> Result<(), QError> {
    if quant_min < quant_max {
        Ok(())
    } else {
        Err(QError::BadQuantRange {
            quant_min,
            quant_max,
            detail: String::new(),
        })
    }
}

fn check_zero_point_in(zero_point: i64, quant_min: i64, quant_max: i64) -> Result<(), QError> {
    if (quant_min..=quant_max).contains(&zero_point) {
        Ok(())
    } else {
        Err(QError::BadQuantRange {
            quant_min,
            quant_max,
            detail: format!(" and zero point {zero_point} inside it"),
        })
    }
}

/// One element of fake quantization, PyTorch's CPU kernel: returns the value and whether it was
/// in range. All arithmetic in `f32`, `inv_scale = 1.0 / scale`.
#[inline]
fn fake_quant_val(
    x: f32,
    scale: f32,
    inv_scale: f32,
    zp: i64,
    qmin: i64,
    qmax: i64,
) -> (f32, bool) {
    let qf = zp as f32 + (x * inv_scale).round_ties_even();
    let q = (qf.max(qmin as f32).min(qmax as f32)) as i64;
    let y = (q - zp) as f32 * scale;
    (y, qmin as f32 <= qf && qf <= qmax as f32)
}

/// Fake-quantizes `x` with one scale and zero point (`fake_quantize_per_tensor_affine`).
///
/// Errors if `scale` is not finite and positive, `quant_min >= quant_max`, or the zero point lies
/// outside `quant_min..=quant_max`.
pub fn fake_quantize_per_tensor_affine(
    x: ArrayViewD<'_, f32>,
    scale: f32,
    zero_point: i64,
    quant_min: i64,
    quant_max: i64,
) -> Result<FakeQuantized, QError> {
    crate::qparams::check_scale("scale", f64::from(scale))?;
    check_range(quant_min, quant_max)?;
    check_zero_point_in(zero_point, quant_min, quant_max)?;
    let inv = 1.0f32 / scale;
    let pairs = x.mapv(|v| fake_quant_val(v, scale, inv, zero_point, quant_min, quant_max));
    Ok(FakeQuantized {
        y: pairs.mapv(|p| p.0),
        mask: pairs.mapv(|p| p.1),
    })
}

/// Fake-quantizes `x` with a scale and zero point per index of `axis`
/// (`fake_quantize_per_channel_affine`).
pub fn fake_quantize_per_channel_affine(
    x: ArrayViewD<'_, f32>,
    scales: &[f32],
    zero_points: &[i64],
    axis: usize,
    quant_min: i64,
    quant_max: i64,
) -> Result<FakeQuantized, QError> {
    let shape = x.shape();
    if axis >= shape.len() {
        return Err(QError::AxisOutOfRange {
            arg: "axis",
            axis,
            rank: shape.len(),
        });
    }
    for (arg, got) in [("scales", scales.len()), ("zero_points", zero_points.len())] {
        if got != shape[axis] {
            return Err(QError::ChannelCountMismatch {
                arg,
                got,
                expected: shape[axis],
                axis,
            });
        }
    }
    check_range(quant_min, quant_max)?;
    for (&s, &z) in scales.iter().zip(zero_points) {
        crate::qparams::check_scale("scales", f64::from(s))?;
        check_zero_point_in(z, quant_min, quant_max)?;
    }
    let inner = inner_size(shape, axis).max(1);
    let channels = scales.len().max(1);
    let x = x.as_standard_layout();
    let (ys, masks): (Vec<f32>, Vec<bool>) = x
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = (i / inner) % channels;
            let s = scales[c];
            fake_quant_val(v, s, 1.0 / s, zero_points[c], quant_min, quant_max)
        })
        .unzip();
    let dim = ndarray::IxDyn(shape);
    Ok(FakeQuantized {
        y: ArrayD::from_shape_vec(dim.clone(), ys).expect("same element count"),
        mask: ArrayD::from_shape_vec(dim, masks).expect("same element count"),
    })
}

/// Gradients of the learnable (LSQ-style) per-tensor fake quantization.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnableGrads {
    /// Gradient with respect to the input.
    pub grad_x: ArrayD<f32>,
    /// Gradient with respect to the scale.
    pub grad_scale: f32,
    /// Gradient with respect to the (float) zero point.
    pub grad_zero_point: f32,
}

fn learnable_checks(
    scale: f32,
    zero_point: f32,
    quant_min: i64,
    quant_max: i64,
) -> Result<(), QError> {
    crate::qparams::check_scale("scale", f64::from(scale))?;
    check_range(quant_min, quant_max)?;
    if zero_point.is_finite() {
        Ok(())
    } else {
        Err(QError::BadScale {
            arg: "zero_point",
            value: f64::from(zero_point),
        })
    }
}

/// Forward of `_fake_quantize_learnable_per_tensor_affine`: the float zero point is rounded
/// (half to even) and clamped into `quant_min..=quant_max`, then as
/// [`fake_quantize_per_tensor_affine`].
pub fn learnable_fake_quantize_per_tensor_affine(
    x: ArrayViewD<'_, f32>,
    scale: f32,
    zero_point: f32,
    quant_min: i64,
    quant_max: i64,
) -> Result<ArrayD<f32>, QError> {
    learnable_checks(scale, zero_point, quant_min, quant_max)?;
    let zp = zero_point
        .round_ties_even()
        .clamp(quant_min as f32, quant_max as f32) as i64;
    Ok(fake_quantize_per_tensor_affine(x, scale, zp, quant_min, quant_max)?.y)
}

/// Backward of `_fake_quantize_learnable_per_tensor_affine` (PyTorch's CPU kernel): the zero
/// point is taken as `trunc(clamp(zero_point + 0.5))`; in-range elements pass `grad_y` to `x` and
/// contribute `grad_y * (fq(x) - x) / scale` to the scale gradient; out-of-range ones contribute
/// `grad_y * (qmin|qmax - zp)` to the scale and `-grad_y * scale` to the zero point; both scalar
/// gradients are scaled by `grad_factor`.
pub fn learnable_fake_quantize_per_tensor_affine_backward(
    grad_y: ArrayViewD<'_, f32>,
    x: ArrayViewD<'_, f32>,
    scale: f32,
    zero_point: f32,
    quant_min: i64,
    quant_max: i64,
    grad_factor: f32,
) -> Result<LearnableGrads, QError> {
    learnable_checks(scale, zero_point, quant_min, quant_max)?;
    if grad_y.shape() != x.shape() {
        return Err(QError::ShapeMismatch {
            arg: "grad_y",
            got: grad_y.shape().to_vec(),
            expected: x.shape().to_vec(),
        });
    }
    let zp = (zero_point + 0.5).clamp(quant_min as f32, quant_max as f32) as i64;
    let inv = 1.0f32 / scale;
    let dscale_small = (quant_min - zp) as f32;
    let dscale_big = (quant_max - zp) as f32;
    let (mut sum_scale, mut sum_zp) = (0.0f64, 0.0f64);
    let grad_x = Zip::from(&grad_y).and(&x).map_collect(|&dy, &xv| {
        let xq = (zp as f32 + xv * inv).round_ties_even() as i64;
        let in_range = xq >= quant_min && xq <= quant_max;
        if in_range {
            let xfq = (xq.clamp(quant_min, quant_max) - zp) as f32 * scale;
            sum_scale += f64::from(dy * (xfq - xv) * inv * grad_factor);
        } else {
            let bound = if xq < quant_min {
                dscale_small
            } else {
                dscale_big
            };
            sum_scale += f64::from(dy * bound * grad_factor);
            sum_zp += f64::from(-dy * scale * grad_factor);
        }
        dy * f32::from(u8::from(in_range))
    });
    Ok(LearnableGrads {
        grad_x,
        grad_scale: sum_scale as f32,
        grad_zero_point: sum_zp as f32,
    })
}
