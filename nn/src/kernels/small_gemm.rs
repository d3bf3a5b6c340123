//! `y = x @ W^T` for a few rows of `x`: every weight row is read once and dotted with all rows
//! of `x` while it is in cache (the general GEMM repacks the whole weight on every call, which
//! dominates when there are few rows). AVX2+FMA code is chosen at run time, once.

use std::sync::OnceLock;

use super::gemm::column_blocks;

/// `y[i, o] (+)= dot(x[i, :], w[o, :])` for `x (m x k)`, `w (n x k)`, `y (m x n)`, row-major.
/// Large products are split by output columns between the workspace's threads.
pub(crate) fn gemm_nt_small(
    m: usize,
    n: usize,
    k: usize,
    x: &[f32],
    w: &[f32],
    y: &mut [f32],
    accumulate: bool,
) {
    assert!(x.len() >= m * k && w.len() >= n * k && y.len() >= m * n);
    let threads = qtensor::threads::num_threads();
    if threads == 1 || m * n * k < 64 * 64 * 64 || n < 32 {
        return gemm_nt_small_serial(m, n, k, x, w, y, accumulate);
    }
    let per = n.div_ceil(threads).next_multiple_of(16).min(n);
    let ranges: Vec<_> = (0..n).step_by(per).map(|j| j..(j + per).min(n)).collect();
    let mut blocks = column_blocks(y, m, n, &ranges);
    qtensor::threads::for_each_chunk_mut(&mut blocks, 1, |b, blk| {
        let (j0, nb) = (ranges[b].start, ranges[b].len());
        let mut part = vec![0.0f32; m * nb];
        if accumulate {
            for (i, row) in part.chunks_exact_mut(nb).enumerate() {
                row.copy_from_slice(blk[0].row_mut(i));
            }
        }
        gemm_nt_small_serial(m, nb, k, x, &w[j0 * k..], &mut part, accumulate);
        for (i, row) in part.chunks_exact(nb).enumerate() {
            blk[0].row_mut(i).copy_from_slice(row);
        }
    });
}

/// [`gemm_nt_small`] on the calling thread.
fn gemm_nt_small_serial(
    m: usize,
    n: usize,
    k: usize,
    x: &[f32],
    w: &[f32],
    y: &mut [f32],
    accumulate: bool,
) {
    #[cfg(target_arch = "x86_64")]
    {
        static AVX2_FMA: OnceLock<bool> = OnceLock::new();
        let has = *AVX2_FMA.get_or_init(|| {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
        });
        if has {
            // SAFETY: the CPU supports AVX2 and FMA (checked above), the only requirement of
            // `gemm_nt_avx2`; its body is safe, bounds-checked code.
            unsafe { gemm_nt_avx2(m, n, k, x, w, y, accumulate) };
            return;
        }
    }
    body(m, n, k, x, w, y, accumulate);
}

/// The AVX2+FMA kernel: four weight rows at a time, 16 columns per step, eight accumulators.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemm_nt_avx2(
    m: usize,
    n: usize,
    k: usize,
    x: &[f32],
    w: &[f32],
    y: &mut [f32],
    accumulate: bool,
) {
    use std::arch::x86_64::*;
    let split = k / 16 * 16;
    let mut o = 0;
    while o < n {
        let rows: [usize; 4] = [
            o,
            (o + 1).min(n - 1),
            (o + 2).min(n - 1),
            (o + 3).min(n - 1),
        ];
        for i in 0..m {
            let xr = &x[i * k..(i + 1) * k];
            let wr: [&[f32]; 4] = rows.map(|r| &w[r * k..(r + 1) * k]);
            let mut acc = [_mm256_setzero_ps(); 8];
            let mut c = 0;
            while c < split {
                // SAFETY: c + 16 <= split <= k = the length of every row slice read here.
                unsafe {
                    let x0 = _mm256_loadu_ps(xr.as_ptr().add(c));
                    let x1 = _mm256_loadu_ps(xr.as_ptr().add(c + 8));
                    for r in 0..4 {
                        let p = wr[r].as_ptr().add(c);
                        acc[2 * r] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(p), acc[2 * r]);
                        acc[2 * r + 1] =
                            _mm256_fmadd_ps(x1, _mm256_loadu_ps(p.add(8)), acc[2 * r + 1]);
                    }
                }
                c += 16;
            }
            for r in 0..4.min(n - o) {
                let v = _mm256_add_ps(acc[2 * r], acc[2 * r + 1]);
                let mut lanes = [0.0f32; 8];
                // SAFETY: `lanes` holds exactly 8 floats.
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), v) };
                let mut s: f32 = lanes.iter().sum();
                for p in split..k {
                    s = xr[p].mul_add(wr[r][p], s);
                }
                let dst = &mut y[i * n + o + r];
                *dst = if accumulate { *dst + s } else { s };
            }
        }
        o += 4;
    }
}

/// The portable kernel.
fn body(m: usize, n: usize, k: usize, x: &[f32], w: &[f32], y: &mut [f32], accumulate: bool) {
    for i in 0..m {
        let xr = &x[i * k..(i + 1) * k];
        for o in 0..n {
            let s: f32 = xr
                .iter()
                .zip(&w[o * k..(o + 1) * k])
                .map(|(a, b)| a * b)
                .sum();
            let dst = &mut y[i * n + o];
            *dst = if accumulate { *dst + s } else { s };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(m: usize, n: usize, k: usize, f: impl Fn(&[f32], &[f32], &mut [f32])) {
        let x: Vec<f32> = (0..m * k)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 5.0)
            .collect();
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 5 % 11) as f32 - 5.0) / 3.0)
            .collect();
        let mut y = vec![1.0f32; m * n];
        f(&x, &w, &mut y);
        for i in 0..m {
            for o in 0..n {
                let r: f64 = 1.0
                    + (0..k)
                        .map(|p| f64::from(x[i * k + p]) * f64::from(w[o * k + p]))
                        .sum::<f64>();
                assert!(
                    (f64::from(y[i * n + o]) - r).abs() < 1e-4 * (1.0 + r.abs()),
                    "{m}x{n}x{k}"
                );
            }
        }
    }

    const SIZES: [(usize, usize, usize); 9] = [
        (1, 1, 1),
        (1, 5, 17),
        (3, 4, 16),
        (7, 9, 33),
        (16, 3, 100),
        (2, 0, 4),
        (0, 3, 4),
        (2, 3, 0),
        (5, 7, 15),
    ];

    #[test]
    fn dispatched_kernel_matches_a_plain_dot_product_on_ragged_sizes() {
        for &(m, n, k) in &SIZES {
            check(m, n, k, |x, w, y| gemm_nt_small(m, n, k, x, w, y, true));
        }
    }

    #[test]
    fn column_split_between_threads_matches_a_plain_dot_product() {
        let before = qtensor::threads::num_threads();
        for threads in [2, 3] {
            qtensor::threads::set_num_threads(threads).unwrap();
            for &(m, n, k) in &[(4, 1000, 80), (15, 333, 70)] {
                check(m, n, k, |x, w, y| gemm_nt_small(m, n, k, x, w, y, true));
            }
        }
        qtensor::threads::set_num_threads(before).unwrap();
    }

    #[test]
    fn portable_kernel_matches_a_plain_dot_product() {
        for &(m, n, k) in &SIZES {
            check(m, n, k, |x, w, y| body(m, n, k, x, w, y, true));
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_kernel_matches_or_says_skipped() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            eprintln!("skipped: this CPU has no AVX2+FMA");
            return;
        }
        for &(m, n, k) in &SIZES {
            // SAFETY: AVX2 and FMA are present (checked above).
            check(m, n, k, |x, w, y| unsafe {
                gemm_nt_avx2(m, n, k, x, w, y, true)
            });
        }
    }
}
