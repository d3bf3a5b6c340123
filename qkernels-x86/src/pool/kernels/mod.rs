//! Row primitives of the pooling operators, with per-ISA bodies for `u8`.
//!
//! - `max_into`: `acc[i] = max(acc[i], src[i])` (max pooling, both passes);
//! - `add_into_i32`: `acc[i] += src[i]` (vertical pass of average pooling);
//! - `avg_requant`: `clamp(round(f32(sum[i] - sub[i]) * mult[i] + zp))`, the
//!   requantization of `avg_pool2d_out_frame` (a separate multiply and add,
//!   not fused: that file is compiled without FMA);
//! - `sum_u8`: the sum of a byte run (adaptive average pooling).

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
pub(crate) mod scalar;

use crate::isa::Isa;
use crate::quant::QInt;

fn simd(isa: Isa) -> bool {
    cfg!(target_arch = "x86_64") && isa != Isa::Scalar && isa.is_available()
}

/// `acc[i] = max(acc[i], src[i])` over equal-length slices.
pub(crate) fn max_into<T: QInt>(isa: Isa, acc: &mut [T], src: &[T]) {
    debug_assert_eq!(acc.len(), src.len());
    #[cfg(target_arch = "x86_64")]
    if simd(isa) {
        if let Some(s8) = T::as_u8(src) {
            if let Some(a8) = T::as_u8_mut(acc) {
                match isa {
                    // SAFETY: AVX-512 F/BW/VL were detected (`simd`).
                    Isa::Avx512Vnni => unsafe { avx512::max_into_u8(a8, s8) },
                    // SAFETY: AVX2 was detected (`simd`).
                    _ => unsafe { avx2::max_into_u8(a8, s8) },
                }
                return;
            }
        }
    }
    let _ = isa;
    scalar::max_into(acc, src);
}

/// `acc[i] += src[i]` over equal-length slices (wrapping, as `int` adds).
pub(crate) fn add_into_i32(isa: Isa, acc: &mut [i32], src: &[i32]) {
    debug_assert_eq!(acc.len(), src.len());
    #[cfg(target_arch = "x86_64")]
    if simd(isa) {
        match isa {
            // SAFETY: AVX-512 F was detected (`simd`).
            Isa::Avx512Vnni => unsafe { avx512::add_into_i32(acc, src) },
            // SAFETY: AVX2 was detected (`simd`).
            _ => unsafe { avx2::add_into_i32(acc, src) },
        }
        return;
    }
    let _ = isa;
    scalar::add_into_i32(acc, src);
}

/// `out[i] = clamp(round_half_even(f32(sum[i] - sub[i]) * mult[i] + zp))`.
pub(crate) fn avg_requant<T: QInt>(
    isa: Isa,
    sum: &[i32],
    sub: &[i32],
    mult: &[f32],
    zp: i32,
    out: &mut [T],
) {
    debug_assert!(sum.len() == out.len() && sub.len() == out.len() && mult.len() == out.len());
    #[cfg(target_arch = "x86_64")]
    if simd(isa) {
        if let Some(o8) = T::as_u8_mut(out) {
            match isa {
                // SAFETY: AVX-512 F/BW/VL were detected (`simd`).
                Isa::Avx512Vnni => unsafe { avx512::avg_requant_u8(sum, sub, mult, zp, o8) },
                // SAFETY: AVX2 was detected (`simd`).
                _ => unsafe { avx2::avg_requant_u8(sum, sub, mult, zp, o8) },
            }
            return;
        }
    }
    let _ = isa;
    scalar::avg_requant(sum, sub, mult, zp, out);
}

/// Sum of the values of a run (exact, in `i64`).
pub(crate) fn sum<T: QInt>(isa: Isa, src: &[T]) -> i64 {
    #[cfg(target_arch = "x86_64")]
    if simd(isa) {
        if let Some(s8) = T::as_u8(src) {
            return match isa {
                // SAFETY: AVX-512 F/BW/VL were detected (`simd`).
                Isa::Avx512Vnni => unsafe { avx512::sum_u8(s8) },
                // SAFETY: AVX2 was detected (`simd`).
                _ => unsafe { avx2::sum_u8(s8) },
            };
        }
    }
    let _ = isa;
    scalar::sum(src)
}

#[cfg(test)]
mod tests;
