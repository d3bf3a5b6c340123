//! Safe, bounds-checked f32 matrix multiplication on top of the `gemm` crate.

use std::sync::atomic::{AtomicUsize, Ordering};

static THREADS: AtomicUsize = AtomicUsize::new(1);

/// Sets how many threads the float GEMM may use (`torch.set_num_threads`); 0 is taken as 1.
pub fn set_num_threads(n: usize) {
    THREADS.store(n.max(1), Ordering::Relaxed);
}

/// The number of threads the float GEMM uses (`torch.get_num_threads`).
pub fn get_num_threads() -> usize {
    THREADS.load(Ordering::Relaxed)
}

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

/// [`sgemm`] on the calling thread only, whatever [`get_num_threads`] says (for callers that
/// split the work between threads themselves).
pub(crate) fn sgemm_serial(
    m: usize,
    n: usize,
    k: usize,
    a: Mat<'_>,
    b: Mat<'_>,
    (c, ldc): (&mut [f32], usize),
    accumulate: bool,
) {
    assert!(m == 0 || n == 0 || n <= ldc, "gemm output rows overlap");
    gemm_impl(m, n, k, a, b, (c, ldc, 1), accumulate, true);
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
    gemm_impl(m, n, k, a, b, c, accumulate, false);
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
    serial: bool,
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
    let threads = if serial { 1 } else { get_num_threads() };
    let parallelism = if threads > 1 && m * n * k >= 64 * 64 * 64 {
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
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            cs as isize,
            rs as isize,
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
        );
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
}
