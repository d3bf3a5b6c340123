//! Shared by the tests: a stand-in weight fake quant and scalar references.
#![allow(dead_code, clippy::needless_range_loop)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use ndarray::{ArrayD, IxDyn};
use nn::{Module, Rng, Tensor, Value};

/// Per-tensor fake quant with a fixed scale (`clamp(round(x / s), lo, hi) * s`, half to even)
/// and the straight-through backward; counts its calls.
pub struct RoundFq {
    pub scale: f32,
    pub lo: f32,
    pub hi: f32,
    pub calls: Arc<AtomicUsize>,
    training: bool,
}

impl RoundFq {
    pub fn new(scale: f32, lo: f32, hi: f32) -> (RoundFq, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        (
            RoundFq {
                scale,
                lo,
                hi,
                calls: calls.clone(),
                training: true,
            },
            calls,
        )
    }

    /// The reference value and mask of one element.
    pub fn fq(&self, v: f32) -> (f32, bool) {
        let q = (v / self.scale).round_ties_even();
        (
            q.clamp(self.lo, self.hi) * self.scale,
            q >= self.lo && q <= self.hi,
        )
    }
}

impl Module for RoundFq {
    fn type_name(&self) -> &'static str {
        "RoundFq"
    }
    fn forward(&mut self, x: Value) -> nn::Result<Value> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let x = x.into_float("RoundFq")?;
        let d = x.data();
        let y = d.mapv(|v| self.fq(v).0);
        let mask = d.mapv(|v| self.fq(v).1);
        Ok(Value::Float(Tensor::from_op(
            "round_fq",
            &[&x],
            y,
            move |g, _| {
                vec![Some(
                    ndarray::Zip::from(g)
                        .and(&mask)
                        .map_collect(|&g, &m| if m { g } else { 0.0 }),
                )]
            },
        )))
    }
    fn is_training(&self) -> bool {
        self.training
    }
    fn set_training_flag(&mut self, t: bool) {
        self.training = t;
    }
}

/// A module returning a tensor of another shape (a broken fake quant).
pub struct Reshaping;

impl Module for Reshaping {
    fn type_name(&self) -> &'static str {
        "Reshaping"
    }
    fn forward(&mut self, x: Value) -> nn::Result<Value> {
        Ok(Value::Float(x.into_float("Reshaping")?.flatten(0, -1)?))
    }
    fn is_training(&self) -> bool {
        true
    }
    fn set_training_flag(&mut self, _: bool) {}
}

/// Uniform values in [-1, 1) from `seed`.
pub fn rand(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut r = Rng::new(seed);
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| r.uniform(-1.0, 1.0)).collect();
    ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
}

/// Asserts `|a - b| <= tol * (1 + |b|)` element-wise.
pub fn assert_close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "length");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "element {i}: {x} vs {y}"
        );
    }
}

/// Geometry of a reference convolution, spatial dims padded to three.
pub struct Geo {
    pub n: usize,
    pub cin: usize,
    pub cout: usize,
    pub groups: usize,
    pub input: [usize; 3],
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub pad: [usize; 3],
    pub dil: [usize; 3],
}

impl Geo {
    pub fn output(&self) -> [usize; 3] {
        let mut o = [0; 3];
        for a in 0..3 {
            o[a] = (self.input[a] + 2 * self.pad[a] - self.dil[a] * (self.kernel[a] - 1) - 1)
                / self.stride[a]
                + 1;
        }
        o
    }

    /// Visits every (output index, input index, weight index) triple of the convolution.
    fn each(&self, mut f: impl FnMut(usize, usize, usize)) {
        let o = self.output();
        let (cin_g, cout_g) = (self.cin / self.groups, self.cout / self.groups);
        let vol = |s: [usize; 3]| s[0] * s[1] * s[2];
        for b in 0..self.n {
            for oc in 0..self.cout {
                let g = oc / cout_g;
                for od in 0..o[0] {
                    for oh in 0..o[1] {
                        for ow in 0..o[2] {
                            let oi =
                                ((b * self.cout + oc) * o[0] + od) * o[1] * o[2] + oh * o[2] + ow;
                            for ic in 0..cin_g {
                                for kd in 0..self.kernel[0] {
                                    for kh in 0..self.kernel[1] {
                                        for kw in 0..self.kernel[2] {
                                            let p = [od, oh, ow];
                                            let k = [kd, kh, kw];
                                            let mut pos = [0usize; 3];
                                            let mut inside = true;
                                            for a in 0..3 {
                                                let v = (p[a] * self.stride[a] + k[a] * self.dil[a])
                                                    as isize
                                                    - self.pad[a] as isize;
                                                if v < 0 || v as usize >= self.input[a] {
                                                    inside = false;
                                                }
                                                pos[a] = v.max(0) as usize;
                                            }
                                            if !inside {
                                                continue;
                                            }
                                            let c = g * cin_g + ic;
                                            let xi = (b * self.cin + c) * vol(self.input)
                                                + (pos[0] * self.input[1] + pos[1]) * self.input[2]
                                                + pos[2];
                                            let wi = (oc * cin_g + ic) * vol(self.kernel)
                                                + (kd * self.kernel[1] + kh) * self.kernel[2]
                                                + kw;
                                            f(oi, xi, wi);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `y = conv(x, w) + b` in f64.
    pub fn forward(&self, x: &[f32], w: &[f32], b: Option<&[f32]>) -> Vec<f32> {
        let o = self.output();
        let per = o[0] * o[1] * o[2];
        let mut y = vec![0.0f64; self.n * self.cout * per];
        self.each(|oi, xi, wi| y[oi] += f64::from(x[xi]) * f64::from(w[wi]));
        if let Some(b) = b {
            for (i, v) in y.iter_mut().enumerate() {
                *v += f64::from(b[(i / per) % self.cout]);
            }
        }
        y.into_iter().map(|v| v as f32).collect()
    }

    /// Gradients of `sum(g * conv(x, w))` with respect to x and w, in f64.
    pub fn backward(&self, x: &[f32], w: &[f32], g: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let mut gx = vec![0.0f64; x.len()];
        let mut gw = vec![0.0f64; w.len()];
        self.each(|oi, xi, wi| {
            gx[xi] += f64::from(g[oi]) * f64::from(w[wi]);
            gw[wi] += f64::from(g[oi]) * f64::from(x[xi]);
        });
        (
            gx.into_iter().map(|v| v as f32).collect(),
            gw.into_iter().map(|v| v as f32).collect(),
        )
    }
}
