//! Portable bodies of the binary kernels; they define the numerics.

use super::{AddParams, MulParams};
use crate::quant::{dequantize_fma, quantize_f32, requantize_from_int, QInt};

/// One element of `qadd_kernel`'s vectorised lambda. PyTorch's scalar
/// lambda (used for its last `len % (2 * vector width)` elements) dequantizes
/// without the fused multiply-add; we use the vectorised form everywhere, so
/// those tail elements may differ from PyTorch by one quantum near ties.
#[inline(always)]
pub(crate) fn add_one<T: QInt>(p: &AddParams, a: T, b: T) -> T {
    let da = dequantize_fma(a.to_i32(), p.a_scale, p.a_premul);
    let db = dequantize_fma(b.to_i32(), p.b_scale, p.b_premul);
    let mut c = da + db;
    if p.relu {
        // `maximum(c, 0)`; a NaN sum cannot arise from finite dequantized values.
        c = c.max(0.0);
    }
    quantize_f32(c, p.inv_out, p.out_zp)
}

/// One element of `qmul_kernel` (its vectorised and scalar lambdas agree).
#[inline(always)]
pub(crate) fn mul_one<T: QInt>(p: &MulParams, a: T, b: T) -> T {
    let acc = (a.to_i32() - p.a_zp) * (b.to_i32() - p.b_zp);
    let r: T = requantize_from_int(acc, p.multiplier, p.out_zp);
    if p.relu {
        r.max(T::from_i32_sat(p.out_zp))
    } else {
        r
    }
}

/// `out[i] = add_one(a[i], b[i])`.
pub(crate) fn add<T: QInt>(p: &AddParams, a: &[T], b: &[T], out: &mut [T]) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = add_one(p, x, y);
    }
}

/// `out[i] = mul_one(a[i], b[i])`.
pub(crate) fn mul<T: QInt>(p: &MulParams, a: &[T], b: &[T], out: &mut [T]) {
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        *o = mul_one(p, x, y);
    }
}
