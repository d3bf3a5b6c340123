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
    /// Writes the `kw` taps of kernel row `(iz, iy)` for output column `x` of image `n`.
    #[inline]
    fn row_segment(&self, seg: &mut [u8], n: usize, iz: usize, iy: usize, x: usize) {
        let geo = self.geo;
        let (cg, c) = (geo.cg(), geo.c);
        let [_, ih, iw] = self.input;
        let kw = geo.kernel[2];
        let c_off = self.group * cg;
        let pixel = |ix: usize| (((n * self.input[0] + iz) * ih + iy) * iw + ix) * c + c_off;
        // Fast path: all kw taps inside and adjacent in memory (dense channels).
        if !geo.transposed && geo.dilation[2] == 1 && cg == c {
            let start = (x * geo.stride[2]) as isize - geo.padding[2] as isize;
            if start >= 0 && start as usize + kw <= iw {
                let b = pixel(start as usize);
                seg.copy_from_slice(&self.x[b..b + kw * cg]);
                return;
            }
        }
        for (tx, dst) in seg.chunks_exact_mut(cg).enumerate() {
            match geo.input_coord(2, x, tx, iw) {
                Some(ix) => {
                    let b = pixel(ix);
                    dst.copy_from_slice(&self.x[b..b + cg]);
                }
                None => dst.fill(self.a_zp),
            }
        }
    }
}

impl ASource for Im2Col<'_> {
    fn rows(&self) -> usize {
        self.batch * self.output.iter().product::<usize>()
    }

    fn pack_rows(
        &self,
        r0: usize,
        rows: usize,
        kp: usize,
        dst: &mut [u8],
        mut sums: Option<&mut [i32]>,
    ) {
        let geo = self.geo;
        let cg = geo.cg();
        let [od, oh, ow] = self.output;
        let [id, ih, _] = self.input;
        let [kd, kh, kw] = geo.kernel;
        let k_len = geo.taps() * cg;
        let seg_len = kw * cg;
        let per_image = od * oh * ow;
        for r in 0..rows {
            let pix = r0 + r;
            let (n, rest) = (pix / per_image, pix % per_image);
            let (z, y, x) = (rest / (oh * ow), (rest / ow) % oh, rest % ow);
            let row = &mut dst[r * kp..(r + 1) * kp];
            let mut pos = 0;
            for tz in 0..kd {
                let iz = geo.input_coord(0, z, tz, id);
                for ty in 0..kh {
                    let seg = &mut row[pos..pos + seg_len];
                    match (iz, geo.input_coord(1, y, ty, ih)) {
                        (Some(iz), Some(iy)) => self.row_segment(seg, n, iz, iy, x),
                        _ => seg.fill(self.a_zp),
                    }
                    pos += seg_len;
                }
            }
            row[k_len..].fill(0);
            if let Some(s) = sums.as_deref_mut() {
                s[r] = row_sum(&row[..k_len]);
            }
        }
    }
}
