//! `nn.Embedding`, `nn.EmbeddingBag`.

use crate::error::{NnError, Result};
use crate::functional::{self as F, BagMode};
use crate::layers::training_flag;
use crate::module::{Module, Value};
use crate::tensor::Tensor;

/// A lookup table of `num_embeddings` vectors of size `embedding_dim` (`nn.Embedding`);
/// parameter `weight`. `forward` takes the indices as a float tensor of integral values (the
/// value type has no integer tensors); [`Embedding::lookup`] takes them typed.
pub struct Embedding {
    /// `(num_embeddings, embedding_dim)`.
    pub weight: Tensor,
    /// A row that gets no gradient (and starts at zero).
    pub padding_idx: Option<usize>,
    training: bool,
}

impl Embedding {
    /// `Embedding(num, dim, padding_idx)` with weights from N(0, 1), the padding row zeroed.
    pub fn new(
        num_embeddings: usize,
        embedding_dim: usize,
        padding_idx: Option<usize>,
    ) -> Result<Embedding> {
        if padding_idx.is_some_and(|p| p >= num_embeddings) {
            return Err(NnError::bad_arg(
                "Embedding",
                "padding_idx must be within num_embeddings",
            ));
        }
        let mut w = Tensor::randn(&[num_embeddings, embedding_dim]).to_array();
        if let Some(p) = padding_idx {
            w.index_axis_mut(ndarray::Axis(0), p).fill(0.0);
        }
        Ok(Embedding {
            weight: Tensor::parameter(w),
            padding_idx,
            training: true,
        })
    }

    /// The rows for `indices` laid out in `shape`, giving `(*shape, dim)`.
    pub fn lookup(&self, indices: &[usize], shape: &[usize]) -> Result<Tensor> {
        F::embedding(indices, shape, &self.weight, self.padding_idx)
    }
}

impl Module for Embedding {
    fn type_name(&self) -> &'static str {
        "Embedding"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        let t = input.into_float("Embedding")?;
        let idx = F::embedding_indices("Embedding", &t)?;
        Ok(Value::Float(self.lookup(&idx, &t.shape())?))
    }
    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".into(), self.weight.clone())]
    }
    fn extra_repr(&self) -> String {
        let s = self.weight.shape();
        let dim = |i: usize| s.get(i).copied().unwrap_or(0);
        let mut r = format!("{}, {}", dim(0), dim(1));
        if let Some(p) = self.padding_idx {
            r += &format!(", padding_idx={p}");
        }
        r
    }
    training_flag!();
}

/// Sums, averages or takes the maximum of bags of embeddings (`nn.EmbeddingBag`); parameter
/// `weight`. `forward` takes a float tensor `(B, L)` of integral indices (B bags of L) or a
/// tuple `(indices (n), offsets (B))`; [`EmbeddingBag::bags`] takes them typed.
pub struct EmbeddingBag {
    /// `(num_embeddings, embedding_dim)`.
    pub weight: Tensor,
    /// The reduction.
    pub mode: BagMode,
    training: bool,
}

impl EmbeddingBag {
    /// `EmbeddingBag(num, dim, mode)` with weights from N(0, 1).
    pub fn new(num_embeddings: usize, embedding_dim: usize, mode: BagMode) -> EmbeddingBag {
        EmbeddingBag {
            weight: Tensor::parameter(Tensor::randn(&[num_embeddings, embedding_dim]).to_array()),
            mode,
            training: true,
        }
    }

    /// The bags `indices[offsets[b]..offsets[b + 1]]`, optionally weighted per index (sum mode).
    pub fn bags(
        &self,
        indices: &[usize],
        offsets: &[usize],
        per_sample_weights: Option<&[f32]>,
    ) -> Result<Tensor> {
        F::embedding_bag(
            indices,
            offsets,
            &self.weight,
            self.mode,
            per_sample_weights,
        )
    }
}

impl Module for EmbeddingBag {
    fn type_name(&self) -> &'static str {
        "EmbeddingBag"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        let (idx, offsets) = F::embedding_bag_inputs("EmbeddingBag", input)?;
        Ok(Value::Float(self.bags(&idx, &offsets, None)?))
    }
    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".into(), self.weight.clone())]
    }
    fn extra_repr(&self) -> String {
        let s = self.weight.shape();
        let dim = |i: usize| s.get(i).copied().unwrap_or(0);
        let mode = match self.mode {
            BagMode::Sum => "sum",
            BagMode::Mean => "mean",
            BagMode::Max => "max",
        };
        format!("{}, {}, mode='{mode}'", dim(0), dim(1))
    }
    training_flag!();
}
