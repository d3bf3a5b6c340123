//! AVX-512 (F + BW + VL) bodies of the pooling row primitives; the last
//! partial step of every loop is masked.

use std::arch::x86_64::*;

/// Mask selecting the first `min(len, 64)` byte lanes.
#[inline]
fn lanes64(len: usize) -> __mmask64 {
    if len >= 64 {
        u64::MAX
    } else {
        (1u64 << len) - 1
    }
}

/// Mask selecting the first `min(len, 16)` 32-bit lanes.
#[inline]
fn lanes16(len: usize) -> __mmask16 {
    if len >= 16 {
        0xffff
    } else {
        ((1u32 << len) - 1) as __mmask16
    }
}

/// `acc[i] = max(acc[i], src[i])` on bytes, 64 per step.
///
/// # Safety
/// AVX-512 F/BW must be available.
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) unsafe fn max_into_u8(acc: &mut [u8], src: &[u8]) {
    let n = acc.len().min(src.len());
    let mut i = 0;
    while i < n {
        let m = lanes64(n - i);
        // SAFETY: the mask selects bytes below n - i, inside both slices;
        // masked-off bytes are not accessed.
        unsafe {
            let a = _mm512_maskz_loadu_epi8(m, acc.as_ptr().add(i).cast());
            let s = _mm512_maskz_loadu_epi8(m, src.as_ptr().add(i).cast());
            _mm512_mask_storeu_epi8(acc.as_mut_ptr().add(i).cast(), m, _mm512_max_epu8(a, s));
        }
        i += 64;
    }
}

/// `acc[i] += src[i]` on `i32`, 16 per step.
///
/// # Safety
/// AVX-512 F must be available.
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) unsafe fn add_into_i32(acc: &mut [i32], src: &[i32]) {
    let n = acc.len().min(src.len());
    let mut i = 0;
    while i < n {
        let m = lanes16(n - i);
        // SAFETY: the mask selects lanes below n - i, inside both slices;
        // masked-off lanes are not accessed.
        unsafe {
            let a = _mm512_maskz_loadu_epi32(m, acc.as_ptr().add(i));
            let s = _mm512_maskz_loadu_epi32(m, src.as_ptr().add(i));
            _mm512_mask_storeu_epi32(acc.as_mut_ptr().add(i), m, _mm512_add_epi32(a, s));
        }
        i += 16;
    }
}

/// Average-pool requantization of sixteen lanes into `u8`, 16 per step.
///
/// # Safety
/// AVX-512 F/BW/VL must be available.
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
pub(super) unsafe fn avg_requant_u8(
    sum: &[i32],
    sub: &[i32],
    mult: &[f32],
    zp: i32,
    out: &mut [u8],
) {
    let n = out.len().min(sum.len()).min(sub.len()).min(mult.len());
    let zpf = _mm512_set1_ps(zp as f32);
    let (lo, hi) = (_mm512_setzero_si512(), _mm512_set1_epi32(255));
    let mut i = 0;
    while i < n {
        let m = lanes16(n - i);
        // SAFETY: the mask selects lanes below n - i, inside all four slices;
        // masked-off lanes are not accessed.
        let (s, d, k) = unsafe {
            (
                _mm512_maskz_loadu_epi32(m, sum.as_ptr().add(i)),
                _mm512_maskz_loadu_epi32(m, sub.as_ptr().add(i)),
                _mm512_maskz_loadu_ps(m, mult.as_ptr().add(i)),
            )
        };
        let v = _mm512_add_ps(
            _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(s, d)), k),
            zpf,
        );
        let r = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(v), lo), hi);
        // SAFETY: the mask selects lanes below n - i <= out.len() - i.
        unsafe { _mm_mask_storeu_epi8(out.as_mut_ptr().add(i).cast(), m, _mm512_cvtepi32_epi8(r)) };
        i += 16;
    }
}

/// Sum of bytes via `sad_epu8`, 64 per step.
///
/// # Safety
/// AVX-512 F/BW must be available.
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) unsafe fn sum_u8(src: &[u8]) -> i64 {
    let n = src.len();
    let mut acc = _mm512_setzero_si512();
    let zero = _mm512_setzero_si512();
    let mut i = 0;
    while i < n {
        let m = lanes64(n - i);
        // SAFETY: the mask selects bytes below n - i, inside `src`; masked-off
        // bytes read as 0 and are not accessed.
        let v = unsafe { _mm512_maskz_loadu_epi8(m, src.as_ptr().add(i).cast()) };
        acc = _mm512_add_epi64(acc, _mm512_sad_epu8(v, zero));
        i += 64;
    }
    _mm512_reduce_add_epi64(acc)
}
