//! PyTorch's scalar quantize / dequantize / requantize float sequences.
//!
//! The fbgemm engine's vectorised kernels (`Vectorized<quint8>` in ATen's
//! `vec256_qint.h` / `vec512_qint.h`, fbgemm's `QuantizeAvx2`) compute:
//! - quantize: `clamp(zp + cvtps_epi32(min(x * inv_scale, 2^31 - 128)))`,
//!   i.e. round half to even *before* adding the zero point, with the inverse
//!   scale precomputed as an `f32` (how it is computed differs per operator);
//! - dequantize (3-argument form): `fma(scale, q, scale * -zp)`;
//! - dequantize (2-argument form, sigmoid): `(q - zp) * scale`;
//! - requantize from int: `clamp(zp + cvtps_epi32(acc * multiplier))`.

use super::QInt;

/// Largest `i32` exactly representable as `f32` (`2^31 - 128`); PyTorch
/// clips to it before converting so that large values saturate.
const INT32_FLOAT_MAX: f32 = 2_147_483_520.0;

/// `cvtps_epi32` under the default rounding mode: round half to even; NaN
/// and values outside the `i32` range give `i32::MIN` (the "integer
/// indefinite" value).
#[inline(always)]
pub fn cvt_round_f32(x: f32) -> i32 {
    let r = x.round_ties_even();
    if (-2_147_483_648.0..2_147_483_648.0).contains(&r) {
        r as i32
    } else {
        i32::MIN
    }
}

/// PyTorch's vectorised quantize of one value: `x * inv_scale`, clipped to
/// `2^31 - 128` (NaN clips there too, as `min_ps` does), rounded half to
/// even, plus the zero point (wrapping, as `add_epi32`), clamped to `T`.
#[inline(always)]
pub fn quantize_f32<T: QInt>(x: f32, inv_scale: f32, zero_point: i32) -> T {
    let t = (x * inv_scale).min(INT32_FLOAT_MAX);
    T::from_i32_sat(cvt_round_f32(t).wrapping_add(zero_point))
}

/// `at::native::quantize_val` (fbgemm's non-legacy `Quantize`):
/// `zp + nearbyint(x * (1.0f / (float)scale))`, clamped.
#[inline]
pub fn quantize_val<T: QInt>(scale: f64, zero_point: i32, x: f32) -> T {
    quantize_f32(x, inv_scale_f32(scale), zero_point)
}

/// Inverse scale computed as `1.0f / (float)scale` (add, mul, leaky_relu,
/// add_scalar, quantize_val, cat).
#[inline]
pub fn inv_scale_f32(scale: f64) -> f32 {
    1.0f32 / scale as f32
}

/// Inverse scale computed as `(float)(1.0 / scale)` in double precision
/// (hardswish, sigmoid).
#[inline]
pub fn inv_scale_f64(scale: f64) -> f32 {
    (1.0 / scale) as f32
}

/// `scale * -zp` in `f32`: the premultiplied term of the fused dequantize.
#[inline]
pub fn scale_neg_zp_premul(scale: f32, zero_point: i32) -> f32 {
    scale * -(zero_point as f32)
}

/// Vectorised 3-argument dequantize: `fma(scale, q, premul)` with
/// `premul = scale * -zp` (see [`scale_neg_zp_premul`]).
#[inline(always)]
pub fn dequantize_fma(q: i32, scale: f32, premul: f32) -> f32 {
    scale.mul_add(q as f32, premul)
}

/// Vectorised 2-argument dequantize: `(q - zp) * scale`, all in `f32`.
#[inline(always)]
pub fn dequantize_sub_mul(q: i32, scale: f32, zero_point: f32) -> f32 {
    (q as f32 - zero_point) * scale
}

/// fbgemm's scalar `Dequantize`: `scale * (q - zp)` with the difference
/// taken in integers.
#[inline(always)]
pub fn dequantize_plain(q: i32, scale: f32, zero_point: i32) -> f32 {
    scale * (q - zero_point) as f32
}

/// `requantize_from_int`: `clamp(zp + round_half_even(acc * multiplier))`
/// with the product in `f32`.
#[inline(always)]
pub fn requantize_from_int<T: QInt>(acc: i32, multiplier: f32, zero_point: i32) -> T {
    T::from_i32_sat(cvt_round_f32(acc as f32 * multiplier).wrapping_add(zero_point))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_to_even_before_adding_zero_point() {
        // 0.5 -> 0 and 1.5 -> 2, then the zero point is added.
        assert_eq!(quantize_f32::<u8>(0.5, 1.0, 3), 3);
        assert_eq!(quantize_f32::<u8>(1.5, 1.0, 3), 5);
        assert_eq!(quantize_f32::<u8>(-2.5, 1.0, 10), 8);
        assert_eq!(quantize_f32::<i8>(-1000.0, 1.0, 0), -128);
        assert_eq!(quantize_f32::<u8>(1e30, 1.0, 0), 255);
    }

    #[test]
    fn nan_saturates_high_like_min_ps_and_out_of_range_is_indefinite() {
        assert_eq!(quantize_f32::<u8>(f32::NAN, 1.0, 0), 255);
        assert_eq!(cvt_round_f32(f32::NAN), i32::MIN);
        assert_eq!(cvt_round_f32(-3e9), i32::MIN);
        assert_eq!(cvt_round_f32(2.5), 2);
    }

    #[test]
    fn fused_dequantize_differs_from_plain_only_by_rounding() {
        let scale = 0.1f32;
        let premul = scale_neg_zp_premul(scale, 7);
        for q in 0..256 {
            let a = dequantize_fma(q, scale, premul);
            let b = dequantize_plain(q, scale, 7);
            assert!((a - b).abs() <= 1e-5, "{q}: {a} vs {b}");
        }
    }
}
