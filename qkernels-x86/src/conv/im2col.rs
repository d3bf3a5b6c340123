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
    /// Offset of pixel `(n, iz, iy, 0)`'s first channel of this group, if the kernel row
    /// `(tz, ty)` of output row `(z, y)` falls inside the input (else it reads padding).
    fn kernel_row_base(&self, n: usize, z: usize, y: usize, tz: usize, ty: usize) -> Option<usize> {
        let [id, ih, iw] = self.input;
        let iz = self.geo.input_coord(0, z, tz, id)?;
        let iy = self.geo.input_coord(1, y, ty, ih)?;
        Some(((n * id + iz) * ih + iy) * iw * self.geo.c + self.group * self.geo.cg())
    }

    /// Writes the `kw` taps of the kernel row at `base` for output column `x`, one tap at a time.
    fn taps_one_by_one(&self, seg: &mut [u8], base: usize, x: usize) {
        let (cg, c, iw) = (self.geo.cg(), self.geo.c, self.input[2]);
        for (tx, dst) in seg.chunks_exact_mut(cg).enumerate() {
            match self.geo.input_coord(2, x, tx, iw) {
                Some(ix) => copy_short(dst, &self.x[base + ix * c..][..cg]),
                None => dst.fill(self.a_zp),
            }
        }
    }
}

/// `dst.copy_from_slice(src)` for the short segments of thin layers (a few fixed-size moves
/// instead of a `memcpy` call).
#[inline(always)]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    let n = dst.len();
    if n < 8 {
        dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s);
    } else if n <= 16 {
        dst[..8].copy_from_slice(&src[..8]);
        dst[n - 8..].copy_from_slice(&src[n - 8..n]);
    } else if n <= 32 {
        dst[..16].copy_from_slice(&src[..16]);
        dst[n - 16..].copy_from_slice(&src[n - 16..n]);
    } else {
        dst.copy_from_slice(src);
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
        let iw = self.input[2];
        let [kd, kh, kw] = geo.kernel;
        let k_len = geo.taps() * cg;
        let seg_len = kw * cg;
        let per_image = od * oh * ow;
        // A kernel row's taps are one contiguous run of the input when they are adjacent
        // (no dilation or transposition) and hold every channel.
        let contiguous = !geo.transposed && geo.dilation[2] == 1 && cg == geo.c;
        let mut bases = vec![None; kd * kh];
        let mut r = 0;
        // One output row (fixed n, z, y) at a time: the kernel rows' bases are shared.
        while r < rows {
            let pix = r0 + r;
            let (n, rest) = (pix / per_image, pix % per_image);
            let (z, y, x0) = (rest / (oh * ow), (rest / ow) % oh, rest % ow);
            let run = (ow - x0).min(rows - r);
            for (i, b) in bases.iter_mut().enumerate() {
                *b = self.kernel_row_base(n, z, y, i / kh, i % kh);
            }
            for x in x0..x0 + run {
                let row = &mut dst[r * kp..(r + 1) * kp];
                let start = (x * geo.stride[2]) as isize - geo.padding[2] as isize;
                let inside = contiguous && start >= 0 && start as usize + kw <= iw;
                for (seg, base) in row[..k_len].chunks_exact_mut(seg_len).zip(&bases) {
                    match *base {
                        None => seg.fill(self.a_zp),
                        Some(b) if inside => {
                            let at = b + start as usize * cg;
                            copy_short(seg, &self.x[at..at + seg_len]);
                        }
                        Some(b) => self.taps_one_by_one(seg, b, x),
                    }
                }
                row[k_len..].fill(0);
                if let Some(s) = sums.as_deref_mut() {
                    s[r] = row_sum(&row[..k_len]);
                }
                r += 1;
            }
        }
    }
}
