//! Float recurrent networks written from PyTorch's documented equations, in `f64`: the
//! semantic reference (gate order, layers, directions, batch-first) the dynamic modules must
//! approximate; and stand-in float modules for `from_float`.

use std::collections::BTreeMap;

use ndarray::{Array2, Array3, ArrayD, ArrayView2, ArrayView3, Axis};
use nn::{Module, NnError, Tensor, Value};

/// A float module exposing PyTorch's class name, parameter names and printed form (what
/// `from_float` reads); its forward is not used.
pub struct FloatStandIn {
    pub kind: &'static str,
    pub params: BTreeMap<String, ArrayD<f32>>,
    pub repr: String,
}

impl Module for FloatStandIn {
    fn type_name(&self) -> &'static str {
        self.kind
    }

    fn forward(&mut self, _input: Value) -> Result<Value, NnError> {
        Err(NnError::bad_arg(self.kind, "stand-in module"))
    }

    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .map(|(k, v)| (k.clone(), Tensor::parameter(v.clone())))
            .collect()
    }

    fn is_training(&self) -> bool {
        false
    }

    fn set_training_flag(&mut self, _training: bool) {}

    fn extra_repr(&self) -> String {
        self.repr.clone()
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `x W^T + b` in f64 for one row.
fn affine(w: &ArrayD<f32>, b: Option<&ArrayD<f32>>, x: &[f64]) -> Vec<f64> {
    let w = w
        .view()
        .into_dimensionality::<ndarray::Ix2>()
        .expect("2-D weight");
    (0..w.nrows())
        .map(|o| {
            let dot: f64 = w
                .row(o)
                .iter()
                .zip(x)
                .map(|(&a, &b)| f64::from(a) * b)
                .sum();
            dot + b.map_or(0.0, |b| f64::from(b[o]))
        })
        .collect()
}

/// Which float cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Lstm,
    Gru,
    RnnTanh,
    RnnRelu,
}

/// One step of `cell` for one sample: returns `(h', c')` (`c'` only for LSTM).
pub fn step(
    cell: Cell,
    sd: &BTreeMap<String, ArrayD<f32>>,
    suffix: &str,
    x: &[f64],
    h: &[f64],
    c: &[f64],
) -> (Vec<f64>, Vec<f64>) {
    let get = |k: &str| sd.get(&format!("{k}{suffix}"));
    let gi = affine(get("weight_ih").expect("weight_ih"), get("bias_ih"), x);
    let gh = affine(get("weight_hh").expect("weight_hh"), get("bias_hh"), h);
    let hs = h.len();
    match cell {
        Cell::Lstm => {
            let pre = |g: usize, j: usize| gi[g * hs + j] + gh[g * hs + j];
            let mut h2 = vec![0.0; hs];
            let mut c2 = vec![0.0; hs];
            for j in 0..hs {
                let (i, f, g, o) = (
                    sigmoid(pre(0, j)),
                    sigmoid(pre(1, j)),
                    pre(2, j).tanh(),
                    sigmoid(pre(3, j)),
                );
                c2[j] = f * c[j] + i * g;
                h2[j] = o * c2[j].tanh();
            }
            (h2, c2)
        }
        Cell::Gru => {
            let h2 = (0..hs)
                .map(|j| {
                    let r = sigmoid(gi[j] + gh[j]);
                    let z = sigmoid(gi[hs + j] + gh[hs + j]);
                    let n = (gi[2 * hs + j] + r * gh[2 * hs + j]).tanh();
                    (1.0 - z) * n + z * h[j]
                })
                .collect();
            (h2, Vec::new())
        }
        Cell::RnnTanh | Cell::RnnRelu => {
            let h2 = (0..hs)
                .map(|j| {
                    let v = gi[j] + gh[j];
                    if cell == Cell::RnnTanh {
                        v.tanh()
                    } else {
                        v.max(0.0)
                    }
                })
                .collect();
            (h2, Vec::new())
        }
    }
}

/// A float multi-layer LSTM / GRU on `x` `(seq, batch, input)` (already sequence-first) from
/// states `(layers * dirs, batch, hidden)`; returns `(y, h_n, c_n)`.
#[allow(clippy::too_many_arguments)]
pub fn network(
    cell: Cell,
    sd: &BTreeMap<String, ArrayD<f32>>,
    layers: usize,
    bidirectional: bool,
    hidden: usize,
    x: ArrayView3<'_, f32>,
    h0: ArrayView3<'_, f32>,
    c0: ArrayView3<'_, f32>,
) -> (Array3<f32>, Array3<f32>, Array3<f32>) {
    let (seq, batch, _) = x.dim();
    let dirs = if bidirectional { 2 } else { 1 };
    let mut input: Vec<Vec<Vec<f64>>> = (0..seq)
        .map(|t| {
            (0..batch)
                .map(|b| {
                    x.slice(ndarray::s![t, b, ..])
                        .iter()
                        .map(|&v| f64::from(v))
                        .collect()
                })
                .collect()
        })
        .collect();
    let mut h_n = Array3::<f32>::zeros((layers * dirs, batch, hidden));
    let mut c_n = h_n.clone();
    for l in 0..layers {
        let mut out = vec![vec![vec![0.0f64; dirs * hidden]; batch]; seq];
        for d in 0..dirs {
            let suffix = format!("_l{l}{}", if d == 1 { "_reverse" } else { "" });
            let idx = l * dirs + d;
            for b in 0..batch {
                let mut h: Vec<f64> = h0
                    .slice(ndarray::s![idx, b, ..])
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect();
                let mut c: Vec<f64> = c0
                    .slice(ndarray::s![idx, b, ..])
                    .iter()
                    .map(|&v| f64::from(v))
                    .collect();
                let order: Vec<usize> = if d == 0 {
                    (0..seq).collect()
                } else {
                    (0..seq).rev().collect()
                };
                for t in order {
                    let (h2, c2) = step(cell, sd, &suffix, &input[t][b], &h, &c);
                    h = h2;
                    if cell == Cell::Lstm {
                        c = c2;
                    }
                    out[t][b][d * hidden..(d + 1) * hidden].copy_from_slice(&h);
                }
                for j in 0..hidden {
                    h_n[[idx, b, j]] = h[j] as f32;
                    if cell == Cell::Lstm {
                        c_n[[idx, b, j]] = c[j] as f32;
                    }
                }
            }
        }
        input = out;
    }
    let y = Array3::from_shape_fn((seq, batch, dirs * hidden), |(t, b, j)| {
        input[t][b][j] as f32
    });
    (y, h_n, c_n)
}

/// One float cell step on a batch: `(h', c')`.
pub fn cell_batch(
    cell: Cell,
    sd: &BTreeMap<String, ArrayD<f32>>,
    x: ArrayView2<'_, f32>,
    h: ArrayView2<'_, f32>,
    c: ArrayView2<'_, f32>,
) -> (Array2<f32>, Array2<f32>) {
    let (batch, hidden) = h.dim();
    let mut ho = Array2::zeros((batch, hidden));
    let mut co = Array2::zeros((batch, hidden));
    for b in 0..batch {
        let row = |a: &ArrayView2<'_, f32>| {
            a.index_axis(Axis(0), b)
                .iter()
                .map(|&v| f64::from(v))
                .collect::<Vec<_>>()
        };
        let (h2, c2) = step(cell, sd, "", &row(&x), &row(&h), &row(&c));
        for j in 0..hidden {
            ho[[b, j]] = h2[j] as f32;
            if cell == Cell::Lstm {
                co[[b, j]] = c2[j] as f32;
            }
        }
    }
    (ho, co)
}
