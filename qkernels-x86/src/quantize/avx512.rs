//! AVX-512 quantization, 16 values per step (masked tail).

use std::arch::x86_64::*;

/// Quantizes every element (`inv` is `1 / scale`).
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL; `dst.len() >= src.len()`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
pub(crate) unsafe fn quantize(src: &[f32], dst: &mut [u8], inv: f32, zero_point: i32) {
    let n = src.len().min(dst.len());
    let (inv_v, zp_v) = (_mm512_set1_ps(inv), _mm512_set1_ps(zero_point as f32));
    let cap = _mm512_set1_ps(2_147_483_520.0);
    let mut i = 0;
    while i < n {
        let lanes = (n - i).min(16);
        let m: __mmask16 = if lanes == 16 {
            0xffff
        } else {
            (1u16 << lanes) - 1
        };
        // SAFETY: masked lanes i..i+lanes < n for both slices.
        unsafe {
            let x = _mm512_maskz_loadu_ps(m, src.as_ptr().add(i));
            let t = _mm512_min_ps(_mm512_fmadd_ps(x, inv_v, zp_v), cap);
            let q = _mm512_cvtps_epi32(t);
            let q = _mm512_min_epi32(
                _mm512_max_epi32(q, _mm512_setzero_si512()),
                _mm512_set1_epi32(255),
            );
            _mm512_mask_cvtepi32_storeu_epi8(dst.as_mut_ptr().add(i) as *mut i8, m, q);
        }
        i += 16;
    }
}
