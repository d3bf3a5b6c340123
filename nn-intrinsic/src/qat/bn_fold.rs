//! The batch-norm fold simulated in training (PyTorch's `_forward_approximate`), shared by the
//! conv-bn and linear-bn QAT modules, and the batch norm they hold.

use nn::{BatchNorm1d, BatchNorm2d, BatchNorm3d, Child, Module, NnError, Result, Tensor, Value};

/// The parts of a batch norm the fold needs, whatever its rank.
pub(crate) struct BnView {
    pub(crate) weight: Tensor,
    pub(crate) bias: Tensor,
    pub(crate) running_mean: Tensor,
    pub(crate) running_var: Tensor,
    pub(crate) eps: f64,
}

fn view_of(
    weight: &Option<Tensor>,
    bias: &Option<Tensor>,
    mean: &Option<Tensor>,
    var: &Option<Tensor>,
    eps: f64,
) -> Option<BnView> {
    Some(BnView {
        weight: weight.clone()?,
        bias: bias.clone()?,
        running_mean: mean.clone()?,
        running_var: var.clone()?,
        eps,
    })
}

/// The batch norm child of a fused QAT module, if it is an affine batch norm tracking running
/// statistics (the only kind these modules build).
pub(crate) fn bn_view(owner: &str, bn: &dyn Module) -> Result<BnView> {
    macro_rules! try_bn {
        ($($t:ty),+) => {
            $(if let Some(b) = bn.downcast_ref::<$t>() {
                return view_of(&b.weight, &b.bias, &b.running_mean, &b.running_var, b.config.eps)
                    .ok_or_else(|| NnError::bad_arg(owner, "the batch norm must be affine and track running statistics"));
            })+
        };
    }
    try_bn!(BatchNorm1d, BatchNorm2d, BatchNorm3d);
    Err(NnError::bad_arg(
        owner,
        format!("child 'bn' must be a batch norm, got {}", bn.type_name()),
    ))
}

/// `[-1, 1, 1, ...]` of `rank` dimensions (`weight_shape`), or `[1, -1, 1, ...]` with
/// `channel_first = false` (`bias_shape`).
fn broadcast_shape(rank: usize, axis: usize) -> Vec<isize> {
    (0..rank).map(|i| if i == axis { -1 } else { 1 }).collect()
}

/// `gamma / sqrt(running_var + eps)`, differentiable in `gamma`; computed in `f32` as
/// PyTorch does (the eps rounded to `f32` first).
pub(crate) fn scale_factor(bn: &BnView) -> Result<Tensor> {
    let eps = bn.eps as f32;
    let std = bn.running_var.data().mapv(|v| (v + eps).sqrt());
    bn.weight.div(&Tensor::new(std))
}

/// One approximate fused forward (`_forward_approximate` of `_ConvBnNd` and `LinearBn1d`):
/// `scale = gamma / sqrt(running_var + eps)`; the weight scaled per output channel by it goes
/// through the fake quant; `op` (the convolution or linear map, without bias) runs with it; the
/// result is divided by the scale per channel (axis 1), the layer's bias added back, and the
/// batch norm applied (batch statistics and running-statistics update in training, running
/// statistics when frozen or in eval mode).
pub(crate) fn approximate_forward(
    owner: &str,
    weight: &Tensor,
    bias: Option<&Tensor>,
    bn: &mut Child,
    fake_quant: &mut Child,
    op: impl FnOnce(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let view = bn_view(owner, bn.module())?;
    let rank = weight.ndim();
    let sf = scale_factor(&view)?;
    let scaled = weight.mul(&sf.reshape(&broadcast_shape(rank, 0))?)?;
    let scaled_fq = nn_qat::weight::apply(fake_quant, owner, &scaled)?;
    let y = op(&scaled_fq)?;
    let mut y = y.div(&sf.reshape(&broadcast_shape(rank, 1))?)?;
    if let Some(b) = bias {
        y = y.add(&b.reshape(&broadcast_shape(rank, 1))?)?;
    }
    bn.forward(Value::Float(y))?.into_float(owner)
}

/// A fresh batch norm of rank `$t` sharing the parameters and running statistics of `src`
/// (what `from_float` does: `qat.bn.weight = bn.weight` ...), in training mode. Errors if `src`
/// is not affine or does not track running statistics, or has `channels` != its features.
macro_rules! share_bn {
    ($t:ty, $src:expr, $channels:expr, $owner:expr) => {{
        let src: &$t = $src;
        if src.num_features() != $channels {
            return Err(NnError::bad_arg(
                $owner,
                format!(
                    "the batch norm has {} features for {} output channels",
                    src.num_features(),
                    $channels
                ),
            ));
        }
        let mut bn = <$t>::with_config(src.num_features(), src.config);
        match (
            &src.weight,
            &src.bias,
            &src.running_mean,
            &src.running_var,
            &src.num_batches_tracked,
        ) {
            (Some(w), Some(b), Some(m), Some(v), Some(n)) => {
                bn.weight = Some(w.clone());
                bn.bias = Some(b.clone());
                bn.running_mean = Some(m.clone());
                bn.running_var = Some(v.clone());
                bn.num_batches_tracked = Some(n.clone());
            }
            _ => {
                return Err(NnError::bad_arg(
                    $owner,
                    "the batch norm must be affine and track running statistics",
                ))
            }
        }
        bn
    }};
}
pub(crate) use share_bn;

/// The child slot named `bn`.
pub(crate) fn bn_slot(bn: impl Module) -> Child {
    Child::named("bn", bn)
}

/// PyTorch's `reset_bn_parameters`: running statistics reset, `weight` uniform in `[0, 1)`,
/// `bias` zero (a freshly constructed fused QAT module).
pub(crate) fn reset_bn_weight(weight: &Option<Tensor>) {
    if let Some(w) = weight {
        let n = w.len();
        let u = Tensor::rand_uniform(&[n], 0.0, 1.0).to_vec();
        w.update_data(|d| d.iter_mut().zip(&u).for_each(|(v, r)| *v = *r));
    }
}
