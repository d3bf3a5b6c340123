//! Shared helpers for the integration tests: a deterministic generator and the slow scalar
//! references the observers are checked against.

#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};

/// A small deterministic generator (64-bit LCG), so tests need no extra dependency.
pub struct Lcg(pub u64);

impl Lcg {
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Roughly normal (sum of four uniforms), scaled.
    pub fn normal(&mut self, spread: f32) -> f32 {
        ((0..4).map(|_| self.unit()).sum::<f32>() - 2.0) * spread
    }

    /// A tensor of the given shape filled with `normal(spread) + shift`.
    pub fn tensor(&mut self, shape: &[usize], spread: f32, shift: f32) -> ArrayD<f32> {
        let n = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| self.normal(spread) + shift).collect();
        ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
    }
}

/// Reference `_calculate_qparams` for one channel, written out from PyTorch's Python source:
/// returns (scale, zero point) for an affine or symmetric scheme.
pub fn reference_qparams(
    min: f32,
    max: f32,
    qmin: i64,
    qmax: i64,
    symmetric: bool,
    quint8_midpoint: Option<i64>,
    eps: f32,
) -> (f32, i64) {
    let min_neg = if min < 0.0 { min } else { 0.0 };
    let max_pos = if max > 0.0 { max } else { 0.0 };
    if symmetric {
        let m = if -min_neg > max_pos {
            -min_neg
        } else {
            max_pos
        };
        let denom = ((qmax - qmin) as f64 / 2.0) as f32;
        let mut scale = m / denom;
        if scale < eps {
            scale = eps;
        }
        (scale, quint8_midpoint.unwrap_or(0))
    } else {
        let mut scale = (max_pos - min_neg) / (qmax - qmin) as f32;
        if scale < eps {
            scale = eps;
        }
        let zp = qmin - (min_neg / scale).round_ties_even() as i64;
        (scale, zp.max(qmin).min(qmax))
    }
}

/// Reference per-channel min / max along `axis` by explicit index arithmetic over the
/// row-major data.
pub fn reference_channel_extrema(x: &ArrayD<f32>, axis: usize) -> Vec<(f32, f32)> {
    let shape = x.shape();
    let channels = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let data: Vec<f32> = x.iter().copied().collect();
    let mut out = vec![(f32::INFINITY, f32::NEG_INFINITY); channels];
    for (i, &v) in data.iter().enumerate() {
        let c = (i / inner) % channels;
        out[c].0 = out[c].0.min(v);
        out[c].1 = out[c].1.max(v);
    }
    out
}
