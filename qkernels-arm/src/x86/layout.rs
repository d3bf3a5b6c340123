//! Byte-matrix transposes for the NCHW <-> NHWC copies: 16x16 blocks through SSE2 unpacks
//! (part of every x86-64 CPU), the ragged edges element by element.

use core::arch::x86_64::*;

/// A `rows x cols` byte matrix with row stride `stride` inside a slice.
#[derive(Clone, Copy)]
pub(crate) struct Mat {
    pub rows: usize,
    pub cols: usize,
    pub stride: usize,
}

impl Mat {
    fn fits(&self, len: usize) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.cols <= self.stride
                && (self.rows - 1)
                    .checked_mul(self.stride)
                    .and_then(|v| v.checked_add(self.cols))
                    .is_some_and(|end| end <= len))
    }
}

/// `dst[j * dst_stride + i] = src[i * s.stride + j]` for every `i < s.rows`, `j < s.cols`.
///
/// Panics if either matrix does not fit its slice.
pub(crate) fn transpose(src: &[u8], s: Mat, dst: &mut [u8], dst_stride: usize) {
    let d = Mat {
        rows: s.cols,
        cols: s.rows,
        stride: dst_stride,
    };
    assert!(s.fits(src.len()) && d.fits(dst.len()));
    let (r16, c16) = (s.rows / 16 * 16, s.cols / 16 * 16);
    for i0 in (0..r16).step_by(16) {
        for j0 in (0..c16).step_by(16) {
            // SAFETY: rows `i0..i0 + 16` and columns `j0..j0 + 16` lie inside both matrices,
            // which fit their slices (asserted above); SSE2 is part of the x86-64 baseline.
            unsafe {
                block16(
                    src.as_ptr().add(i0 * s.stride + j0),
                    s.stride,
                    dst.as_mut_ptr().add(j0 * dst_stride + i0),
                    dst_stride,
                )
            };
        }
        for i in i0..i0 + 16 {
            for j in c16..s.cols {
                dst[j * dst_stride + i] = src[i * s.stride + j];
            }
        }
    }
    for i in r16..s.rows {
        for j in 0..s.cols {
            dst[j * dst_stride + i] = src[i * s.stride + j];
        }
    }
}

/// Transposes one 16x16 block in four rounds of byte, word, dword and qword interleaves.
///
/// # Safety
/// The 16 rows of 16 bytes at `src + r * ss` and at `dst + r * ds` must be valid.
#[inline]
#[target_feature(enable = "sse2")]
unsafe fn block16(src: *const u8, ss: usize, dst: *mut u8, ds: usize) {
    let mut r = [_mm_setzero_si128(); 16];
    // SAFETY: the caller guarantees the 16 source rows.
    unsafe {
        for (i, r) in r.iter_mut().enumerate() {
            *r = _mm_loadu_si128(src.add(i * ss).cast());
        }
    }
    let mut t = [_mm_setzero_si128(); 16];
    for i in 0..8 {
        t[i] = _mm_unpacklo_epi8(r[2 * i], r[2 * i + 1]);
        t[i + 8] = _mm_unpackhi_epi8(r[2 * i], r[2 * i + 1]);
    }
    for i in 0..8 {
        r[i] = _mm_unpacklo_epi16(t[2 * i], t[2 * i + 1]);
        r[i + 8] = _mm_unpackhi_epi16(t[2 * i], t[2 * i + 1]);
    }
    for i in 0..8 {
        t[i] = _mm_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[i + 8] = _mm_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for i in 0..8 {
        r[i] = _mm_unpacklo_epi64(t[2 * i], t[2 * i + 1]);
        r[i + 8] = _mm_unpackhi_epi64(t[2 * i], t[2 * i + 1]);
    }
    // After the four rounds, register `k` holds output row `ROW[k]` (the interleaves
    // permute the row order by a bit reversal-like pattern).
    // SAFETY: the caller guarantees the 16 destination rows.
    unsafe {
        for (k, v) in r.iter().enumerate() {
            _mm_storeu_si128(dst.add(ROW[k] * ds).cast(), *v);
        }
    }
}

/// The output row held by register `k` after [`block16`]'s rounds.
const ROW: [usize; 16] = row_order();

const fn row_order() -> [usize; 16] {
    // Each round maps register index `i` (low half) to `2i` / `2i + 1` sources: after four
    // rounds, register `k` (bits b3 b2 b1 b0) holds column `b0 b1 b2 b3` (bits reversed).
    let mut out = [0usize; 16];
    let mut k = 0;
    while k < 16 {
        out[k] = ((k & 1) << 3) | ((k & 2) << 1) | ((k & 4) >> 1) | ((k & 8) >> 3);
        k += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_equals_element_by_element_on_ragged_sizes() {
        for (rows, cols) in [
            (0, 5),
            (1, 1),
            (3, 50),
            (15, 17),
            (16, 16),
            (17, 33),
            (40, 3),
        ] {
            for extra in [0, 5] {
                let stride = cols + extra;
                let src: Vec<u8> = (0..rows * stride).map(|i| (i * 7 + 3) as u8).collect();
                let ds = rows + extra;
                let mut dst = vec![0xAAu8; cols * ds];
                transpose(&src, Mat { rows, cols, stride }, &mut dst, ds);
                for j in 0..cols {
                    for i in 0..ds {
                        let want = if i < rows { src[i * stride + j] } else { 0xAA };
                        assert_eq!(dst[j * ds + i], want, "{rows}x{cols} ({i}, {j})");
                    }
                }
            }
        }
    }
}
