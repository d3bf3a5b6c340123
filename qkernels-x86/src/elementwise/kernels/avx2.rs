//! AVX2 + FMA bodies of the binary kernels (`u8`, 32 elements per step).

use super::{scalar, AddParams, MulParams};
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

/// AVX2 `qadd_kernel` for `u8`.
///
/// # Safety
/// AVX2 and FMA must be available. Slices have equal lengths.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn add_u8(p: &AddParams, a: &[u8], b: &[u8], out: &mut [u8]) {
    let n = out.len().min(a.len()).min(b.len());
    let (sa, pa) = (_mm256_set1_ps(p.a_scale), _mm256_set1_ps(p.a_premul));
    let (sb, pb) = (_mm256_set1_ps(p.b_scale), _mm256_set1_ps(p.b_premul));
    let inv = _mm256_set1_ps(p.inv_out);
    let zp = _mm256_set1_epi32(p.out_zp);
    let zero = _mm256_setzero_ps();
    let mut i = 0;
    while i + 32 <= n {
        let mut r = [_mm256_setzero_si256(); 4];
        for (g, rg) in r.iter_mut().enumerate() {
            let off = i + 8 * g;
            // SAFETY: off + 8 <= i + 32 <= n, which bounds `a` and `b`.
            let (qa, qb) = unsafe {
                (
                    load8_u8_as_i32(a.as_ptr().add(off)),
                    load8_u8_as_i32(b.as_ptr().add(off)),
                )
            };
            let da = _mm256_fmadd_ps(sa, _mm256_cvtepi32_ps(qa), pa);
            let db = _mm256_fmadd_ps(sb, _mm256_cvtepi32_ps(qb), pb);
            let mut c = _mm256_add_ps(da, db);
            if p.relu {
                c = _mm256_max_ps(c, zero);
            }
            *rg = quantize8(c, inv, zp);
        }
        // SAFETY: i + 32 <= n <= out.len(); the store is unaligned.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(i).cast(), pack_u8(r)) };
        i += 32;
    }
    scalar::add(p, &a[i..n], &b[i..n], &mut out[i..n]);
}

/// AVX2 `qmul_kernel` for `u8`.
///
/// # Safety
/// AVX2 and FMA must be available. Slices have equal lengths.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn mul_u8(p: &MulParams, a: &[u8], b: &[u8], out: &mut [u8]) {
    let n = out.len().min(a.len()).min(b.len());
    let (za, zb) = (_mm256_set1_epi32(p.a_zp), _mm256_set1_epi32(p.b_zp));
    let mult = _mm256_set1_ps(p.multiplier);
    let zp = _mm256_set1_epi32(p.out_zp);
    let relu_floor = _mm256_set1_epi8(p.out_zp.clamp(0, 255) as u8 as i8);
    let mut i = 0;
    while i + 32 <= n {
        let mut r = [_mm256_setzero_si256(); 4];
        for (g, rg) in r.iter_mut().enumerate() {
            let off = i + 8 * g;
            // SAFETY: off + 8 <= i + 32 <= n, which bounds `a` and `b`.
            let (qa, qb) = unsafe {
                (
                    load8_u8_as_i32(a.as_ptr().add(off)),
                    load8_u8_as_i32(b.as_ptr().add(off)),
                )
            };
            let acc = _mm256_mullo_epi32(_mm256_sub_epi32(qa, za), _mm256_sub_epi32(qb, zb));
            let scaled = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), mult);
            *rg = _mm256_add_epi32(_mm256_cvtps_epi32(scaled), zp);
        }
        let mut v = pack_u8(r);
        if p.relu {
            v = _mm256_max_epu8(v, relu_floor);
        }
        // SAFETY: i + 32 <= n <= out.len(); the store is unaligned.
        unsafe { _mm256_storeu_si256(out.as_mut_ptr().add(i).cast(), v) };
        i += 32;
    }
    scalar::mul(p, &a[i..n], &b[i..n], &mut out[i..n]);
}
