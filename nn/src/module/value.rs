//! [`Value`]: what flows through `forward` — a float tensor, a quantized tensor or a tuple.

use ndarray::ArrayD;
use qtensor::QTensor;

use crate::error::{NnError, Result, FIX_DEQUANT, FIX_QUANT};
use crate::tensor::Tensor;

/// A value passed to and returned by [`crate::Module::forward`].
#[derive(Debug, Clone)]
pub enum Value {
    /// A float tensor (with autograd).
    Float(Tensor),
    /// A quantized tensor.
    Quant(QTensor),
    /// Several values (RNN outputs: `(output, (h_n, c_n))`).
    Tuple(Vec<Value>),
}

impl Value {
    /// What kind of value this is, for messages (`"a float tensor"`).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Float(_) => "a float tensor",
            Value::Quant(_) => "a quantized tensor",
            Value::Tuple(_) => "a tuple",
        }
    }

    /// The shape of a tensor value (`None` for a tuple).
    pub fn shape(&self) -> Option<Vec<usize>> {
        match self {
            Value::Float(t) => Some(t.shape()),
            Value::Quant(q) => Some(q.shape().to_vec()),
            Value::Tuple(_) => None,
        }
    }

    /// The float tensor inside, or the typed error for `module` (a quantized tensor reaching a
    /// float module names the fix: insert a DeQuantStub before it).
    pub fn into_float(self, module: &str) -> Result<Tensor> {
        self.into_float_with_fix(module, FIX_DEQUANT)
    }

    /// Like [`Value::into_float`] with a caller-chosen fix in the error (e.g.
    /// [`crate::FIX_FUNCTIONAL`] for arithmetic written in a user's forward).
    pub fn into_float_with_fix(self, module: &str, fix: &'static str) -> Result<Tensor> {
        match self {
            Value::Float(t) => Ok(t),
            Value::Quant(q) => Err(NnError::QuantizedInput {
                module: module.to_string(),
                dtype: q.dtype(),
                fix,
            }),
            Value::Tuple(_) => Err(NnError::WrongValue {
                module: module.to_string(),
                expected: "a tensor",
                got: "a tuple",
            }),
        }
    }

    /// The quantized tensor inside, or the typed error for `module` (a float tensor reaching a
    /// quantized module names the fix: insert a QuantStub before it).
    pub fn into_quant(self, module: &str) -> Result<QTensor> {
        match self {
            Value::Quant(q) => Ok(q),
            Value::Float(_) => Err(NnError::FloatInput {
                module: module.to_string(),
                fix: FIX_QUANT,
            }),
            Value::Tuple(_) => Err(NnError::WrongValue {
                module: module.to_string(),
                expected: "a tensor",
                got: "a tuple",
            }),
        }
    }

    /// The values of a tuple, or a typed error for `module`.
    pub fn into_tuple(self, module: &str) -> Result<Vec<Value>> {
        match self {
            Value::Tuple(v) => Ok(v),
            other => Err(NnError::WrongValue {
                module: module.to_string(),
                expected: "a tuple",
                got: other.kind(),
            }),
        }
    }

    /// The float tensor, if this is one.
    pub fn as_float(&self) -> Option<&Tensor> {
        match self {
            Value::Float(t) => Some(t),
            _ => None,
        }
    }

    /// The quantized tensor, if this is one.
    pub fn as_quant(&self) -> Option<&QTensor> {
        match self {
            Value::Quant(q) => Some(q),
            _ => None,
        }
    }

    /// `torch.flatten(x, start_dim)` for float and quantized tensors alike.
    pub fn flatten(self, start_dim: isize) -> Result<Value> {
        match self {
            Value::Float(t) => Ok(Value::Float(t.flatten(start_dim, -1)?)),
            Value::Quant(q) => {
                let d = crate::tensor::resolve_dim("flatten", start_dim, q.ndim())?;
                Ok(Value::Quant(q.flatten(d, q.ndim().max(1) - 1)?))
            }
            Value::Tuple(_) => Err(NnError::WrongValue {
                module: "flatten".into(),
                expected: "a tensor",
                got: "a tuple",
            }),
        }
    }

    /// `x.reshape(shape)` for float and quantized tensors alike (one entry may be `-1`).
    pub fn reshape(self, shape: &[isize]) -> Result<Value> {
        match self {
            Value::Float(t) => Ok(Value::Float(t.reshape(shape)?)),
            Value::Quant(q) => {
                let to = crate::tensor::resolve_shape("reshape", shape, q.len(), q.shape())?;
                Ok(Value::Quant(q.reshape(&to)?))
            }
            Value::Tuple(_) => Err(NnError::WrongValue {
                module: "reshape".into(),
                expected: "a tensor",
                got: "a tuple",
            }),
        }
    }
}

impl From<Tensor> for Value {
    fn from(t: Tensor) -> Value {
        Value::Float(t)
    }
}

impl From<QTensor> for Value {
    fn from(q: QTensor) -> Value {
        Value::Quant(q)
    }
}

impl From<ArrayD<f32>> for Value {
    fn from(a: ArrayD<f32>) -> Value {
        Value::Float(Tensor::new(a))
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::Tuple(v)
    }
}
