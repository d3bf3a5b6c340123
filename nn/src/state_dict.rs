//! `state_dict` / `load_state_dict` with PyTorch's names, and safetensors files.

use std::collections::HashSet;

use ndarray::{ArrayD, IxDyn};
use safetensors::{tensor::TensorView, Dtype, SafeTensors};

use crate::error::{NnError, Result};
use crate::module::{join, Buffer, Module};
use crate::tensor::Tensor;

/// One entry of a state dict: a float or an `int64` tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum StateTensor {
    /// float32 values (parameters, float buffers).
    F32(ArrayD<f32>),
    /// int64 values (`num_batches_tracked`).
    I64(ArrayD<i64>),
}

impl StateTensor {
    /// The shape.
    pub fn shape(&self) -> &[usize] {
        match self {
            StateTensor::F32(a) => a.shape(),
            StateTensor::I64(a) => a.shape(),
        }
    }

    /// `"float32"` or `"int64"`.
    pub fn dtype_name(&self) -> &'static str {
        match self {
            StateTensor::F32(_) => "float32",
            StateTensor::I64(_) => "int64",
        }
    }

    /// The values as float32 (int64 values converted, as `copy_` does).
    pub fn to_f32(&self) -> ArrayD<f32> {
        match self {
            StateTensor::F32(a) => a.clone(),
            StateTensor::I64(a) => a.mapv(|v| v as f32),
        }
    }

    /// The values as int64 (floats truncated toward zero, as `copy_` does).
    pub fn to_i64(&self) -> ArrayD<i64> {
        match self {
            StateTensor::F32(a) => a.mapv(|v| v as i64),
            StateTensor::I64(a) => a.clone(),
        }
    }
}

/// An ordered map from dotted names to tensors (`model.state_dict()`), in PyTorch's order:
/// each module's parameters, then its buffers, then its children's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateDict {
    entries: Vec<(String, StateTensor)>,
}

impl StateDict {
    /// An empty state dict.
    pub fn new() -> StateDict {
        StateDict::default()
    }

    /// Inserts or replaces `key`, keeping the position of a replaced key.
    pub fn insert(&mut self, key: impl Into<String>, value: StateTensor) {
        let key = key.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// The entry for `key`.
    pub fn get(&self, key: &str) -> Option<&StateTensor> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Removes and returns the entry for `key`.
    pub fn remove(&mut self, key: &str) -> Option<StateTensor> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(i).1)
    }

    /// The keys, in order.
    pub fn keys(&self) -> Vec<&str> {
        self.entries.iter().map(|(k, _)| k.as_str()).collect()
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &StateTensor)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True without entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries whose key starts with `prefix.`, with the prefix removed (a submodule's part).
    pub fn sub(&self, prefix: &str) -> StateDict {
        let p = format!("{prefix}.");
        StateDict {
            entries: self
                .entries
                .iter()
                .filter_map(|(k, v)| k.strip_prefix(&p).map(|r| (r.to_string(), v.clone())))
                .collect(),
        }
    }

    /// Serializes to safetensors bytes (float32 and int64 tensors).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let bytes: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = self
            .entries
            .iter()
            .map(|(k, v)| match v {
                StateTensor::F32(a) => (
                    k.clone(),
                    Dtype::F32,
                    a.shape().to_vec(),
                    a.iter().flat_map(|x| x.to_le_bytes()).collect(),
                ),
                StateTensor::I64(a) => (
                    k.clone(),
                    Dtype::I64,
                    a.shape().to_vec(),
                    a.iter().flat_map(|x| x.to_le_bytes()).collect(),
                ),
            })
            .collect();
        let views = bytes
            .iter()
            .map(|(k, dt, shape, data)| {
                TensorView::new(*dt, shape.clone(), data)
                    .map(|v| (k.as_str(), v))
                    .map_err(|e| NnError::Safetensors(e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        safetensors::serialize(views, None).map_err(|e| NnError::Safetensors(e.to_string()))
    }

    /// Reads safetensors bytes; float32/float64 become float32, int64/int32 become int64;
    /// other dtypes are an error naming the key.
    pub fn from_safetensors(bytes: &[u8]) -> Result<StateDict> {
        let st =
            SafeTensors::deserialize(bytes).map_err(|e| NnError::Safetensors(e.to_string()))?;
        let mut tensors = st.tensors();
        // The file stores keys sorted; keep that order (PyTorch's order is not recorded).
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        let mut sd = StateDict::new();
        for (name, view) in tensors {
            let shape = IxDyn(view.shape());
            let d = view.data();
            let value = match view.dtype() {
                Dtype::F32 => StateTensor::F32(
                    ArrayD::from_shape_vec(
                        shape,
                        d.chunks_exact(4)
                            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                            .collect(),
                    )
                    .map_err(|e| NnError::Safetensors(format!("{name}: {e}")))?,
                ),
                Dtype::F64 => StateTensor::F32(
                    ArrayD::from_shape_vec(
                        shape,
                        d.chunks_exact(8)
                            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32)
                            .collect(),
                    )
                    .map_err(|e| NnError::Safetensors(format!("{name}: {e}")))?,
                ),
                Dtype::I64 => StateTensor::I64(
                    ArrayD::from_shape_vec(
                        shape,
                        d.chunks_exact(8)
                            .map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes")))
                            .collect(),
                    )
                    .map_err(|e| NnError::Safetensors(format!("{name}: {e}")))?,
                ),
                Dtype::I32 => StateTensor::I64(
                    ArrayD::from_shape_vec(
                        shape,
                        d.chunks_exact(4)
                            .map(|c| i64::from(i32::from_le_bytes(c.try_into().expect("4 bytes"))))
                            .collect(),
                    )
                    .map_err(|e| NnError::Safetensors(format!("{name}: {e}")))?,
                ),
                other => {
                    return Err(NnError::Safetensors(format!(
                        "{name}: dtype {other:?} is not supported (use float32 or int64)"
                    )))
                }
            };
            sd.insert(name, value);
        }
        Ok(sd)
    }

    /// Writes a safetensors file.
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
        let bytes = self.to_safetensors()?;
        std::fs::write(path.as_ref(), bytes).map_err(|e| io_err(path.as_ref(), e))
    }

    /// Reads a safetensors file.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<StateDict> {
        let bytes = std::fs::read(path.as_ref()).map_err(|e| io_err(path.as_ref(), e))?;
        StateDict::from_safetensors(&bytes)
    }
}

fn io_err(path: &std::path::Path, e: std::io::Error) -> NnError {
    NnError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Keys a non-strict load skipped (`_IncompatibleKeys`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReport {
    /// Keys the model has and the state dict lacks.
    pub missing: Vec<String>,
    /// Keys the state dict has and the model lacks.
    pub unexpected: Vec<String>,
}

/// A handle to one entry of a model's state.
pub(crate) enum Slot {
    Param(Tensor),
    Buffer(Buffer),
}

impl Slot {
    fn shape(&self) -> Vec<usize> {
        match self {
            Slot::Param(t) => t.shape(),
            Slot::Buffer(b) => b.shape(),
        }
    }

    fn read(&self) -> StateTensor {
        match self {
            Slot::Param(t) | Slot::Buffer(Buffer::Float(t)) => StateTensor::F32(t.to_array()),
            Slot::Buffer(Buffer::Int(i)) => StateTensor::I64(i.get()),
        }
    }

    fn write(&self, v: &StateTensor) {
        match self {
            Slot::Param(t) | Slot::Buffer(Buffer::Float(t)) => t.replace_data(v.to_f32()),
            Slot::Buffer(Buffer::Int(i)) => i.set(v.to_i64()),
        }
    }
}

/// Every state entry of the tree, in PyTorch's order.
pub(crate) fn slots(m: &dyn Module) -> Vec<(String, Slot)> {
    let mut out = Vec::new();
    for (path, sub) in m.named_modules() {
        for (name, t) in sub.local_parameters() {
            out.push((join(&path, &name), Slot::Param(t)));
        }
        for (name, b) in sub.local_buffers() {
            out.push((join(&path, &name), Slot::Buffer(b)));
        }
    }
    out
}

/// `model.state_dict()`.
pub(crate) fn state_dict(m: &dyn Module) -> StateDict {
    let mut sd = StateDict::new();
    for (k, s) in slots(m) {
        sd.insert(k, s.read());
    }
    sd
}

/// `model.load_state_dict(sd, strict)`: all problems reported at once, nothing changed on error.
pub(crate) fn load_state_dict(m: &dyn Module, sd: &StateDict, strict: bool) -> Result<LoadReport> {
    let slots = slots(m);
    let ours: HashSet<&str> = slots.iter().map(|(k, _)| k.as_str()).collect();
    let missing: Vec<String> = slots
        .iter()
        .filter(|(k, _)| sd.get(k).is_none())
        .map(|(k, _)| k.clone())
        .collect();
    let unexpected: Vec<String> = sd
        .keys()
        .into_iter()
        .filter(|k| !ours.contains(k))
        .map(str::to_string)
        .collect();
    let mismatched: Vec<(String, String, String)> = slots
        .iter()
        .filter_map(|(k, s)| {
            let v = sd.get(k)?;
            let ours = s.shape();
            (ours.as_slice() != v.shape())
                .then(|| (k.clone(), format!("{ours:?}"), format!("{:?}", v.shape())))
        })
        .collect();
    if !mismatched.is_empty() || (strict && (!missing.is_empty() || !unexpected.is_empty())) {
        return Err(NnError::StateDict {
            missing: if strict { missing } else { Vec::new() },
            unexpected: if strict { unexpected } else { Vec::new() },
            mismatched,
        });
    }
    for (k, s) in &slots {
        if let Some(v) = sd.get(k) {
            s.write(v);
        }
    }
    Ok(LoadReport {
        missing,
        unexpected,
    })
}
