//! Quantized inputs to the float modules that PyTorch lets take them unchanged (`ReLU`,
//! `MaxPool2d`, `AdaptiveAvgPool2d`, `Flatten`, `Dropout` in eval, ...): the exact integer
//! operations are done here; those whose rounding is the quantized engine's (average pools,
//! upsampling, non-linear activations) go to kernels a higher crate registers with
//! [`set_quant_ops`].

use std::sync::{Arc, RwLock};

use ndarray::ArrayD;
use qtensor::{QData, QParams, QTensor};

use crate::error::{NnError, Result};
use crate::functional::{self, Pool2dOptions};
use crate::tensor::{no_grad, Tensor};

/// A non-linear element-wise function applied to a quantized tensor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QuantUnary {
    /// `relu6`.
    ReLU6,
    /// `hardswish`.
    Hardswish,
    /// `hardsigmoid`.
    Hardsigmoid,
    /// `sigmoid`.
    Sigmoid,
    /// `tanh`.
    Tanh,
    /// `leaky_relu(negative_slope)`.
    LeakyReLU(f32),
    /// `elu(alpha)`.
    ELU(f32),
    /// `gelu`.
    GELU,
    /// `silu`.
    SiLU,
    /// `softmax(dim)`.
    Softmax(isize),
}

/// Quantized kernels that float modules call when given a quantized tensor; registered once by
/// the crate that owns the quantized engines. Every method has a default that reports the
/// kernel as missing.
pub trait QuantOps: Send + Sync {
    /// `adaptive_avg_pool2d` on a quantized `(N, C, H, W)` tensor, keeping its qparams.
    fn adaptive_avg_pool2d(&self, x: &QTensor, output_size: [usize; 2]) -> Result<QTensor> {
        let _ = (x, output_size);
        Err(missing("adaptive_avg_pool2d"))
    }
    /// `max_pool2d` on a quantized tensor, keeping its qparams; the default is the exact
    /// integer computation here, engines override it with their kernels.
    fn max_pool2d(&self, x: &QTensor, options: &Pool2dOptions) -> Result<QTensor> {
        quantized_max_pool2d(x, options)
    }
    /// `avg_pool2d` on a quantized tensor, keeping its qparams.
    fn avg_pool2d(&self, x: &QTensor, options: &Pool2dOptions) -> Result<QTensor> {
        let _ = (x, options);
        Err(missing("avg_pool2d"))
    }
    /// `upsample` (`"nearest"` or `"bilinear"`) to `size` on a quantized tensor.
    fn upsample(
        &self,
        x: &QTensor,
        size: [usize; 2],
        mode: &str,
        align_corners: bool,
    ) -> Result<QTensor> {
        let _ = (x, size, mode, align_corners);
        Err(missing("upsample"))
    }
    /// A non-linear activation on a quantized tensor (the engine picks the output qparams).
    fn unary(&self, x: &QTensor, op: QuantUnary) -> Result<QTensor> {
        let _ = x;
        Err(missing(&format!("{op:?}")))
    }
}

fn missing(op: &str) -> NnError {
    NnError::bad_arg(
        op,
        "no quantized kernel is registered for this op on quantized tensors; \
         link the quantized modules crate (it registers them), or insert a DeQuantStub before it",
    )
}

static OPS: RwLock<Option<Arc<dyn QuantOps>>> = RwLock::new(None);

/// Registers the quantized kernels float modules use on quantized inputs (replaces any earlier).
pub fn set_quant_ops(ops: Arc<dyn QuantOps>) {
    *OPS.write().unwrap_or_else(|e| e.into_inner()) = Some(ops);
}

/// The registered quantized kernels, or an error naming `op`.
pub fn quant_ops(op: &str) -> Result<Arc<dyn QuantOps>> {
    OPS.read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(|| missing(op))
}

fn to_f32(q: &QTensor) -> ArrayD<f32> {
    match q.int_repr() {
        QData::QUInt8(a) => a.mapv(f32::from),
        QData::QInt8(a) => a.mapv(f32::from),
        QData::QInt32(a) => a.mapv(|v| v as f32),
    }
}

fn from_f32(like: &QTensor, a: ArrayD<f32>) -> Result<QTensor> {
    // The values are integers of the original dtype (max / clamp only select or compare).
    let data = match like.int_repr() {
        QData::QUInt8(_) => QData::QUInt8(a.mapv(|v| v as u8)),
        QData::QInt8(_) => QData::QInt8(a.mapv(|v| v as i8)),
        QData::QInt32(_) => QData::QInt32(a.mapv(|v| v as i32)),
    };
    Ok(QTensor::from_int_repr(data, like.qparams().clone())?)
}

fn eight_bit(op: &str, q: &QTensor) -> Result<()> {
    match q.int_repr() {
        QData::QInt32(_) => Err(NnError::bad_arg(
            op,
            "quantized input must be quint8 or qint8",
        )),
        _ => Ok(()),
    }
}

/// `relu` on a quantized tensor: `max(q, zero_point)` with the input's qparams, exactly.
pub fn quantized_relu(q: &QTensor) -> Result<QTensor> {
    eight_bit("relu", q)?;
    let a = to_f32(q);
    let out = match q.qparams() {
        QParams::PerTensor { zero_point, .. } => {
            let z = *zero_point as f32;
            a.mapv(|v| v.max(z))
        }
        _ => {
            return Err(NnError::bad_arg(
                "relu",
                "quantized relu needs a per-tensor quantized input",
            ))
        }
    };
    from_f32(q, out)
}

/// `max_pool2d` on a quantized tensor: the maximum of the integer values, exactly.
/// Max pooling of a quantized tensor through the registered engine kernels, or exactly here
/// when none are registered (max commutes with the monotone quantization map).
pub fn max_pool2d(q: &QTensor, options: &Pool2dOptions) -> Result<QTensor> {
    let ops = OPS.read().unwrap_or_else(|e| e.into_inner()).clone();
    match ops {
        Some(ops) => ops.max_pool2d(q, options),
        None => quantized_max_pool2d(q, options),
    }
}

/// Exact max pooling of a quantized tensor: on the integers, through the float kernel.
pub fn quantized_max_pool2d(q: &QTensor, options: &Pool2dOptions) -> Result<QTensor> {
    eight_bit("max_pool2d", q)?;
    let x = Tensor::new(to_f32(q));
    let y = no_grad(|| functional::max_pool2d(&x, options))?;
    from_f32(q, y.to_array())
}
