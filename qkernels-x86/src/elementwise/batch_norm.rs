//! Eval-mode `quantized::batch_norm2d` (and its ReLU fusion) on NCHW data.

use crate::nchw::Nchw;
use crate::op_error::OpError;
use crate::quant::{quantize_f32, Affine, QInt, QView};

/// Batch-norm statistics and affine parameters, one entry per channel.
#[derive(Clone, Copy, Debug)]
pub struct BatchNorm2d<'a> {
    /// `gamma`.
    pub weight: &'a [f32],
    /// `beta`.
    pub bias: &'a [f32],
    /// Running mean.
    pub running_mean: &'a [f32],
    /// Running variance.
    pub running_var: &'a [f32],
    /// Added to the variance before the square root.
    pub eps: f64,
}

/// `compute_fused_params`: per-channel `alpha`, `beta` such that
/// `y_q = zp_out + round(fma(alpha, x_q - zp_in, beta))`.
fn fused_params(bn: &BatchNorm2d, in_scale: f64, out_scale: f64) -> Vec<(f32, f32)> {
    let eps = bn.eps as f32;
    (0..bn.weight.len())
        .map(|c| {
            // float sqrt, then `1.0 / x` in double, stored as float.
            let inv_sigma = (1.0 / f64::from((bn.running_var[c] + eps).sqrt())) as f32;
            let w = bn.weight[c];
            let alpha = (f64::from(inv_sigma * w) * (in_scale / out_scale)) as f32;
            let beta =
                (f64::from(bn.bias[c] - bn.running_mean[c] * inv_sigma * w) / out_scale) as f32;
            (alpha, beta)
        })
        .collect()
}

fn check<T: QInt>(
    x: &QView<T>,
    shape: &Nchw,
    bn: &BatchNorm2d,
    out_q: &Affine,
) -> Result<(), OpError> {
    x.q.validate::<T>("x")?;
    out_q.validate::<T>("output")?;
    shape.check_len("x", x.data.len())?;
    for (what, v) in [
        ("weight", bn.weight),
        ("bias", bn.bias),
        ("running_mean", bn.running_mean),
        ("running_var", bn.running_var),
    ] {
        if v.len() != shape.c {
            return Err(OpError::LengthMismatch {
                what,
                expected: shape.c,
                actual: v.len(),
            });
        }
    }
    if !(bn.eps.is_finite() && bn.eps >= 0.0) {
        return Err(OpError::InvalidParameter {
            name: "eps",
            value: bn.eps,
            reason: "must be finite and >= 0",
        });
    }
    Ok(())
}

fn run<T: QInt>(
    x: QView<T>,
    shape: Nchw,
    bn: &BatchNorm2d,
    out_q: Affine,
    relu: bool,
) -> Result<Vec<T>, OpError> {
    check(&x, &shape, bn, &out_q)?;
    let params = fused_params(bn, x.q.scale, out_q.scale);
    let (zin, zout) = (x.q.zero_point, out_q.zero_point);
    let floor = T::from_i32_sat(zout);
    // `do_bn_compute`: fma(alpha, x - zp, beta), quantized with scale 1.
    let one = |(alpha, beta): (f32, f32), v: i32| -> T {
        let y: T = quantize_f32(alpha.mul_add((v - zin) as f32, beta), 1.0, zout);
        if relu {
            y.max(floor)
        } else {
            y
        }
    };
    let plane = shape.h * shape.w;
    let mut out = vec![T::default(); x.data.len()];
    if plane == 0 {
        return Ok(out);
    }
    // With at least 256 values per channel, a per-channel table of all
    // possible inputs is cheaper than one fused multiply-add per value.
    let tables: Vec<Vec<T>> = if shape.n * plane >= 256 {
        params
            .iter()
            .map(|&ab| (T::QMIN..=T::QMAX).map(|v| one(ab, v)).collect())
            .collect()
    } else {
        Vec::new()
    };
    for (p, (src, dst)) in x
        .data
        .chunks_exact(plane)
        .zip(out.chunks_exact_mut(plane))
        .enumerate()
    {
        let ch = p % shape.c;
        match tables.get(ch) {
            Some(table) => {
                for (o, &v) in dst.iter_mut().zip(src) {
                    *o = table[(v.to_i32() - T::QMIN) as usize];
                }
            }
            None => {
                for (o, &v) in dst.iter_mut().zip(src) {
                    *o = one(params[ch], v.to_i32());
                }
            }
        }
    }
    Ok(out)
}

/// `quantized::batch_norm2d` (eval): normalizes each channel of NCHW `x` with
/// the running statistics and quantizes with `out_q`.
///
/// Errors: data length vs shape, per-channel parameter lengths vs `C`,
/// invalid quantization parameters, non-finite or negative `eps`.
pub fn batch_norm2d<T: QInt>(
    x: QView<T>,
    shape: Nchw,
    bn: &BatchNorm2d,
    out_q: Affine,
) -> Result<Vec<T>, OpError> {
    run(x, shape, bn, out_q, false)
}

/// `quantized::batch_norm2d_relu`: [`batch_norm2d`] then `max(y, out zero point)`.
///
/// Errors: as [`batch_norm2d`].
pub fn batch_norm2d_relu<T: QInt>(
    x: QView<T>,
    shape: Nchw,
    bn: &BatchNorm2d,
    out_q: Affine,
) -> Result<Vec<T>, OpError> {
    run(x, shape, bn, out_q, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_path_equals_direct_path() {
        // Two batch items of 128 values per channel use the table (256 per
        // channel); each item alone uses the direct formula.
        let (w, b) = ([0.7f32, 1.3, 0.2], [0.1f32, -0.4, 0.9]);
        let (m, v) = ([0.05f32, -0.2, 0.3], [0.9f32, 1.7, 0.4]);
        let bn = BatchNorm2d {
            weight: &w,
            bias: &b,
            running_mean: &m,
            running_var: &v,
            eps: 1e-5,
        };
        let (qx, qo) = (Affine::new(0.031, 119), Affine::new(0.047, 64));
        let x: Vec<u8> = (0..2 * 3 * 128).map(|i| (i * 89 % 256) as u8).collect();
        for relu in [false, true] {
            let both = run(QView::new(&x, qx), Nchw::new(2, 3, 1, 128), &bn, qo, relu).unwrap();
            let mut split = Vec::new();
            for item in x.chunks(3 * 128) {
                split.extend(
                    run(QView::new(item, qx), Nchw::new(1, 3, 1, 128), &bn, qo, relu).unwrap(),
                );
            }
            assert_eq!(both, split, "relu={relu}");
        }
    }
}
