//! `quantized::add`, `add_relu`, `mul`, `mul_relu` on equal-length operands.

use super::kernels::{self, AddParams, MulParams};
use crate::isa::Isa;
use crate::op_error::OpError;
use crate::quant::{inv_scale_f32, scale_neg_zp_premul, Affine, QInt, QView};

fn check_binary<T: QInt>(a: &QView<T>, b: &QView<T>, out: &Affine) -> Result<(), OpError> {
    a.q.validate::<T>("a")?;
    b.q.validate::<T>("b")?;
    out.validate::<T>("output")?;
    if a.data.len() != b.data.len() {
        return Err(OpError::LengthMismatch {
            what: "b",
            expected: a.data.len(),
            actual: b.data.len(),
        });
    }
    Ok(())
}

pub(crate) fn add_with_isa<T: QInt>(
    isa: Isa,
    a: QView<T>,
    b: QView<T>,
    out_q: Affine,
    relu: bool,
) -> Result<Vec<T>, OpError> {
    check_binary(&a, &b, &out_q)?;
    let (sa, sb) = (a.q.scale_f32(), b.q.scale_f32());
    let p = AddParams {
        a_scale: sa,
        a_premul: scale_neg_zp_premul(sa, a.q.zero_point),
        b_scale: sb,
        b_premul: scale_neg_zp_premul(sb, b.q.zero_point),
        inv_out: inv_scale_f32(out_q.scale),
        out_zp: out_q.zero_point,
        relu,
    };
    let mut out = vec![T::default(); a.data.len()];
    kernels::add(isa, &p, a.data, b.data, &mut out);
    Ok(out)
}

pub(crate) fn mul_with_isa<T: QInt>(
    isa: Isa,
    a: QView<T>,
    b: QView<T>,
    out_q: Affine,
    relu: bool,
) -> Result<Vec<T>, OpError> {
    check_binary(&a, &b, &out_q)?;
    // `self_scale * other_scale * inv_scale`, left to right in f32.
    let multiplier = a.q.scale_f32() * b.q.scale_f32() * inv_scale_f32(out_q.scale);
    let p = MulParams {
        a_zp: a.q.zero_point,
        b_zp: b.q.zero_point,
        multiplier,
        out_zp: out_q.zero_point,
        relu,
    };
    let mut out = vec![T::default(); a.data.len()];
    kernels::mul(isa, &p, a.data, b.data, &mut out);
    Ok(out)
}

/// `quantized::add`: `quantize(dequantize(a) + dequantize(b))` with output
/// parameters `out_q`. Operands must have equal lengths (no broadcasting).
///
/// Errors: length mismatch, invalid scale or zero point.
///
/// ```
/// use qkernels_x86::elementwise::add;
/// use qkernels_x86::quant::{Affine, QView};
///
/// let q = Affine::new(0.5, 10); // real = 0.5 * (q - 10)
/// let a = [12u8, 10]; // 1.0, 0.0
/// let b = [14u8, 9]; // 2.0, -0.5
/// // 3.0 and -0.5 in steps of 0.25 around zero point 0: 12 and -2 -> 0.
/// let y = add(QView::new(&a, q), QView::new(&b, q), Affine::new(0.25, 0)).unwrap();
/// assert_eq!(y, [12, 0]);
/// ```
pub fn add<T: QInt>(a: QView<T>, b: QView<T>, out_q: Affine) -> Result<Vec<T>, OpError> {
    add_with_isa(crate::isa::active_isa(), a, b, out_q, false)
}

/// `quantized::add_relu`: as [`add`] with the sum clamped at 0 before quantizing.
///
/// Errors: as [`add`].
pub fn add_relu<T: QInt>(a: QView<T>, b: QView<T>, out_q: Affine) -> Result<Vec<T>, OpError> {
    add_with_isa(crate::isa::active_isa(), a, b, out_q, true)
}

/// `quantized::mul`: the integer product `(a - za) * (b - zb)` requantized by
/// `sa * sb / s_out` (in `f32`, as `qmul_kernel`).
///
/// Errors: as [`add`].
pub fn mul<T: QInt>(a: QView<T>, b: QView<T>, out_q: Affine) -> Result<Vec<T>, OpError> {
    mul_with_isa(crate::isa::active_isa(), a, b, out_q, false)
}

/// `quantized::mul_relu`: as [`mul`], then `max(y, out zero point)`.
///
/// Errors: as [`add`].
pub fn mul_relu<T: QInt>(a: QView<T>, b: QView<T>, out_q: Affine) -> Result<Vec<T>, OpError> {
    mul_with_isa(crate::isa::active_isa(), a, b, out_q, true)
}
