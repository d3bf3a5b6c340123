//! Quantized linear (`quantized::linear`, `linear_relu`, `linear_dynamic`) and convolution
//! (`quantized::conv*d`, `conv*d_relu`, `conv_transpose2d`) on packed weights.

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use qkernels_arm::OutputSpec;
use qtensor::QTensor;

use super::operand::{affine, build, kernel_err, out_affine, values};
use super::packed::{PackedWeight, Packing};
use super::{qnnpack, QOpError};
use qkernels_x86::{Activation, QParams as X86QParams};
use qtensor::QDType;

fn wrong_kind(op: &'static str, w: &PackedWeight) -> QOpError {
    QOpError::Shape {
        op,
        msg: format!(
            "packed weight of shape {:?} is a {} weight",
            w.weight.shape(),
            if w.conv.is_some() {
                "convolution"
            } else {
                "linear"
            }
        ),
    }
}

/// `y = x W^T + b`, requantized to `scale` / `zero_point`, with ReLU when `relu`
/// (`quantized::linear` / `linear_relu`). `x` is quint8 `[..., in_features]`.
pub fn linear(
    x: &QTensor,
    w: &PackedWeight,
    scale: f64,
    zero_point: i64,
    relu: bool,
) -> Result<QTensor, QOpError> {
    const OP: &str = "linear";
    match &w.packing {
        Packing::FbgemmLinear(p) => {
            let q = affine(OP, "input", x)?;
            let data = values::<u8>(OP, "input", x)?;
            let k = p.k();
            let shape = x.shape();
            if shape.last() != Some(&k) {
                return Err(QOpError::Shape {
                    op: OP,
                    msg: format!("input {shape:?} does not end in in_features {k}"),
                });
            }
            let rows = data.len() / k.max(1);
            let out_q = out_affine(scale, zero_point, QDType::QUInt8)?;
            let y = qkernels_x86::quantized_linear(
                qkernels_x86::QuantizedMatrix {
                    data,
                    rows,
                    cols: k,
                    qparams: X86QParams::new(q.scale, q.zero_point),
                },
                p,
                w.bias.as_deref(),
                X86QParams::new(out_q.scale, out_q.zero_point),
                if relu {
                    Activation::Relu
                } else {
                    Activation::Identity
                },
            )
            .map_err(kernel_err(OP))?;
            let mut out_shape = shape.to_vec();
            *out_shape.last_mut().expect("checked non-empty") = p.n();
            build(&out_shape, y, out_q)
        }
        Packing::QnnpackLinear(p) => {
            let v = qnnpack::view(OP, "input", x)?;
            let mut out = OutputSpec::new(qnnpack::out_quant(scale, zero_point)?);
            out.relu = relu;
            qnnpack::finish(OP, qnnpack::kernels().linear(p, &v, out))
        }
        _ => Err(wrong_kind(OP, w)),
    }
}

/// Dynamic linear (`quantized::linear_dynamic`): `x` (float) is quantized per call with
/// parameters from its own range (fbgemm honours `reduce_range`, qnnpack ignores it), the
/// product is accumulated in int32 and returned as float plus bias.
pub fn linear_dynamic(
    x: ArrayViewD<'_, f32>,
    w: &PackedWeight,
    reduce_range: bool,
    relu: bool,
) -> Result<ArrayD<f32>, QOpError> {
    const OP: &str = "linear_dynamic";
    match &w.packing {
        Packing::FbgemmLinear(p) => {
            let k = p.k();
            let shape = x.shape().to_vec();
            if shape.last() != Some(&k) {
                return Err(QOpError::Shape {
                    op: OP,
                    msg: format!("input {shape:?} does not end in in_features {k}"),
                });
            }
            let x = x.as_standard_layout();
            let data = x.as_slice().expect("standard layout");
            let rows = data.len() / k.max(1);
            let y = qkernels_x86::dynamic_linear(
                data,
                rows,
                p,
                w.bias.as_deref(),
                qkernels_x86::DynamicOptions { reduce_range, relu },
            )
            .map_err(kernel_err(OP))?;
            let mut out_shape = shape;
            *out_shape.last_mut().expect("checked non-empty") = p.n();
            ArrayD::from_shape_vec(IxDyn(&out_shape), y).map_err(|e| QOpError::Shape {
                op: OP,
                msg: e.to_string(),
            })
        }
        Packing::QnnpackLinear(p) => {
            let x = x.as_standard_layout();
            let data = x.as_slice().expect("standard layout");
            let (y, shape) = qnnpack::kernels()
                .linear_dynamic(p, data, x.shape(), relu)
                .map_err(kernel_err(OP))?;
            ArrayD::from_shape_vec(IxDyn(&shape), y).map_err(|e| QOpError::Shape {
                op: OP,
                msg: e.to_string(),
            })
        }
        _ => Err(wrong_kind(OP, w)),
    }
}

/// Convolution of an NC(D)HW quint8 input with a packed weight, requantized to `scale` /
/// `zero_point`, ReLU fused when `relu`.
pub fn conv(
    x: &QTensor,
    w: &PackedWeight,
    scale: f64,
    zero_point: i64,
    relu: bool,
) -> Result<QTensor, QOpError> {
    const OP: &str = "conv";
    match &w.packing {
        Packing::FbgemmConv(p) => {
            let q = affine(OP, "input", x)?;
            let out_q = out_affine(scale, zero_point, QDType::QUInt8)?;
            let y = qkernels_x86::quantized_conv(
                qkernels_x86::QuantizedTensorView {
                    data: values::<u8>(OP, "input", x)?,
                    shape: x.shape(),
                    qparams: X86QParams::new(q.scale, q.zero_point),
                },
                p,
                w.bias.as_deref(),
                X86QParams::new(out_q.scale, out_q.zero_point),
                if relu {
                    Activation::Relu
                } else {
                    Activation::Identity
                },
            )
            .map_err(kernel_err(OP))?;
            build(&y.shape, y.data, out_q)
        }
        Packing::QnnpackConv(p) => {
            let v = qnnpack::view(OP, "input", x)?;
            let mut out = OutputSpec::new(qnnpack::out_quant(scale, zero_point)?);
            out.relu = relu;
            qnnpack::finish(OP, qnnpack::kernels().conv(p, &v, out))
        }
        _ => Err(wrong_kind(OP, w)),
    }
}
