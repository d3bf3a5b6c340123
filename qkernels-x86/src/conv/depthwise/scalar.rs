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
