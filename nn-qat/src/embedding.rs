//! `torch.ao.nn.qat.Embedding`, `EmbeddingBag`.
//!
//! PyTorch requires their weight fake-quant to use `per_channel_affine_float_qparams`; the
//! module here takes any fake-quant module and leaves that check to whoever builds it from a
//! qconfig (`quantization`'s QAT mapping does it).

use nn::functional::{self as F, BagMode};
use nn::{Child, Module, NnError, Result, Tensor, Value};

use crate::weight::{self, fresh_parameter};

fn dims(w: &Tensor) -> (usize, usize) {
    let s = w.shape();
    (
        s.first().copied().unwrap_or(0),
        s.get(1).copied().unwrap_or(0),
    )
}

/// A lookup table whose weight passes through its `weight_fake_quant` child on every forward
/// (`nnqat.Embedding`). `forward` takes the indices as a float tensor of integral values.
pub struct Embedding {
    /// `(num_embeddings, embedding_dim)`.
    pub weight: Tensor,
    /// A row that gets no gradient.
    pub padding_idx: Option<usize>,
    weight_fake_quant: Child,
    training: bool,
}

impl Embedding {
    /// `from_float`: the QAT form of `float`, sharing its weight, in training mode.
    /// Errors if the weight is not 2-D or the padding index is out of range.
    pub fn from_float(
        float: &nn::Embedding,
        weight_fake_quant: Box<dyn Module>,
    ) -> Result<Embedding> {
        let s = float.weight.shape();
        if s.len() != 2 || float.padding_idx.is_some_and(|p| p >= s[0]) {
            return Err(NnError::bad_arg(
                "Embedding",
                format!(
                    "weight must be 2-D with padding_idx inside it, got {s:?} and {:?}",
                    float.padding_idx
                ),
            ));
        }
        Ok(Embedding {
            weight: float.weight.clone(),
            padding_idx: float.padding_idx,
            weight_fake_quant: weight::slot(weight_fake_quant),
            training: true,
        })
    }

    /// `to_float`: a float `nn::Embedding` with a copy of the weight, in this module's mode.
    pub fn to_float(&self) -> Result<nn::Embedding> {
        let (n, d) = dims(&self.weight);
        let mut e = nn::Embedding::new(n, d, self.padding_idx)?;
        e.weight = fresh_parameter(&self.weight);
        e.set_training_flag(self.training);
        Ok(e)
    }

    /// The weight's fake-quant module.
    pub fn weight_fake_quant(&self) -> &dyn Module {
        self.weight_fake_quant.module()
    }

    /// The weight's fake-quant module, mutably.
    pub fn weight_fake_quant_mut(&mut self) -> &mut dyn Module {
        self.weight_fake_quant.module_mut()
    }

    /// The weight after its fake quant (runs the fake-quant module once).
    pub fn fake_quantized_weight(&mut self) -> Result<Tensor> {
        weight::apply(&mut self.weight_fake_quant, "Embedding", &self.weight)
    }

    /// The rows for `indices` laid out in `shape` from the fake-quantized weight, giving
    /// `(*shape, dim)`.
    pub fn lookup(&mut self, indices: &[usize], shape: &[usize]) -> Result<Tensor> {
        let n = dims(&self.weight).0;
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            return Err(NnError::bad_arg(
                "Embedding",
                format!("index {bad} is out of range for {n} embeddings"),
            ));
        }
        let w = weight::apply(&mut self.weight_fake_quant, "Embedding", &self.weight)?;
        F::embedding(indices, shape, &w, self.padding_idx)
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

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![weight::child_ref(&self.weight_fake_quant)]
    }

    fn child_slots_mut(&mut self) -> Vec<(String, &mut Box<dyn Module>)> {
        vec![weight::child_slot(&mut self.weight_fake_quant)]
    }

    fn extra_repr(&self) -> String {
        let (n, d) = dims(&self.weight);
        let mut r = format!("{n}, {d}");
        if let Some(p) = self.padding_idx {
            r += &format!(", padding_idx={p}");
        }
        r
    }

    fn is_training(&self) -> bool {
        self.training
    }

    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }
}

/// Bags of embeddings (sum, mean or max) from a weight that passes through its
/// `weight_fake_quant` child on every forward (`nnqat.EmbeddingBag`). `forward` takes a float
/// tensor `(B, L)` of integral indices or a tuple `(indices (n), offsets (B))`.
pub struct EmbeddingBag {
    /// `(num_embeddings, embedding_dim)`.
    pub weight: Tensor,
    /// The reduction.
    pub mode: BagMode,
    weight_fake_quant: Child,
    training: bool,
}

impl EmbeddingBag {
    /// `from_float`: the QAT form of `float`, sharing its weight, in training mode.
    /// Errors if the weight is not 2-D.
    pub fn from_float(
        float: &nn::EmbeddingBag,
        weight_fake_quant: Box<dyn Module>,
    ) -> Result<EmbeddingBag> {
        let s = float.weight.shape();
        if s.len() != 2 {
            return Err(NnError::bad_arg(
                "EmbeddingBag",
                format!("weight must be 2-D, got {s:?}"),
            ));
        }
        Ok(EmbeddingBag {
            weight: float.weight.clone(),
            mode: float.mode,
            weight_fake_quant: weight::slot(weight_fake_quant),
            training: true,
        })
    }

    /// `to_float`: a float `nn::EmbeddingBag` with a copy of the weight, in this module's mode.
    pub fn to_float(&self) -> Result<nn::EmbeddingBag> {
        let (n, d) = dims(&self.weight);
        let mut e = nn::EmbeddingBag::new(n, d, self.mode);
        e.weight = fresh_parameter(&self.weight);
        e.set_training_flag(self.training);
        Ok(e)
    }

    /// The weight's fake-quant module.
    pub fn weight_fake_quant(&self) -> &dyn Module {
        self.weight_fake_quant.module()
    }

    /// The weight's fake-quant module, mutably.
    pub fn weight_fake_quant_mut(&mut self) -> &mut dyn Module {
        self.weight_fake_quant.module_mut()
    }

    /// The weight after its fake quant (runs the fake-quant module once).
    pub fn fake_quantized_weight(&mut self) -> Result<Tensor> {
        weight::apply(&mut self.weight_fake_quant, "EmbeddingBag", &self.weight)
    }

    /// The bags `indices[offsets[b]..offsets[b + 1]]` of the fake-quantized weight, optionally
    /// weighted per index (sum mode).
    pub fn bags(
        &mut self,
        indices: &[usize],
        offsets: &[usize],
        per_sample_weights: Option<&[f32]>,
    ) -> Result<Tensor> {
        let n = dims(&self.weight).0;
        if let Some(&bad) = indices.iter().find(|&&i| i >= n) {
            return Err(NnError::bad_arg(
                "EmbeddingBag",
                format!("index {bad} is out of range for {n} embeddings"),
            ));
        }
        let w = weight::apply(&mut self.weight_fake_quant, "EmbeddingBag", &self.weight)?;
        F::embedding_bag(indices, offsets, &w, self.mode, per_sample_weights)
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

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![weight::child_ref(&self.weight_fake_quant)]
    }

    fn child_slots_mut(&mut self) -> Vec<(String, &mut Box<dyn Module>)> {
        vec![weight::child_slot(&mut self.weight_fake_quant)]
    }

    fn extra_repr(&self) -> String {
        let (n, d) = dims(&self.weight);
        let mode = match self.mode {
            BagMode::Sum => "sum",
            BagMode::Mean => "mean",
            BagMode::Max => "max",
        };
        format!("{n}, {d}, mode='{mode}'")
    }

    fn is_training(&self) -> bool {
        self.training
    }

    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }
}
