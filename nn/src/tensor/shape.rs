//! Shape operations (reshape, flatten, permute, narrow, cat ...) and their gradients.

use ndarray::{ArrayD, Axis, IxDyn, Slice};

use super::Tensor;
use crate::error::{NnError, Result};

/// Resolves a possibly negative dimension index against `ndim`.
pub(crate) fn resolve_dim(op: &str, dim: isize, ndim: usize) -> Result<usize> {
    let d = if dim < 0 { dim + ndim as isize } else { dim };
    if d < 0 || d as usize >= ndim.max(1) {
        return Err(NnError::bad_arg(
            op,
            format!("dimension {dim} is out of range for a tensor of rank {ndim}"),
        ));
    }
    Ok(d as usize)
}

/// Resolves a shape with at most one `-1` against `numel` elements.
pub(crate) fn resolve_shape(
    op: &str,
    shape: &[isize],
    numel: usize,
    from: &[usize],
) -> Result<Vec<usize>> {
    let mut infer = None;
    let mut known = 1usize;
    for (i, &d) in shape.iter().enumerate() {
        match d {
            -1 if infer.is_none() => infer = Some(i),
            d if d >= 0 => known *= d as usize,
            _ => return Err(NnError::bad_arg(op, format!("invalid shape {shape:?}"))),
        }
    }
    let mut out: Vec<usize> = shape.iter().map(|&d| d.max(0) as usize).collect();
    if let Some(i) = infer {
        if known == 0 || !numel.is_multiple_of(known) {
            return Err(NnError::bad_arg(
                op,
                format!("shape {shape:?} is invalid for input of shape {from:?}"),
            ));
        }
        out[i] = numel / known;
    } else if known != numel {
        return Err(NnError::bad_arg(
            op,
            format!("shape {shape:?} is invalid for input of shape {from:?}"),
        ));
    }
    Ok(out)
}

impl Tensor {
    /// The same values with a new shape (`reshape`); one entry may be `-1`.
    pub fn reshape(&self, shape: &[isize]) -> Result<Tensor> {
        crate::trace::method(
            "reshape",
            &[Some(self)],
            || vec![("shape", shape.into())],
            || {
                let d = self.data();
                let from = d.shape().to_vec();
                let to = resolve_shape("reshape", shape, d.len(), &from)?;
                Ok(self.reshape_exact(&to))
            },
        )
    }

    /// Reshape to a shape known to hold the same number of elements.
    pub(crate) fn reshape_exact(&self, to: &[usize]) -> Tensor {
        let d = self.data();
        let from = d.shape().to_vec();
        let out = d
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(to))
            .expect("element count checked");
        Tensor::from_op("reshape", &[self], out, move |g, _| {
            vec![Some(
                g.as_standard_layout()
                    .into_owned()
                    .into_shape_with_order(IxDyn(&from))
                    .expect("same count"),
            )]
        })
    }

    /// Merges dimensions `start..=end` into one (`torch.flatten(x, start_dim, end_dim)`).
    pub fn flatten(&self, start_dim: isize, end_dim: isize) -> Result<Tensor> {
        crate::trace::method(
            "flatten",
            &[Some(self)],
            || vec![("start_dim", start_dim.into()), ("end_dim", end_dim.into())],
            || {
                let shape = self.shape();
                if shape.is_empty() {
                    return Ok(self.reshape_exact(&[1]));
                }
                let s = resolve_dim("flatten", start_dim, shape.len())?;
                let e = resolve_dim("flatten", end_dim, shape.len())?;
                if s > e {
                    return Err(NnError::bad_arg(
                        "flatten",
                        "start_dim cannot come after end_dim",
                    ));
                }
                let mut to: Vec<usize> = shape[..s].to_vec();
                to.push(shape[s..=e].iter().product());
                to.extend_from_slice(&shape[e + 1..]);
                Ok(self.reshape_exact(&to))
            },
        )
    }

    /// Inserts a dimension of size 1 at `dim` (`unsqueeze`).
    pub fn unsqueeze(&self, dim: isize) -> Result<Tensor> {
        crate::trace::method(
            "unsqueeze",
            &[Some(self)],
            || vec![("dim", dim.into())],
            || {
                let mut shape = self.shape();
                let d = resolve_dim("unsqueeze", dim, shape.len() + 1)?;
                shape.insert(d, 1);
                Ok(self.reshape_exact(&shape))
            },
        )
    }

    /// Removes dimension `dim` if its size is 1 (`squeeze(dim)`); otherwise returns `self`.
    pub fn squeeze_dim(&self, dim: usize) -> Result<Tensor> {
        let mut shape = self.shape();
        if dim >= shape.len() {
            return Err(NnError::bad_arg(
                "squeeze",
                format!("dimension {dim} out of range"),
            ));
        }
        if shape[dim] != 1 {
            return Ok(self.clone());
        }
        shape.remove(dim);
        Ok(self.reshape_exact(&shape))
    }

    /// Reorders dimensions (`permute`).
    pub fn permute(&self, dims: &[usize]) -> Result<Tensor> {
        crate::trace::method(
            "permute",
            &[Some(self)],
            || vec![("dims", dims.into())],
            || {
                let n = self.ndim();
                let mut seen = vec![false; n];
                if dims.len() != n
                    || dims
                        .iter()
                        .any(|&d| d >= n || std::mem::replace(&mut seen[d], true))
                {
                    return Err(NnError::bad_arg(
                        "permute",
                        format!("{dims:?} is not a permutation of the {n} dimensions"),
                    ));
                }
                let out = self
                    .data()
                    .view()
                    .permuted_axes(IxDyn(dims))
                    .as_standard_layout()
                    .into_owned();
                let mut inverse = vec![0; n];
                for (i, &d) in dims.iter().enumerate() {
                    inverse[d] = i;
                }
                Ok(Tensor::from_op("permute", &[self], out, move |g, _| {
                    vec![Some(
                        g.view()
                            .permuted_axes(IxDyn(&inverse))
                            .as_standard_layout()
                            .into_owned(),
                    )]
                }))
            },
        )
    }

    /// Swaps two dimensions (`transpose(d0, d1)`).
    pub fn transpose(&self, d0: isize, d1: isize) -> Result<Tensor> {
        crate::trace::method(
            "transpose",
            &[Some(self)],
            || vec![("dim0", d0.into()), ("dim1", d1.into())],
            || {
                let n = self.ndim();
                let (a, b) = (
                    resolve_dim("transpose", d0, n)?,
                    resolve_dim("transpose", d1, n)?,
                );
                let mut dims: Vec<usize> = (0..n).collect();
                dims.swap(a, b);
                self.permute(&dims)
            },
        )
    }

    /// The slice `start..start + len` along `dim` (`narrow`).
    pub fn narrow(&self, dim: isize, start: usize, len: usize) -> Result<Tensor> {
        let shape = self.shape();
        let d = resolve_dim("narrow", dim, shape.len())?;
        if start + len > shape[d] {
            return Err(NnError::bad_arg(
                "narrow",
                format!(
                    "{start}..{} is out of range for dimension {d} of size {}",
                    start + len,
                    shape[d]
                ),
            ));
        }
        let out = self
            .data()
            .slice_axis(Axis(d), Slice::from(start..start + len))
            .to_owned();
        Ok(Tensor::from_op("narrow", &[self], out, move |g, _| {
            let mut full = ArrayD::zeros(IxDyn(&shape));
            full.slice_axis_mut(Axis(d), Slice::from(start..start + len))
                .assign(g);
            vec![Some(full)]
        }))
    }

    /// Splits along `dim` into pieces of `size` (the last may be smaller) (`split`).
    pub fn split(&self, size: usize, dim: isize) -> Result<Vec<Tensor>> {
        let shape = self.shape();
        let d = resolve_dim("split", dim, shape.len())?;
        if size == 0 {
            return Err(NnError::bad_arg("split", "split size must be positive"));
        }
        (0..shape[d])
            .step_by(size)
            .map(|s| self.narrow(d as isize, s, size.min(shape[d] - s)))
            .collect()
    }

    /// Concatenates tensors along `dim` (`torch.cat`).
    pub fn cat(tensors: &[Tensor], dim: isize) -> Result<Tensor> {
        let refs: Vec<Option<&Tensor>> = tensors.iter().map(Some).collect();
        crate::trace::function(
            "torch.cat",
            &refs,
            || vec![("dim", dim.into())],
            || {
                let first = tensors.first().ok_or_else(|| {
                    NnError::bad_arg("cat", "expected a non-empty list of tensors")
                })?;
                let shape0 = first.shape();
                let d = resolve_dim("cat", dim, shape0.len())?;
                let datas: Vec<_> = tensors.iter().map(Tensor::data).collect();
                for t in &datas {
                    let s = t.shape();
                    let same_rank = s.len() == shape0.len();
                    if !same_rank
                        || s.iter()
                            .zip(&shape0)
                            .enumerate()
                            .any(|(i, (a, b))| i != d && a != b)
                    {
                        return Err(NnError::shapes(
                            "cat",
                            &shape0,
                            s,
                            &format!("sizes must match except in dimension {d}"),
                        ));
                    }
                }
                let views: Vec<_> = datas.iter().map(|a| a.view()).collect();
                let out = ndarray::concatenate(Axis(d), &views).expect("shapes checked");
                let sizes: Vec<usize> = datas.iter().map(|a| a.shape()[d]).collect();
                let refs: Vec<&Tensor> = tensors.iter().collect();
                Ok(Tensor::from_op("cat", &refs, out, move |g, need| {
                    let mut start = 0;
                    sizes
                        .iter()
                        .zip(need)
                        .map(|(&len, &n)| {
                            let piece = n.then(|| {
                                g.slice_axis(Axis(d), Slice::from(start..start + len))
                                    .to_owned()
                            });
                            start += len;
                            piece
                        })
                        .collect()
                }))
            },
        )
    }

    /// Stacks equal-shaped tensors along a new dimension `dim` (`torch.stack`).
    pub fn stack(tensors: &[Tensor], dim: isize) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| NnError::bad_arg("stack", "expected a non-empty list of tensors"))?;
        let d = resolve_dim("stack", dim, first.ndim() + 1)? as isize;
        let expanded: Result<Vec<Tensor>> = tensors.iter().map(|t| t.unsqueeze(d)).collect();
        Tensor::cat(&expanded?, d)
    }
}
