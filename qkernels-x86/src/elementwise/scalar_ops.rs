//! `quantized::add_scalar` and `quantized::mul_scalar`: tensor-scalar ops that
//! mostly move the quantization parameters instead of the data.

use crate::op_error::OpError;
use crate::quant::{inv_scale_f32, requantize_from_int, Affine, QInt, QVec, QView};

fn check_scalar(name: &'static str, value: f64) -> Result<(), OpError> {
    if !value.is_finite() {
        return Err(OpError::InvalidParameter {
            name,
            value,
            reason: "must be finite",
        });
    }
    Ok(())
}

/// `quantized::add_scalar(x, c)` as `_add_scalar_out` computes it.
///
/// With `c_q = round_half_even(c / scale)`: when `zp - c_q` is representable
/// the data are copied and only the zero point moves to `zp - c_q`. Otherwise
/// the zero point saturates at the type's bound, the scale grows to
/// `(qmax - (zp - c_q)) / (qmax - qmin) * scale` (or the mirrored formula),
/// and the data are requantized from `x - zp + c_q`.
///
/// Errors: invalid input parameters, non-finite `c`, or `c / scale` outside
/// the `i32` range (PyTorch fails there too).
pub fn add_scalar<T: QInt>(x: QView<T>, c: f64) -> Result<QVec<T>, OpError> {
    x.q.validate::<T>("x")?;
    check_scalar("scalar", c)?;
    let s = x.q.scale;
    let ratio = (c / s).round_ties_even();
    if !(f64::from(i32::MIN)..=f64::from(i32::MAX)).contains(&ratio) {
        return Err(OpError::InvalidParameter {
            name: "scalar",
            value: c,
            reason: "scalar / scale must fit in i32",
        });
    }
    let c_q = ratio as i64;
    let z = i64::from(x.q.zero_point);
    let (qmin, qmax) = (i64::from(T::QMIN), i64::from(T::QMAX));
    let shifted = z - c_q;
    let span = qmax as f64 - qmin as f64;
    let (s_out, z_out) = if qmin > shifted {
        ((qmax as f64 - shifted as f64) / span * s, qmin)
    } else if qmax < shifted {
        ((shifted as f64 - qmin as f64) / span * s, qmax)
    } else {
        let q = Affine::new(s, shifted as i32);
        return Ok(QVec {
            data: x.data.to_vec(),
            q,
        });
    };
    let q = Affine::new(s_out, z_out as i32);
    q.validate::<T>("output")?;
    // `qadd_scalar_kernel`: multiplier = self_scale * (1.0f / out_scale).
    let multiplier = x.q.scale_f32() * inv_scale_f32(s_out);
    let (zx, cq) = (x.q.zero_point, c_q as i32);
    let data = x
        .data
        .iter()
        .map(|&v| requantize_from_int(v.to_i32() - zx + cq, multiplier, q.zero_point))
        .collect();
    Ok(QVec { data, q })
}

/// `quantized::mul_scalar(x, c)` as `_mul_scalar_out` computes it: for
/// `c > 0` the data are copied and the scale becomes `c * scale`; for
/// `c == 0` every value becomes 0 with scale 1 and zero point 0; for `c < 0`
/// the values are mirrored (`qmax + qmin - x`), the zero point becomes
/// `qmax - (zp - qmin)` and the scale `|c| * scale`.
///
/// Errors: invalid input parameters, non-finite `c`, or an output scale that
/// overflows or underflows.
pub fn mul_scalar<T: QInt>(x: QView<T>, c: f64) -> Result<QVec<T>, OpError> {
    x.q.validate::<T>("x")?;
    check_scalar("scalar", c)?;
    let s = x.q.scale;
    let out = if c > 0.0 {
        QVec {
            data: x.data.to_vec(),
            q: Affine::new(c * s, x.q.zero_point),
        }
    } else if c == 0.0 {
        QVec {
            data: vec![T::from_i32_sat(0); x.data.len()],
            q: Affine::new(1.0, 0),
        }
    } else {
        let z_out = T::QMAX - (x.q.zero_point - T::QMIN);
        let data = x
            .data
            .iter()
            .map(|&v| T::from_i32_sat(T::QMAX + T::QMIN - v.to_i32()))
            .collect();
        QVec {
            data,
            q: Affine::new(c.abs() * s, z_out),
        }
    };
    out.q.validate::<T>("output")?;
    Ok(out)
}
