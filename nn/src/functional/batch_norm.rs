//! `F.batch_norm`: batch statistics in training (updating the running estimates), running
//! statistics in evaluation, and the gradients of both.

use ndarray::{ArrayD, IxDyn};

use super::conv::slice;
use crate::error::{NnError, Result};
use crate::tensor::Tensor;

/// The running estimates and affine parameters of a batch norm, all of shape `(C)`.
#[derive(Default, Clone, Copy)]
pub struct BatchNormState<'a> {
    /// `running_mean`, updated in training mode when present.
    pub running_mean: Option<&'a Tensor>,
    /// `running_var` (unbiased), updated in training mode when present.
    pub running_var: Option<&'a Tensor>,
    /// `weight` (gamma).
    pub weight: Option<&'a Tensor>,
    /// `bias` (beta).
    pub bias: Option<&'a Tensor>,
}

/// `F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)` over
/// `(N, C, *)`: normalizes each channel over batch and positions. In training mode the batch
/// statistics are used and the running ones become `(1 - momentum) * old + momentum * new` (with
/// the unbiased variance); otherwise the running statistics are used.
pub fn batch_norm(
    x: &Tensor,
    st: BatchNormState<'_>,
    training: bool,
    momentum: f32,
    eps: f32,
) -> Result<Tensor> {
    let shape = x.shape();
    if shape.len() < 2 {
        return Err(NnError::input_shape("batch_norm", "(N, C, *)", &shape));
    }
    let (n, c) = (shape[0], shape[1]);
    let s: usize = shape[2..].iter().product();
    for (name, t) in [
        ("running_mean", st.running_mean),
        ("running_var", st.running_var),
        ("weight", st.weight),
        ("bias", st.bias),
    ] {
        if let Some(t) = t {
            if t.shape() != [c] {
                return Err(NnError::shapes(
                    "batch_norm",
                    &shape,
                    &t.shape(),
                    &format!("{name} must have shape (C) = ({c})"),
                ));
            }
        }
    }
    if eps.is_nan() || eps < 0.0 {
        return Err(NnError::bad_arg(
            "batch_norm",
            format!("eps must be >= 0, got {eps}"),
        ));
    }
    let use_batch = training || st.running_mean.is_none() || st.running_var.is_none();
    if use_batch && n * s <= 1 {
        return Err(NnError::input_shape(
            "batch_norm",
            format!("more than 1 value per channel when training, got input size {shape:?}"),
            &shape,
        ));
    }
    let xd = x.data();
    let xs = slice(&xd);
    let m = n * s;
    let (mean, var) = if use_batch {
        batch_stats(xs, n, c, s)
    } else {
        let rm = st.running_mean.expect("checked").to_vec();
        let rv = st.running_var.expect("checked").to_vec();
        (
            rm.iter().map(|&v| f64::from(v)).collect(),
            rv.iter().map(|&v| f64::from(v)).collect(),
        )
    };
    let invstd: Vec<f32> = var
        .iter()
        .map(|&v| (1.0 / (v + f64::from(eps)).sqrt()) as f32)
        .collect();
    let mean32: Vec<f32> = mean.iter().map(|&v| v as f32).collect();
    let gamma = st.weight.map(Tensor::to_vec);
    let beta = st.bias.map(Tensor::to_vec);
    let mut out = vec![0.0f32; xs.len()];
    for ch in 0..c {
        let g = gamma.as_ref().map_or(1.0, |v| v[ch]);
        let b = beta.as_ref().map_or(0.0, |v| v[ch]);
        let alpha = invstd[ch] * g;
        let shift = b - mean32[ch] * alpha;
        for i in 0..n {
            let o = (i * c + ch) * s;
            for (y, &v) in out[o..o + s].iter_mut().zip(&xs[o..o + s]) {
                *y = v * alpha + shift;
            }
        }
    }
    if training && momentum > 0.0 {
        if let (Some(rm), Some(rv)) = (st.running_mean, st.running_var) {
            let unbias = if m > 1 {
                m as f64 / (m - 1) as f64
            } else {
                1.0
            };
            rm.update_data(|d| {
                for (r, &mu) in d.iter_mut().zip(&mean) {
                    *r = ((1.0 - f64::from(momentum)) * f64::from(*r) + f64::from(momentum) * mu)
                        as f32;
                }
            });
            rv.update_data(|d| {
                for (r, &v) in d.iter_mut().zip(&var) {
                    *r = ((1.0 - f64::from(momentum)) * f64::from(*r)
                        + f64::from(momentum) * v * unbias) as f32;
                }
            });
        }
    }
    let out = ArrayD::from_shape_vec(IxDyn(&shape), out).expect("shape");
    let mut inputs: Vec<&Tensor> = vec![x];
    inputs.extend(st.weight);
    inputs.extend(st.bias);
    let (has_w, has_b) = (st.weight.is_some(), st.bias.is_some());
    Ok(Tensor::from_op(
        "batch_norm",
        &inputs,
        out,
        move |g, need| {
            let gs = slice(g);
            let xs = slice(&xd);
            let mut gx = vec![0.0f32; xs.len()];
            let mut gw = vec![0.0f32; c];
            let mut gb = vec![0.0f32; c];
            for ch in 0..c {
                let gam = gamma.as_ref().map_or(1.0, |v| v[ch]);
                let (mu, is) = (mean32[ch], invstd[ch]);
                let (mut sum_g, mut sum_gx) = (0.0f64, 0.0f64);
                for i in 0..n {
                    let o = (i * c + ch) * s;
                    for (&gv, &xv) in gs[o..o + s].iter().zip(&xs[o..o + s]) {
                        sum_g += f64::from(gv);
                        sum_gx += f64::from(gv) * f64::from((xv - mu) * is);
                    }
                }
                gb[ch] = sum_g as f32;
                gw[ch] = sum_gx as f32;
                if !need[0] {
                    continue;
                }
                for i in 0..n {
                    let o = (i * c + ch) * s;
                    for k in o..o + s {
                        gx[k] = if use_batch {
                            let xh = (xs[k] - mu) * is;
                            gam * is
                                * (gs[k]
                                    - (sum_g / m as f64) as f32
                                    - xh * (sum_gx / m as f64) as f32)
                        } else {
                            gs[k] * gam * is
                        };
                    }
                }
            }
            let mut grads =
                vec![need[0].then(|| ArrayD::from_shape_vec(IxDyn(&shape), gx).expect("shape"))];
            if has_w {
                grads.push(Some(
                    ArrayD::from_shape_vec(IxDyn(&[c]), gw).expect("shape"),
                ));
            }
            if has_b {
                grads.push(Some(
                    ArrayD::from_shape_vec(IxDyn(&[c]), gb).expect("shape"),
                ));
            }
            grads
        },
    ))
}

/// Per-channel mean and biased variance over batch and positions, in f64 as PyTorch's CPU
/// kernel accumulates.
fn batch_stats(xs: &[f32], n: usize, c: usize, s: usize) -> (Vec<f64>, Vec<f64>) {
    let m = (n * s) as f64;
    let mut mean = vec![0.0f64; c];
    let mut var = vec![0.0f64; c];
    for ch in 0..c {
        let mut sum = 0.0f64;
        for i in 0..n {
            let o = (i * c + ch) * s;
            sum += xs[o..o + s].iter().map(|&v| f64::from(v)).sum::<f64>();
        }
        let mu = sum / m;
        let mut sq = 0.0f64;
        for i in 0..n {
            let o = (i * c + ch) * s;
            sq += xs[o..o + s]
                .iter()
                .map(|&v| (f64::from(v) - mu).powi(2))
                .sum::<f64>();
        }
        mean[ch] = mu;
        var[ch] = sq / m;
    }
    (mean, var)
}
