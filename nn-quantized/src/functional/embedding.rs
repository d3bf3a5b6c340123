//! 8-bit row-wise quantized embeddings (`quantized::embedding_bag_prepack`,
//! `embedding_byte`, `embedding_bag_byte`) with fbgemm's numerics.
//!
//! A weight quantized per row with float parameters (`per_channel_affine_float_qparams`,
//! quint8) is packed as `(q, scale, bias)` per row with `bias = -(zero_point * scale)`; a
//! lookup accumulates `out = fma(w * scale, q, out + w * bias)` over a bag's rows (`w` the
//! per-sample weight, 1 without), in `f32`, and divides by the bag length in mean mode.

use ndarray::{ArrayD, IxDyn};
use qtensor::{QDType, QParams, QTensor};

use super::QOpError;

/// Embedding rows packed for lookups: quint8 values plus a float scale and bias per row.
#[derive(Debug, Clone, PartialEq)]
pub struct PackedEmbedding {
    weight: QTensor,
    rows: usize,
    dim: usize,
    values: Vec<u8>,
    scales: Vec<f32>,
    biases: Vec<f32>,
}

impl PackedEmbedding {
    /// The quantized weight as given to the prepack (`embedding_bag_unpack`).
    pub fn weight(&self) -> &QTensor {
        &self.weight
    }

    /// Number of rows (`num_embeddings`).
    pub fn num_embeddings(&self) -> usize {
        self.rows
    }

    /// Row length (`embedding_dim`).
    pub fn embedding_dim(&self) -> usize {
        self.dim
    }
}

/// `quantized::embedding_bag_prepack`: packs a 2-d quint8 weight quantized per row (axis 0) with
/// float scales and zero points.
pub fn embedding_bag_prepack(weight: &QTensor) -> Result<PackedEmbedding, QOpError> {
    const OP: &str = "embedding_bag_prepack";
    if weight.ndim() != 2 {
        return Err(QOpError::Shape {
            op: OP,
            msg: format!("weight must be 2-d, got {:?}", weight.shape()),
        });
    }
    if weight.dtype() != QDType::QUInt8 {
        return Err(QOpError::DType {
            op: OP,
            arg: "weight",
            got: weight.dtype(),
            expected: "quint8",
        });
    }
    let (scales, zero_points) = match weight.qparams() {
        QParams::PerChannelFloat {
            scales,
            zero_points,
            axis: 0,
        } => (scales.clone(), zero_points),
        other => {
            return Err(QOpError::Shape {
                op: OP,
                msg: format!(
                    "weight must be quantized per row (axis 0) with float qparams \
                     (per_channel_affine_float_qparams), got {:?}",
                    other.qscheme()
                ),
            })
        }
    };
    let biases = zero_points
        .iter()
        .zip(&scales)
        .map(|(&z, &s)| -(z * s))
        .collect();
    let values: Vec<u8> = weight
        .as_u8()
        .expect("quint8 checked")
        .iter()
        .copied()
        .collect();
    Ok(PackedEmbedding {
        weight: weight.clone(),
        rows: weight.shape()[0],
        dim: weight.shape()[1],
        values,
        scales,
        biases,
    })
}

/// How a bag's rows are combined (`mode` of `EmbeddingBag`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BagMode {
    /// Sum of the rows (PyTorch's quantized module always uses this).
    Sum,
    /// Mean of the rows (sum times `1 / length`).
    Mean,
}

/// The bags of an `embedding_bag` call.
#[derive(Debug, Clone, Copy)]
pub struct Bags<'a> {
    /// Row indices of every bag, concatenated.
    pub indices: &'a [i64],
    /// Start of each bag in `indices` (non-decreasing, first 0).
    pub offsets: &'a [i64],
    /// `offsets` ends with `indices.len()` (PyTorch's `include_last_offset`).
    pub include_last_offset: bool,
    /// One weight per index (`per_sample_weights`), sum mode only.
    pub per_sample_weights: Option<&'a [f32]>,
    /// Sum or mean.
    pub mode: BagMode,
}

fn bounds_err(msg: String) -> QOpError {
    QOpError::Shape {
        op: "embedding_bag_byte",
        msg,
    }
}

/// `quantized::embedding_bag_byte`: one output row per bag, `(bags, embedding_dim)`.
pub fn embedding_bag_byte(w: &PackedEmbedding, bags: &Bags<'_>) -> Result<ArrayD<f32>, QOpError> {
    let n = bags.indices.len();
    if let Some(psw) = bags.per_sample_weights {
        if psw.len() != n {
            return Err(bounds_err(format!(
                "per_sample_weights has {} values for {n} indices",
                psw.len()
            )));
        }
        if bags.mode != BagMode::Sum {
            return Err(bounds_err(
                "per_sample_weights are only supported in sum mode".into(),
            ));
        }
    }
    let mut ends: Vec<usize> = Vec::with_capacity(bags.offsets.len() + 1);
    for &o in bags.offsets {
        let o = usize::try_from(o)
            .ok()
            .filter(|&o| o <= n)
            .ok_or_else(|| bounds_err(format!("offset {o} outside 0..={n}")))?;
        if ends.last().is_some_and(|&prev| o < prev) {
            return Err(bounds_err("offsets must be non-decreasing".into()));
        }
        ends.push(o);
    }
    if ends.first().is_some_and(|&f| f != 0) {
        return Err(bounds_err("the first offset must be 0".into()));
    }
    if !bags.include_last_offset {
        ends.push(n);
    }
    let num_bags = ends.len().saturating_sub(1);
    let dim = w.dim;
    let mut out = vec![0f32; num_bags * dim];
    for b in 0..num_bags {
        let (start, end) = (ends[b], ends[b + 1]);
        let acc = &mut out[b * dim..(b + 1) * dim];
        for k in start..end {
            let idx = bags.indices[k];
            let row = usize::try_from(idx)
                .ok()
                .filter(|&r| r < w.rows)
                .ok_or_else(|| bounds_err(format!("index {idx} out of range 0..{}", w.rows)))?;
            let weight = bags.per_sample_weights.map_or(1.0, |p| p[k]);
            let scale = weight * w.scales[row];
            let bias = weight * w.biases[row];
            let q = &w.values[row * dim..(row + 1) * dim];
            for (o, &v) in acc.iter_mut().zip(q) {
                *o = scale.mul_add(f32::from(v), *o + bias);
            }
        }
        if bags.mode == BagMode::Mean && end > start {
            let inv = 1.0 / (end - start) as f32;
            acc.iter_mut().for_each(|o| *o *= inv);
        }
    }
    ArrayD::from_shape_vec(IxDyn(&[num_bags, dim]), out).map_err(|e| bounds_err(e.to_string()))
}

/// `quantized::embedding_byte`: the dequantized rows of `indices`, shape
/// `indices_shape + [embedding_dim]`.
pub fn embedding_byte(
    w: &PackedEmbedding,
    indices: &[i64],
    indices_shape: &[usize],
) -> Result<ArrayD<f32>, QOpError> {
    if indices_shape.iter().product::<usize>() != indices.len() {
        return Err(bounds_err(format!(
            "{} indices do not fill shape {indices_shape:?}",
            indices.len()
        )));
    }
    let offsets: Vec<i64> = (0..indices.len() as i64).collect();
    let out = embedding_bag_byte(
        w,
        &Bags {
            indices,
            offsets: &offsets,
            include_last_offset: false,
            per_sample_weights: None,
            mode: BagMode::Sum,
        },
    )?;
    let mut shape = indices_shape.to_vec();
    shape.push(w.dim);
    out.into_shape_with_order(IxDyn(&shape))
        .map_err(|e| bounds_err(e.to_string()))
}
