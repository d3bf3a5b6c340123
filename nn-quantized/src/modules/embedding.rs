//! `torch.ao.nn.quantized.Embedding` / `EmbeddingBag` with 8-bit row-wise weights.
//!
//! [`nn::Value`] carries float and quantized tensors only, so indices are passed as a float
//! tensor holding integers (each must be an exact non-negative integer); outputs are float.

use nn::{Module, NnError, Result, Tensor, Value};
use qtensor::QTensor;

use super::util::op_err;
use crate::functional::{self as F, BagMode, Bags, PackedEmbedding, QOpError};
use crate::state::{
    check_local_state, commit_replacement, rejected, QStateTensor, QuantizedState,
    QuantizedStateDict, StagedState, StateError,
};

/// The `weight` entry of an embedding, and the table packed from a saved one.
fn weight_state(p: &PackedEmbedding) -> Vec<(String, QStateTensor)> {
    vec![("weight".into(), QStateTensor::Quantized(p.weight().clone()))]
}

fn repack(state: &QuantizedStateDict) -> Result<PackedEmbedding, StateError> {
    F::embedding_bag_prepack(state.quantized("weight")?).map_err(rejected("weight"))
}

/// The integer values of an index tensor given as floats.
fn indices(module: &'static str, t: &Tensor) -> Result<(Vec<i64>, Vec<usize>)> {
    let data = t.data();
    let mut out = Vec::with_capacity(data.len());
    for &v in data.iter() {
        if v.fract() != 0.0 || v < 0.0 || !v.is_finite() {
            return Err(NnError::bad_arg(
                module,
                format!("indices must be non-negative integers, got {v}"),
            ));
        }
        out.push(v as i64);
    }
    Ok((out, t.shape()))
}

fn repr(p: &PackedEmbedding) -> String {
    format!(
        "num_embeddings={}, embedding_dim={}, dtype=torch.quint8, qscheme=torch.{}",
        p.num_embeddings(),
        p.embedding_dim(),
        p.weight().qscheme().name()
    )
}

/// Row lookups in an 8-bit row-wise quantized table (`QuantizedEmbedding`): indices of any
/// shape in, float `indices.shape + [embedding_dim]` out.
#[derive(Debug, Clone)]
pub struct Embedding {
    packed: PackedEmbedding,
    training: bool,
}

impl Embedding {
    /// An embedding from a quint8 weight quantized per row with float qparams.
    pub fn new(weight: &QTensor) -> Result<Embedding, QOpError> {
        Ok(Embedding {
            packed: F::embedding_bag_prepack(weight)?,
            training: true,
        })
    }

    /// The quantized weight.
    pub fn weight(&self) -> &QTensor {
        self.packed.weight()
    }
}

impl Module for Embedding {
    fn type_name(&self) -> &'static str {
        "QuantizedEmbedding"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        const N: &str = "QuantizedEmbedding";
        let t = input.into_float_with_fix(N, "pass the indices as a float tensor of integers")?;
        let (idx, shape) = indices(N, &t)?;
        let y = F::embedding_byte(&self.packed, &idx, &shape).map_err(op_err(N))?;
        Ok(Value::Float(Tensor::new(y)))
    }
    fn extra_repr(&self) -> String {
        repr(&self.packed)
    }
    fn is_training(&self) -> bool {
        self.training
    }
    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }
}

/// Sums of rows of an 8-bit row-wise quantized table (`QuantizedEmbeddingBag`). Input: a 2-d
/// `(bags, length)` index tensor (fixed-length bags), or a tuple `(indices, offsets)` /
/// `(indices, offsets, per_sample_weights)` with 1-d tensors. Output: float
/// `(bags, embedding_dim)`.
///
/// As PyTorch's module, the quantized op is always called in sum mode whatever `mode` the float
/// module had; [`EmbeddingBag::with_mode`] exists for callers who want the mean.
#[derive(Debug, Clone)]
pub struct EmbeddingBag {
    packed: PackedEmbedding,
    include_last_offset: bool,
    mode: BagMode,
    training: bool,
}

impl EmbeddingBag {
    /// A bag embedding from a quint8 weight quantized per row with float qparams.
    pub fn new(weight: &QTensor, include_last_offset: bool) -> Result<EmbeddingBag, QOpError> {
        Ok(EmbeddingBag {
            packed: F::embedding_bag_prepack(weight)?,
            include_last_offset,
            mode: BagMode::Sum,
            training: true,
        })
    }

    /// The same module combining rows with `mode`.
    pub fn with_mode(mut self, mode: BagMode) -> EmbeddingBag {
        self.mode = mode;
        self
    }

    /// The quantized weight.
    pub fn weight(&self) -> &QTensor {
        self.packed.weight()
    }
}

impl Module for EmbeddingBag {
    fn type_name(&self) -> &'static str {
        "QuantizedEmbeddingBag"
    }
    fn forward(&mut self, input: Value) -> Result<Value> {
        const N: &str = "QuantizedEmbeddingBag";
        let fix = "pass the indices as a float tensor of integers";
        let (idx, offsets, weights, last) = match input {
            Value::Tuple(parts) if (2..=3).contains(&parts.len()) => {
                let mut it = parts.into_iter();
                let (i, _) = indices(
                    N,
                    &it.next()
                        .expect("len checked")
                        .into_float_with_fix(N, fix)?,
                )?;
                let (o, _) = indices(
                    N,
                    &it.next()
                        .expect("len checked")
                        .into_float_with_fix(N, fix)?,
                )?;
                let w = match it.next() {
                    Some(w) => Some(w.into_float_with_fix(N, fix)?.to_vec()),
                    None => None,
                };
                (i, o, w, self.include_last_offset)
            }
            Value::Tuple(parts) => {
                return Err(NnError::bad_arg(
                    N,
                    format!(
                        "expected (indices, offsets[, per_sample_weights]), got {} values",
                        parts.len()
                    ),
                ))
            }
            other => {
                let t = other.into_float_with_fix(N, fix)?;
                let (i, shape) = indices(N, &t)?;
                if shape.len() != 2 {
                    return Err(NnError::input_shape(
                        N,
                        "(bags, length) without offsets",
                        &shape,
                    ));
                }
                let o = (0..shape[0]).map(|b| (b * shape[1]) as i64).collect();
                (i, o, None, false)
            }
        };
        let bags = Bags {
            indices: &idx,
            offsets: &offsets,
            include_last_offset: last,
            per_sample_weights: weights.as_deref(),
            mode: self.mode,
        };
        let y = F::embedding_bag_byte(&self.packed, &bags).map_err(op_err(N))?;
        Ok(Value::Float(Tensor::new(y)))
    }
    fn extra_repr(&self) -> String {
        repr(&self.packed)
    }
    fn is_training(&self) -> bool {
        self.training
    }
    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }
}

/// `weight` (quint8, per row with float qparams).
impl QuantizedState for Embedding {
    fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
        weight_state(&self.packed)
    }

    fn stage_quantized_state(&self, state: &QuantizedStateDict) -> Result<StagedState, StateError> {
        check_local_state(self, state)?;
        Ok(StagedState::new(Embedding {
            packed: repack(state)?,
            training: self.training,
        }))
    }

    commit_replacement!("QuantizedEmbedding");
}

/// `weight` (quint8, per row with float qparams); offsets handling and mode are kept.
impl QuantizedState for EmbeddingBag {
    fn quantized_state(&self) -> Vec<(String, QStateTensor)> {
        weight_state(&self.packed)
    }

    fn stage_quantized_state(&self, state: &QuantizedStateDict) -> Result<StagedState, StateError> {
        check_local_state(self, state)?;
        Ok(StagedState::new(EmbeddingBag {
            packed: repack(state)?,
            ..self.clone()
        }))
    }

    commit_replacement!("QuantizedEmbeddingBag");
}
