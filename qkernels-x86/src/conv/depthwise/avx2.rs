//! AVX2 depthwise tile: 8 channels per step, u8 zero-extended to i32 lanes and
//! multiplied with i16 weights by `vpmaddwd` (exact).

use crate::gemm::{Tile, TILE_LD};
use std::arch::x86_64::*;

/// See `scalar::tile`.
///
/// # Safety
/// The CPU must support AVX2; every read `base + p * pix_stride + taps[t] + c0 + 0..nch.div_ceil(8) * 8`
/// must lie inside `xp`, `w` must hold `taps.len() * cp` lanes with
/// `c0 + nch.div_ceil(8) * 8 <= cp`, `np <= MR_MAX`, `nch <= 64`.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn tile(
    xp: &[u8],
    base: usize,
    pix_stride: usize,
    np: usize,
    taps: &[usize],
    w: &[i32],
    cp: usize,
    c0: usize,
    nch: usize,
    acc: &mut Tile,
) {
    let (xptr, wptr) = (xp.as_ptr(), w.as_ptr());
    for v in 0..nch.div_ceil(8) {
        let c = c0 + v * 8;
        for p in 0..np {
            let pix = base + p * pix_stride + c;
            let mut s = _mm256_setzero_si256();
            for (t, &off) in taps.iter().enumerate() {
                // SAFETY: in bounds by the caller's contract (8 bytes / 8 lanes).
                unsafe {
                    let x8 = _mm_loadl_epi64(xptr.add(pix + off) as *const __m128i);
                    let x = _mm256_cvtepu8_epi32(x8);
                    let wv = _mm256_loadu_si256(wptr.add(t * cp + c) as *const __m256i);
                    s = _mm256_add_epi32(s, _mm256_madd_epi16(x, wv));
                }
            }
            // SAFETY: the tile holds MR_MAX x 64 lanes; p < np <= MR_MAX, v * 8 + 8 <= 64.
            unsafe {
                _mm256_storeu_si256(acc.as_mut_ptr().add(p * TILE_LD + v * 8) as *mut __m256i, s)
            };
        }
    }
}

/// Planar tile (see `scalar::plane_tile`), 8 output columns per vector;
/// `sw` must be 1 or 2.
///
/// # Safety
/// The CPU must support AVX2; reads reach `base + (rows - 1) * row_stride +
/// max(taps) + 64 * sw + 16` bytes, which must lie inside `plane`; `rows <= MR_MAX`.
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn plane_tile(
    plane: &[u8],
    base: usize,
    row_stride: usize,
    sw: usize,
    rows: usize,
    cols: usize,
    taps: &[usize],
    w: &[i32],
    acc: &mut Tile,
) {
    let ptr = plane.as_ptr();
    let nv = cols.div_ceil(8);
    let mask = _mm256_set1_epi32(0xff);
    for r in 0..rows {
        for v in 0..nv {
            let p = base + r * row_stride + v * 8 * sw;
            let mut s = _mm256_setzero_si256();
            for (&off, &wv) in taps.iter().zip(w) {
                // SAFETY: in bounds by the caller's contract.
                let x = unsafe {
                    if sw == 1 {
                        _mm256_cvtepu8_epi32(_mm_loadl_epi64(ptr.add(p + off) as *const __m128i))
                    } else {
                        let x16 = _mm_loadu_si128(ptr.add(p + off) as *const __m128i);
                        _mm256_and_si256(_mm256_cvtepu16_epi32(x16), mask)
                    }
                };
                s = _mm256_add_epi32(
                    s,
                    _mm256_madd_epi16(x, _mm256_set1_epi32(wv as i16 as u16 as i32)),
                );
            }
            // SAFETY: r < MR_MAX and v * 8 + 8 <= 64 lanes of the tile.
            unsafe {
                _mm256_storeu_si256(acc.as_mut_ptr().add(r * TILE_LD + v * 8) as *mut __m256i, s)
            };
        }
    }
}
