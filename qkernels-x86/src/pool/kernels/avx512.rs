//! AVX-512 (F + BW) bodies of the pooling row primitives.

use super::scalar;
use std::arch::x86_64::*;

/// `acc[i] = max(acc[i], src[i])` on bytes, 64 per step.
///
/// # Safety
/// AVX-512 F/BW must be available.
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) unsafe fn max_into_u8(acc: &mut [u8], src: &[u8]) {
    let n = acc.len().min(src.len());
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: i + 64 <= n bounds both slices; accesses are unaligned.
        unsafe {
            let a = _mm512_loadu_si512(acc.as_ptr().add(i).cast());
            let s = _mm512_loadu_si512(src.as_ptr().add(i).cast());
            _mm512_storeu_si512(acc.as_mut_ptr().add(i).cast(), _mm512_max_epu8(a, s));
        }
        i += 64;
    }
    scalar::max_into(&mut acc[i..n], &src[i..n]);
}

/// `acc[i] += src[i]` on `i32`, 16 per step.
///
/// # Safety
/// AVX-512 F must be available.
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) unsafe fn add_into_i32(acc: &mut [i32], src: &[i32]) {
    let n = acc.len().min(src.len());
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n bounds both slices; accesses are unaligned.
        unsafe {
            let a = _mm512_loadu_si512(acc.as_ptr().add(i).cast());
            let s = _mm512_loadu_si512(src.as_ptr().add(i).cast());
            _mm512_storeu_si512(acc.as_mut_ptr().add(i).cast(), _mm512_add_epi32(a, s));
        }
        i += 16;
    }
    scalar::add_into_i32(&mut acc[i..n], &src[i..n]);
}

/// Average-pool requantization of sixteen lanes into `u8`, 16 per step.
///
/// # Safety
/// AVX-512 F/BW must be available.
#[target_feature(enable = "avx512f,avx512bw")]
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
    while i + 16 <= n {
        // SAFETY: i + 16 <= n bounds all four slices; accesses are unaligned.
        let (s, d, m) = unsafe {
            (
                _mm512_loadu_si512(sum.as_ptr().add(i).cast()),
                _mm512_loadu_si512(sub.as_ptr().add(i).cast()),
                _mm512_loadu_ps(mult.as_ptr().add(i)),
            )
        };
        let v = _mm512_add_ps(
            _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(s, d)), m),
            zpf,
        );
        let r = _mm512_min_epi32(_mm512_max_epi32(_mm512_cvtps_epi32(v), lo), hi);
        // SAFETY: i + 16 <= n <= out.len(); the store is unaligned.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().add(i).cast(), _mm512_cvtepi32_epi8(r)) };
        i += 16;
    }
    scalar::avg_requant(&sum[i..n], &sub[i..n], &mult[i..n], zp, &mut out[i..n]);
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
    while i + 64 <= n {
        // SAFETY: i + 64 <= n bounds `src`; the load is unaligned.
        let v = unsafe { _mm512_loadu_si512(src.as_ptr().add(i).cast()) };
        acc = _mm512_add_epi64(acc, _mm512_sad_epu8(v, zero));
        i += 64;
    }
    _mm512_reduce_add_epi64(acc) + scalar::sum(&src[i..])
}
