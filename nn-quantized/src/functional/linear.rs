//! Quantized linear (`quantized::linear`, `linear_relu`, `linear_dynamic`) and convolution
//! (`quantized::conv*d`, `conv*d_relu`, `conv_transpose2d`) on packed weights.

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use qkernels_arm::OutputSpec;
use qtensor::QTensor;

use super::operand::kernel_err;
use super::packed::{PackedWeight, Packing};
use super::{qnnpack, QOpError};

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
    let _ = reduce_range;
    match &w.packing {
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
        Packing::QnnpackConv(p) => {
            let v = qnnpack::view(OP, "input", x)?;
            let mut out = OutputSpec::new(qnnpack::out_quant(scale, zero_point)?);
            out.relu = relu;
            qnnpack::finish(OP, qnnpack::kernels().conv(p, &v, out))
        }
        _ => Err(wrong_kind(OP, w)),
    }
}
