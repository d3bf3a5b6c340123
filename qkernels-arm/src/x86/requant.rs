//! QNNPACK's fp32 requantization (see [`crate::requant::requantize`]) for 16 and 8 lanes. The
//! scaled value is clamped to the `i16` range before rounding, which equals rounding first
//! and saturating after because the bounds are integers; adding the zero point and clamping
//! to `[min, max]` (inside `0..=255`) then equals QNNPACK's saturating steps.

use core::arch::x86_64::*;

/// Round to nearest even, no exceptions: the rounding of Rust's `as f32` and of
/// `round_ties_even`, whatever the MXCSR holds.
pub(super) const ROUND: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

/// 16 accumulators to `i32` lanes holding the output bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) fn requant16(
    v: __m512i,
    scale: __m512,
    zero_point: __m512i,
    min: __m512i,
    max: __m512i,
) -> __m512i {
    let x = _mm512_mul_round_ps::<ROUND>(_mm512_cvt_roundepi32_ps::<ROUND>(v), scale);
    let x = _mm512_min_ps(
        _mm512_max_ps(x, _mm512_set1_ps(-32768.0)),
        _mm512_set1_ps(32767.0),
    );
    let n = _mm512_add_epi32(_mm512_cvt_roundps_epi32::<ROUND>(x), zero_point);
    _mm512_min_epi32(_mm512_max_epi32(n, min), max)
}

/// 8 accumulators to `i32` lanes holding the output bytes (AVX2 converts with the MXCSR
/// rounding, round to nearest even unless a caller changed it, the same assumption Rust's
/// scalar conversions make).
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn requant8(
    v: __m256i,
    scale: __m256,
    zero_point: __m256i,
    min: __m256i,
    max: __m256i,
) -> __m256i {
    let x = _mm256_mul_ps(_mm256_cvtepi32_ps(v), scale);
    let x = _mm256_min_ps(
        _mm256_max_ps(x, _mm256_set1_ps(-32768.0)),
        _mm256_set1_ps(32767.0),
    );
    let n = _mm256_add_epi32(_mm256_cvtps_epi32(x), zero_point);
    _mm256_min_epi32(_mm256_max_epi32(n, min), max)
}

/// Two vectors of 8 bytes-in-`i32` lanes as 16 bytes, in order.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn pack16(lo: __m256i, hi: __m256i) -> __m128i {
    // `packs` works per 128-bit half: [lo0..3, hi0..3 | lo4..7, hi4..7]; put lo before hi.
    let w = _mm256_permute4x64_epi64::<0xD8>(_mm256_packs_epi32(lo, hi));
    _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256::<1>(w))
}

/// Lanes below `valid` (at most 16).
#[inline]
pub(super) fn mask16(valid: usize) -> __mmask16 {
    if valid >= 16 {
        0xffff
    } else {
        ((1u32 << valid) - 1) as __mmask16
    }
}
