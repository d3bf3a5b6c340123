//! Values while a graph runs ([`Rt`]) and the attributes a graph module owns ([`Attr`]).

use std::sync::Arc;

use nn::{NnError, Tensor, Value};
use nn_quantized::functional::PackedWeight;
use qtensor::{QDType, QTensor};

use super::graph::Arg;

/// An attribute of a graph module that `get_attr` nodes read.
#[derive(Debug, Clone)]
pub enum Attr {
    /// A float tensor: a parameter or buffer of the traced model, or a constant.
    Tensor(Tensor),
    /// A quantized tensor.
    QTensor(QTensor),
    /// A scale (`_scale_0`).
    Float(f64),
    /// A zero point (`_zero_point_0`).
    Int(i64),
    /// A packed weight (and bias) of a quantized functional linear or convolution.
    Packed(Arc<PackedWeight>),
}

impl Attr {
    /// What kind of attribute it is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Attr::Tensor(_) => "a tensor",
            Attr::QTensor(_) => "a quantized tensor",
            Attr::Float(_) => "a float",
            Attr::Int(_) => "an integer",
            Attr::Packed(_) => "a packed weight",
        }
    }
}

/// A value flowing between nodes while a graph runs.
#[derive(Debug, Clone)]
pub(crate) enum Rt {
    /// A tensor or tuple.
    V(Value),
    /// `None`.
    None,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A dtype.
    DType(QDType),
    /// A list or tuple of values.
    List(Vec<Rt>),
    /// A packed weight.
    Packed(Arc<PackedWeight>),
}

pub(crate) fn bad(op: &str, reason: impl Into<String>) -> NnError {
    NnError::bad_arg(op, reason)
}

impl Rt {
    pub(crate) fn from_attr(a: &Attr) -> Rt {
        match a {
            Attr::Tensor(t) => Rt::V(Value::Float(t.clone())),
            Attr::QTensor(q) => Rt::V(Value::Quant(q.clone())),
            Attr::Float(f) => Rt::Float(*f),
            Attr::Int(i) => Rt::Int(*i),
            Attr::Packed(p) => Rt::Packed(p.clone()),
        }
    }

    /// Resolves an argument against the values computed so far.
    pub(crate) fn resolve(a: &Arg, env: &dyn Fn(super::graph::NodeId) -> Option<Rt>) -> Rt {
        match a {
            Arg::Node(n) => env(*n).unwrap_or(Rt::None),
            Arg::None => Rt::None,
            Arg::Bool(b) => Rt::Bool(*b),
            Arg::Int(i) => Rt::Int(*i),
            Arg::Float(f) => Rt::Float(*f),
            Arg::Str(s) => Rt::Str(s.clone()),
            Arg::DType(d) => Rt::DType(*d),
            Arg::List(v) | Arg::Tuple(v) => {
                Rt::List(v.iter().map(|a| Rt::resolve(a, env)).collect())
            }
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Rt::V(v) => v.kind(),
            Rt::None => "None",
            Rt::Bool(_) => "a bool",
            Rt::Int(_) => "an int",
            Rt::Float(_) => "a float",
            Rt::Str(_) => "a string",
            Rt::DType(_) => "a dtype",
            Rt::List(_) => "a list",
            Rt::Packed(_) => "a packed weight",
        }
    }

    pub(crate) fn value(&self, op: &str) -> nn::Result<Value> {
        match self {
            Rt::V(v) => Ok(v.clone()),
            Rt::List(items) => Ok(Value::Tuple(
                items
                    .iter()
                    .map(|i| i.value(op))
                    .collect::<nn::Result<_>>()?,
            )),
            other => Err(bad(op, format!("expected a tensor, got {}", other.kind()))),
        }
    }

    pub(crate) fn float_tensor(&self, op: &str) -> nn::Result<Tensor> {
        match self {
            Rt::V(v) => v.clone().into_float_with_fix(op, nn::FIX_DEQUANT),
            other => Err(bad(op, format!("expected a tensor, got {}", other.kind()))),
        }
    }

    pub(crate) fn qtensor(&self, op: &str) -> nn::Result<QTensor> {
        match self {
            Rt::V(v) => v.clone().into_quant(op),
            other => Err(bad(
                op,
                format!("expected a quantized tensor, got {}", other.kind()),
            )),
        }
    }

    pub(crate) fn is_tensor(&self) -> bool {
        matches!(self, Rt::V(Value::Float(_)) | Rt::V(Value::Quant(_)))
    }

    pub(crate) fn f64(&self, op: &str) -> nn::Result<f64> {
        match self {
            Rt::Float(f) => Ok(*f),
            Rt::Int(i) => Ok(*i as f64),
            Rt::V(Value::Float(t)) if t.len() == 1 => {
                Ok(f64::from(t.data().iter().copied().next().unwrap_or(0.0)))
            }
            other => Err(bad(op, format!("expected a number, got {}", other.kind()))),
        }
    }

    pub(crate) fn i64(&self, op: &str) -> nn::Result<i64> {
        match self {
            Rt::Int(i) => Ok(*i),
            Rt::Bool(b) => Ok(i64::from(*b)),
            other => Err(bad(
                op,
                format!("expected an integer, got {}", other.kind()),
            )),
        }
    }

    pub(crate) fn bool(&self, op: &str) -> nn::Result<bool> {
        match self {
            Rt::Bool(b) => Ok(*b),
            Rt::Int(i) => Ok(*i != 0),
            other => Err(bad(op, format!("expected a bool, got {}", other.kind()))),
        }
    }

    /// An int or a list of ints.
    pub(crate) fn ints(&self, op: &str) -> nn::Result<Vec<i64>> {
        match self {
            Rt::Int(i) => Ok(vec![*i]),
            Rt::List(v) => v.iter().map(|x| x.i64(op)).collect(),
            other => Err(bad(op, format!("expected integers, got {}", other.kind()))),
        }
    }

    /// `n` sizes from an int (repeated) or a list of `n` ints; negative sizes are errors.
    pub(crate) fn sizes<const N: usize>(&self, op: &str) -> nn::Result<[usize; N]> {
        let v = self.ints(op)?;
        let v: Vec<i64> = if v.len() == 1 { vec![v[0]; N] } else { v };
        if v.len() != N || v.iter().any(|&x| x < 0) {
            return Err(bad(
                op,
                format!("expected {N} non-negative sizes, got {v:?}"),
            ));
        }
        let mut out = [0usize; N];
        for (o, x) in out.iter_mut().zip(v) {
            *o = x as usize;
        }
        Ok(out)
    }

    pub(crate) fn list(&self, op: &str) -> nn::Result<&[Rt]> {
        match self {
            Rt::List(v) => Ok(v),
            other => Err(bad(op, format!("expected a list, got {}", other.kind()))),
        }
    }

    pub(crate) fn packed(&self, op: &str) -> nn::Result<Arc<PackedWeight>> {
        match self {
            Rt::Packed(p) => Ok(p.clone()),
            other => Err(bad(
                op,
                format!("expected a packed weight, got {}", other.kind()),
            )),
        }
    }

    pub(crate) fn dtype(&self, op: &str) -> nn::Result<QDType> {
        match self {
            Rt::DType(d) => Ok(*d),
            other => Err(bad(op, format!("expected a dtype, got {}", other.kind()))),
        }
    }
}

/// Positional argument `i` or keyword `key` of a call, if given.
pub(crate) struct CallArgs<'a> {
    pub(crate) op: &'a str,
    pub(crate) args: Vec<Rt>,
    pub(crate) kwargs: Vec<(String, Rt)>,
}

impl CallArgs<'_> {
    pub(crate) fn opt(&self, i: usize, key: &str) -> Option<&Rt> {
        self.args
            .get(i)
            .or_else(|| self.kwargs.iter().find(|(k, _)| k == key).map(|(_, v)| v))
            .filter(|v| !matches!(v, Rt::None))
    }

    pub(crate) fn req(&self, i: usize, key: &str) -> nn::Result<&Rt> {
        self.opt(i, key)
            .ok_or_else(|| bad(self.op, format!("missing argument '{key}' (position {i})")))
    }
}
