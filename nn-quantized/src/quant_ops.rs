//! The quantized kernels that `nn`'s float modules use when handed a quantized tensor
//! (`AdaptiveAvgPool2d`, `AvgPool2d`, upsampling, non-linear activations), registered with
//! [`nn::quant_ops::set_quant_ops`].

use std::sync::{Arc, Once};

use nn::functional::Pool2dOptions;
use nn::quant_ops::{QuantOps, QuantUnary};
use nn::{NnError, Result};
use qtensor::{QDType, QTensor};

use crate::functional::{self as F, QOpError};

struct EngineOps;

fn err(op: &'static str) -> impl Fn(QOpError) -> NnError {
    move |e| match e {
        QOpError::QTensor(q) => NnError::Quant(q),
        other => NnError::bad_arg(op, other.to_string()),
    }
}

fn input_qparams(x: &QTensor) -> Result<(f64, i64)> {
    Ok((x.q_scale()?, x.q_zero_point()?))
}

impl QuantOps for EngineOps {
    fn adaptive_avg_pool2d(&self, x: &QTensor, output_size: [usize; 2]) -> Result<QTensor> {
        F::adaptive_avg_pool2d(x, output_size).map_err(err("adaptive_avg_pool2d"))
    }

    fn max_pool2d(&self, x: &QTensor, o: &Pool2dOptions) -> Result<QTensor> {
        let p = F::MaxPool2d {
            kernel: o.kernel_size,
            stride: o.stride,
            padding: o.padding,
            dilation: o.dilation,
            ceil_mode: o.ceil_mode,
        };
        F::max_pool2d(x, &p).map_err(err("max_pool2d"))
    }

    fn avg_pool2d(&self, x: &QTensor, o: &Pool2dOptions) -> Result<QTensor> {
        let p = F::AvgPool2d {
            kernel: o.kernel_size,
            stride: o.stride,
            padding: o.padding,
            ceil_mode: o.ceil_mode,
            count_include_pad: o.count_include_pad,
            divisor_override: o.divisor_override,
        };
        F::avg_pool2d(x, &p).map_err(err("avg_pool2d"))
    }

    fn upsample(
        &self,
        x: &QTensor,
        size: [usize; 2],
        mode: &str,
        align_corners: bool,
    ) -> Result<QTensor> {
        if mode != "nearest" || align_corners {
            return Err(NnError::bad_arg(
                "upsample",
                format!("quantized upsampling supports mode 'nearest' only, got '{mode}'"),
            ));
        }
        F::upsample_nearest2d(
            x,
            F::UpsampleSize::Size {
                h: size[0],
                w: size[1],
            },
        )
        .map_err(err("upsample"))
    }

    fn unary(&self, x: &QTensor, op: QuantUnary) -> Result<QTensor> {
        let (s, z) = input_qparams(x)?;
        match op {
            QuantUnary::ReLU6 => F::relu6(x).map_err(err("relu6")),
            QuantUnary::Tanh => F::tanh(x).map_err(err("tanh")),
            QuantUnary::Hardswish => F::hardswish(x, s, z).map_err(err("hardswish")),
            QuantUnary::LeakyReLU(slope) => {
                F::leaky_relu(x, f64::from(slope), s, z).map_err(err("leaky_relu"))
            }
            QuantUnary::ELU(alpha) => F::elu(x, f64::from(alpha), s, z).map_err(err("elu")),
            QuantUnary::Sigmoid => {
                // PyTorch's fixed output parameters for quantized sigmoid.
                let zp = if x.dtype() == QDType::QInt8 { -128 } else { 0 };
                F::sigmoid(x, 1.0 / 256.0, zp).map_err(err("sigmoid"))
            }
            other => Err(NnError::bad_arg(
                format!("{other:?}"),
                "no quantized kernel for this activation; insert a DeQuantStub before it",
            )),
        }
    }
}

static REGISTER: Once = Once::new();

/// Registers this crate's kernels with `nn` (idempotent; every quantized module's constructor
/// calls it, so a converted model's float pooling layers find them).
pub fn register_quant_ops() {
    REGISTER.call_once(|| nn::quant_ops::set_quant_ops(Arc::new(EngineOps)));
}
