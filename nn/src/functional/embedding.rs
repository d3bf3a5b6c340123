//! `F.embedding` and `F.embedding_bag`.

use ndarray::{ArrayD, IxDyn};

use super::conv::slice;
use crate::error::{NnError, Result};
use crate::module::Value;
use crate::tensor::Tensor;

/// Integer indices carried in a float tensor (what an embedding's `forward(Value)` receives:
/// the value type has no integer tensors); `module` names the caller in errors.
pub fn embedding_indices(module: &str, t: &Tensor) -> Result<Vec<usize>> {
    t.to_vec()
        .into_iter()
        .map(|v| {
            if v >= 0.0 && v.fract() == 0.0 && v < 16_777_216.0 {
                Ok(v as usize)
            } else {
                Err(NnError::bad_arg(
                    module,
                    format!("indices must be non-negative integers, got {v}"),
                ))
            }
        })
        .collect()
}

/// The `(indices, offsets)` an `EmbeddingBag`'s `forward` takes: a tuple `(indices, offsets)`,
/// or `(B, L)` indices (bags of `L`).
pub fn embedding_bag_inputs(module: &str, input: Value) -> Result<(Vec<usize>, Vec<usize>)> {
    match input {
        Value::Tuple(v) if v.len() == 2 => {
            let mut it = v.into_iter();
            let (Some(i), Some(o)) = (it.next(), it.next()) else {
                unreachable!("a tuple of two")
            };
            let (i, o) = (i.into_float(module)?, o.into_float(module)?);
            Ok((
                embedding_indices(module, &i)?,
                embedding_indices(module, &o)?,
            ))
        }
        other => {
            let t = other.into_float(module)?;
            let s = t.shape();
            if s.len() != 2 {
                return Err(NnError::input_shape(
                    module,
                    "(B, L) indices, or a tuple (indices, offsets)",
                    &s,
                ));
            }
            let offsets = (0..s[0]).map(|b| b * s[1]).collect();
            Ok((embedding_indices(module, &t)?, offsets))
        }
    }
}

fn check_indices(op: &str, indices: &[usize], rows: usize) -> Result<()> {
    match indices.iter().find(|&&i| i >= rows) {
        Some(i) => Err(NnError::bad_arg(
            op,
            format!("index {i} is out of range for {rows} embeddings"),
        )),
        None => Ok(()),
    }
}

/// `F.embedding(indices, weight, padding_idx)`: rows of `weight (num, dim)` for `indices` of
/// any shape `S`, giving `(*S, dim)`; the padding row receives no gradient.
pub fn embedding(
    indices: &[usize],
    index_shape: &[usize],
    weight: &Tensor,
    padding_idx: Option<usize>,
) -> Result<Tensor> {
    let ws = weight.shape();
    if ws.len() != 2 {
        return Err(NnError::bad_arg(
            "embedding",
            format!("weight must be 2-D, got {ws:?}"),
        ));
    }
    if index_shape.iter().product::<usize>() != indices.len() {
        return Err(NnError::bad_arg(
            "embedding",
            "index shape does not match the number of indices",
        ));
    }
    let (rows, dim) = (ws[0], ws[1]);
    check_indices("embedding", indices, rows)?;
    let wd = weight.data();
    let w = slice(&wd);
    let mut out = Vec::with_capacity(indices.len() * dim);
    for &i in indices {
        out.extend_from_slice(&w[i * dim..(i + 1) * dim]);
    }
    let mut shape = index_shape.to_vec();
    shape.push(dim);
    let out = ArrayD::from_shape_vec(IxDyn(&shape), out).expect("shape");
    let idx = indices.to_vec();
    Ok(Tensor::from_op("embedding", &[weight], out, move |g, _| {
        let gs = slice(g);
        let mut gw = vec![0.0f32; rows * dim];
        for (k, &i) in idx.iter().enumerate() {
            if Some(i) == padding_idx {
                continue;
            }
            for (d, v) in gw[i * dim..(i + 1) * dim]
                .iter_mut()
                .zip(&gs[k * dim..(k + 1) * dim])
            {
                *d += v;
            }
        }
        vec![Some(
            ArrayD::from_shape_vec(IxDyn(&[rows, dim]), gw).expect("shape"),
        )]
    }))
}

/// How [`embedding_bag`] reduces each bag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BagMode {
    /// Sum of the rows.
    Sum,
    /// Mean of the rows (PyTorch's default); an empty bag gives zeros.
    #[default]
    Mean,
    /// Element-wise maximum; an empty bag gives zeros.
    Max,
}

/// `F.embedding_bag(indices, weight, offsets, mode, per_sample_weights)`: bag `b` holds
/// `indices[offsets[b]..offsets[b + 1]]` (the last bag runs to the end); output `(bags, dim)`.
/// Per-sample weights are only allowed with `Sum`, as in PyTorch.
pub fn embedding_bag(
    indices: &[usize],
    offsets: &[usize],
    weight: &Tensor,
    mode: BagMode,
    per_sample_weights: Option<&[f32]>,
) -> Result<Tensor> {
    let ws = weight.shape();
    if ws.len() != 2 {
        return Err(NnError::bad_arg(
            "embedding_bag",
            format!("weight must be 2-D, got {ws:?}"),
        ));
    }
    let (rows, dim) = (ws[0], ws[1]);
    check_indices("embedding_bag", indices, rows)?;
    if offsets.first().is_some_and(|&o| o != 0)
        || offsets.windows(2).any(|w| w[0] > w[1])
        || offsets.last().is_some_and(|&o| o > indices.len())
    {
        return Err(NnError::bad_arg(
            "embedding_bag",
            "offsets must start at 0, be non-decreasing and stay within the indices",
        ));
    }
    if let Some(psw) = per_sample_weights {
        if mode != BagMode::Sum || psw.len() != indices.len() {
            return Err(NnError::bad_arg(
                "embedding_bag",
                "per_sample_weights need mode Sum and one weight per index",
            ));
        }
    }
    let bags = offsets.len();
    let bounds: Vec<(usize, usize)> = (0..bags)
        .map(|b| {
            (
                offsets[b],
                offsets.get(b + 1).copied().unwrap_or(indices.len()),
            )
        })
        .collect();
    let wd = weight.data();
    let w = slice(&wd);
    let mut out = vec![0.0f32; bags * dim];
    let mut argmax = vec![usize::MAX; bags * dim];
    for (b, &(s, e)) in bounds.iter().enumerate() {
        let dst = &mut out[b * dim..(b + 1) * dim];
        for k in s..e {
            let row = &w[indices[k] * dim..(indices[k] + 1) * dim];
            let sw = per_sample_weights.map_or(1.0, |p| p[k]);
            for (d, (o, &v)) in dst.iter_mut().zip(row).enumerate() {
                match mode {
                    BagMode::Max => {
                        if k == s || v > *o {
                            *o = v;
                            argmax[b * dim + d] = indices[k];
                        }
                    }
                    _ => *o += sw * v,
                }
            }
        }
        if mode == BagMode::Mean && e > s {
            dst.iter_mut().for_each(|v| *v /= (e - s) as f32);
        }
    }
    let out = ArrayD::from_shape_vec(IxDyn(&[bags, dim]), out).expect("shape");
    let idx = indices.to_vec();
    let psw = per_sample_weights.map(<[f32]>::to_vec);
    Ok(Tensor::from_op(
        "embedding_bag",
        &[weight],
        out,
        move |g, _| {
            let gs = slice(g);
            let mut gw = vec![0.0f32; rows * dim];
            for (b, &(s, e)) in bounds.iter().enumerate() {
                let gb = &gs[b * dim..(b + 1) * dim];
                if mode == BagMode::Max {
                    for (d, &gv) in gb.iter().enumerate() {
                        let r = argmax[b * dim + d];
                        if r != usize::MAX {
                            gw[r * dim + d] += gv;
                        }
                    }
                    continue;
                }
                let scale = if mode == BagMode::Mean && e > s {
                    1.0 / (e - s) as f32
                } else {
                    1.0
                };
                for k in s..e {
                    let sw = psw.as_ref().map_or(1.0, |p| p[k]) * scale;
                    for (d, &gv) in gw[idx[k] * dim..(idx[k] + 1) * dim].iter_mut().zip(gb) {
                        *d += sw * gv;
                    }
                }
            }
            vec![Some(
                ArrayD::from_shape_vec(IxDyn(&[rows, dim]), gw).expect("shape"),
            )]
        },
    ))
}
