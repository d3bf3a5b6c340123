//! Shape operations that keep quantization parameters and track the per-channel axis.

use ndarray::{Axis, IxDyn, Slice};

use crate::tensor::map_qdata;
use crate::{QError, QParams, QTensor};

fn bad(op: &'static str, reason: impl Into<String>) -> QError {
    QError::BadShapeOp {
        op,
        reason: reason.into(),
    }
}

impl QTensor {
    /// A copy with a new shape and the same values in row-major order (`reshape` / `view`).
    ///
    /// A per-channel tensor may be reshaped only if its channel axis survives intact (same size,
    /// same number of elements before it); the axis index is updated.
    pub fn reshape(&self, shape: &[usize]) -> Result<QTensor, QError> {
        let old = self.shape();
        let (count_old, count_new) = (old.iter().product::<usize>(), shape.iter().product());
        if count_old != count_new {
            return Err(bad(
                "reshape",
                format!(
                    "cannot reshape {old:?} ({count_old} elements) into {shape:?} ({count_new})"
                ),
            ));
        }
        let qparams = match self.qparams().axis() {
            None => self.qparams().clone(),
            Some(axis) => {
                let before: usize = old[..axis].iter().product();
                let new_axis = (0..shape.len())
                    .find(|&k| {
                        shape[k] == old[axis] && shape[..k].iter().product::<usize>() == before
                    })
                    .ok_or_else(|| {
                        bad(
                            "reshape",
                            format!(
                                "per-channel axis {axis} (size {}) of {old:?} does not survive reshape to {shape:?}",
                                old[axis]
                            ),
                        )
                    })?;
                self.qparams().with_axis(new_axis)
            }
        };
        let data = map_qdata!(self.int_repr().clone(), |a| a
            .into_shape_with_order(IxDyn(shape))
            .expect("element count checked"));
        Ok(QTensor::from_parts(data, qparams))
    }

    /// Flattens dimensions `start_dim..=end_dim` into one (`torch.flatten`).
    pub fn flatten(&self, start_dim: usize, end_dim: usize) -> Result<QTensor, QError> {
        let shape = self.shape();
        if shape.is_empty() {
            return self.reshape(&[1]);
        }
        if start_dim > end_dim || end_dim >= shape.len() {
            return Err(bad(
                "flatten",
                format!(
                    "start_dim {start_dim} / end_dim {end_dim} invalid for rank {}",
                    shape.len()
                ),
            ));
        }
        let mut new_shape = shape[..start_dim].to_vec();
        new_shape.push(shape[start_dim..=end_dim].iter().product());
        new_shape.extend_from_slice(&shape[end_dim + 1..]);
        self.reshape(&new_shape)
    }

    /// Reorders dimensions (`permute`); the result is stored contiguously.
    pub fn permute(&self, dims: &[usize]) -> Result<QTensor, QError> {
        let rank = self.ndim();
        let mut seen = vec![false; rank];
        if dims.len() != rank
            || dims
                .iter()
                .any(|&d| d >= rank || std::mem::replace(&mut seen[d], true))
        {
            return Err(bad(
                "permute",
                format!("{dims:?} is not a permutation of 0..{rank}"),
            ));
        }
        let qparams = match self.qparams().axis() {
            None => self.qparams().clone(),
            Some(axis) => {
                let new_axis = dims.iter().position(|&d| d == axis).expect("a permutation");
                self.qparams().with_axis(new_axis)
            }
        };
        let data = map_qdata!(self.int_repr().clone(), |a| a
            .permuted_axes(IxDyn(dims))
            .as_standard_layout()
            .into_owned());
        Ok(QTensor::from_parts(data, qparams))
    }

    /// Swaps two dimensions (`transpose`).
    pub fn transpose(&self, dim0: usize, dim1: usize) -> Result<QTensor, QError> {
        let rank = self.ndim();
        if dim0 >= rank || dim1 >= rank {
            return Err(bad(
                "transpose",
                format!("dims {dim0}, {dim1} out of range for rank {rank}"),
            ));
        }
        let mut dims: Vec<usize> = (0..rank).collect();
        dims.swap(dim0, dim1);
        self.permute(&dims)
    }

    /// A contiguous copy (`contiguous`); storage is always contiguous, so this is a clone.
    pub fn contiguous(&self) -> QTensor {
        self.clone()
    }

    /// Elements `start..start + length` along `dim` (`narrow`); per-channel parameters are sliced
    /// with it when `dim` is the channel axis.
    pub fn narrow(&self, dim: usize, start: usize, length: usize) -> Result<QTensor, QError> {
        let shape = self.shape();
        if dim >= shape.len() || start + length > shape[dim] {
            return Err(bad(
                "narrow",
                format!(
                    "dim {dim}, range {start}..{} out of bounds for {shape:?}",
                    start + length
                ),
            ));
        }
        let range = start..start + length;
        let qparams = match self.qparams() {
            QParams::PerChannel {
                scales,
                zero_points,
                axis,
            } if *axis == dim => QParams::PerChannel {
                scales: scales[range.clone()].to_vec(),
                zero_points: zero_points[range.clone()].to_vec(),
                axis: *axis,
            },
            QParams::PerChannelFloat {
                scales,
                zero_points,
                axis,
            } if *axis == dim => QParams::PerChannelFloat {
                scales: scales[range.clone()].to_vec(),
                zero_points: zero_points[range.clone()].to_vec(),
                axis: *axis,
            },
            other => other.clone(),
        };
        let data = map_qdata!(self.int_repr(), |a| a
            .slice_axis(Axis(dim), Slice::from(range.clone()))
            .as_standard_layout()
            .into_owned());
        Ok(QTensor::from_parts(data, qparams))
    }

    /// Index `index` of dimension `dim`, removing that dimension (`select`).
    ///
    /// Selecting along the channel axis of a per-channel tensor gives a per-tensor tensor with that
    /// channel's parameters (float-qparams tensors cannot: their zero point is not an integer).
    pub fn select(&self, dim: usize, index: usize) -> Result<QTensor, QError> {
        let shape = self.shape();
        if dim >= shape.len() || index >= shape[dim] {
            return Err(bad(
                "select",
                format!("dim {dim}, index {index} out of bounds for {shape:?}"),
            ));
        }
        let qparams = match self.qparams() {
            QParams::PerChannel {
                scales,
                zero_points,
                axis,
            } if *axis == dim => QParams::PerTensor {
                scale: scales[index],
                zero_point: zero_points[index],
            },
            QParams::PerChannelFloat { axis, .. } if *axis == dim => {
                return Err(bad(
                    "select",
                    "cannot select along the channel axis of a float-qparams tensor",
                ))
            }
            p => match p.axis() {
                Some(axis) if axis > dim => p.with_axis(axis - 1),
                _ => p.clone(),
            },
        };
        let data = map_qdata!(self.int_repr(), |a| a
            .index_axis(Axis(dim), index)
            .as_standard_layout()
            .into_owned());
        Ok(QTensor::from_parts(data, qparams))
    }

    /// Inserts a dimension of size 1 at `dim` (`unsqueeze`).
    pub fn unsqueeze(&self, dim: usize) -> Result<QTensor, QError> {
        let shape = self.shape();
        if dim > shape.len() {
            return Err(bad(
                "unsqueeze",
                format!("dim {dim} out of range for rank {}", shape.len()),
            ));
        }
        let mut new_shape = shape.to_vec();
        new_shape.insert(dim, 1);
        let qparams = match self.qparams().axis() {
            Some(axis) if axis >= dim => self.qparams().with_axis(axis + 1),
            _ => self.qparams().clone(),
        };
        let data = map_qdata!(self.int_repr().clone(), |a| a
            .into_shape_with_order(IxDyn(&new_shape))
            .expect("one more unit dimension"));
        Ok(QTensor::from_parts(data, qparams))
    }
}
