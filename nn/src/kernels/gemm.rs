//! Safe, bounds-checked f32 matrix multiplication on top of the `gemm` crate.

use qtensor::threads::{for_each_chunk_mut, num_threads as get_num_threads};

/// A read-only strided matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct Mat<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    /// A row-major matrix with leading dimension `ld`.
    pub fn rows(data: &'a [f32], ld: usize) -> Self {
        Mat {
            data,
            rs: ld,
            cs: 1,
        }
    }

    /// The transpose of a row-major matrix with leading dimension `ld`.
    pub fn transposed(data: &'a [f32], ld: usize) -> Self {
        Mat {
            data,
            rs: 1,
            cs: ld,
        }
    }

    /// The columns from `j0` on.
    fn columns_from(self, j0: usize) -> Self {
        Mat {
            data: &self.data[(j0 * self.cs).min(self.data.len())..],
            ..self
        }
    }

    /// The rows from `i0` on.
    fn rows_from(self, i0: usize) -> Self {
        Mat {
            data: &self.data[(i0 * self.rs).min(self.data.len())..],
            ..self
        }
    }

    fn check(&self, rows: usize, cols: usize) {
        if rows > 0 && cols > 0 {
            let last = (rows - 1) * self.rs + (cols - 1) * self.cs;
            assert!(last < self.data.len(), "gemm operand out of bounds");
        }
    }
}

/// `c[m x n] (+)= a[m x k] * b[k x n]`, `c` row-major with leading dimension `ldc`.
/// With `accumulate` false, `c` is overwritten.
pub(crate) fn sgemm(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    (c, ldc): (&mut [f32], usize),
    accumulate: bool,
) {
    assert!(m == 0 || n == 0 || n <= ldc, "gemm output rows overlap");
    sgemm_strided(m, n, k, a, b, (c, ldc, 1), accumulate);
}

/// Like [`sgemm`] with an arbitrary (non-overlapping) output layout: element `(i, j)` of `c`
/// is `c[i * rs + j * cs]`.
pub(crate) fn sgemm_strided(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    c: (&mut [f32], usize, usize),
    accumulate: bool,
) {
    gemm_impl(m, n, k, a, b, c, accumulate, get_num_threads());
}

/// Columns `col0..col0 + cols` of a row-major `rows x ld` output: blocks of one output with
/// disjoint columns can be written from different threads.
pub(crate) struct OutBlock<'a> {
    ptr: *mut f32,
    rows: usize,
    cols: usize,
    ld: usize,
    _out: std::marker::PhantomData<&'a mut [f32]>,
}

// SAFETY: an `OutBlock` is the only handle to its elements (see `column_blocks`), like a
// `&mut` to them.
unsafe impl Send for OutBlock<'_> {}

/// Splits the row-major output `c` (`rows x ld`) into blocks of the given disjoint column ranges.
/// Panics if the ranges overlap or leave the matrix.
pub(crate) fn column_blocks<'a>(
    c: &'a mut [f32],
    rows: usize,
    ld: usize,
    ranges: &[std::ops::Range<usize>],
) -> Vec<OutBlock<'a>> {
    let mut ranges_sorted: Vec<_> = ranges.to_vec();
    ranges_sorted.sort_by_key(|r| r.start);
    assert!(
        ranges_sorted.windows(2).all(|w| w[0].end <= w[1].start),
        "column blocks overlap"
    );
    assert!(
        ranges
            .iter()
            .all(|r| r.end <= ld
                && (rows == 0 || r.is_empty() || (rows - 1) * ld + r.end <= c.len())),
        "column blocks out of bounds"
    );
    let base = c.as_mut_ptr();
    ranges
        .iter()
        .map(|r| OutBlock {
            // SAFETY: a non-empty block of a non-empty output starts at r.start < r.end <=
            // c.len() (checked above); empty blocks start at `c`'s base.
            ptr: unsafe {
                base.add(if rows == 0 || r.is_empty() {
                    0
                } else {
                    r.start
                })
            },
            rows,
            cols: r.len(),
            ld,
            _out: std::marker::PhantomData,
        })
        .collect()
}

impl OutBlock<'_> {
    /// Row `i` of the block.
    pub(crate) fn row_mut(&mut self, i: usize) -> &mut [f32] {
        assert!(i < self.rows, "row out of bounds");
        // SAFETY: row `i` of the block is `cols` elements at `i * ld` from its start, inside the
        // output (checked by `column_blocks`) and owned by this block alone.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(i * self.ld), self.cols) }
    }

    /// `block (+)= a[rows x k] * b[k x cols]` on the calling thread.
    pub(crate) fn sgemm(&mut self, k: usize, a: Mat<'_>, b: Mat<'_>, accumulate: bool) {
        let (m, n) = (self.rows, self.cols);
        if m == 0 || n == 0 {
            return;
        }
        if k == 0 {
            if !accumulate {
                (0..m).for_each(|i| self.row_mut(i).fill(0.0));
            }
            return;
        }
        a.check(m, k);
        b.check(k, n);
        // SAFETY: the output elements are this block's (rows x cols at stride ld, see
        // `row_mut`), distinct and not aliased by `a` or `b` (the output is borrowed mutably
        // by the block); the operands are bounds-checked above.
        unsafe {
            raw_gemm(
                m,
                n,
                k,
                (self.ptr, self.ld, 1),
                accumulate,
                a,
                b,
                gemm::Parallelism::None,
            )
        };
    }
}

/// Fewest multiply-adds worth splitting between threads.
const PARALLEL_WORK: usize = 64 * 64 * 64;

/// A row-major product split between the workspace's threads: into column blocks when the
/// output is at least as wide as tall, else into row blocks; each block is one serial GEMM.
#[allow(clippy::too_many_arguments)]
fn split_gemm(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    (c, ld): (&mut [f32], usize),
    accumulate: bool,
    threads: usize,
) {
    if n >= m {
        let per = n.div_ceil(threads).next_multiple_of(16).min(n);
        let ranges: Vec<_> = (0..n).step_by(per).map(|j| j..(j + per).min(n)).collect();
        let mut blocks = column_blocks(c, m, ld, &ranges);
        for_each_chunk_mut(&mut blocks, 1, |i, blk| {
            blk[0].sgemm(k, a, b.columns_from(ranges[i].start), accumulate);
        });
    } else {
        let per = m.div_ceil(threads);
        for_each_chunk_mut(c, per * ld, |i, rows| {
            let i0 = i * per;
            if i0 < m {
                let mb = per.min(m - i0);
                gemm_impl(mb, n, k, a.rows_from(i0), b, (rows, ld, 1), accumulate, 1);
            }
        });
    }
}

#[allow(clippy::too_many_arguments)]
fn gemm_impl(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    (c, rs, cs): (&mut [f32], usize, usize),
    accumulate: bool,
    threads: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(
        (m - 1) * rs + (n - 1) * cs < c.len(),
        "gemm output out of bounds"
    );
    assert!(
        (rs >= n * cs || cs >= m * rs) && rs > 0 && cs > 0,
        "gemm output elements overlap"
    );
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    c[i * rs + j * cs] = 0.0;
                }
            }
        }
        return;
    }
    a.check(m, k);
    b.check(k, n);
    if threads > 1 && m * n * k >= PARALLEL_WORK && cs == 1 {
        return split_gemm(m, n, k, a, b, (c, rs), accumulate, threads);
    }
    let parallelism = if threads > 1 && m * n * k >= PARALLEL_WORK {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: every index the kernel touches is inside the slices: the checks above bound
    // the last element of each operand ((rows-1)*rs + (cols-1)*cs) and of the output, all strides
    // are positive and fit isize (they index existing slices), distinct output elements do not
    // overlap (one stride spans the whole other dimension), and `c` is borrowed mutably so it
    // cannot alias `a` or `b`.
    unsafe {
        raw_gemm(
            m,
            n,
            k,
            (c.as_mut_ptr(), rs, cs),
            accumulate,
            a,
            b,
            parallelism,
        )
    };
}

/// The `gemm` crate's entry point on an output at `c.0` with row stride `c.1` and column stride
/// `c.2`: `c (+)= a * b`.
///
/// # Safety
/// `c` must be valid for writes of every element `(i, j)` (`i < m`, `j < n`) at
/// `i * c.1 + j * c.2`, those elements distinct and aliased by neither operand; the operands
/// must hold `m x k` and `k x n` elements at their strides.
#[allow(clippy::too_many_arguments)]
unsafe fn raw_gemm(
    m: usize,
    n: usize,
    k: usize,
    c: (*mut f32, usize, usize),
    accumulate: bool,
    a: Mat<'_>,
    b: Mat<'_>,
    parallelism: gemm::Parallelism,
) {
    // SAFETY: forwarded from this function's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.0,
            c.2 as isize,
            c.1 as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], bt: bool) -> Vec<f32> {
        let mut c = vec![0.0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    let bv = if bt { b[j * k + p] } else { b[p * n + j] };
                    s += f64::from(a[i * k + p]) * f64::from(bv);
                }
                c[i * n + j] = s as f32;
            }
        }
        c
    }

    #[test]
    fn matches_reference_on_ragged_sizes() {
        for &(m, n, k) in &[
            (1, 1, 1),
            (0, 3, 2),
            (3, 0, 2),
            (2, 3, 0),
            (7, 5, 3),
            (17, 33, 65),
            (64, 1, 300),
        ] {
            check_against_reference(m, n, k);
        }
    }

    #[test]
    fn products_split_between_threads_match_reference() {
        let before = get_num_threads();
        // Wider than tall (column blocks) and taller than wide (row blocks), ragged.
        for threads in [2, 3] {
            qtensor::threads::set_num_threads(threads).unwrap();
            for &(m, n, k) in &[(70, 301, 50), (301, 40, 33), (9, 1000, 40)] {
                check_against_reference(m, n, k);
            }
        }
        qtensor::threads::set_num_threads(before).unwrap();
    }

    fn check_against_reference(m: usize, n: usize, k: usize) {
        let a: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 3.0)
            .collect();
        for bt in [false, true] {
            let bm = if bt {
                Mat::transposed(&b, k)
            } else {
                Mat::rows(&b, n)
            };
            let mut c = vec![f32::NAN; m * n];
            sgemm(m, n, k, Mat::rows(&a, k), bm, (&mut c, n), false);
            let r = reference(m, n, k, &a, &b, bt);
            for (x, y) in c.iter().zip(&r) {
                assert!(
                    (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                    "{m}x{n}x{k}: {x} vs {y}"
                );
            }
            let mut acc = r.clone();
            sgemm(m, n, k, Mat::rows(&a, k), bm, (&mut acc, n), true);
            for (x, y) in acc.iter().zip(&r) {
                assert!((x - 2.0 * y).abs() <= 1e-4 * (1.0 + y.abs()));
            }
        }
    }
}
