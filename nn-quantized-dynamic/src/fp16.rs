//! The float16-weight linear (`quantized::linear_dynamic_fp16`): weights stored as float16,
//! widened to float32 a block of rows at a time, products accumulated in float32, then the
//! float32 bias added (PyTorch computes `x @ W^T` with fbgemm's fp16 GEMM, then `add_(bias)`).
//!
//! The block loop is compiled at every [`Width`]; each dot product keeps [`LANES`] partial sums
//! in a fixed order, so every width gives the same bits.

use half::f16;
use half::slice::HalfFloatSliceExt;

use crate::isa::{width, Width};

/// Weight rows widened per block (the float32 block stays in L1 while every input row uses it).
const BLOCK_ROWS: usize = 8;
/// Independent partial sums per dot product (one AVX-512 register).
const LANES: usize = 16;

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
        self.apply_with(width(), x, rows)
    }

    fn apply_with(&self, w: Width, x: &[f32], rows: usize) -> Vec<f32> {
        let (n, k) = (self.out_features, self.in_features);
        let mut y = vec![0.0f32; rows * n];
        if k > 0 {
            let mut block = vec![0.0f32; BLOCK_ROWS * k];
            for start in (0..n).step_by(BLOCK_ROWS) {
                let len = BLOCK_ROWS.min(n - start);
                let wide = &mut block[..len * k];
                self.weight[start * k..(start + len) * k].convert_to_f32_slice(wide);
                products_with(w, x, wide, k, &mut y, n, start);
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

/// `y[r, start + j] = x[r] . wide[j]` for every row `r` of `x` and row `j` of `wide`; four
/// weight rows at a time share each load of `x` (four independent accumulator chains).
#[inline(always)]
fn products(x: &[f32], wide: &[f32], k: usize, y: &mut [f32], n: usize, start: usize) {
    let quads = wide.len() / (4 * k);
    for (xr, yr) in x.chunks_exact(k).zip(y.chunks_exact_mut(n)) {
        for q in 0..quads {
            let w = &wide[4 * q * k..];
            let d = dot4(
                xr,
                [&w[..k], &w[k..2 * k], &w[2 * k..3 * k], &w[3 * k..4 * k]],
            );
            yr[start + 4 * q..start + 4 * q + 4].copy_from_slice(&d);
        }
        for (j, wr) in wide.chunks_exact(k).enumerate().skip(4 * quads) {
            yr[start + j] = dot(xr, wr);
        }
    }
}

/// Four dot products of `a` with `b[0..4]`, each computed exactly as [`dot`] computes it.
#[inline(always)]
fn dot4(a: &[f32], b: [&[f32]; 4]) -> [f32; 4] {
    let (mut a0, mut a1, mut a2, mut a3) =
        ([0.0f32; LANES], [0.0; LANES], [0.0; LANES], [0.0; LANES]);
    let chunks = a
        .chunks_exact(LANES)
        .zip(b[0].chunks_exact(LANES))
        .zip(b[1].chunks_exact(LANES))
        .zip(b[2].chunks_exact(LANES))
        .zip(b[3].chunks_exact(LANES));
    let lanes = |c: &[f32]| -> [f32; LANES] { c.try_into().expect("chunk of LANES") };
    for ((((ca, c0), c1), c2), c3) in chunks {
        let (ca, c0, c1, c2, c3) = (lanes(ca), lanes(c0), lanes(c1), lanes(c2), lanes(c3));
        for l in 0..LANES {
            a0[l] += ca[l] * c0[l];
            a1[l] += ca[l] * c1[l];
            a2[l] += ca[l] * c2[l];
            a3[l] += ca[l] * c3[l];
        }
    }
    let acc = [a0, a1, a2, a3];
    let full = a.len() / LANES * LANES;
    let mut out = [0.0f32; 4];
    for ((o, acc), bi) in out.iter_mut().zip(&acc).zip(&b) {
        let tail = a[full..]
            .iter()
            .zip(&bi[full..])
            .fold(0.0, |s, (x, y)| s + x * y);
        *o = acc.iter().fold(0.0, |s, v| s + v) + tail;
    }
    out
}

/// A float32 dot product with [`LANES`] partial sums, summed in order, then the tail.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .fold(0.0, |s, (x, y)| s + x * y);
    for (ca, cb) in ac.zip(bc) {
        for l in 0..LANES {
            acc[l] += ca[l] * cb[l];
        }
    }
    acc.iter().fold(0.0, |s, v| s + v) + tail
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn products_avx2(
        x: &[f32],
        wide: &[f32],
        k: usize,
        y: &mut [f32],
        n: usize,
        start: usize,
    ) {
        super::products(x, wide, k, y, n, start)
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn products_avx512(
        x: &[f32],
        wide: &[f32],
        k: usize,
        y: &mut [f32],
        n: usize,
        start: usize,
    ) {
        super::products(x, wide, k, y, n, start)
    }
}

fn products_with(
    w: Width,
    x: &[f32],
    wide: &[f32],
    k: usize,
    y: &mut [f32],
    n: usize,
    start: usize,
) {
    match w {
        Width::Baseline => products(x, wide, k, y, n, start),
        // SAFETY: `Width::Avx2` comes from `isa::width()` / `isa::available()`, which detected
        // AVX2 on this CPU.
        #[cfg(target_arch = "x86_64")]
        Width::Avx2 => unsafe { x86::products_avx2(x, wide, k, y, n, start) },
        // SAFETY: as above, for AVX-512F.
        #[cfg(target_arch = "x86_64")]
        Width::Avx512 => unsafe { x86::products_avx512(x, wide, k, y, n, start) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_width_matches_a_double_product_and_each_other_on_ragged_sizes() {
        for &(rows, n, k) in &[
            (1, 1, 1),
            (3, 17, 9),
            (2, 16, 16),
            (5, 33, 31),
            (1, 15, 0),
            (4, 7, 47),
            (0, 3, 5),
        ] {
            let w: Vec<f16> = (0..n * k)
                .map(|i| f16::from_f32(((i * 7 % 13) as f32 - 6.0) * 0.25))
                .collect();
            let b: Vec<f32> = (0..n).map(|i| i as f32 * 0.5 - 1.0).collect();
            let x: Vec<f32> = (0..rows * k)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) * 0.1)
                .collect();
            let lin = Fp16Linear::new(w.clone(), Some(b.clone()), n, k);
            let y = lin.apply_with(Width::Baseline, &x, rows);
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
            for wd in crate::isa::available() {
                let other = lin.apply_with(wd, &x, rows);
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&other), bits(&y), "{wd:?} {rows}x{n}x{k}");
            }
        }
    }
}
