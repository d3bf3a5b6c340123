//! The float16-weight linear (`quantized::linear_dynamic_fp16`): weights stored as float16,
//! widened to float32 a block of rows at a time, products accumulated in float32, then the
//! float32 bias added (PyTorch computes `x @ W^T` with fbgemm's fp16 GEMM, then `add_(bias)`).

use half::f16;
use half::slice::HalfFloatSliceExt;

/// Weight rows widened per block (keeps the float32 block in L1/L2 while every input row uses it).
const BLOCK_ROWS: usize = 16;
/// Independent accumulators per dot product (lets the compiler use SIMD lanes).
const LANES: usize = 8;

/// A float16 weight `(out, in)` with its float32 bias, ready to multiply.
#[derive(Debug, Clone)]
pub(crate) struct Fp16Linear {
    weight: Vec<f16>,
    bias: Option<Vec<f32>>,
    out_features: usize,
    in_features: usize,
}

impl Fp16Linear {
    /// Takes `out_features * in_features` row-major values and an optional bias of
    /// `out_features` (lengths checked by the caller).
    pub(crate) fn new(
        weight: Vec<f16>,
        bias: Option<Vec<f32>>,
        out_features: usize,
        in_features: usize,
    ) -> Fp16Linear {
        debug_assert_eq!(weight.len(), out_features * in_features);
        Fp16Linear {
            weight,
            bias,
            out_features,
            in_features,
        }
    }

    /// `y = x W^T + b` for `rows` rows of `x` (`rows * in_features` values).
    pub(crate) fn apply(&self, x: &[f32], rows: usize) -> Vec<f32> {
        let (n, k) = (self.out_features, self.in_features);
        let mut y = vec![0.0f32; rows * n];
        let mut block = vec![0.0f32; BLOCK_ROWS * k];
        for start in (0..n).step_by(BLOCK_ROWS).filter(|_| k > 0) {
            let len = BLOCK_ROWS.min(n - start);
            let wide = &mut block[..len * k];
            self.weight[start * k..(start + len) * k].convert_to_f32_slice(wide);
            for (r, yr) in y.chunks_exact_mut(n).enumerate() {
                let xr = &x[r * k..(r + 1) * k];
                for (j, wr) in wide.chunks_exact(k).enumerate() {
                    yr[start + j] = dot(xr, wr);
                }
            }
        }
        if let Some(b) = &self.bias {
            for yr in y.chunks_exact_mut(n) {
                yr.iter_mut().zip(b).for_each(|(v, &bv)| *v += bv);
            }
        }
        y
    }
}

/// A float32 dot product with [`LANES`] partial sums.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (ca, cb) in ac.zip(bc) {
        for l in 0..LANES {
            acc[l] += ca[l] * cb[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_double_precision_product_on_ragged_sizes() {
        for &(rows, n, k) in &[(1, 1, 1), (3, 17, 9), (2, 16, 8), (5, 33, 31), (1, 15, 0)] {
            let w: Vec<f16> = (0..n * k)
                .map(|i| f16::from_f32(((i * 7 % 13) as f32 - 6.0) * 0.25))
                .collect();
            let b: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 1.0).collect();
            let x: Vec<f32> = (0..rows * k)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.1)
                .collect();
            let lin = Fp16Linear::new(w.clone(), Some(b.clone()), n, k);
            let y = lin.apply(&x, rows);
            for r in 0..rows {
                for o in 0..n {
                    let want: f64 = (0..k)
                        .map(|c| f64::from(x[r * k + c]) * f64::from(w[o * k + c].to_f32()))
                        .sum::<f64>()
                        + f64::from(b[o]);
                    assert!(
                        (f64::from(y[r * n + o]) - want).abs() < 1e-5,
                        "{rows}x{n}x{k}"
                    );
                }
            }
        }
    }
}
