//! AVX-512 VNNI GEMM tile (`vpdpbusd`, exact, wrapping i32) and epilogue.
//!
//! A tile is `MR` rows x up to 64 columns: `MR * 4` zmm accumulators. Each step
//! broadcasts 4 consecutive activation bytes of a row and multiplies them with
//! 16 columns x 4 weights of the packed panel.

use super::{Out, Tile, TileArgs, TILE_LD};
use crate::output::{EpView, StageView};
use std::arch::x86_64::*;

/// Rows per tile.
pub(crate) const MR: usize = 6;

/// Accumulates `mr` rows of packed A times one packed panel (see `scalar::tile`).
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI; `a` holds `(mr - 1) * lda + klen`
/// bytes and `panel` `width * klen` bytes, `1 <= mr <= MR`, `1 <= width <= 64`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn tile(a: &[u8], panel: &[i8], args: TileArgs, acc: &mut Tile) {
    let TileArgs {
        lda,
        klen,
        mr,
        width,
        init,
    } = args;
    debug_assert!(a.len() >= (mr - 1) * lda + klen && panel.len() >= width * klen);
    let nv = width.div_ceil(16);
    let tail = width - (nv - 1) * 16;
    let mask: __mmask16 = if tail == 16 {
        0xffff
    } else {
        (1u16 << tail) - 1
    };
    let (ap, bp, cp) = (a.as_ptr(), panel.as_ptr(), acc.as_mut_ptr());
    macro_rules! go {
        ($($m:literal),*) => {
            match (mr, nv) {
                $(
                    ($m, 1) => tile_mn::<$m, 1>(ap, lda, klen / 4, bp, width, mask, cp, init),
                    ($m, 2) => tile_mn::<$m, 2>(ap, lda, klen / 4, bp, width, mask, cp, init),
                    ($m, 3) => tile_mn::<$m, 3>(ap, lda, klen / 4, bp, width, mask, cp, init),
                    ($m, 4) => tile_mn::<$m, 4>(ap, lda, klen / 4, bp, width, mask, cp, init),
                )*
                _ => unreachable!("tile shape out of range"),
            }
        };
    }
    // SAFETY: shapes are in range (caller's contract); pointers cover the data.
    unsafe { go!(1, 2, 3, 4, 5, 6) }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_mn<const M: usize, const V: usize>(
    a: *const u8,
    lda: usize,
    groups: usize,
    b: *const i8,
    width: usize,
    mask: __mmask16,
    acc: *mut i32,
    init: bool,
) {
    let mut c = [[_mm512_setzero_si512(); V]; M];
    if init {
        for (r, row) in c.iter_mut().enumerate() {
            for (v, cv) in row.iter_mut().enumerate() {
                // SAFETY: the tile holds MR_MAX x 64 i32; r < M, v < 4.
                *cv =
                    unsafe { _mm512_loadu_si512(acc.add(r * TILE_LD + v * 16) as *const __m512i) };
            }
        }
    }
    let bstride = width * 4;
    let (mut ap, mut bp) = (a, b);
    for _ in 0..groups {
        let mut bv = [_mm512_setzero_si512(); V];
        for (v, slot) in bv.iter_mut().enumerate() {
            // SAFETY: group rows hold `width * 4` bytes; the last vector is
            // masked to the panel width, the others are full.
            *slot = unsafe {
                if v + 1 == V {
                    _mm512_maskz_loadu_epi32(mask, bp.add(v * 64) as *const i32)
                } else {
                    _mm512_loadu_si512(bp.add(v * 64) as *const __m512i)
                }
            };
        }
        for (r, row) in c.iter_mut().enumerate() {
            // SAFETY: row `r` of packed A has `klen` bytes from `a`; we read 4 at offset 4g < klen.
            let a4 = unsafe { (ap.add(r * lda) as *const i32).read_unaligned() };
            let av = _mm512_set1_epi32(a4);
            for (cv, bv) in row.iter_mut().zip(bv.iter()) {
                *cv = _mm512_dpbusd_epi32(*cv, av, *bv);
            }
        }
        // SAFETY: advancing within the packed buffers (at most to one past the end).
        unsafe {
            ap = ap.add(4);
            bp = bp.add(bstride);
        }
    }
    for (r, row) in c.iter().enumerate() {
        for (v, cv) in row.iter().enumerate() {
            // SAFETY: the tile holds MR_MAX x 64 i32; r < M <= MR_MAX, v < 4.
            unsafe { _mm512_storeu_si512(acc.add(r * TILE_LD + v * 16) as *mut __m512i, *cv) };
        }
    }
}

/// Applies the epilogue to `mr` x `width` accumulators (see `scalar::epilogue`).
///
/// # Safety
/// As `scalar::epilogue`, and the CPU must support AVX-512 F/BW/VL/VNNI.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(crate) unsafe fn epilogue(
    acc: &Tile,
    mr: usize,
    width: usize,
    row_sums: &[i32],
    ep: &EpView<'_>,
    out: Out,
) {
    for (r, &row_sum) in row_sums.iter().enumerate().take(mr) {
        let rs = _mm512_set1_epi32(if ep.needs_row_sums { row_sum } else { 0 });
        let mut j = 0;
        while j < width {
            let lanes = (width - j).min(16);
            let m: __mmask16 = if lanes == 16 {
                0xffff
            } else {
                (1u16 << lanes) - 1
            };
            let off = r * out.ldc + j;
            // SAFETY: masked loads/stores touch only lanes j..j+lanes < width,
            // inside the tile, the epilogue slices and the caller's output.
            unsafe {
                let v = _mm512_maskz_loadu_epi32(m, acc.as_ptr().add(r * TILE_LD + j));
                if let StageView::Raw = ep.stage {
                    _mm512_mask_storeu_epi32(out.ptr.cast::<i32>().add(off), m, v);
                    j += 16;
                    continue;
                }
                let mut x =
                    _mm512_sub_epi32(v, _mm512_maskz_loadu_epi32(m, ep.col_corr.as_ptr().add(j)));
                if ep.needs_row_sums {
                    let wz = _mm512_maskz_loadu_epi32(m, ep.w_zp.as_ptr().add(j));
                    x = _mm512_sub_epi32(x, _mm512_mullo_epi32(rs, wz));
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
                        let f = _mm512_fmadd_ps(
                            _mm512_maskz_loadu_ps(m, bias.as_ptr().add(j)),
                            _mm512_maskz_loadu_ps(m, bias_scale.as_ptr().add(j)),
                            _mm512_cvtepi32_ps(x),
                        );
                        let y = _mm512_mul_ps(f, _mm512_maskz_loadu_ps(m, mult.as_ptr().add(j)));
                        let q = _mm512_cvtps_epi32(y);
                        let q = _mm512_min_epi32(
                            _mm512_max_epi32(q, _mm512_set1_epi32(-512)),
                            _mm512_set1_epi32(512),
                        );
                        let q = _mm512_add_epi32(q, _mm512_set1_epi32(zp));
                        let q = _mm512_min_epi32(
                            _mm512_max_epi32(q, _mm512_set1_epi32(lo)),
                            _mm512_set1_epi32(hi),
                        );
                        _mm512_mask_cvtepi32_storeu_epi8(out.ptr.cast::<i8>().add(off), m, q);
                    }
                    StageView::Float { scale, bias, relu } => {
                        let y = _mm512_fmadd_ps(
                            _mm512_cvtepi32_ps(x),
                            _mm512_maskz_loadu_ps(m, scale.as_ptr().add(j)),
                            _mm512_maskz_loadu_ps(m, bias.as_ptr().add(j)),
                        );
                        let y = if relu {
                            _mm512_max_ps(_mm512_setzero_ps(), y)
                        } else {
                            y
                        };
                        _mm512_mask_storeu_ps(out.ptr.cast::<f32>().add(off), m, y);
                    }
                    StageView::Raw => {}
                }
            }
            j += 16;
        }
    }
}
