//! AVX-512 (F + BW + VL) bodies of the binary kernels (`u8`, 16 elements per
//! step, the last partial step masked).

use super::{AddParams, MulParams};
use std::arch::x86_64::*;

/// Largest `i32` exactly representable as `f32`.
const INT32_FLOAT_MAX: f32 = 2_147_483_520.0;

/// Zero-extends the bytes of `p` selected by `mask` to sixteen `i32` lanes
/// (unselected lanes read as 0 and are not accessed).
///
/// # Safety
/// Every selected byte of `p` must be readable; AVX-512 F/BW/VL must be available.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
unsafe fn load16_u8_as_i32(mask: __mmask16, p: *const u8) -> __m512i {
    // SAFETY: the caller guarantees the selected bytes are readable; masked-off
    // bytes are not accessed (fault suppression).
    _mm512_cvtepu8_epi32(unsafe { _mm_maskz_loadu_epi8(mask, p.cast()) })
}

/// Mask selecting the first `min(len, 16)` lanes.
#[inline]
fn lanes16(len: usize) -> __mmask16 {
    if len >= 16 {
        0xffff
    } else {
        ((1u32 << len) - 1) as __mmask16
    }
}

/// Clamps sixteen `i32` lanes to `[0, 255]` and narrows them to bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
fn narrow_u8(r: __m512i) -> __m128i {
    let c = _mm512_min_epi32(
        _mm512_max_epi32(r, _mm512_setzero_si512()),
        _mm512_set1_epi32(255),
    );
    _mm512_cvtepi32_epi8(c)
}

/// AVX-512 `qadd_kernel` for `u8`.
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA must be available. Slices have equal lengths.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
pub(super) unsafe fn add_u8(p: &AddParams, a: &[u8], b: &[u8], out: &mut [u8]) {
    let n = out.len().min(a.len()).min(b.len());
    let (sa, pa) = (_mm512_set1_ps(p.a_scale), _mm512_set1_ps(p.a_premul));
    let (sb, pb) = (_mm512_set1_ps(p.b_scale), _mm512_set1_ps(p.b_premul));
    let inv = _mm512_set1_ps(p.inv_out);
    let clip = _mm512_set1_ps(INT32_FLOAT_MAX);
    let zp = _mm512_set1_epi32(p.out_zp);
    let zero = _mm512_setzero_ps();
    let mut i = 0;
    while i < n {
        let m = lanes16(n - i);
        // SAFETY: the mask selects lanes below n - i, inside `a` and `b`.
        let (qa, qb) = unsafe {
            (
                load16_u8_as_i32(m, a.as_ptr().add(i)),
                load16_u8_as_i32(m, b.as_ptr().add(i)),
            )
        };
        let da = _mm512_fmadd_ps(sa, _mm512_cvtepi32_ps(qa), pa);
        let db = _mm512_fmadd_ps(sb, _mm512_cvtepi32_ps(qb), pb);
        let mut c = _mm512_add_ps(da, db);
        if p.relu {
            c = _mm512_max_ps(c, zero);
        }
        let t = _mm512_min_ps(_mm512_mul_ps(c, inv), clip);
        let r = _mm512_add_epi32(_mm512_cvtps_epi32(t), zp);
        // SAFETY: the mask selects lanes below n - i <= out.len() - i.
        unsafe { _mm_mask_storeu_epi8(out.as_mut_ptr().add(i).cast(), m, narrow_u8(r)) };
        i += 16;
    }
}

/// AVX-512 `qmul_kernel` for `u8`.
///
/// # Safety
/// AVX-512 F/BW/VL, AVX2 and FMA must be available. Slices have equal lengths.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx2,fma")]
pub(super) unsafe fn mul_u8(p: &MulParams, a: &[u8], b: &[u8], out: &mut [u8]) {
    let n = out.len().min(a.len()).min(b.len());
    let (za, zb) = (_mm512_set1_epi32(p.a_zp), _mm512_set1_epi32(p.b_zp));
    let mult = _mm512_set1_ps(p.multiplier);
    let zp = _mm512_set1_epi32(p.out_zp);
    let relu_floor = _mm512_set1_epi32(p.out_zp);
    let mut i = 0;
    while i < n {
        let m = lanes16(n - i);
        // SAFETY: the mask selects lanes below n - i, inside `a` and `b`.
        let (qa, qb) = unsafe {
            (
                load16_u8_as_i32(m, a.as_ptr().add(i)),
                load16_u8_as_i32(m, b.as_ptr().add(i)),
            )
        };
        let acc = _mm512_mullo_epi32(_mm512_sub_epi32(qa, za), _mm512_sub_epi32(qb, zb));
        let scaled = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), mult);
        let mut r = _mm512_add_epi32(_mm512_cvtps_epi32(scaled), zp);
        if p.relu {
            r = _mm512_max_epi32(r, relu_floor);
        }
        // SAFETY: the mask selects lanes below n - i <= out.len() - i.
        unsafe { _mm_mask_storeu_epi8(out.as_mut_ptr().add(i).cast(), m, narrow_u8(r)) };
        i += 16;
    }
}
