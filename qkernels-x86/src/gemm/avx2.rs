//! AVX2 GEMM tile and epilogue, exact.
//!
//! fbgemm's AVX2 kernel multiplies with `vpmaddubsw`, which adds two u8 x s8
//! products into a *saturating* i16 (that is why PyTorch's fbgemm observers
//! use 7-bit activations, `reduce_range`). Here activations are zero-extended
//! and weights sign-extended to i16 and multiplied with `vpmaddwd` into i32
//! pair sums, which cannot overflow, so this path equals the scalar one bit for
//! bit for all 8-bit inputs.

use super::{Out, Tile, TileArgs, TILE_LD};
use crate::output::{corrected, float_one, requant_one, EpView, StageView};
use std::arch::x86_64::*;

/// Rows per tile.
pub(crate) const MR: usize = 4;

/// Accumulates `mr` rows of packed A times one packed panel (see `scalar::tile`).
///
/// # Safety
/// The CPU must support AVX2; `a` holds `(mr - 1) * lda + klen` bytes and
/// `panel` `width * klen` bytes, `1 <= mr <= MR`, `1 <= width <= 64`.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn tile(a: &[u8], panel: &[i8], args: TileArgs, acc: &mut Tile) {
    let TileArgs {
        lda,
        klen,
        mr,
        width,
        init,
    } = args;
    debug_assert!(a.len() >= (mr - 1) * lda + klen && panel.len() >= width * klen);
    let kg = klen / 4;
    let (ap, bp, cp) = (a.as_ptr(), panel.as_ptr(), acc.as_mut_ptr());
    let mut c0 = 0;
    while c0 < width {
        let cols = (width - c0).min(8);
        // SAFETY: shapes in range (caller's contract); the slice covers columns c0..c0+cols.
        unsafe {
            match mr {
                1 => slice::<1>(ap, lda, kg, bp, width, c0, cols, cp, init),
                2 => slice::<2>(ap, lda, kg, bp, width, c0, cols, cp, init),
                3 => slice::<3>(ap, lda, kg, bp, width, c0, cols, cp, init),
                4 => slice::<4>(ap, lda, kg, bp, width, c0, cols, cp, init),
                _ => unreachable!("tile height out of range"),
            }
        }
        c0 += 8;
    }
}

/// Columns `c0..c0 + cols` (at most 8) of the tile over `groups` groups of 4 K values.
#[target_feature(enable = "avx2,fma")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn slice<const M: usize>(
    a: *const u8,
    lda: usize,
    groups: usize,
    b: *const i8,
    width: usize,
    c0: usize,
    cols: usize,
    acc: *mut i32,
    init: bool,
) {
    let mut lo = [_mm256_setzero_si256(); M];
    let mut hi = [_mm256_setzero_si256(); M];
    let mask = {
        let lanes: [i32; 8] = std::array::from_fn(|i| if i < cols { -1 } else { 0 });
        // SAFETY: reading an 8 x i32 local array.
        unsafe { _mm256_loadu_si256(lanes.as_ptr() as *const __m256i) }
    };
    let bstride = width * 4;
    // SAFETY: all pointers stay inside the packed buffers: group g of the panel
    // starts at g * width * 4 and we read columns c0..c0+cols (masked).
    unsafe {
        let mut bp = b.add(c0 * 4);
        let mut ap = a;
        for _ in 0..groups {
            let raw = if cols == 8 {
                _mm256_loadu_si256(bp as *const __m256i)
            } else {
                _mm256_maskload_epi32(bp as *const i32, mask)
            };
            let b_lo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(raw));
            let b_hi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256::<1>(raw));
            for r in 0..M {
                let a4 = (ap.add(r * lda) as *const i32).read_unaligned();
                let a16 = _mm256_cvtepu8_epi16(_mm_set1_epi32(a4));
                lo[r] = _mm256_add_epi32(lo[r], _mm256_madd_epi16(a16, b_lo));
                hi[r] = _mm256_add_epi32(hi[r], _mm256_madd_epi16(a16, b_hi));
            }
            ap = ap.add(4);
            bp = bp.add(bstride);
        }
        for r in 0..M {
            // [c0 c1 c4 c5 | c2 c3 c6 c7] -> [c0 .. c7]
            let mut sum = _mm256_permute4x64_epi64::<0xd8>(_mm256_hadd_epi32(lo[r], hi[r]));
            let dst = acc.add(r * TILE_LD + c0) as *mut __m256i;
            if init {
                sum = _mm256_add_epi32(sum, _mm256_loadu_si256(dst));
            }
            _mm256_storeu_si256(dst, sum);
        }
    }
}

/// Applies the epilogue to `mr` x `width` accumulators (see `scalar::epilogue`).
///
/// # Safety
/// As `scalar::epilogue`, and the CPU must support AVX2.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn epilogue(
    acc: &Tile,
    mr: usize,
    width: usize,
    row_sums: &[i32],
    ep: &EpView<'_>,
    out: Out,
) {
    let full = width / 8 * 8;
    for r in 0..mr {
        let rs_val = if ep.needs_row_sums { row_sums[r] } else { 0 };
        let rs = _mm256_set1_epi32(rs_val);
        let mut j = 0;
        while j < full {
            let off = r * out.ldc + j;
            // SAFETY: lanes j..j+8 <= width are inside the tile, the epilogue
            // slices and the caller's output.
            unsafe {
                let v = _mm256_loadu_si256(acc.as_ptr().add(r * TILE_LD + j) as *const __m256i);
                if let StageView::Raw = ep.stage {
                    _mm256_storeu_si256(out.ptr.cast::<i32>().add(off) as *mut __m256i, v);
                    j += 8;
                    continue;
                }
                let cc = _mm256_loadu_si256(ep.col_corr.as_ptr().add(j) as *const __m256i);
                let mut x = _mm256_sub_epi32(v, cc);
                if ep.needs_row_sums {
                    let wz = _mm256_loadu_si256(ep.w_zp.as_ptr().add(j) as *const __m256i);
                    x = _mm256_sub_epi32(x, _mm256_mullo_epi32(rs, wz));
                }
                match ep.stage {
                    StageView::Requant {
                        mult,
                        bias,
                        bias_scale,
                        zp,
                        lo,
                        hi,
                    } => {
                        let f = _mm256_fmadd_ps(
                            _mm256_loadu_ps(bias.as_ptr().add(j)),
                            _mm256_loadu_ps(bias_scale.as_ptr().add(j)),
                            _mm256_cvtepi32_ps(x),
                        );
                        let y = _mm256_mul_ps(f, _mm256_loadu_ps(mult.as_ptr().add(j)));
                        let q = _mm256_cvtps_epi32(y);
                        let q = _mm256_min_epi32(
                            _mm256_max_epi32(q, _mm256_set1_epi32(-512)),
                            _mm256_set1_epi32(512),
                        );
                        let q = _mm256_add_epi32(q, _mm256_set1_epi32(zp));
                        let q = _mm256_min_epi32(
                            _mm256_max_epi32(q, _mm256_set1_epi32(lo)),
                            _mm256_set1_epi32(hi),
                        );
                        // Values are in 0..=255: pack to bytes.
                        let p16 = _mm256_packus_epi32(q, q);
                        let p8 = _mm256_packus_epi16(p16, p16);
                        let lo64 = _mm256_extract_epi32::<0>(p8) as u32 as u64
                            | ((_mm256_extract_epi32::<4>(p8) as u32 as u64) << 32);
                        (out.ptr.add(off) as *mut u64).write_unaligned(lo64);
                    }
                    StageView::Float { scale, bias, relu } => {
                        let y = _mm256_fmadd_ps(
                            _mm256_cvtepi32_ps(x),
                            _mm256_loadu_ps(scale.as_ptr().add(j)),
                            _mm256_loadu_ps(bias.as_ptr().add(j)),
                        );
                        let y = if relu {
                            _mm256_max_ps(_mm256_setzero_ps(), y)
                        } else {
                            y
                        };
                        _mm256_storeu_ps(out.ptr.cast::<f32>().add(off), y);
                    }
                    StageView::Raw => {}
                }
            }
            j += 8;
        }
        for c in full..width {
            let v = acc[r * TILE_LD + c];
            let off = r * out.ldc + c;
            // SAFETY: column c < width is inside the caller's output.
            unsafe {
                match ep.stage {
                    StageView::Raw => *out.ptr.cast::<i32>().add(off) = v,
                    StageView::Requant {
                        mult,
                        bias,
                        bias_scale,
                        zp,
                        lo,
                        hi,
                    } => {
                        let x = corrected(v, ep.col_corr[c], rs_val, ep.w_zp[c]);
                        *out.ptr.add(off) =
                            requant_one(x, bias[c], bias_scale[c], mult[c], zp, lo, hi);
                    }
                    StageView::Float { scale, bias, relu } => {
                        let x = corrected(v, ep.col_corr[c], rs_val, ep.w_zp[c]);
                        *out.ptr.cast::<f32>().add(off) = float_one(x, scale[c], bias[c], relu);
                    }
                }
            }
        }
    }
}
