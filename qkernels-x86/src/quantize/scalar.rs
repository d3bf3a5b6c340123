//! Scalar quantization (the reference numerics).

use crate::quant::quantize_u8_one;

/// Quantizes every element (`inv` is `1 / scale`).
pub(crate) fn quantize(src: &[f32], dst: &mut [u8], inv: f32, zero_point: i32) {
    let zp = zero_point as f32;
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = quantize_u8_one(s, inv, zp);
    }
}
