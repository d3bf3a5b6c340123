//! Scalar depthwise tile (reference path).

use crate::gemm::{Tile, TILE_LD};

/// Decodes a packed depthwise weight lane (`w - w_zp` as i16 in the low half).
#[inline(always)]
pub(crate) fn lane_value(lane: i32) -> i32 {
    lane as u32 as u16 as i16 as i32
}

/// Accumulates `np` output pixels x `nch` channels (from `c0`) of a depthwise
/// convolution: `acc[p][c] = sum_t xp[base + p * pix_stride + taps[t] + c0 + c] * w[t][c0 + c]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn tile(
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
    for p in 0..np {
        let pix = base + p * pix_stride + c0;
        for c in 0..nch {
            let mut s = 0i32;
            for (t, &off) in taps.iter().enumerate() {
                s = s.wrapping_add(xp[pix + off + c] as i32 * lane_value(w[t * cp + c0 + c]));
            }
            acc[p * TILE_LD + c] = s;
        }
    }
}

/// Planar (NCHW) tile: `acc[r][j] = sum_t plane[base + r * row_stride + j * sw + taps[t]] * w[t]`
/// for `rows` output rows and `cols` output columns of one channel.
#[allow(clippy::too_many_arguments)]
pub(crate) fn plane_tile(
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
    for r in 0..rows {
        for j in 0..cols {
            let p = base + r * row_stride + j * sw;
            let mut s = 0i32;
            for (&off, &wv) in taps.iter().zip(w) {
                s = s.wrapping_add(plane[p + off] as i32 * wv);
            }
            acc[r * TILE_LD + j] = s;
        }
    }
}
