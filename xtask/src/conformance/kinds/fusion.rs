//! Kinds `fuse_conv_bn_eval` and `fuse_linear_bn_eval`: batch-norm folding.

use nn_intrinsic::{fuse_conv_bn_weights, fuse_linear_bn_weights, BatchNormStats};

use crate::conformance::check::{Checker, Verdict};
use crate::conformance::fixture::Case;

fn run(case: &Case, prefix: &str, conv: bool) -> Result<Verdict, String> {
    let w = case.input(&format!("{prefix}_weight"))?.to_f32()?;
    let b = case.input(&format!("{prefix}_bias"))?.to_f32()?;
    let [gamma, beta, mean, var] = ["bn_weight", "bn_bias", "running_mean", "running_var"]
        .map(|k| case.input(k).and_then(|t| t.to_f32()));
    let (gamma, beta, mean, var) = (gamma?, beta?, mean?, var?);
    let slice = |a: &ndarray::ArrayD<f32>| a.as_slice().unwrap_or_default().to_vec();
    let (gamma, beta, mean, var, b) = (
        slice(&gamma),
        slice(&beta),
        slice(&mean),
        slice(&var),
        slice(&b),
    );
    let bn = BatchNormStats {
        weight: Some(&gamma),
        bias: Some(&beta),
        running_mean: &mean,
        running_var: &var,
        eps: case.f64("eps")? as f32,
    };
    let (fw, fb) = if conv {
        fuse_conv_bn_weights(w.view(), Some(&b), &bn, false)
    } else {
        fuse_linear_bn_weights(w.view(), Some(&b), &bn)
    }
    .map_err(|e| e.to_string())?;
    let mut c = Checker::new();
    c.floats_rel(
        "weight",
        fw.as_slice().unwrap_or_default(),
        case.expected("weight")?
            .to_f32()?
            .as_slice()
            .unwrap_or_default(),
    );
    c.floats_rel(
        "bias",
        &fb,
        case.expected("bias")?
            .to_f32()?
            .as_slice()
            .unwrap_or_default(),
    );
    Ok(c.finish())
}

/// `fuse_conv_bn_eval`: folded conv weight and bias.
pub fn conv_bn(case: &Case) -> Result<Verdict, String> {
    run(case, "conv", true)
}

/// `fuse_linear_bn_eval`: folded linear weight and bias.
pub fn linear_bn(case: &Case) -> Result<Verdict, String> {
    run(case, "linear", false)
}
