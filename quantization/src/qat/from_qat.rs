//! The QAT -> quantized constructors of convert (PyTorch's quantized `from_float` given a QAT
//! module): the weight quantized with the trained `weight_fake_quant`'s parameters (clamped to
//! its range, as `_quantize_weight`), batch norms folded first, the output parameters from the
//! activation fake-quant.

use ndarray::ArrayViewD;
use nn::{Module, Tensor, Value};
use nn_intrinsic::qat as nniqat;
use nn_intrinsic::quantized as nniq;
use nn_quantized as nnq;
use nn_quantized::functional::ConvOptions as QConvOptions;
use qtensor::{QDType, QScheme, QTensor};

use super::FakeQuantizeModule;
use crate::eager::{EagerError, FromFloatCtx, QuantMapping};
use crate::weight_clamp::clamp_weights;
use crate::{DType, ZeroPoints};

type Built = Result<Box<dyn Module>, EagerError>;

/// PyTorch's `_quantize_weight(weight, weight_fake_quant)`: the trained fake quant's
/// `calculate_qparams`, per tensor or per channel (qint8) or per row with float parameters
/// (quint8 embeddings), then clamped to the fake quant's range.
pub(crate) fn quantize_with_fake_quant(
    ctx: &FromFloatCtx<'_>,
    fake_quant: &dyn Module,
    weight: ArrayViewD<'_, f32>,
    want: DType,
) -> Result<QTensor, EagerError> {
    let fq = fake_quant
        .downcast_ref::<FakeQuantizeModule>()
        .ok_or_else(|| {
            ctx.qconfig_error(format!(
                "the weight_fake_quant is a {}; converting needs the fake quant (or observer) \
                 a qconfig built, which knows the weight's parameters",
                fake_quant.type_name()
            ))
        })?;
    let q = fq
        .calculate_qparams()
        .map_err(|source| EagerError::Observer {
            path: format!("{}.weight_fake_quant", ctx.path()),
            source,
        })?;
    if q.dtype != want {
        return Err(ctx.qconfig_error(format!(
            "weight observer must have dtype {want}, the qconfig's has {}",
            q.dtype
        )));
    }
    let qerr = |e: qtensor::QError| ctx.error(format!("quantizing the weight: {e}"));
    let axis = q.axis.unwrap_or(0);
    let qw = match (q.qscheme, &q.zero_points) {
        (QScheme::PerTensorAffine | QScheme::PerTensorSymmetric, ZeroPoints::Int(z)) => {
            qtensor::quantize_per_tensor(weight, f64::from(q.scales[0]), z[0], QDType::QInt8)
        }
        (QScheme::PerChannelAffine | QScheme::PerChannelSymmetric, ZeroPoints::Int(z)) => {
            let scales: Vec<f64> = q.scales.iter().map(|&s| f64::from(s)).collect();
            qtensor::quantize_per_channel(weight, &scales, z, axis, QDType::QInt8)
        }
        (QScheme::PerChannelAffineFloatQParams, ZeroPoints::Float(z)) => {
            qtensor::quantize_per_channel_float_qparams(weight, &q.scales, z, axis, QDType::QUInt8)
        }
        (scheme, _) => {
            return Err(ctx.qconfig_error(format!(
                "unexpected weight qscheme {scheme:?} for this module"
            )))
        }
    }
    .map_err(qerr)?;
    clamp_weights(qw, q.quant_min, q.quant_max).map_err(qerr)
}

fn quantized_linear(
    ctx: &FromFloatCtx<'_>,
    weight: &Tensor,
    bias: Option<&Tensor>,
    fake_quant: &dyn Module,
) -> Result<nnq::Linear, EagerError> {
    ctx.require_quint8_activation("linear")?;
    let w = weight.data();
    let qw = quantize_with_fake_quant(ctx, fake_quant, w.view(), DType::QInt8)?;
    let bias = bias.map(Tensor::to_vec);
    let (s, z) = ctx.output_qparams()?;
    nnq::Linear::new(&qw, bias.as_deref(), s, z).map_err(|e| ctx.error(e.to_string()))
}

/// `nnqat.Linear` -> quantized `Linear`.
pub fn qat_linear(ctx: &FromFloatCtx<'_>) -> Built {
    let m = ctx.downcast::<nn_qat::Linear>(ctx.module())?;
    let q = quantized_linear(ctx, &m.weight, m.bias.as_ref(), m.weight_fake_quant())?;
    Ok(Box::new(q))
}

/// `nniqat.LinearReLU` -> quantized `LinearReLU`.
pub fn qat_linear_relu(ctx: &FromFloatCtx<'_>) -> Built {
    let m = ctx.downcast::<nniqat::LinearReLU>(ctx.module())?.linear();
    let q = quantized_linear(ctx, &m.weight, m.bias.as_ref(), m.weight_fake_quant())?;
    Ok(Box::new(nniq::LinearReLU::new(q)))
}

/// `nniqat.LinearBn1d` -> quantized `Linear` of the folded layer.
pub fn qat_linear_bn1d(ctx: &FromFloatCtx<'_>) -> Built {
    let m = ctx.downcast::<nniqat::LinearBn1d>(ctx.module())?;
    let folded = m.to_float().map_err(|e| ctx.error(e.to_string()))?;
    let q = quantized_linear(
        ctx,
        &folded.weight,
        folded.bias.as_ref(),
        m.weight_fake_quant(),
    )?;
    Ok(Box::new(q))
}

type ConvParts = (QTensor, Option<Vec<f32>>, QConvOptions, f64, i64);

fn conv_parts(
    ctx: &FromFloatCtx<'_>,
    weight: &Tensor,
    bias: Option<&Tensor>,
    options: &nn::functional::ConvOptions,
    fake_quant: &dyn Module,
) -> Result<ConvParts, EagerError> {
    ctx.require_quint8_activation("conv")?;
    let w = weight.data();
    let qw = quantize_with_fake_quant(ctx, fake_quant, w.view(), DType::QInt8)?;
    let opts = QConvOptions {
        stride: options.stride.clone(),
        padding: options.padding.clone(),
        dilation: options.dilation.clone(),
        groups: options.groups,
        transposed: None,
    };
    let (s, z) = ctx.output_qparams()?;
    Ok((qw, bias.map(Tensor::to_vec), opts, s, z))
}

macro_rules! qat_conv_ctor {
    ($fn_name:ident, $qat:ty, $quant:ty, $doc:literal) => {
        #[doc = $doc]
        pub fn $fn_name(ctx: &FromFloatCtx<'_>) -> Built {
            let m = ctx.downcast::<$qat>(ctx.module())?;
            let (w, b, o, s, z) = conv_parts(
                ctx,
                &m.weight,
                m.bias.as_ref(),
                &m.options,
                m.weight_fake_quant(),
            )?;
            let q =
                <$quant>::new(&w, b.as_deref(), o, s, z).map_err(|e| ctx.error(e.to_string()))?;
            Ok(Box::new(q))
        }
    };
}

qat_conv_ctor!(
    qat_conv1d,
    nn_qat::Conv1d,
    nnq::Conv1d,
    "`nnqat.Conv1d` -> quantized `Conv1d`."
);
qat_conv_ctor!(
    qat_conv2d,
    nn_qat::Conv2d,
    nnq::Conv2d,
    "`nnqat.Conv2d` -> quantized `Conv2d`."
);
qat_conv_ctor!(
    qat_conv3d,
    nn_qat::Conv3d,
    nnq::Conv3d,
    "`nnqat.Conv3d` -> quantized `Conv3d`."
);

macro_rules! qat_conv_relu_ctor {
    ($fn_name:ident, $qat:ty, $quant:ty, $doc:literal) => {
        #[doc = $doc]
        pub fn $fn_name(ctx: &FromFloatCtx<'_>) -> Built {
            let m = ctx.downcast::<$qat>(ctx.module())?.conv();
            let (w, b, o, s, z) = conv_parts(
                ctx,
                &m.weight,
                m.bias.as_ref(),
                &m.options,
                m.weight_fake_quant(),
            )?;
            let core = nnq::ConvCore::new(&w, b.as_deref(), o, s, z)
                .map_err(|e| ctx.error(e.to_string()))?;
            Ok(Box::new(<$quant>::new(core)))
        }
    };
}

qat_conv_relu_ctor!(
    qat_conv_relu1d,
    nniqat::ConvReLU1d,
    nniq::ConvReLU1d,
    "`nniqat.ConvReLU1d` -> quantized `ConvReLU1d`."
);
qat_conv_relu_ctor!(
    qat_conv_relu2d,
    nniqat::ConvReLU2d,
    nniq::ConvReLU2d,
    "`nniqat.ConvReLU2d` -> quantized `ConvReLU2d`."
);
qat_conv_relu_ctor!(
    qat_conv_relu3d,
    nniqat::ConvReLU3d,
    nniq::ConvReLU3d,
    "`nniqat.ConvReLU3d` -> quantized `ConvReLU3d`."
);

macro_rules! qat_conv_bn_ctor {
    ($fn_name:ident, $qat:ty, $quant:ty, relu: $relu:expr, $doc:literal) => {
        #[doc = $doc]
        pub fn $fn_name(ctx: &FromFloatCtx<'_>) -> Built {
            let m = ctx.downcast::<$qat>(ctx.module())?;
            let f = m.fold().map_err(|e| ctx.error(e.to_string()))?;
            let (w, b, o, s, z) = conv_parts(
                ctx,
                &f.weight,
                f.bias.as_ref(),
                &f.options,
                m.weight_fake_quant(),
            )?;
            let q =
                <$quant>::new(&w, b.as_deref(), o, s, z).map_err(|e| ctx.error(e.to_string()))?;
            Ok($relu(q))
        }
    };
}

fn boxed<M: Module>(m: M) -> Box<dyn Module> {
    Box::new(m)
}

qat_conv_bn_ctor!(qat_conv_bn1d, nniqat::ConvBn1d, nnq::Conv1d, relu: boxed, "`nniqat.ConvBn1d` -> quantized `Conv1d` of the folded convolution.");
qat_conv_bn_ctor!(qat_conv_bn2d, nniqat::ConvBn2d, nnq::Conv2d, relu: boxed, "`nniqat.ConvBn2d` -> quantized `Conv2d` of the folded convolution.");
qat_conv_bn_ctor!(qat_conv_bn3d, nniqat::ConvBn3d, nnq::Conv3d, relu: boxed, "`nniqat.ConvBn3d` -> quantized `Conv3d` of the folded convolution.");
qat_conv_bn_ctor!(qat_conv_bn_relu1d, nniqat::ConvBnReLU1d, nnq::ConvCore, relu: |c| boxed(nniq::ConvReLU1d::new(c)), "`nniqat.ConvBnReLU1d` -> quantized `ConvReLU1d` of the folded convolution.");
qat_conv_bn_ctor!(qat_conv_bn_relu2d, nniqat::ConvBnReLU2d, nnq::ConvCore, relu: |c| boxed(nniq::ConvReLU2d::new(c)), "`nniqat.ConvBnReLU2d` -> quantized `ConvReLU2d` of the folded convolution.");
qat_conv_bn_ctor!(qat_conv_bn_relu3d, nniqat::ConvBnReLU3d, nnq::ConvCore, relu: |c| boxed(nniq::ConvReLU3d::new(c)), "`nniqat.ConvBnReLU3d` -> quantized `ConvReLU3d` of the folded convolution.");

/// `nnqat.Embedding` -> quantized `Embedding` (8-bit rows).
pub fn qat_embedding(ctx: &FromFloatCtx<'_>) -> Built {
    let m = ctx.downcast::<nn_qat::Embedding>(ctx.module())?;
    let w = m.weight.data();
    let qw = quantize_with_fake_quant(ctx, m.weight_fake_quant(), w.view(), DType::QUInt8)?;
    Ok(Box::new(
        nnq::Embedding::new(&qw).map_err(|e| ctx.error(e.to_string()))?,
    ))
}

/// `nnqat.EmbeddingBag` -> quantized `EmbeddingBag` (8-bit rows; it always sums, as
/// PyTorch's).
pub fn qat_embedding_bag(ctx: &FromFloatCtx<'_>) -> Built {
    let m = ctx.downcast::<nn_qat::EmbeddingBag>(ctx.module())?;
    let w = m.weight.data();
    let qw = quantize_with_fake_quant(ctx, m.weight_fake_quant(), w.view(), DType::QUInt8)?;
    if m.mode != nn::functional::BagMode::Sum {
        ctx.notice(format!(
            "the EmbeddingBag's mode is {:?}; the quantized EmbeddingBag always sums the rows",
            m.mode
        ));
    }
    Ok(Box::new(
        nnq::EmbeddingBag::new(&qw, false).map_err(|e| ctx.error(e.to_string()))?,
    ))
}

/// The convert mapping for QAT models: PyTorch's default static mapping with its QAT entries
/// (`nnqat.Linear/Conv*`, `nniqat.ConvBn*`, `ConvBnReLU*`, `ConvReLU*`, `LinearReLU`,
/// `LinearBn1d`) and the QAT embeddings (`get_embedding_static_quant_module_mappings`). The
/// QAT types are observed and swapped as units.
pub fn convert_mapping() -> QuantMapping {
    let mut m = QuantMapping::default_static();
    m.insert::<nn_qat::Linear>(qat_linear);
    m.insert::<nn_qat::Conv1d>(qat_conv1d);
    m.insert::<nn_qat::Conv2d>(qat_conv2d);
    m.insert::<nn_qat::Conv3d>(qat_conv3d);
    m.insert::<nn_qat::Embedding>(qat_embedding);
    m.insert::<nn_qat::EmbeddingBag>(qat_embedding_bag);
    m.insert::<nniqat::LinearReLU>(qat_linear_relu);
    m.insert::<nniqat::LinearBn1d>(qat_linear_bn1d);
    m.insert::<nniqat::ConvReLU1d>(qat_conv_relu1d);
    m.insert::<nniqat::ConvReLU2d>(qat_conv_relu2d);
    m.insert::<nniqat::ConvReLU3d>(qat_conv_relu3d);
    m.insert::<nniqat::ConvBn1d>(qat_conv_bn1d);
    m.insert::<nniqat::ConvBn2d>(qat_conv_bn2d);
    m.insert::<nniqat::ConvBn3d>(qat_conv_bn3d);
    m.insert::<nniqat::ConvBnReLU1d>(qat_conv_bn_relu1d);
    m.insert::<nniqat::ConvBnReLU2d>(qat_conv_bn_relu2d);
    m.insert::<nniqat::ConvBnReLU3d>(qat_conv_bn_relu3d);
    m
}

/// PyTorch's `weight_post_process(mod.weight)` at the start of the quantized `from_float`:
/// runs the weight fake-quant once more on the weight that will be quantized (the folded one
/// for the batch-norm forms), so its observer (when enabled) sees the final weights. Returns
/// false for modules that are not QAT modules.
pub(crate) fn observe_final_weight(m: &mut dyn Module) -> nn::Result<bool> {
    let _guard = nn::NoGradGuard::new();
    macro_rules! plain {
        ($($t:ty),+) => {$(
            if let Some(x) = m.downcast_mut::<$t>() {
                x.fake_quantized_weight()?;
                return Ok(true);
            }
        )+};
    }
    plain!(
        nn_qat::Linear,
        nn_qat::Conv1d,
        nn_qat::Conv2d,
        nn_qat::Conv3d,
        nn_qat::Embedding,
        nn_qat::EmbeddingBag
    );
    macro_rules! inner {
        ($($t:ty => $get:ident),+) => {$(
            if let Some(x) = m.downcast_mut::<$t>() {
                x.$get().fake_quantized_weight()?;
                return Ok(true);
            }
        )+};
    }
    inner!(nniqat::LinearReLU => linear_mut, nniqat::ConvReLU1d => conv_mut, nniqat::ConvReLU2d => conv_mut, nniqat::ConvReLU3d => conv_mut);
    macro_rules! folded {
        ($($t:ty => $fold:ident),+) => {$(
            if let Some(x) = m.downcast_mut::<$t>() {
                let w = x.$fold()?.weight;
                x.weight_fake_quant_mut().forward(Value::Float(w))?;
                return Ok(true);
            }
        )+};
    }
    folded!(
        nniqat::LinearBn1d => to_float,
        nniqat::ConvBn1d => fold,
        nniqat::ConvBn2d => fold,
        nniqat::ConvBn3d => fold,
        nniqat::ConvBnReLU1d => fold,
        nniqat::ConvBnReLU2d => fold,
        nniqat::ConvBnReLU3d => fold
    );
    Ok(false)
}
