//! The fuser methods (`torch.ao.quantization.fuser_method_mappings`): one function per
//! pattern, each building the fused module from (references to) the modules of a group.

use nn::{BatchNorm1d, Linear, Module, ReLU, Tensor};
use nn_intrinsic::{fuse_conv_bn_weights, fuse_linear_bn_weights, BatchNormStats};

use super::copies::{copy_conv, copy_linear, copy_relu, BnLayer, ConvLayer};

/// What a fuser returns: the fused module, or why these modules cannot be fused.
pub type FuseResult = Result<Box<dyn Module>, String>;

fn typed<T: Module>(m: &dyn Module) -> Result<&T, String> {
    m.downcast_ref::<T>().ok_or_else(|| {
        format!(
            "expected {}, got {}",
            std::any::type_name::<T>(),
            m.type_name()
        )
    })
}

fn same_mode(mods: &[&dyn Module], what: &str) -> Result<(), String> {
    if mods
        .iter()
        .all(|m| m.is_training() == mods[0].is_training())
    {
        Ok(())
    } else {
        Err(format!(
            "{what} must all be in the same mode (train or eval)"
        ))
    }
}

const EVAL_ONLY: &str = "Fusion only for eval! Call model.eval() before fuse_modules, or use \
                         fuse_modules_qat for quantization-aware training";

fn nn_err(e: nn::NnError) -> String {
    e.to_string()
}

fn vec_of(t: Option<&Tensor>) -> Option<Vec<f32>> {
    t.map(Tensor::to_vec)
}

fn qat_bn_checks<B: BnLayer>(bn: &B, out: usize) -> Result<(), String> {
    if bn.num_features() != out {
        return Err(format!(
            "output channels of the layer ({out}) must match num_features of the batch norm ({})",
            bn.num_features()
        ));
    }
    if !bn.config().affine {
        return Err("only batch norms with affine=True can be fused".into());
    }
    if !bn.config().track_running_stats {
        return Err("only batch norms with track_running_stats=True can be fused".into());
    }
    Ok(())
}

/// `fuse_conv_bn_eval`: the convolution with the batch norm folded into its weight and bias.
pub(crate) fn fold_conv_bn<C: ConvLayer, B: BnLayer>(
    conv: &C,
    bn: &B,
    transpose: bool,
) -> Result<C, String> {
    if conv.is_training() || bn.is_training() {
        return Err(EVAL_ONLY.into());
    }
    let (mean, var) = match (bn.running_mean(), bn.running_var()) {
        (Some(m), Some(v)) => (m.to_vec(), v.to_vec()),
        _ => {
            return Err(
                "the batch norm has no running statistics (track_running_stats=False)".into(),
            )
        }
    };
    let (gamma, beta) = (vec_of(bn.weight()), vec_of(bn.bias()));
    let stats = BatchNormStats {
        weight: gamma.as_deref(),
        bias: beta.as_deref(),
        running_mean: &mean,
        running_var: &var,
        eps: bn.config().eps as f32,
    };
    let w = conv.weight().data();
    let b = vec_of(conv.bias());
    let (fw, fb) = fuse_conv_bn_weights(w.view(), b.as_deref(), &stats, transpose)
        .map_err(|e| e.to_string())?;
    let fb = Tensor::parameter(ndarray::Array1::from(fb).into_dyn());
    let mut fused =
        C::rebuild(Tensor::parameter(fw), Some(fb), conv.options().clone()).map_err(nn_err)?;
    fused.set_training_flag(false);
    Ok(fused)
}

/// `fuse_conv_bn`: eval folds the batch norm into the convolution; QAT gives `ConvBn*d`.
pub(crate) fn conv_bn<C: ConvLayer, B: BnLayer, F: Module>(
    is_qat: bool,
    mods: &[&dyn Module],
    make_qat: fn(C, B) -> F,
) -> FuseResult {
    same_mode(mods, "Conv and BN")?;
    let (conv, bn) = (typed::<C>(mods[0])?, typed::<B>(mods[1])?);
    if is_qat {
        qat_bn_checks(bn, conv.out_channels())?;
        Ok(Box::new(make_qat(
            copy_conv(conv).map_err(nn_err)?,
            bn.copy(),
        )))
    } else {
        Ok(Box::new(fold_conv_bn(conv, bn, false)?))
    }
}

/// `fuse_conv_bn_relu`: eval gives `ConvReLU*d` around the folded convolution; QAT gives
/// `ConvBnReLU*d`.
pub(crate) fn conv_bn_relu<C: ConvLayer, B: BnLayer, E: Module, Q: Module>(
    is_qat: bool,
    mods: &[&dyn Module],
    make_eval: fn(C, ReLU) -> E,
    make_qat: fn(C, B, ReLU) -> Q,
) -> FuseResult {
    same_mode(mods, "Conv, BN and ReLU")?;
    let (conv, bn, relu) = (
        typed::<C>(mods[0])?,
        typed::<B>(mods[1])?,
        typed::<ReLU>(mods[2])?,
    );
    if is_qat {
        qat_bn_checks(bn, conv.out_channels())?;
        Ok(Box::new(make_qat(
            copy_conv(conv).map_err(nn_err)?,
            bn.copy(),
            copy_relu(relu),
        )))
    } else {
        Ok(Box::new(make_eval(
            fold_conv_bn(conv, bn, false)?,
            copy_relu(relu),
        )))
    }
}

/// `fuse_convtranspose_bn`: eval only (PyTorch has no QAT form).
pub(crate) fn convtranspose_bn<C: ConvLayer, B: BnLayer>(
    is_qat: bool,
    mods: &[&dyn Module],
) -> FuseResult {
    same_mode(mods, "ConvTranspose and BN")?;
    if is_qat {
        return Err("Fusing ConvTranspose+BatchNorm not yet supported in QAT".into());
    }
    let (conv, bn) = (typed::<C>(mods[0])?, typed::<B>(mods[1])?);
    Ok(Box::new(fold_conv_bn(conv, bn, true)?))
}

/// `fuse_linear_bn`: eval folds the batch norm into the linear layer; QAT gives `LinearBn1d`.
pub(crate) fn linear_bn(is_qat: bool, mods: &[&dyn Module]) -> FuseResult {
    same_mode(mods, "Linear and BN")?;
    let (lin, bn) = (typed::<Linear>(mods[0])?, typed::<BatchNorm1d>(mods[1])?);
    if is_qat {
        qat_bn_checks(bn, lin.out_features())?;
        return Ok(Box::new(nn_intrinsic::LinearBn1d::new(
            copy_linear(lin).map_err(nn_err)?,
            bn.copy(),
        )));
    }
    if lin.is_training() || bn.is_training() {
        return Err(EVAL_ONLY.into());
    }
    if lin.out_features() != bn.num_features() {
        return Err(format!(
            "linear.out_features ({}) must equal bn.num_features ({})",
            lin.out_features(),
            bn.num_features()
        ));
    }
    let (mean, var) = match (BnLayer::running_mean(bn), BnLayer::running_var(bn)) {
        (Some(m), Some(v)) => (m.to_vec(), v.to_vec()),
        _ => {
            return Err(
                "the batch norm has no running statistics (track_running_stats=False)".into(),
            )
        }
    };
    let (gamma, beta) = (vec_of(BnLayer::weight(bn)), vec_of(BnLayer::bias(bn)));
    let stats = BatchNormStats {
        weight: gamma.as_deref(),
        bias: beta.as_deref(),
        running_mean: &mean,
        running_var: &var,
        eps: bn.config.eps as f32,
    };
    let w = lin.weight.data();
    let b = vec_of(lin.bias.as_ref());
    let (fw, fb) =
        fuse_linear_bn_weights(w.view(), b.as_deref(), &stats).map_err(|e| e.to_string())?;
    let fb = Tensor::parameter(ndarray::Array1::from(fb).into_dyn());
    let mut fused = Linear::from_parts(Tensor::parameter(fw), Some(fb)).map_err(nn_err)?;
    fused.set_training_flag(false);
    Ok(Box::new(fused))
}

/// A layer followed by a ReLU as one sequential fused module (mode ignored, as PyTorch's
/// `_sequential_wrapper2`).
pub(crate) fn with_relu<A: Module, F: Module>(
    mods: &[&dyn Module],
    copy: fn(&A) -> Result<A, String>,
    make: fn(A, ReLU) -> F,
) -> FuseResult {
    let (a, relu) = (typed::<A>(mods[0])?, typed::<ReLU>(mods[1])?);
    Ok(Box::new(make(copy(a)?, copy_relu(relu))))
}

/// Copy functions for [`with_relu`].
pub(crate) fn copy_conv_s<C: ConvLayer>(c: &C) -> Result<C, String> {
    copy_conv(c).map_err(nn_err)
}

/// Copy of a linear layer for [`with_relu`].
pub(crate) fn copy_linear_s(l: &Linear) -> Result<Linear, String> {
    copy_linear(l).map_err(nn_err)
}

/// Copy of a batch norm for [`with_relu`].
pub(crate) fn copy_bn_s<B: BnLayer>(b: &B) -> Result<B, String> {
    Ok(b.copy())
}
