//! Portable bodies of the pooling row primitives.

use crate::quant::{cvt_round_f32, QInt};

/// `acc[i] = max(acc[i], src[i])`.
pub(crate) fn max_into<T: QInt>(acc: &mut [T], src: &[T]) {
    for (a, &s) in acc.iter_mut().zip(src) {
        *a = (*a).max(s);
    }
}

/// `acc[i] += src[i]` (wrapping).
pub(crate) fn add_into_i32(acc: &mut [i32], src: &[i32]) {
    for (a, &s) in acc.iter_mut().zip(src) {
        *a = a.wrapping_add(s);
    }
}

/// One output of `avg_pool2d_out_frame`:
/// `clamp(nearbyint(f32(sum - sub) * mult + (float)zp))`.
#[inline(always)]
pub(crate) fn avg_requant_one<T: QInt>(sum: i32, sub: i32, mult: f32, zp: i32) -> T {
    let v = sum.wrapping_sub(sub) as f32 * mult + zp as f32;
    T::from_i32_sat(cvt_round_f32(v))
}

/// [`avg_requant_one`] over a row.
pub(crate) fn avg_requant<T: QInt>(sum: &[i32], sub: &[i32], mult: &[f32], zp: i32, out: &mut [T]) {
    for (i, o) in out.iter_mut().enumerate() {
        *o = avg_requant_one(sum[i], sub[i], mult[i], zp);
    }
}

/// Exact sum of a run.
pub(crate) fn sum<T: QInt>(src: &[T]) -> i64 {
    src.iter().map(|&v| i64::from(v.to_i32())).sum()
}
