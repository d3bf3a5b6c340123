//! Depthwise convolution (groups == C == O): a direct kernel on a padded
//! channels-last copy of the input, one file per ISA.
//!
//! Weights are stored per tap and channel as `w - w_zp` (an i16 in the low
//! half of an i32 lane, so `vpmaddwd` / `vpdpwssd` multiply exactly with u8
//! inputs zero-extended to i32). The input is padded with its zero point, so
//! `sum_t x_t (w_t - w_zp) - a_zp * sum_t (w_t - w_zp)` is exactly fbgemm's
//! corrected accumulator; the shared GEMM epilogue finishes the job.

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
pub(crate) mod scalar;

use crate::gemm::{epilogue_fn, Out, Tile, MR_MAX, TILE_LD};
use crate::isa::Isa;
use crate::output::Epilogue;
use crate::threads;
use rayon::prelude::*;

/// Channel padding of the packed weights and the padded input.
pub(crate) const CHANNEL_ALIGN: usize = 16;

/// Depthwise weights: `taps x cp` lanes plus per-channel column offsets.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DepthwiseWeight {
    pub taps: usize,
    pub c: usize,
    pub cp: usize,
    pub lanes: Vec<i32>,
    /// `sum_t (w_t - w_zp)` per channel.
    pub col_offsets: Vec<i32>,
}

impl DepthwiseWeight {
    /// Packs a `[C, 1, taps]` weight with per-channel zero points `zp`.
    pub fn pack(w: &[i8], c: usize, taps: usize, zp: &[i32]) -> Self {
        let cp = c.div_ceil(CHANNEL_ALIGN) * CHANNEL_ALIGN;
        let mut lanes = vec![0i32; taps * cp];
        let mut col_offsets = vec![0i32; c];
        for ch in 0..c {
            for t in 0..taps {
                let v = w[ch * taps + t] as i32 - zp[ch];
                lanes[t * cp + ch] = v as i16 as u16 as i32;
                col_offsets[ch] += v;
            }
        }
        DepthwiseWeight {
            taps,
            c,
            cp,
            lanes,
            col_offsets,
        }
    }

    /// Recovers the `[C, 1, taps]` weight.
    pub fn unpack(&self, zp: &[i32]) -> Vec<i8> {
        let mut w = vec![0i8; self.c * self.taps];
        for ch in 0..self.c {
            for t in 0..self.taps {
                w[ch * self.taps + t] =
                    (scalar::lane_value(self.lanes[t * self.cp + ch]) + zp[ch]) as i8;
            }
        }
        w
    }
}

/// A padded channels-last input `[N, Dp, Hp, Wp, cp]`.
pub(crate) struct PaddedInput<'a> {
    pub data: &'a [u8],
    pub dims: [usize; 3],
    pub cp: usize,
}

/// Geometry of one depthwise run.
pub(crate) struct DwShape {
    pub out: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub dilation: [usize; 3],
}

type DwTileFn =
    unsafe fn(&[u8], usize, usize, usize, &[usize], &[i32], usize, usize, usize, &mut Tile);

#[allow(clippy::too_many_arguments)]
fn safe_scalar(
    xp: &[u8],
    base: usize,
    ps: usize,
    np: usize,
    taps: &[usize],
    w: &[i32],
    cp: usize,
    c0: usize,
    nch: usize,
    acc: &mut Tile,
) {
    scalar::tile(xp, base, ps, np, taps, w, cp, c0, nch, acc)
}

fn tile_fn(isa: Isa) -> DwTileFn {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => avx512::tile,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => avx2::tile,
        _ => safe_scalar,
    }
}

/// Runs the depthwise convolution into `out` (channels-last `[N, OD, OH, OW, C]` u8).
///
/// # Safety
/// `isa` must be available; `xp` must be the padded input for `shape` (every
/// tap of every output pixel inside it) and `out` must hold
/// `N * OD * OH * OW * C` bytes; `ep` must have `C` columns.
pub(crate) unsafe fn run(
    isa: Isa,
    xp: &PaddedInput<'_>,
    w: &DepthwiseWeight,
    shape: &DwShape,
    ep: &Epilogue,
    out: &mut [u8],
) {
    let [dp, hp, wp] = xp.dims;
    let cp = xp.cp;
    let c = w.c;
    let [od, oh, ow] = shape.out;
    let taps: Vec<usize> = {
        let mut t = Vec::with_capacity(w.taps);
        for z in 0..shape.kernel[0] {
            for y in 0..shape.kernel[1] {
                for x in 0..shape.kernel[2] {
                    let (dz, dy, dx) = (
                        z * shape.dilation[0],
                        y * shape.dilation[1],
                        x * shape.dilation[2],
                    );
                    t.push(((dz * hp + dy) * wp + dx) * cp);
                }
            }
        }
        t
    };
    let tile = tile_fn(isa);
    let epi = epilogue_fn(isa);
    let row_len = ow * c;
    if row_len == 0 {
        return;
    }
    let work = out.len() * w.taps;
    let row = |(r, dst): (usize, &mut [u8])| {
        let (n, z, y) = (r / (od * oh), (r / oh) % od, r % oh);
        let row_base = ((n * dp + z * shape.stride[0]) * hp + y * shape.stride[1]) * wp * cp;
        let pix_stride = shape.stride[2] * cp;
        let mut acc: Tile = [0; MR_MAX * TILE_LD];
        let mut x0 = 0;
        while x0 < ow {
            let np = MR_MAX.min(ow - x0);
            let base = row_base + x0 * pix_stride;
            let mut c0 = 0;
            while c0 < c {
                let nch = TILE_LD.min(c - c0);
                // SAFETY: the ISA is available and the padded input covers every
                // tap of these pixels (caller's contract); `dst` is this output
                // row, holding `ow * c` bytes.
                unsafe {
                    tile(
                        xp.data, base, pix_stride, np, &taps, &w.lanes, cp, c0, nch, &mut acc,
                    );
                    let view = ep.view(c0, nch);
                    let o = Out {
                        ptr: dst.as_mut_ptr().add(x0 * c + c0),
                        ldc: c,
                    };
                    epi(&acc, np, nch, &[0; MR_MAX][..np], &view, o);
                }
                c0 += nch;
            }
            x0 += np;
        }
    };
    threads::run(|nt| {
        if nt <= 1 || work < (1 << 18) {
            out.chunks_mut(row_len).enumerate().for_each(row);
        } else {
            out.par_chunks_mut(row_len).enumerate().for_each(row);
        }
    });
}

type PlaneTileFn = unsafe fn(&[u8], usize, usize, usize, usize, usize, &[usize], &[i32], &mut Tile);

#[allow(clippy::too_many_arguments)]
fn safe_plane_scalar(
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
    scalar::plane_tile(plane, base, row_stride, sw, rows, cols, taps, w, acc)
}

fn plane_fn(isa: Isa) -> PlaneTileFn {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => avx512::plane_tile,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => avx2::plane_tile,
        _ => safe_plane_scalar,
    }
}

/// Bytes readable past the end of a padded plane (SIMD tiles read whole vectors).
const PLANE_SLACK: usize = 192;

/// Geometry of a planar (NCDHW) depthwise run; `stride[2]` must be 1 or 2.
pub(crate) struct PlanarShape {
    pub batch: usize,
    pub input: [usize; 3],
    pub out: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub padding: [usize; 3],
    pub dilation: [usize; 3],
    pub a_zp: u8,
}

/// Depthwise convolution directly on NCDHW planes (no layout change): each
/// (image, channel) plane is padded with the zero point and convolved with
/// output columns in the vector lanes.
///
/// # Safety
/// `isa` must be available; `x` holds `N * C * D * H * W` bytes, `out` holds
/// `N * C * OD * OH * OW` bytes with output sizes from the same geometry,
/// `shape.stride[2]` is 1 or 2, and `ep` has `C` columns.
pub(crate) unsafe fn run_planar(
    isa: Isa,
    x: &[u8],
    w: &DepthwiseWeight,
    shape: &PlanarShape,
    ep: &Epilogue,
    out: &mut [u8],
) {
    let c = w.c;
    let [id, ih, iw] = shape.input;
    let [od, oh, ow] = shape.out;
    let [pd, ph, pw] = shape.padding;
    let dims = [id + 2 * pd, ih + 2 * ph, iw + 2 * pw];
    let plane_len = dims[0] * dims[1] * dims[2];
    let taps: Vec<usize> = {
        let mut t = Vec::with_capacity(w.taps);
        for z in 0..shape.kernel[0] {
            for y in 0..shape.kernel[1] {
                for xx in 0..shape.kernel[2] {
                    let (dz, dy, dx) = (
                        z * shape.dilation[0],
                        y * shape.dilation[1],
                        xx * shape.dilation[2],
                    );
                    t.push((dz * dims[1] + dy) * dims[2] + dx);
                }
            }
        }
        t
    };
    let tile = plane_fn(isa);
    let epi = epilogue_fn(isa);
    let in_plane = id * ih * iw;
    let out_plane = od * oh * ow;
    if out_plane == 0 || shape.batch == 0 {
        return;
    }
    let [sd, sh, sw] = shape.stride;
    let task = |(idx, dst): (usize, &mut [u8])| {
        let ch = idx % c;
        let src = &x[idx * in_plane..(idx + 1) * in_plane];
        let mut padded = vec![shape.a_zp; plane_len + PLANE_SLACK];
        for z in 0..id {
            for y in 0..ih {
                let at = ((z + pd) * dims[1] + y + ph) * dims[2] + pw;
                padded[at..at + iw].copy_from_slice(&src[(z * ih + y) * iw..(z * ih + y + 1) * iw]);
            }
        }
        let wv: Vec<i32> = (0..w.taps)
            .map(|t| scalar::lane_value(w.lanes[t * w.cp + ch]))
            .collect();
        let cep = ep.broadcast_column(ch, TILE_LD);
        let mut acc: Tile = [0; MR_MAX * TILE_LD];
        for z in 0..od {
            let mut y0 = 0;
            while y0 < oh {
                let rows = MR_MAX.min(oh - y0);
                let mut x0 = 0;
                while x0 < ow {
                    let cols = TILE_LD.min(ow - x0);
                    let base = ((z * sd) * dims[1] + y0 * sh) * dims[2] + x0 * sw;
                    // SAFETY: the ISA is available; every tap of these output
                    // pixels lies inside the padded plane and SIMD over-reads
                    // stay within PLANE_SLACK; `dst` is this output plane.
                    unsafe {
                        tile(
                            &padded,
                            base,
                            sh * dims[2],
                            sw,
                            rows,
                            cols,
                            &taps,
                            &wv,
                            &mut acc,
                        );
                        let view = cep.view(0, cols);
                        let o = Out {
                            ptr: dst.as_mut_ptr().add((z * oh + y0) * ow + x0),
                            ldc: ow,
                        };
                        epi(&acc, rows, cols, &[0; MR_MAX][..rows], &view, o);
                    }
                    x0 += cols;
                }
                y0 += rows;
            }
        }
    };
    let work = out.len() * w.taps;
    threads::run(|nt| {
        if nt <= 1 || work < (1 << 18) {
            out.chunks_mut(out_plane).enumerate().for_each(task);
        } else {
            out.par_chunks_mut(out_plane).enumerate().for_each(task);
        }
    });
}
