//! `F.layer_norm`, `F.group_norm`, `F.instance_norm`: normalization over contiguous groups of
//! elements (one op with its own gradient), then a broadcast affine transform.

use ndarray::{ArrayD, IxDyn};

use super::conv::slice;
use crate::error::{NnError, Result};
use crate::tensor::Tensor;

/// Normalizes each of the `rows` contiguous runs of `x` to mean 0 and variance 1 (biased,
/// statistics in f64): `(x - mean) / sqrt(var + eps)`. Returns the per-row mean and biased
/// variance too.
pub(crate) fn normalize_rows(x: &Tensor, rows: usize, eps: f32) -> (Tensor, Vec<f64>, Vec<f64>) {
    let shape = x.shape();
    let xd = x.data();
    let xs = slice(&xd);
    let len = xs.len().checked_div(rows).unwrap_or(0);
    let mut out = vec![0.0f32; xs.len()];
    let mut means = Vec::with_capacity(rows);
    let mut vars = Vec::with_capacity(rows);
    let mut invstd = Vec::with_capacity(rows);
    for r in 0..rows {
        let row = &xs[r * len..(r + 1) * len];
        let mu = row.iter().map(|&v| f64::from(v)).sum::<f64>() / len as f64;
        let var = row
            .iter()
            .map(|&v| (f64::from(v) - mu).powi(2))
            .sum::<f64>()
            / len as f64;
        let is = 1.0 / (var + f64::from(eps)).sqrt();
        for (o, &v) in out[r * len..(r + 1) * len].iter_mut().zip(row) {
            *o = ((f64::from(v) - mu) * is) as f32;
        }
        means.push(mu);
        vars.push(var);
        invstd.push(is as f32);
    }
    let y = std::sync::Arc::new(out.clone());
    let out = ArrayD::from_shape_vec(IxDyn(&shape), out).expect("shape");
    let t = Tensor::from_op("normalize", &[x], out, move |g, _| {
        let gs = slice(g);
        let mut gx = vec![0.0f32; gs.len()];
        for r in 0..rows {
            let (gr, yr) = (&gs[r * len..(r + 1) * len], &y[r * len..(r + 1) * len]);
            let mg = gr.iter().map(|&v| f64::from(v)).sum::<f64>() / len as f64;
            let mgy = gr
                .iter()
                .zip(yr)
                .map(|(&a, &b)| f64::from(a) * f64::from(b))
                .sum::<f64>()
                / len as f64;
            for ((o, &gv), &yv) in gx[r * len..(r + 1) * len].iter_mut().zip(gr).zip(yr) {
                *o = invstd[r] * (gv - mg as f32 - yv * mgy as f32);
            }
        }
        vec![Some(
            ArrayD::from_shape_vec(IxDyn(&shape), gx).expect("shape"),
        )]
    });
    (t, means, vars)
}

/// Multiplies by `weight` and adds `bias`, both of shape `(C)`, along dimension 1.
pub(crate) fn channel_affine(
    y: Tensor,
    c: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
) -> Result<Tensor> {
    let ndim = y.ndim();
    let mut shape = vec![1isize; ndim];
    shape[1] = c as isize;
    let mut y = y;
    if let Some(w) = weight {
        y = y.mul(&w.reshape(&shape)?)?;
    }
    if let Some(b) = bias {
        y = y.add(&b.reshape(&shape)?)?;
    }
    Ok(y)
}

fn check_param(op: &str, name: &str, t: Option<&Tensor>, shape: &[usize]) -> Result<()> {
    match t {
        Some(t) if t.shape() != shape => Err(NnError::bad_arg(
            op,
            format!("{name} must have shape {shape:?}, got {:?}", t.shape()),
        )),
        _ => Ok(()),
    }
}

/// `F.layer_norm(x, normalized_shape, weight, bias, eps)`: normalizes over the trailing
/// dimensions `normalized_shape`.
pub fn layer_norm(
    x: &Tensor,
    normalized_shape: &[usize],
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f32,
) -> Result<Tensor> {
    crate::trace::function(
        "torch.nn.functional.layer_norm",
        &[Some(x), weight, bias],
        || {
            vec![
                ("normalized_shape", normalized_shape.into()),
                ("eps", eps.into()),
            ]
        },
        || {
            let s = x.shape();
            let k = normalized_shape.len();
            if k == 0 || s.len() < k || s[s.len() - k..] != *normalized_shape {
                return Err(NnError::input_shape(
                    "layer_norm",
                    format!(
                        "(*, {})",
                        normalized_shape
                            .iter()
                            .map(usize::to_string)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    &s,
                ));
            }
            check_param("layer_norm", "weight", weight, normalized_shape)?;
            check_param("layer_norm", "bias", bias, normalized_shape)?;
            let inner: usize = normalized_shape.iter().product();
            let rows = x.len().checked_div(inner).unwrap_or(0);
            let (mut y, _, _) = normalize_rows(x, rows, eps);
            if let Some(w) = weight {
                y = y.mul(w)?;
            }
            if let Some(b) = bias {
                y = y.add(b)?;
            }
            Ok(y)
        },
    )
}

/// `F.group_norm(x, num_groups, weight, bias, eps)` over `(N, C, *)`.
pub fn group_norm(
    x: &Tensor,
    num_groups: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f32,
) -> Result<Tensor> {
    let s = x.shape();
    if s.len() < 2 || num_groups == 0 || !s[1].is_multiple_of(num_groups) {
        return Err(NnError::input_shape(
            "group_norm",
            format!("(N, C, *) with C divisible by {num_groups} groups"),
            &s,
        ));
    }
    check_param("group_norm", "weight", weight, &[s[1]])?;
    check_param("group_norm", "bias", bias, &[s[1]])?;
    let (y, _, _) = normalize_rows(x, s[0] * num_groups, eps);
    channel_affine(y, s[1], weight, bias)
}

/// `F.instance_norm(x, ...)` over `(N, C, *)` with per-instance statistics (the running
/// statistics of a tracking module are handled by the module).
pub fn instance_norm(
    x: &Tensor,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f32,
) -> Result<Tensor> {
    let s = x.shape();
    if s.len() < 3 {
        return Err(NnError::input_shape("instance_norm", "(N, C, *)", &s));
    }
    check_param("instance_norm", "weight", weight, &[s[1]])?;
    check_param("instance_norm", "bias", bias, &[s[1]])?;
    let (y, _, _) = normalize_rows(x, s[0] * s[1], eps);
    channel_affine(y, s[1], weight, bias)
}
