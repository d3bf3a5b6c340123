//! The float -> quantized constructors of the default mapping (PyTorch's `from_float`
//! class methods), one per quantized module kind.

use nn::{BatchNorm2d, BatchNorm3d, Dropout, Linear, Module};
use nn_intrinsic::quantized as nniq;
use nn_quantized as nnq;
use nn_quantized::functional::ConvOptions as QConvOptions;
use qtensor::Engine;

use super::context::FromFloatCtx;
use super::copies::{BnLayer, ConvLayer};
use super::error::EagerError;
use crate::DType;

/// What every constructor returns.
pub type Built = Result<Box<dyn Module>, EagerError>;

fn first<'a>(ctx: &FromFloatCtx<'a>) -> Result<&'a dyn Module, EagerError> {
    nn_intrinsic::first_child(ctx.module()).map_err(|e| ctx.error(e.to_string()))
}

/// `QuantStub` -> `Quantize` with the observer's parameters and dtype.
pub fn quant_stub(ctx: &FromFloatCtx<'_>) -> Built {
    let dtype = ctx.activation_dtype()?;
    let qdtype = dtype
        .qdtype()
        .filter(|_| dtype != DType::QInt32)
        .ok_or_else(|| {
            ctx.qconfig_error(format!(
                "a QuantStub's observer must target quint8 or qint8 for static quantization, the \
             qconfig's targets {dtype}"
            ))
        })?;
    if qtensor::engine() == Engine::Qnnpack && dtype != DType::QUInt8 {
        return Err(ctx.qconfig_error(format!(
            "the qnnpack engine runs quint8 activations only; the qconfig's activation dtype is \
             {dtype} (use get_default_qconfig(qnnpack) or switch the engine)"
        )));
    }
    let (s, z) = ctx.output_qparams()?;
    Ok(Box::new(
        nnq::Quantize::new(s, z, qdtype).map_err(|e| ctx.error(e.to_string()))?,
    ))
}

/// `DeQuantStub` -> `DeQuantize`.
pub fn dequant_stub(_ctx: &FromFloatCtx<'_>) -> Built {
    Ok(Box::new(nnq::DeQuantize::new()))
}

/// `Dropout` -> quantized `Dropout` (the identity).
pub fn dropout(ctx: &FromFloatCtx<'_>) -> Built {
    let d = ctx.downcast::<Dropout>(ctx.module())?;
    Ok(Box::new(nnq::Dropout::new(d.p)))
}

fn quantized_linear(ctx: &FromFloatCtx<'_>, lin: &Linear) -> Result<nnq::Linear, EagerError> {
    ctx.require_quint8_activation("linear")?;
    let w = lin.weight.data();
    let qw = ctx.quantize_weight(w.view(), DType::QInt8)?;
    let bias = lin.bias.as_ref().map(|b| b.to_vec());
    let (s, z) = ctx.output_qparams()?;
    nnq::Linear::new(&qw, bias.as_deref(), s, z).map_err(|e| ctx.error(e.to_string()))
}

/// `Linear` -> quantized `Linear`.
pub fn linear(ctx: &FromFloatCtx<'_>) -> Built {
    let lin = ctx.downcast::<Linear>(ctx.module())?;
    Ok(Box::new(quantized_linear(ctx, lin)?))
}

/// Fused `LinearReLU` -> quantized `LinearReLU`.
pub fn linear_relu(ctx: &FromFloatCtx<'_>) -> Built {
    let lin = ctx.downcast::<Linear>(first(ctx)?)?;
    Ok(Box::new(nniq::LinearReLU::new(quantized_linear(ctx, lin)?)))
}

/// The pieces of a quantized convolution: weight, bias, geometry, output parameters.
type ConvParts = (qtensor::QTensor, Option<Vec<f32>>, QConvOptions, f64, i64);

fn conv_parts<C: ConvLayer>(
    ctx: &FromFloatCtx<'_>,
    conv: &C,
    transposed: bool,
) -> Result<ConvParts, EagerError> {
    ctx.require_quint8_activation("conv")?;
    let w = conv.weight().data();
    let qw = ctx.quantize_weight(w.view(), DType::QInt8)?;
    let bias = conv.bias().map(|b| b.to_vec());
    let o = conv.options();
    let options = QConvOptions {
        stride: o.stride.clone(),
        padding: o.padding.clone(),
        dilation: o.dilation.clone(),
        groups: o.groups,
        transposed: transposed.then(|| o.output_padding.clone()),
    };
    let (s, z) = ctx.output_qparams()?;
    Ok((qw, bias, options, s, z))
}

macro_rules! conv_ctor {
    ($fn_name:ident, $float:ty, $quant:ty, $transposed:expr, $doc:literal) => {
        #[doc = $doc]
        pub fn $fn_name(ctx: &FromFloatCtx<'_>) -> Built {
            let conv = ctx.downcast::<$float>(ctx.module())?;
            let (w, b, o, s, z) = conv_parts(ctx, conv, $transposed)?;
            let q =
                <$quant>::new(&w, b.as_deref(), o, s, z).map_err(|e| ctx.error(e.to_string()))?;
            Ok(Box::new(q))
        }
    };
}

conv_ctor!(
    conv1d,
    nn::Conv1d,
    nnq::Conv1d,
    false,
    "`Conv1d` -> quantized `Conv1d`."
);
conv_ctor!(
    conv2d,
    nn::Conv2d,
    nnq::Conv2d,
    false,
    "`Conv2d` -> quantized `Conv2d`."
);
conv_ctor!(
    conv3d,
    nn::Conv3d,
    nnq::Conv3d,
    false,
    "`Conv3d` -> quantized `Conv3d`."
);
conv_ctor!(
    conv_transpose2d,
    nn::ConvTranspose2d,
    nnq::ConvTranspose2d,
    true,
    "`ConvTranspose2d` -> quantized `ConvTranspose2d`."
);

macro_rules! conv_relu_ctor {
    ($fn_name:ident, $float:ty, $quant:ty, $doc:literal) => {
        #[doc = $doc]
        pub fn $fn_name(ctx: &FromFloatCtx<'_>) -> Built {
            let conv = ctx.downcast::<$float>(first(ctx)?)?;
            let (w, b, o, s, z) = conv_parts(ctx, conv, false)?;
            let core = nnq::ConvCore::new(&w, b.as_deref(), o, s, z)
                .map_err(|e| ctx.error(e.to_string()))?;
            Ok(Box::new(<$quant>::new(core)))
        }
    };
}

conv_relu_ctor!(
    conv_relu1d,
    nn::Conv1d,
    nniq::ConvReLU1d,
    "Fused `ConvReLU1d` -> quantized `ConvReLU1d`."
);
conv_relu_ctor!(
    conv_relu2d,
    nn::Conv2d,
    nniq::ConvReLU2d,
    "Fused `ConvReLU2d` -> quantized `ConvReLU2d`."
);
conv_relu_ctor!(
    conv_relu3d,
    nn::Conv3d,
    nniq::ConvReLU3d,
    "Fused `ConvReLU3d` -> quantized `ConvReLU3d`."
);

fn bn_parts<B: BnLayer>(
    ctx: &FromFloatCtx<'_>,
    bn: &B,
) -> Result<(nnq::BatchNormStats, f64, i64), EagerError> {
    ctx.require_quint8_activation("batch_norm")?;
    let c = bn.num_features();
    let stat =
        |t: Option<&nn::Tensor>, default: f32| t.map_or(vec![default; c], nn::Tensor::to_vec);
    let stats = nnq::BatchNormStats {
        weight: stat(bn.weight(), 1.0),
        bias: stat(bn.bias(), 0.0),
        running_mean: stat(bn.running_mean(), 0.0),
        running_var: stat(bn.running_var(), 1.0),
        eps: bn.config().eps,
    };
    let (s, z) = ctx.output_qparams()?;
    Ok((stats, s, z))
}

fn bn_core<B: BnLayer>(ctx: &FromFloatCtx<'_>, bn: &B) -> Result<nnq::BatchNormCore, EagerError> {
    let (stats, s, z) = bn_parts(ctx, bn)?;
    nnq::BatchNormCore::new(stats, s, z).map_err(|e| ctx.error(e.to_string()))
}

/// `BatchNorm2d` -> quantized `BatchNorm2d`.
pub fn batch_norm2d(ctx: &FromFloatCtx<'_>) -> Built {
    let bn = ctx.downcast::<BatchNorm2d>(ctx.module())?;
    let (stats, s, z) = bn_parts(ctx, bn)?;
    let q = nnq::BatchNorm2d::new(stats, s, z).map_err(|e| ctx.error(e.to_string()))?;
    Ok(Box::new(q))
}

/// `BatchNorm3d` -> quantized `BatchNorm3d`.
pub fn batch_norm3d(ctx: &FromFloatCtx<'_>) -> Built {
    let bn = ctx.downcast::<BatchNorm3d>(ctx.module())?;
    let (stats, s, z) = bn_parts(ctx, bn)?;
    let q = nnq::BatchNorm3d::new(stats, s, z).map_err(|e| ctx.error(e.to_string()))?;
    Ok(Box::new(q))
}

/// Fused `BNReLU2d` -> quantized `BNReLU2d`.
pub fn bn_relu2d(ctx: &FromFloatCtx<'_>) -> Built {
    let bn = ctx.downcast::<BatchNorm2d>(first(ctx)?)?;
    Ok(Box::new(nniq::BNReLU2d::new(bn_core(ctx, bn)?)))
}

/// Fused `BNReLU3d` -> quantized `BNReLU3d`.
pub fn bn_relu3d(ctx: &FromFloatCtx<'_>) -> Built {
    let bn = ctx.downcast::<BatchNorm3d>(first(ctx)?)?;
    Ok(Box::new(nniq::BNReLU3d::new(bn_core(ctx, bn)?)))
}

/// `FloatFunctional` -> `QFunctional` with the observer's parameters.
pub fn float_functional(ctx: &FromFloatCtx<'_>) -> Built {
    ctx.require_quint8_activation("add / mul / cat")?;
    let (s, z) = ctx.output_qparams()?;
    Ok(Box::new(
        nnq::QFunctional::new(s, z).map_err(|e| ctx.error(e.to_string()))?,
    ))
}

/// Norms and requantizing activations take quint8 or qint8 activations.
fn require_8bit_activation(ctx: &FromFloatCtx<'_>) -> Result<(), EagerError> {
    match ctx.activation_dtype()? {
        DType::QUInt8 => Ok(()),
        DType::QInt8 if qtensor::engine() == Engine::Fbgemm => Ok(()),
        d => Err(ctx.qconfig_error(format!(
            "this module's quantized kernel on the {} engine takes quint8{} activations; the \
             qconfig asks for {d}",
            qtensor::engine(),
            if qtensor::engine() == Engine::Fbgemm {
                " or qint8"
            } else {
                ""
            }
        ))),
    }
}

/// `ReLU6` -> quantized `ReLU6` (keeps its input's parameters; no observer needed).
pub fn relu6(_ctx: &FromFloatCtx<'_>) -> Built {
    Ok(Box::new(nnq::ReLU6::new()))
}

/// `Hardswish` -> quantized `Hardswish` with the observer's parameters.
pub fn hardswish(ctx: &FromFloatCtx<'_>) -> Built {
    require_8bit_activation(ctx)?;
    let (s, z) = ctx.output_qparams()?;
    Ok(Box::new(
        nnq::Hardswish::new(s, z).map_err(|e| ctx.error(e.to_string()))?,
    ))
}

/// `ELU` -> quantized `ELU`.
pub fn elu(ctx: &FromFloatCtx<'_>) -> Built {
    let m = ctx.downcast::<nn::ELU>(ctx.module())?;
    require_8bit_activation(ctx)?;
    let (s, z) = ctx.output_qparams()?;
    Ok(Box::new(
        nnq::ELU::new(s, z, m.alpha).map_err(|e| ctx.error(e.to_string()))?,
    ))
}

/// `LeakyReLU` -> quantized `LeakyReLU`.
pub fn leaky_relu(ctx: &FromFloatCtx<'_>) -> Built {
    let m = ctx.downcast::<nn::LeakyReLU>(ctx.module())?;
    require_8bit_activation(ctx)?;
    let (s, z) = ctx.output_qparams()?;
    let q = nnq::LeakyReLU::new(s, z, m.negative_slope).map_err(|e| ctx.error(e.to_string()))?;
    Ok(Box::new(q))
}

fn values(t: Option<&nn::Tensor>) -> Option<Vec<f32>> {
    t.map(nn::Tensor::to_vec)
}

/// `LayerNorm` -> quantized `LayerNorm`.
pub fn layer_norm(ctx: &FromFloatCtx<'_>) -> Built {
    let m = ctx.downcast::<nn::LayerNorm>(ctx.module())?;
    require_8bit_activation(ctx)?;
    let (s, z) = ctx.output_qparams()?;
    let q = nnq::LayerNorm::new(
        &m.normalized_shape,
        values(m.weight.as_ref()),
        values(m.bias.as_ref()),
        m.eps,
        s,
        z,
    )
    .map_err(|e| ctx.error(e.to_string()))?;
    Ok(Box::new(q))
}

/// `GroupNorm` -> quantized `GroupNorm`.
pub fn group_norm(ctx: &FromFloatCtx<'_>) -> Built {
    let m = ctx.downcast::<nn::GroupNorm>(ctx.module())?;
    require_8bit_activation(ctx)?;
    let (s, z) = ctx.output_qparams()?;
    let q = nnq::GroupNorm::new(
        m.num_groups,
        m.num_channels,
        values(m.weight.as_ref()),
        values(m.bias.as_ref()),
        m.eps,
        s,
        z,
    )
    .map_err(|e| ctx.error(e.to_string()))?;
    Ok(Box::new(q))
}

/// `InstanceNorm2d` -> quantized `InstanceNorm2d`.
pub fn instance_norm2d(ctx: &FromFloatCtx<'_>) -> Built {
    let m = ctx.downcast::<nn::InstanceNorm2d>(ctx.module())?;
    require_8bit_activation(ctx)?;
    let (s, z) = ctx.output_qparams()?;
    let q = nnq::InstanceNorm2d::new(
        m.num_features,
        values(m.weight.as_ref()),
        values(m.bias.as_ref()),
        m.eps,
        s,
        z,
    )
    .map_err(|e| ctx.error(e.to_string()))?;
    Ok(Box::new(q))
}

fn embedding_weight(
    ctx: &FromFloatCtx<'_>,
    w: &nn::Tensor,
) -> Result<qtensor::QTensor, EagerError> {
    let scheme = match ctx.qconfig().weight.build() {
        Ok(crate::PostProcess::Observer(o)) => Some(o.qscheme()),
        Ok(crate::PostProcess::FakeQuantize(f)) => Some(f.qscheme()),
        _ => None,
    };
    if scheme != Some(qtensor::QScheme::PerChannelAffineFloatQParams) {
        return Err(ctx.qconfig_error(
            "embedding quantization is only supported with float_qparams_weight_only_qconfig \
             (per-row float qparams); set that qconfig for this module",
        ));
    }
    let data = w.data();
    ctx.quantize_weight(data.view(), DType::QUInt8)
}

/// `Embedding` -> quantized `Embedding` (8-bit rows).
pub fn embedding(ctx: &FromFloatCtx<'_>) -> Built {
    let m = ctx.downcast::<nn::Embedding>(ctx.module())?;
    let qw = embedding_weight(ctx, &m.weight)?;
    Ok(Box::new(
        nnq::Embedding::new(&qw).map_err(|e| ctx.error(e.to_string()))?,
    ))
}

/// `EmbeddingBag` -> quantized `EmbeddingBag` (8-bit rows). As PyTorch's module, the quantized
/// op always sums: a mean or max float module gets a notice.
pub fn embedding_bag(ctx: &FromFloatCtx<'_>) -> Built {
    let m = ctx.downcast::<nn::EmbeddingBag>(ctx.module())?;
    let qw = embedding_weight(ctx, &m.weight)?;
    if m.mode != nn::functional::BagMode::Sum {
        ctx.notice(format!(
            "the float EmbeddingBag's mode is {:?}; PyTorch's quantized EmbeddingBag always sums \
             the rows, and so does this one",
            m.mode
        ));
    }
    let q = nnq::EmbeddingBag::new(&qw, false).map_err(|e| ctx.error(e.to_string()))?;
    Ok(Box::new(q))
}
