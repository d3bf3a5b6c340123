//! im2col as a GEMM activation source: rows are output pixels, a row holds
//! every kernel tap's `Cg` input channels of one group (tap-major, channel
//! minor). Padding (and, for transposed convolutions, the positions between
//! strided inputs) reads as the input zero point. Rows are built on demand by
//! the GEMM, one row block at a time, so no full im2col matrix exists.

use super::params::Geometry;
use crate::gemm::{row_sum, ASource};

/// im2col view of one group of a channels-last input `[N, D, H, W, C]`.
pub(crate) struct Im2Col<'a> {
    pub geo: &'a Geometry,
    /// Channels-last input.
    pub x: &'a [u8],
    pub batch: usize,
    pub input: [usize; 3],
    pub output: [usize; 3],
    pub group: usize,
    pub a_zp: u8,
}

impl Im2Col<'_> {
    fn k_len(&self) -> usize {
        self.geo.taps() * self.geo.cg()
    }
}

impl ASource for Im2Col<'_> {
    fn rows(&self) -> usize {
        self.batch * self.output.iter().product::<usize>()
    }

    fn pack_rows(&self, r0: usize, rows: usize, kp: usize, dst: &mut [u8], sums: &mut [i32]) {
        let geo = self.geo;
        let (cg, c) = (geo.cg(), geo.c);
        let [od, oh, ow] = self.output;
        let [id, ih, iw] = self.input;
        let [kd, kh, kw] = geo.kernel;
        let k_len = self.k_len();
        let c_off = self.group * cg;
        for r in 0..rows {
            let pix = r0 + r;
            let (n, rest) = (pix / (od * oh * ow), pix % (od * oh * ow));
            let (z, y, x) = (rest / (oh * ow), (rest / ow) % oh, rest % ow);
            let row = &mut dst[r * kp..(r + 1) * kp];
            let mut pos = 0;
            for tz in 0..kd {
                let iz = geo.input_coord(0, z, tz, id);
                for ty in 0..kh {
                    let iy = geo.input_coord(1, y, ty, ih);
                    for tx in 0..kw {
                        let ix = geo.input_coord(2, x, tx, iw);
                        let seg = &mut row[pos..pos + cg];
                        match (iz, iy, ix) {
                            (Some(iz), Some(iy), Some(ix)) => {
                                let base = (((n * id + iz) * ih + iy) * iw + ix) * c + c_off;
                                seg.copy_from_slice(&self.x[base..base + cg]);
                            }
                            _ => seg.fill(self.a_zp),
                        }
                        pos += cg;
                    }
                }
            }
            row[k_len..].fill(0);
            sums[r] = row_sum(&row[..k_len]);
        }
    }
}
