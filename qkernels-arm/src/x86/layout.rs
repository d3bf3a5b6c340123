//! Byte-matrix transposes for the NCHW <-> NHWC copies: blocks of 16 rows through four rounds
//! of unpacks, 64 columns at a time with AVX-512 (four 16x16 blocks, one per 128-bit lane), 32
//! with AVX2, 16 with SSE2 (part of every x86-64 CPU); the ragged edges element by element.

use core::arch::x86_64::*;

use super::Isa;

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
/// Panics if either matrix does not fit its slice, or the CPU lacks `isa`.
pub(crate) fn transpose(isa: Isa, src: &[u8], s: Mat, dst: &mut [u8], dst_stride: usize) {
    let d = Mat {
        rows: s.cols,
        cols: s.rows,
        stride: dst_stride,
    };
    assert!(s.fits(src.len()) && d.fits(dst.len()) && isa.detected());
    let (r16, c16) = (s.rows / 16 * 16, s.cols / 16 * 16);
    if s.rows < 16 && dst_stride == s.rows {
        // Few rows (NCHW -> NHWC with few channels) into a dense destination.
        for j0 in (0..c16).step_by(16) {
            // SAFETY: the `s.rows` source rows hold columns `j0..j0 + 16`; `few_rows` writes
            // only inside the destination matrix, which fits `dst` (asserted above).
            unsafe { few_rows(src, s, j0, dst) };
        }
        for j in c16..s.cols {
            for i in 0..s.rows {
                dst[j * dst_stride + i] = src[i * s.stride + j];
            }
        }
        return;
    }
    for i0 in (0..r16).step_by(16) {
        // Wide blocks first, then 16x16 ones for the remaining whole blocks of 16 columns.
        let (width, wide) = match isa {
            Isa::Avx512Vnni => (64, s.cols / 64 * 64),
            Isa::Avx2 => (32, s.cols / 32 * 32),
        };
        for j0 in (0..wide).step_by(width) {
            let (src, dst) = (&src[i0 * s.stride + j0..], &mut dst[j0 * dst_stride + i0..]);
            // SAFETY: rows `i0..i0 + 16` and columns `j0..j0 + width` lie inside both
            // matrices, which fit their slices (asserted above, with the CPU's `isa`).
            unsafe {
                match isa {
                    Isa::Avx512Vnni => wide64(src, s.stride, dst, dst_stride),
                    Isa::Avx2 => wide32(src, s.stride, dst, dst_stride),
                }
            }
        }
        for j0 in (wide..c16).step_by(16) {
            // SAFETY: rows `i0..i0 + 16` and columns `j0..j0 + 16` lie inside both matrices,
            // which fit their slices (asserted above); SSE2 is part of the x86-64 baseline.
            unsafe {
                let mut r = [_mm_setzero_si128(); 16];
                for (i, r) in r.iter_mut().enumerate() {
                    *r = _mm_loadu_si128(src.as_ptr().add((i0 + i) * s.stride + j0).cast());
                }
                let t = transpose16(r);
                for (j, t) in t.iter().enumerate() {
                    let at = dst.as_mut_ptr().add((j0 + j) * dst_stride + i0);
                    _mm_storeu_si128(at.cast(), *t);
                }
            }
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

/// Four rounds of unpacks over 16 registers (`$r`, with scratch `$t`) holding 16 rows: each
/// 128-bit lane ends up transposed, column `ROW[k]` of the lane's 16 columns in register `k`.
macro_rules! unpack_rounds {
    ($r:ident, $t:ident, $lo8:ident, $hi8:ident, $lo16:ident, $hi16:ident, $lo32:ident, $hi32:ident, $lo64:ident, $hi64:ident) => {
        for i in 0..8 {
            $t[i] = $lo8($r[2 * i], $r[2 * i + 1]);
            $t[i + 8] = $hi8($r[2 * i], $r[2 * i + 1]);
        }
        for i in 0..8 {
            $r[i] = $lo16($t[2 * i], $t[2 * i + 1]);
            $r[i + 8] = $hi16($t[2 * i], $t[2 * i + 1]);
        }
        for i in 0..8 {
            $t[i] = $lo32($r[2 * i], $r[2 * i + 1]);
            $t[i + 8] = $hi32($r[2 * i], $r[2 * i + 1]);
        }
        for i in 0..8 {
            $r[i] = $lo64($t[2 * i], $t[2 * i + 1]);
            $r[i + 8] = $hi64($t[2 * i], $t[2 * i + 1]);
        }
    };
}

/// 16 rows by 64 columns: four 16x16 blocks side by side, one per 128-bit lane.
///
/// # Safety
/// The CPU has AVX-512 F/BW; the 16 source rows of 64 bytes (stride `ss`) and the 64
/// destination rows of 16 bytes (stride `ds`) lie inside the slices.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn wide64(src: &[u8], ss: usize, dst: &mut [u8], ds: usize) {
    let mut r = [_mm512_setzero_si512(); 16];
    let mut t = [_mm512_setzero_si512(); 16];
    // SAFETY: the caller guarantees the source rows.
    unsafe {
        for (i, r) in r.iter_mut().enumerate() {
            *r = _mm512_loadu_si512(src.as_ptr().add(i * ss).cast());
        }
    }
    unpack_rounds!(
        r,
        t,
        _mm512_unpacklo_epi8,
        _mm512_unpackhi_epi8,
        _mm512_unpacklo_epi16,
        _mm512_unpackhi_epi16,
        _mm512_unpacklo_epi32,
        _mm512_unpackhi_epi32,
        _mm512_unpacklo_epi64,
        _mm512_unpackhi_epi64
    );
    // SAFETY: the caller guarantees the destination rows.
    unsafe {
        let d = dst.as_mut_ptr();
        for (k, v) in r.iter().enumerate() {
            let j = ROW[k];
            _mm_storeu_si128(d.add(j * ds).cast(), _mm512_extracti32x4_epi32::<0>(*v));
            _mm_storeu_si128(
                d.add((16 + j) * ds).cast(),
                _mm512_extracti32x4_epi32::<1>(*v),
            );
            _mm_storeu_si128(
                d.add((32 + j) * ds).cast(),
                _mm512_extracti32x4_epi32::<2>(*v),
            );
            _mm_storeu_si128(
                d.add((48 + j) * ds).cast(),
                _mm512_extracti32x4_epi32::<3>(*v),
            );
        }
    }
}

/// 16 rows by 32 columns: two 16x16 blocks side by side, one per 128-bit lane.
///
/// # Safety
/// The CPU has AVX2; the 16 source rows of 32 bytes (stride `ss`) and the 32 destination
/// rows of 16 bytes (stride `ds`) lie inside the slices.
#[target_feature(enable = "avx2")]
unsafe fn wide32(src: &[u8], ss: usize, dst: &mut [u8], ds: usize) {
    let mut r = [_mm256_setzero_si256(); 16];
    let mut t = [_mm256_setzero_si256(); 16];
    // SAFETY: the caller guarantees the source rows.
    unsafe {
        for (i, r) in r.iter_mut().enumerate() {
            *r = _mm256_loadu_si256(src.as_ptr().add(i * ss).cast());
        }
    }
    unpack_rounds!(
        r,
        t,
        _mm256_unpacklo_epi8,
        _mm256_unpackhi_epi8,
        _mm256_unpacklo_epi16,
        _mm256_unpackhi_epi16,
        _mm256_unpacklo_epi32,
        _mm256_unpackhi_epi32,
        _mm256_unpacklo_epi64,
        _mm256_unpackhi_epi64
    );
    // SAFETY: the caller guarantees the destination rows.
    unsafe {
        let d = dst.as_mut_ptr();
        for (k, v) in r.iter().enumerate() {
            let j = ROW[k];
            _mm_storeu_si128(d.add(j * ds).cast(), _mm256_castsi256_si128(*v));
            _mm_storeu_si128(
                d.add((16 + j) * ds).cast(),
                _mm256_extracti128_si256::<1>(*v),
            );
        }
    }
}

/// Columns `j0..j0 + 16` of a matrix with fewer than 16 rows, into a dense destination (row
/// stride `s.rows`): each output row is stored as 16 bytes, whose tail lands in the next
/// output rows and is overwritten by them (rows go in increasing order); rows too close to
/// the end of the matrix are copied byte by byte instead.
///
/// # Safety
/// `s.rows < 16`, columns `j0..j0 + 16` exist, and `src` and `dst` hold the matrices.
#[target_feature(enable = "sse2")]
unsafe fn few_rows(src: &[u8], s: Mat, j0: usize, dst: &mut [u8]) {
    let mut r = [_mm_setzero_si128(); 16];
    // SAFETY: the caller guarantees the source rows and columns.
    unsafe {
        for (i, r) in r.iter_mut().enumerate().take(s.rows) {
            *r = _mm_loadu_si128(src.as_ptr().add(i * s.stride + j0).cast());
        }
    }
    let t = transpose16(r);
    let end = s.cols * s.rows;
    for (j, t) in t.iter().enumerate() {
        let at = (j0 + j) * s.rows;
        if at + 16 <= end {
            // SAFETY: the 16 bytes lie inside the destination matrix, which fits `dst`.
            unsafe { _mm_storeu_si128(dst.as_mut_ptr().add(at).cast(), *t) };
        } else {
            let mut tmp = [0u8; 16];
            // SAFETY: a store into a local 16-byte array.
            unsafe { _mm_storeu_si128(tmp.as_mut_ptr().cast(), *t) };
            dst[at..at + s.rows].copy_from_slice(&tmp[..s.rows]);
        }
    }
}

/// Transposes a 16x16 byte block held in 16 registers (row `i` in `r[i]`) in four rounds of
/// byte, word, dword and qword interleaves; the result holds column `j` in element `j`.
#[inline]
#[target_feature(enable = "sse2")]
fn transpose16(mut r: [__m128i; 16]) -> [__m128i; 16] {
    let mut t = [_mm_setzero_si128(); 16];
    unpack_rounds!(
        r,
        t,
        _mm_unpacklo_epi8,
        _mm_unpackhi_epi8,
        _mm_unpacklo_epi16,
        _mm_unpackhi_epi16,
        _mm_unpacklo_epi32,
        _mm_unpackhi_epi32,
        _mm_unpacklo_epi64,
        _mm_unpackhi_epi64
    );
    // After the four rounds, register `k` holds column `ROW[k]`.
    let mut out = [_mm_setzero_si128(); 16];
    for (k, &v) in r.iter().enumerate() {
        out[ROW[k]] = v;
    }
    out
}

/// The column held by register `k` after [`transpose16`]'s rounds.
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
        let isas = [Isa::Avx2, Isa::Avx512Vnni];
        for isa in isas.into_iter().filter(|i| i.detected()) {
            check_sizes(isa);
        }
    }

    fn check_sizes(isa: Isa) {
        let sizes = [
            (0, 5),
            (1, 1),
            (3, 50),
            (3, 64),
            (15, 17),
            (16, 16),
            (17, 33),
            (40, 3),
            (16, 64),
            (33, 130),
            (20, 100),
        ];
        for (rows, cols) in sizes {
            for extra in [0, 5] {
                let stride = cols + extra;
                let src: Vec<u8> = (0..rows * stride).map(|i| (i * 7 + 3) as u8).collect();
                // Dense (few-row path) and padded destinations.
                let ds = rows + extra % 3;
                let mut dst = vec![0xAAu8; cols * ds];
                transpose(isa, &src, Mat { rows, cols, stride }, &mut dst, ds);
                for j in 0..cols {
                    for i in 0..ds {
                        let want = if i < rows { src[i * stride + j] } else { 0xAA };
                        assert_eq!(dst[j * ds + i], want, "{isa:?} {rows}x{cols} ({i}, {j})");
                    }
                }
            }
        }
    }
}
