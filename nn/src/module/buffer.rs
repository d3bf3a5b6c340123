//! Buffers: module state that is saved in the state dict but is not trained (running stats,
//! counters, observer min/max).

use std::sync::{Arc, Mutex};

use ndarray::{ArrayD, IxDyn};

use crate::tensor::Tensor;

/// A shared handle to an `int64` tensor (`num_batches_tracked`, observer counters).
#[derive(Debug, Clone)]
pub struct IntTensor {
    inner: Arc<Mutex<ArrayD<i64>>>,
}

impl IntTensor {
    /// A handle holding `data`.
    pub fn new(data: ArrayD<i64>) -> IntTensor {
        IntTensor {
            inner: Arc::new(Mutex::new(data.as_standard_layout().into_owned())),
        }
    }

    /// A 0-dimensional tensor holding `v`.
    pub fn scalar(v: i64) -> IntTensor {
        IntTensor::new(ArrayD::from_elem(IxDyn(&[]), v))
    }

    /// A copy of the values.
    pub fn get(&self) -> ArrayD<i64> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the values.
    pub fn set(&self, data: ArrayD<i64>) {
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = data;
    }

    /// The first value (the value of a scalar).
    pub fn value(&self) -> i64 {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .copied()
            .next()
            .unwrap_or(0)
    }

    /// Adds `v` to every element.
    pub fn add_assign(&self, v: i64) {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .mapv_inplace(|x| x + v);
    }

    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .shape()
            .to_vec()
    }
}

/// A named buffer of a module: a float tensor or an `int64` tensor, both shared handles.
#[derive(Debug, Clone)]
pub enum Buffer {
    /// A float buffer (`running_mean`, `min_val`, ...).
    Float(Tensor),
    /// An integer buffer (`num_batches_tracked`).
    Int(IntTensor),
}

impl Buffer {
    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        match self {
            Buffer::Float(t) => t.shape(),
            Buffer::Int(t) => t.shape(),
        }
    }

    /// The float tensor, if this is a float buffer.
    pub fn as_float(&self) -> Option<&Tensor> {
        match self {
            Buffer::Float(t) => Some(t),
            Buffer::Int(_) => None,
        }
    }

    /// The integer tensor, if this is an integer buffer.
    pub fn as_int(&self) -> Option<&IntTensor> {
        match self {
            Buffer::Int(t) => Some(t),
            Buffer::Float(_) => None,
        }
    }

    pub(crate) fn snapshot(&self) -> BufferSnapshot {
        match self {
            Buffer::Float(t) => BufferSnapshot::Float(t.clone(), t.data()),
            Buffer::Int(t) => BufferSnapshot::Int(t.clone(), t.get()),
        }
    }
}

/// A buffer's value at one point in time, restorable.
pub(crate) enum BufferSnapshot {
    Float(Tensor, Arc<ArrayD<f32>>),
    Int(IntTensor, ArrayD<i64>),
}

impl BufferSnapshot {
    pub(crate) fn restore(self) {
        match self {
            BufferSnapshot::Float(t, d) => t.restore_data(d),
            BufferSnapshot::Int(t, d) => t.set(d),
        }
    }
}
