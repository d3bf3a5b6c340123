//! Dynamic quantization of `f32` activations: the range scan and PyTorch's `quantize_val`
//! (`zero_point + round_ties_even(x * inv_scale)`, clamped to `0..=255`) for 16 (AVX-512) or
//! 8 (AVX2) values at a time, with a scalar tail. Multiplication, rounding and the addition of
//! the zero point are the scalar code's `f32` operations; the clamp is exact on the integer
//! valued sums, so every byte equals the scalar one.

use core::arch::x86_64::*;

use super::requant::pack16;
use super::Isa;
use qtensor::rounding::quantize_val;

/// `(min, max)` of `x` (`(+inf, -inf)` when empty), or `None` if it holds a NaN.
pub(crate) fn min_max(isa: Isa, x: &[f32]) -> Option<(f32, f32)> {
    assert!(isa.detected());
    // SAFETY: the CPU has `isa` (asserted); the bodies read `x` only within its length.
    let (mut lo, mut hi, nan) = unsafe {
        match isa {
            Isa::Avx512Vnni => min_max_avx512(x),
            Isa::Avx2 => min_max_avx2(x),
        }
    };
    let done = x.len() / 16 * 16;
    for &v in &x[done..] {
        if v.is_nan() {
            return None;
        }
        lo = lo.min(v);
        hi = hi.max(v);
    }
    (!nan).then_some((lo, hi))
}

/// `out[i] = quantize_val(x[i], inv, zero_point, 0, 255)`.
pub(crate) fn quantize(isa: Isa, x: &[f32], inv: f32, zero_point: u8, out: &mut [u8]) {
    assert!(isa.detected() && out.len() == x.len());
    // SAFETY: the CPU has `isa` (asserted); the bodies touch `x` and `out` (of equal length)
    // only in whole blocks of 16 within it.
    unsafe {
        match isa {
            Isa::Avx512Vnni => quantize_avx512(x, inv, zero_point, out),
            Isa::Avx2 => quantize_avx2(x, inv, zero_point, out),
        }
    }
    let done = x.len() / 16 * 16;
    for (o, &v) in out[done..].iter_mut().zip(&x[done..]) {
        *o = quantize_val(v, inv, i32::from(zero_point), 0, 255) as u8;
    }
}

/// Over whole blocks of 16: `(min, max, any NaN)`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn min_max_avx512(x: &[f32]) -> (f32, f32, bool) {
    let mut lo = _mm512_set1_ps(f32::INFINITY);
    let mut hi = _mm512_set1_ps(f32::NEG_INFINITY);
    let mut nan: __mmask16 = 0;
    for c in x.chunks_exact(16) {
        // SAFETY: a chunk holds 16 values.
        let v = unsafe { _mm512_loadu_ps(c.as_ptr()) };
        nan |= _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v, v);
        lo = _mm512_min_ps(lo, v);
        hi = _mm512_max_ps(hi, v);
    }
    (_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi), nan != 0)
}

/// Over whole blocks of 16: `(min, max, any NaN)`.
#[target_feature(enable = "avx2")]
unsafe fn min_max_avx2(x: &[f32]) -> (f32, f32, bool) {
    let mut lo = _mm256_set1_ps(f32::INFINITY);
    let mut hi = _mm256_set1_ps(f32::NEG_INFINITY);
    let mut nan = _mm256_setzero_ps();
    for c in x.chunks_exact(8).take(x.len() / 16 * 2) {
        // SAFETY: a chunk holds 8 values.
        let v = unsafe { _mm256_loadu_ps(c.as_ptr()) };
        nan = _mm256_or_ps(nan, _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v));
        lo = _mm256_min_ps(lo, v);
        hi = _mm256_max_ps(hi, v);
    }
    let (mut l, mut h) = ([0f32; 8], [0f32; 8]);
    // SAFETY: stores into local arrays of 8.
    unsafe {
        _mm256_storeu_ps(l.as_mut_ptr(), lo);
        _mm256_storeu_ps(h.as_mut_ptr(), hi);
    }
    (
        l.iter().fold(f32::INFINITY, |a, &b| a.min(b)),
        h.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b)),
        _mm256_movemask_ps(nan) != 0,
    )
}

const ROUND: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn quantize_avx512(x: &[f32], inv: f32, zero_point: u8, out: &mut [u8]) {
    let (inv, zp) = (_mm512_set1_ps(inv), _mm512_set1_ps(f32::from(zero_point)));
    let (lo, hi) = (_mm512_setzero_ps(), _mm512_set1_ps(255.0));
    for (c, o) in x.chunks_exact(16).zip(out.chunks_exact_mut(16)) {
        // SAFETY: each chunk holds 16 values / bytes.
        unsafe {
            let v = _mm512_mul_ps(_mm512_loadu_ps(c.as_ptr()), inv);
            let t = _mm512_add_ps(zp, _mm512_roundscale_ps::<ROUND>(v));
            let q = _mm512_cvttps_epi32(_mm512_min_ps(_mm512_max_ps(t, lo), hi));
            _mm_storeu_si128(o.as_mut_ptr().cast(), _mm512_cvtepi32_epi8(q));
        }
    }
}

#[target_feature(enable = "avx2")]
unsafe fn quantize_avx2(x: &[f32], inv: f32, zero_point: u8, out: &mut [u8]) {
    let (inv, zp) = (_mm256_set1_ps(inv), _mm256_set1_ps(f32::from(zero_point)));
    let (lo, hi) = (_mm256_setzero_ps(), _mm256_set1_ps(255.0));
    let q8 = |p: *const f32| {
        // SAFETY: (callers) `p` points at 8 readable values; AVX2 is enabled here.
        let v = _mm256_mul_ps(unsafe { _mm256_loadu_ps(p) }, inv);
        let t = _mm256_add_ps(zp, _mm256_round_ps::<ROUND>(v));
        _mm256_cvttps_epi32(_mm256_min_ps(_mm256_max_ps(t, lo), hi))
    };
    for (c, o) in x.chunks_exact(16).zip(out.chunks_exact_mut(16)) {
        // SAFETY: each chunk holds 16 values / bytes.
        unsafe {
            let bytes = pack16(q8(c.as_ptr()), q8(c.as_ptr().add(8)));
            _mm_storeu_si128(o.as_mut_ptr().cast(), bytes);
        }
    }
}
