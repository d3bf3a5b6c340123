//! Pre-packed weights for linear and convolution (`linear_prepack`, `conv2d_prepack`): packed
//! once for the engine current at packing time, which they remember and keep using.

use qtensor::{Engine, QDType, QParams, QTensor};

use super::operand::kernel_err;
use super::QOpError;

/// Geometry of a convolution (PyTorch's `stride`, `padding`, `dilation`, `groups`, and for
/// transposed convolutions `output_padding`), one entry per spatial dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvOptions {
    /// Step of the window.
    pub stride: Vec<usize>,
    /// Implicit zero padding on both sides.
    pub padding: Vec<usize>,
    /// Spacing between kernel taps.
    pub dilation: Vec<usize>,
    /// Channel groups (`in_channels` and `out_channels` divisible by it).
    pub groups: usize,
    /// `Some(output_padding)` for a transposed convolution.
    pub transposed: Option<Vec<usize>>,
}

impl ConvOptions {
    /// PyTorch's defaults for `dims` spatial dimensions: stride 1, no padding, dilation 1, one group.
    pub fn new(dims: usize) -> Self {
        ConvOptions {
            stride: vec![1; dims],
            padding: vec![0; dims],
            dilation: vec![1; dims],
            groups: 1,
            transposed: None,
        }
    }
}

/// The engine-specific packing.
#[derive(Debug)]
pub(crate) enum Packing {
    /// `qkernels-x86`'s packed GEMM weight.
    FbgemmLinear(qkernels_x86::PackedWeight),
    /// `qkernels-x86`'s packed convolution weight.
    FbgemmConv(qkernels_x86::PackedConvWeight),
    /// `qkernels-arm`'s packed linear.
    QnnpackLinear(qkernels_arm::PackedLinear),
    /// `qkernels-arm`'s packed convolution.
    QnnpackConv(qkernels_arm::PackedConv),
}

/// A quantized weight (and float bias) packed for one engine's kernels.
#[derive(Debug)]
pub struct PackedWeight {
    pub(crate) engine: Engine,
    pub(crate) weight: QTensor,
    pub(crate) bias: Option<Vec<f32>>,
    pub(crate) conv: Option<ConvOptions>,
    pub(crate) packing: Packing,
}

impl PackedWeight {
    /// The engine that packed it (and runs it).
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The quantized weight, as given to the prepack (`unpack()`).
    pub fn weight(&self) -> &QTensor {
        &self.weight
    }

    /// The float bias, if any.
    pub fn bias(&self) -> Option<&[f32]> {
        self.bias.as_deref()
    }

    /// The convolution geometry, for a convolution weight.
    pub fn conv_options(&self) -> Option<&ConvOptions> {
        self.conv.as_ref()
    }

    /// Output features (linear) or output channels (convolution).
    pub fn out_features(&self) -> usize {
        match &self.conv {
            Some(o) if o.transposed.is_some() => self.weight.shape()[1] * o.groups,
            _ => self.weight.shape()[0],
        }
    }
}

/// Checks a weight: qint8, per-tensor or per-channel along the output-channel axis, and a bias of
/// matching length.
fn check_weight(
    op: &'static str,
    w: &QTensor,
    bias: Option<&[f32]>,
    out_axis: usize,
) -> Result<(), QOpError> {
    if w.dtype() != QDType::QInt8 {
        return Err(QOpError::DType {
            op,
            arg: "weight",
            got: w.dtype(),
            expected: "qint8",
        });
    }
    if let QParams::PerChannel { axis, .. } = w.qparams() {
        if *axis != out_axis {
            return Err(QOpError::Shape {
                op,
                msg: format!("per-channel weight must be quantized along axis {out_axis} (output channels), got axis {axis}"),
            });
        }
    }
    if matches!(w.qparams(), QParams::PerChannelFloat { .. }) {
        return Err(QOpError::Shape {
            op,
            msg: "float-qparams weights are for embeddings, not linear/conv".into(),
        });
    }
    let out = w.shape().get(out_axis).copied().unwrap_or(0);
    match bias {
        Some(b) if b.len() != out && out_axis == 0 => Err(QOpError::Shape {
            op,
            msg: format!(
                "bias has {} values, weight has {out} output channels",
                b.len()
            ),
        }),
        _ => Ok(()),
    }
}

/// The weight's quantization as the qnnpack kernels take it.
fn arm_weight_quant(w: &QTensor) -> qkernels_arm::WeightQuant {
    match w.qparams() {
        QParams::PerTensor { scale, zero_point } => qkernels_arm::WeightQuant::PerTensor {
            scale: *scale,
            zero_point: *zero_point as i8,
        },
        QParams::PerChannel {
            scales,
            zero_points,
            ..
        } => qkernels_arm::WeightQuant::PerChannel {
            scales: scales.clone(),
            zero_points: zero_points.iter().map(|&z| z as i8).collect(),
        },
        QParams::PerChannelFloat { .. } => unreachable!("rejected by check_weight"),
    }
}

/// The weight's quantization as the fbgemm kernels take it.
fn x86_weight_quant(w: &QTensor) -> qkernels_x86::WeightQuant {
    match w.qparams() {
        QParams::PerTensor { scale, zero_point } => qkernels_x86::WeightQuant::PerTensor {
            scale: *scale,
            zero_point: *zero_point as i32,
        },
        QParams::PerChannel {
            scales,
            zero_points,
            ..
        } => qkernels_x86::WeightQuant::PerChannel {
            scales: scales.clone(),
            zero_points: zero_points.iter().map(|&z| z as i32).collect(),
        },
        QParams::PerChannelFloat { .. } => unreachable!("rejected by check_weight"),
    }
}

fn weight_values(w: &QTensor) -> &[i8] {
    w.as_i8()
        .and_then(|v| v.to_slice())
        .expect("qint8 checked, storage contiguous")
}

/// Packs a linear weight `[out_features, in_features]` for the current engine
/// (`torch.ops.quantized.linear_prepack`).
pub fn linear_prepack(weight: &QTensor, bias: Option<&[f32]>) -> Result<PackedWeight, QOpError> {
    const OP: &str = "linear_prepack";
    check_weight(OP, weight, bias, 0)?;
    if weight.ndim() != 2 {
        return Err(QOpError::Shape {
            op: OP,
            msg: format!(
                "weight must be 2-d [out_features, in_features], got {:?}",
                weight.shape()
            ),
        });
    }
    let engine = qtensor::engine();
    let packing = match engine {
        Engine::Qnnpack => {
            let quant = arm_weight_quant(weight);
            let w = qkernels_arm::LinearWeights {
                weight: weight_values(weight),
                out_features: weight.shape()[0],
                in_features: weight.shape()[1],
                quant: &quant,
                bias,
            };
            Packing::QnnpackLinear(
                super::qnnpack::kernels()
                    .pack_linear(&w)
                    .map_err(kernel_err(OP))?,
            )
        }
        Engine::Fbgemm => Packing::FbgemmLinear(
            qkernels_x86::PackedWeight::pack(
                weight_values(weight),
                weight.shape()[0],
                weight.shape()[1],
                x86_weight_quant(weight),
            )
            .map_err(kernel_err(OP))?,
        ),
    };
    Ok(PackedWeight {
        engine,
        weight: weight.clone(),
        bias: bias.map(<[f32]>::to_vec),
        conv: None,
        packing,
    })
}

/// Packs a convolution weight for the current engine (`torch.ops.quantized.conv{1,2,3}d_prepack`,
/// `conv_transpose2d_prepack`). Weight layout: `[out, in/groups, k...]`, or for transposed
/// convolutions `[in, out/groups, k...]` as PyTorch.
pub fn conv_prepack(
    weight: &QTensor,
    bias: Option<&[f32]>,
    options: &ConvOptions,
) -> Result<PackedWeight, QOpError> {
    const OP: &str = "conv_prepack";
    let dims = weight.ndim().saturating_sub(2);
    if !(1..=3).contains(&dims)
        || [&options.stride, &options.padding, &options.dilation]
            .iter()
            .any(|v| v.len() != dims)
        || options.transposed.as_ref().is_some_and(|p| p.len() != dims)
    {
        return Err(QOpError::Shape {
            op: OP,
            msg: format!(
                "weight {:?} needs 1 to 3 spatial dims and stride/padding/dilation of that length, got {options:?}",
                weight.shape()
            ),
        });
    }
    check_weight(OP, weight, None, 0)?;
    let engine = qtensor::engine();
    let packing = match engine {
        Engine::Qnnpack => {
            let quant = arm_weight_quant(weight);
            let w = qkernels_arm::ConvWeights {
                weight: weight_values(weight),
                shape: weight.shape(),
                quant: &quant,
                bias,
            };
            let params = match &options.transposed {
                None => qkernels_arm::ConvParams::new(
                    &options.stride,
                    &options.padding,
                    &options.dilation,
                    options.groups,
                ),
                Some(out_pad) => qkernels_arm::ConvParams::transposed(
                    &options.stride,
                    &options.padding,
                    out_pad,
                    &options.dilation,
                    options.groups,
                ),
            };
            Packing::QnnpackConv(
                super::qnnpack::kernels()
                    .pack_conv(&w, &params)
                    .map_err(kernel_err(OP))?,
            )
        }
        Engine::Fbgemm => {
            let params = qkernels_x86::ConvParams {
                stride: options.stride.clone(),
                padding: options.padding.clone(),
                dilation: options.dilation.clone(),
                groups: options.groups,
                transposed: options.transposed.is_some(),
                output_padding: options.transposed.clone().unwrap_or_default(),
            };
            Packing::FbgemmConv(
                qkernels_x86::PackedConvWeight::pack(
                    weight_values(weight),
                    weight.shape(),
                    x86_weight_quant(weight),
                    params,
                )
                .map_err(kernel_err(OP))?,
            )
        }
    };
    Ok(PackedWeight {
        engine,
        weight: weight.clone(),
        bias: bias.map(<[f32]>::to_vec),
        conv: Some(options.clone()),
        packing,
    })
}
