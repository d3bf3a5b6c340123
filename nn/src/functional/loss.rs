//! Softmax, log-softmax and the losses (`F.cross_entropy`, `F.nll_loss`, `F.mse_loss`).

use ndarray::{ArrayD, Axis, IxDyn};

use crate::error::{NnError, Result};
use crate::tensor::{resolve_dim, Tensor};

/// How a loss combines the per-element values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// The mean (PyTorch's default).
    #[default]
    Mean,
    /// The sum.
    Sum,
    /// One value per element.
    None,
}

fn reduce(losses: Tensor, r: Reduction) -> Tensor {
    match r {
        Reduction::Mean => losses.mean(),
        Reduction::Sum => losses.sum(),
        Reduction::None => losses,
    }
}

/// `F.log_softmax(x, dim)`, computed stably (max subtracted).
pub fn log_softmax(x: &Tensor, dim: isize) -> Result<Tensor> {
    crate::trace::function(
        "torch.nn.functional.log_softmax",
        &[Some(x)],
        || vec![("dim", dim.into())],
        || {
            let d = resolve_dim("log_softmax", dim, x.ndim())?;
            let mut out = x.to_array();
            for mut lane in out.lanes_mut(Axis(d)) {
                let m = lane.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                let lse = m + lane.iter().map(|v| (v - m).exp()).sum::<f32>().ln();
                lane.mapv_inplace(|v| v - lse);
            }
            let y = std::sync::Arc::new(out.clone());
            Ok(Tensor::from_op("log_softmax", &[x], out, move |g, _| {
                // dx = g - softmax * sum(g) along dim
                let mut gx = g.clone();
                for (mut lane, ylane) in gx.lanes_mut(Axis(d)).into_iter().zip(y.lanes(Axis(d))) {
                    let s: f32 = lane.sum();
                    lane.zip_mut_with(&ylane, |gv, &yv| *gv -= yv.exp() * s);
                }
                vec![Some(gx)]
            }))
        },
    )
}

/// `F.softmax(x, dim)`.
pub fn softmax(x: &Tensor, dim: isize) -> Result<Tensor> {
    crate::trace::function(
        "torch.nn.functional.softmax",
        &[Some(x)],
        || vec![("dim", dim.into())],
        || {
            let d = resolve_dim("softmax", dim, x.ndim())?;
            let mut out = x.to_array();
            for mut lane in out.lanes_mut(Axis(d)) {
                let m = lane.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                lane.mapv_inplace(|v| (v - m).exp());
                let s: f32 = lane.sum();
                lane.mapv_inplace(|v| v / s);
            }
            let y = std::sync::Arc::new(out.clone());
            Ok(Tensor::from_op("softmax", &[x], out, move |g, _| {
                // dx = y * (g - sum(g * y)) along dim
                let mut gx = g.clone();
                for (mut lane, ylane) in gx.lanes_mut(Axis(d)).into_iter().zip(y.lanes(Axis(d))) {
                    let s: f32 = lane.iter().zip(ylane.iter()).map(|(a, b)| a * b).sum();
                    lane.zip_mut_with(&ylane, |gv, &yv| *gv = yv * (*gv - s));
                }
                vec![Some(gx)]
            }))
        },
    )
}

/// `F.nll_loss(log_probs (N, C), targets)`.
pub fn nll_loss(log_probs: &Tensor, targets: &[usize], reduction: Reduction) -> Result<Tensor> {
    let s = log_probs.shape();
    if s.len() != 2 || s[0] != targets.len() {
        return Err(NnError::input_shape(
            "nll_loss",
            format!("(N, C) with N = {} targets", targets.len()),
            &s,
        ));
    }
    let c = s[1];
    if let Some(&t) = targets.iter().find(|&&t| t >= c) {
        return Err(NnError::bad_arg(
            "nll_loss",
            format!("target {t} is out of bounds for {c} classes"),
        ));
    }
    let d = log_probs.data();
    let n = targets.len();
    let vals: Vec<f32> = targets
        .iter()
        .enumerate()
        .map(|(i, &t)| -d[[i, t]])
        .collect();
    let out = ArrayD::from_shape_vec(IxDyn(&[n]), vals).expect("shape");
    let targets = targets.to_vec();
    let per = Tensor::from_op("nll_loss", &[log_probs], out, move |g, _| {
        let mut gx = ArrayD::zeros(IxDyn(&[n, c]));
        for (i, &t) in targets.iter().enumerate() {
            gx[[i, t]] = -g[[i]];
        }
        vec![Some(gx)]
    });
    Ok(reduce(per, reduction))
}

/// `F.cross_entropy(logits (N, C), targets)`: `nll_loss(log_softmax(logits, 1), targets)`.
pub fn cross_entropy(logits: &Tensor, targets: &[usize], reduction: Reduction) -> Result<Tensor> {
    if logits.ndim() != 2 {
        return Err(NnError::input_shape(
            "cross_entropy",
            "(N, C)",
            &logits.shape(),
        ));
    }
    nll_loss(&log_softmax(logits, 1)?, targets, reduction)
}

/// `F.mse_loss(input, target)`: squared differences (shapes must match).
pub fn mse_loss(input: &Tensor, target: &Tensor, reduction: Reduction) -> Result<Tensor> {
    if input.shape() != target.shape() {
        return Err(NnError::ShapeMismatch {
            op: "mse_loss",
            lhs: input.shape(),
            rhs: target.shape(),
            detail: "; input and target must have the same shape".into(),
        });
    }
    let diff = input.sub(target)?;
    Ok(reduce(diff.mul(&diff)?, reduction))
}
