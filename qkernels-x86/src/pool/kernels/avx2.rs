//! AVX2 bodies of the pooling row primitives.

use super::scalar;
use std::arch::x86_64::*;

/// `acc[i] = max(acc[i], src[i])` on bytes, 32 per step.
///
/// # Safety
/// AVX2 must be available.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn max_into_u8(acc: &mut [u8], src: &[u8]) {
    let n = acc.len().min(src.len());
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: i + 32 <= n bounds both slices; accesses are unaligned.
        unsafe {
            let a = _mm256_loadu_si256(acc.as_ptr().add(i).cast());
            let s = _mm256_loadu_si256(src.as_ptr().add(i).cast());
            _mm256_storeu_si256(acc.as_mut_ptr().add(i).cast(), _mm256_max_epu8(a, s));
        }
        i += 32;
    }
    scalar::max_into(&mut acc[i..n], &src[i..n]);
}

/// `acc[i] += src[i]` on `i32`, 8 per step.
///
/// # Safety
/// AVX2 must be available.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn add_into_i32(acc: &mut [i32], src: &[i32]) {
    let n = acc.len().min(src.len());
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n bounds both slices; accesses are unaligned.
        unsafe {
            let a = _mm256_loadu_si256(acc.as_ptr().add(i).cast());
            let s = _mm256_loadu_si256(src.as_ptr().add(i).cast());
            _mm256_storeu_si256(acc.as_mut_ptr().add(i).cast(), _mm256_add_epi32(a, s));
        }
        i += 8;
    }
    scalar::add_into_i32(&mut acc[i..n], &src[i..n]);
}

/// Average-pool requantization of eight lanes into `u8`, 8 per step.
///
/// # Safety
/// AVX2 must be available.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn avg_requant_u8(
    sum: &[i32],
    sub: &[i32],
    mult: &[f32],
    zp: i32,
    out: &mut [u8],
) {
    let n = out.len().min(sum.len()).min(sub.len()).min(mult.len());
    let zpf = _mm256_set1_ps(zp as f32);
    let (lo, hi) = (_mm256_setzero_si256(), _mm256_set1_epi32(255));
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n bounds all four slices; accesses are unaligned.
        let (s, d, m) = unsafe {
            (
                _mm256_loadu_si256(sum.as_ptr().add(i).cast()),
                _mm256_loadu_si256(sub.as_ptr().add(i).cast()),
                _mm256_loadu_ps(mult.as_ptr().add(i)),
            )
        };
        let v = _mm256_add_ps(
            _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(s, d)), m),
            zpf,
        );
        let r = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(v), lo), hi);
        // Narrow eight i32 in [0, 255] to bytes: packs keep lane order within
        // 128-bit halves, so bytes 0..4 of each half hold the results.
        let w = _mm256_packus_epi16(_mm256_packs_epi32(r, r), lo);
        let lo4 = _mm256_castsi256_si128(w);
        let hi4 = _mm256_extracti128_si256::<1>(w);
        let bytes =
            (_mm_cvtsi128_si32(lo4) as u32 as u64) | ((_mm_cvtsi128_si32(hi4) as u32 as u64) << 32);
        out[i..i + 8].copy_from_slice(&bytes.to_le_bytes());
        i += 8;
    }
    scalar::avg_requant(&sum[i..n], &sub[i..n], &mult[i..n], zp, &mut out[i..n]);
}

/// Sum of bytes via `sad_epu8`, 32 per step.
///
/// # Safety
/// AVX2 must be available.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn sum_u8(src: &[u8]) -> i64 {
    let n = src.len();
    let mut acc = _mm256_setzero_si256();
    let zero = _mm256_setzero_si256();
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: i + 32 <= n bounds `src`; the load is unaligned.
        let v = unsafe { _mm256_loadu_si256(src.as_ptr().add(i).cast()) };
        acc = _mm256_add_epi64(acc, _mm256_sad_epu8(v, zero));
        i += 32;
    }
    let mut lanes = [0i64; 4];
    // SAFETY: `lanes` is 32 writable bytes; the store is unaligned.
    unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc) };
    lanes.iter().sum::<i64>() + scalar::sum(&src[i..])
}
