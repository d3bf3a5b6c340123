//! AVX2 + FMA bodies of the binary kernels (`u8`, 32 elements per step).

use super::{AddParams, MulParams};
use std::arch::x86_64::*;

/// Largest `i32` exactly representable as `f32`.
const INT32_FLOAT_MAX: f32 = 2_147_483_520.0;

/// Zero-extends 8 bytes at `p` to eight `i32` lanes.
///
/// # Safety
/// `p` must point to 8 readable bytes; AVX2 must be available.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn load8_u8_as_i32(p: *const u8) -> __m256i {
    // SAFETY: the caller guarantees 8 readable bytes at `p`; the load is unaligned.
    _mm256_cvtepu8_epi32(unsafe { _mm_loadl_epi64(p.cast()) })
}

/// Packs four vectors of eight `i32` into 32 saturated `u8` in order.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn pack_u8(r: [__m256i; 4]) -> __m256i {
    let xy = _mm256_packs_epi32(r[0], r[1]);
    let zw = _mm256_packs_epi32(r[2], r[3]);
    let bytes = _mm256_packus_epi16(xy, zw);
    _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7))
}

/// `quantize_f32` on eight lanes, before narrowing.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn quantize8(x: __m256, inv: __m256, zp: __m256i) -> __m256i {
    let t = _mm256_min_ps(_mm256_mul_ps(x, inv), _mm256_set1_ps(INT32_FLOAT_MAX));
    _mm256_add_epi32(_mm256_cvtps_epi32(t), zp)
}

/// 32 outputs of `qadd_kernel` from 32 bytes of each input.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn add_block(p: &AddParams, a: &[u8; 32], b: &[u8; 32]) -> __m256i {
    let (sa, pa) = (_mm256_set1_ps(p.a_scale), _mm256_set1_ps(p.a_premul));
    let (sb, pb) = (_mm256_set1_ps(p.b_scale), _mm256_set1_ps(p.b_premul));
    let inv = _mm256_set1_ps(p.inv_out);
    let zp = _mm256_set1_epi32(p.out_zp);
    let mut r = [_mm256_setzero_si256(); 4];
    for (g, rg) in r.iter_mut().enumerate() {
        // SAFETY: 8 * g + 8 <= 32 bytes of each array.
        let (qa, qb) = unsafe {
            (
                load8_u8_as_i32(a.as_ptr().add(8 * g)),
                load8_u8_as_i32(b.as_ptr().add(8 * g)),
            )
        };
        let da = _mm256_fmadd_ps(sa, _mm256_cvtepi32_ps(qa), pa);
        let db = _mm256_fmadd_ps(sb, _mm256_cvtepi32_ps(qb), pb);
        let mut c = _mm256_add_ps(da, db);
        if p.relu {
            c = _mm256_max_ps(c, _mm256_setzero_ps());
        }
        *rg = quantize8(c, inv, zp);
    }
    pack_u8(r)
}

/// 32 outputs of `qmul_kernel` from 32 bytes of each input.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn mul_block(p: &MulParams, a: &[u8; 32], b: &[u8; 32]) -> __m256i {
    let (za, zb) = (_mm256_set1_epi32(p.a_zp), _mm256_set1_epi32(p.b_zp));
    let mult = _mm256_set1_ps(p.multiplier);
    let zp = _mm256_set1_epi32(p.out_zp);
    let mut r = [_mm256_setzero_si256(); 4];
    for (g, rg) in r.iter_mut().enumerate() {
        // SAFETY: 8 * g + 8 <= 32 bytes of each array.
        let (qa, qb) = unsafe {
            (
                load8_u8_as_i32(a.as_ptr().add(8 * g)),
                load8_u8_as_i32(b.as_ptr().add(8 * g)),
            )
        };
        let acc = _mm256_mullo_epi32(_mm256_sub_epi32(qa, za), _mm256_sub_epi32(qb, zb));
        let scaled = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), mult);
        *rg = _mm256_add_epi32(_mm256_cvtps_epi32(scaled), zp);
    }
    let v = pack_u8(r);
    if p.relu {
        _mm256_max_epu8(v, _mm256_set1_epi8(p.out_zp.clamp(0, 255) as u8 as i8))
    } else {
        v
    }
}

/// Runs a 32-wide block function over equal-length slices; the last partial
/// block goes through zero-padded copies.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn run_blocks(a: &[u8], b: &[u8], out: &mut [u8], block: impl Fn(&[u8; 32], &[u8; 32]) -> __m256i) {
    let n = out.len().min(a.len()).min(b.len());
    let mut i = 0;
    while i + 32 <= n {
        if let (Ok(x), Ok(y)) = (
            <&[u8; 32]>::try_from(&a[i..i + 32]),
            <&[u8; 32]>::try_from(&b[i..i + 32]),
        ) {
            let v = block(x, y);
            // SAFETY: i + 32 <= n <= out.len(); the store is unaligned.
            unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(i).cast(), v) };
        }
        i += 32;
    }
    if i < n {
        let len = n - i;
        let (mut ta, mut tb, mut result) = ([0u8; 32], [0u8; 32], [0u8; 32]);
        ta[..len].copy_from_slice(&a[i..n]);
        tb[..len].copy_from_slice(&b[i..n]);
        let v = block(&ta, &tb);
        // SAFETY: `result` is 32 writable bytes; the store is unaligned.
        unsafe { _mm256_storeu_si256(result.as_mut_ptr().cast(), v) };
        out[i..n].copy_from_slice(&result[..len]);
    }
}

/// AVX2 `qadd_kernel` for `u8`.
///
/// # Safety
/// AVX2 and FMA must be available. Slices have equal lengths.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn add_u8(p: &AddParams, a: &[u8], b: &[u8], out: &mut [u8]) {
    run_blocks(a, b, out, |x, y| add_block(p, x, y));
}

/// AVX2 `qmul_kernel` for `u8`.
///
/// # Safety
/// AVX2 and FMA must be available. Slices have equal lengths.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn mul_u8(p: &MulParams, a: &[u8], b: &[u8], out: &mut [u8]) {
    run_blocks(a, b, out, |x, y| mul_block(p, x, y));
}
