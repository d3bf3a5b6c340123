//! Reductions (sum, mean, argmax) and their gradients.

use ndarray::{ArrayD, Axis, IxDyn};

use super::shape::resolve_dim;
use super::Tensor;
use crate::error::Result;

impl Tensor {
    /// Sum of all elements, a 0-dimensional tensor (`sum()`).
    pub fn sum(&self) -> Tensor {
        crate::trace::method("sum", &[Some(self)], crate::trace::no_args, || {
            let d = self.data();
            let shape = d.shape().to_vec();
            let s: f32 = d.sum();
            Tensor::from_op(
                "sum",
                &[self],
                ArrayD::from_elem(IxDyn(&[]), s),
                move |g, _| {
                    let v = g.iter().copied().next().unwrap_or(0.0);
                    vec![Some(ArrayD::from_elem(IxDyn(&shape), v))]
                },
            )
        })
    }

    /// Mean of all elements, a 0-dimensional tensor (`mean()`); NaN for an empty tensor.
    pub fn mean(&self) -> Tensor {
        crate::trace::method("mean", &[Some(self)], crate::trace::no_args, || {
            let n = self.len();
            self.sum().mul_scalar(1.0 / n as f32)
        })
    }

    /// Sum over the dimensions `dims` (`sum(dims, keepdim)`).
    pub fn sum_dims(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        crate::trace::method(
            "sum",
            &[Some(self)],
            || vec![("dim", dims.into()), ("keepdim", keepdim.into())],
            || {
                let d = self.data();
                let shape = d.shape().to_vec();
                let mut axes = dims
                    .iter()
                    .map(|&x| resolve_dim("sum", x, shape.len()))
                    .collect::<Result<Vec<_>>>()?;
                axes.sort_unstable();
                axes.dedup();
                let mut out = (*d).clone();
                for &a in axes.iter().rev() {
                    out = out.sum_axis(Axis(a));
                }
                let mut kept = shape.clone();
                for &a in &axes {
                    kept[a] = 1;
                }
                if keepdim {
                    out = out.into_shape_with_order(IxDyn(&kept)).expect("same count");
                }
                Ok(Tensor::from_op("sum_dims", &[self], out, move |g, _| {
                    let g = g
                        .view()
                        .into_shape_with_order(IxDyn(&kept))
                        .expect("same count");
                    vec![Some(
                        g.broadcast(IxDyn(&shape))
                            .expect("broadcastable")
                            .to_owned(),
                    )]
                }))
            },
        )
    }

    /// Mean over the dimensions `dims` (`mean(dims, keepdim)`).
    pub fn mean_dims(&self, dims: &[isize], keepdim: bool) -> Result<Tensor> {
        crate::trace::method(
            "mean",
            &[Some(self)],
            || vec![("dim", dims.into()), ("keepdim", keepdim.into())],
            || {
                let shape = self.shape();
                let mut count = 1usize;
                let mut seen = Vec::new();
                for &x in dims {
                    let a = resolve_dim("mean", x, shape.len())?;
                    if !seen.contains(&a) {
                        seen.push(a);
                        count *= shape[a];
                    }
                }
                Ok(self.sum_dims(dims, keepdim)?.mul_scalar(1.0 / count as f32))
            },
        )
    }

    /// Index of the largest value along `dim` (`argmax`), first index on ties; not differentiable.
    pub fn argmax(&self, dim: isize) -> Result<ArrayD<usize>> {
        crate::trace::value_read("argmax");
        let d = self.data();
        let a = resolve_dim("argmax", dim, d.ndim())?;
        Ok(d.map_axis(Axis(a), |lane| {
            let mut best = 0;
            for (i, &v) in lane.iter().enumerate() {
                if v > lane[best] || (v.is_nan() && !lane[best].is_nan()) {
                    best = i;
                }
            }
            best
        }))
    }
}
