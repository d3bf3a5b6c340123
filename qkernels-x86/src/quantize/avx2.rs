//! AVX2 + FMA quantization, 8 values per step.

use crate::quant::quantize_u8_one;
use std::arch::x86_64::*;

/// Quantizes every element (`inv` is `1 / scale`).
///
/// # Safety
/// The CPU must support AVX2 and FMA; `dst.len() >= src.len()`.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn quantize(src: &[f32], dst: &mut [u8], inv: f32, zero_point: i32) {
    let n = src.len().min(dst.len());
    let full = n / 8 * 8;
    let (inv_v, zp_v) = (_mm256_set1_ps(inv), _mm256_set1_ps(zero_point as f32));
    let cap = _mm256_set1_ps(2_147_483_520.0);
    let mut i = 0;
    while i < full {
        // SAFETY: i + 8 <= n for both slices.
        unsafe {
            let x = _mm256_loadu_ps(src.as_ptr().add(i));
            let t = _mm256_min_ps(_mm256_fmadd_ps(x, inv_v, zp_v), cap);
            let q = _mm256_cvtps_epi32(t);
            let q = _mm256_min_epi32(
                _mm256_max_epi32(q, _mm256_setzero_si256()),
                _mm256_set1_epi32(255),
            );
            let p16 = _mm256_packus_epi32(q, q);
            let p8 = _mm256_packus_epi16(p16, p16);
            let v = _mm256_extract_epi32::<0>(p8) as u32 as u64
                | ((_mm256_extract_epi32::<4>(p8) as u32 as u64) << 32);
            (dst.as_mut_ptr().add(i) as *mut u64).write_unaligned(v);
        }
        i += 8;
    }
    let zp = zero_point as f32;
    for j in full..n {
        dst[j] = quantize_u8_one(src[j], inv, zp);
    }
}
