//! Portable scalar GEMM tile and epilogue (the numerical reference path).

use super::{Out, Tile, TileArgs, TILE_LD};
use crate::gemm::pack::KGROUP;
use crate::output::{corrected, float_one, requant_one, EpView, StageView};

/// Rows per tile.
pub(crate) const MR: usize = 4;

/// Accumulates `mr` rows of packed A (`klen` bytes each, row stride `lda`)
/// times the matching K slice of one packed panel of `width` columns into `acc`
/// (row `r`, column `c` at `r * TILE_LD + c`).
pub(crate) fn tile(a: &[u8], panel: &[i8], args: TileArgs, acc: &mut Tile) {
    let TileArgs {
        lda,
        klen,
        mr,
        width,
        init,
    } = args;
    for r in 0..mr {
        let row = &a[r * lda..r * lda + klen];
        let out = &mut acc[r * TILE_LD..r * TILE_LD + width];
        if !init {
            out.fill(0);
        }
        for (g, a4) in row.chunks_exact(KGROUP).enumerate() {
            let group = &panel[g * width * KGROUP..(g + 1) * width * KGROUP];
            for (c, b4) in group.chunks_exact(KGROUP).enumerate() {
                let mut s = 0i32;
                for i in 0..KGROUP {
                    s = s.wrapping_add(a4[i] as i32 * b4[i] as i32);
                }
                out[c] = out[c].wrapping_add(s);
            }
        }
    }
}

/// Applies the epilogue to `mr` x `width` accumulators and writes them at `out`.
///
/// # Safety
/// `out` must be valid for writes of rows `0..mr` (stride `out.ldc`) and columns
/// `0..width` of its element type, and not be written concurrently.
pub(crate) unsafe fn epilogue(
    acc: &Tile,
    mr: usize,
    width: usize,
    row_sums: &[i32],
    ep: &EpView<'_>,
    out: Out,
) {
    for r in 0..mr {
        let rs = if ep.needs_row_sums { row_sums[r] } else { 0 };
        for c in 0..width {
            let v = acc[r * TILE_LD + c];
            let off = r * out.ldc + c;
            match ep.stage {
                StageView::Raw => {
                    // SAFETY: in bounds by the caller's contract.
                    unsafe { *out.ptr.cast::<i32>().add(off) = v };
                }
                StageView::Requant {
                    mult,
                    bias,
                    bias_scale,
                    zp,
                    lo,
                    hi,
                } => {
                    let x = corrected(v, ep.col_corr[c], rs, ep.w_zp[c]);
                    let q = requant_one(x, bias[c], bias_scale[c], mult[c], zp, lo, hi);
                    // SAFETY: in bounds by the caller's contract.
                    unsafe { *out.ptr.cast::<u8>().add(off) = q };
                }
                StageView::Float { scale, bias, relu } => {
                    let x = corrected(v, ep.col_corr[c], rs, ep.w_zp[c]);
                    let y = float_one(x, scale[c], bias[c], relu);
                    // SAFETY: in bounds by the caller's contract.
                    unsafe { *out.ptr.cast::<f32>().add(off) = y };
                }
            }
        }
    }
}
