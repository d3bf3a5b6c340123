//! Folding an eval-mode batch norm into the preceding conv or linear layer, in `f32` exactly as
//! PyTorch's `torch.nn.utils.fusion` does.

use ndarray::{ArrayD, ArrayViewD, Axis};

/// Errors from folding.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FoldError {
    /// A tensor whose shape does not fit the layer being folded.
    #[error("{arg}: shape {got:?} does not fit; expected {expected}")]
    Shape {
        /// The argument.
        arg: &'static str,
        /// The shape given.
        got: Vec<usize>,
        /// What was expected.
        expected: String,
    },
    /// A running variance plus eps that is not positive (the fold would divide by zero or NaN).
    #[error("running_var[{index}] + eps = {value} is not positive")]
    BadVariance {
        /// Channel index.
        index: usize,
        /// The offending value.
        value: f32,
    },
}

/// An eval-mode batch norm's parameters and running statistics, one value per channel.
#[derive(Debug, Clone, Copy)]
pub struct BatchNormStats<'a> {
    /// `bn.weight` (gamma); `None` means ones.
    pub weight: Option<&'a [f32]>,
    /// `bn.bias` (beta); `None` means zeros.
    pub bias: Option<&'a [f32]>,
    /// `bn.running_mean`.
    pub running_mean: &'a [f32],
    /// `bn.running_var`.
    pub running_var: &'a [f32],
    /// `bn.eps`.
    pub eps: f32,
}

impl BatchNormStats<'_> {
    /// Channels described.
    fn channels(&self) -> usize {
        self.running_mean.len()
    }

    fn check(&self) -> Result<Vec<f32>, FoldError> {
        let c = self.channels();
        let lens = [
            ("running_var", self.running_var.len()),
            ("bn_weight", self.weight.map_or(c, <[f32]>::len)),
            ("bn_bias", self.bias.map_or(c, <[f32]>::len)),
        ];
        for (arg, len) in lens {
            if len != c {
                return Err(FoldError::Shape {
                    arg,
                    got: vec![len],
                    expected: format!("[{c}] like running_mean"),
                });
            }
        }
        // rsqrt(running_var + eps), as PyTorch, in f32.
        self.running_var
            .iter()
            .enumerate()
            .map(|(index, &v)| {
                let value = v + self.eps;
                if value > 0.0 {
                    Ok(1.0 / value.sqrt())
                } else {
                    Err(FoldError::BadVariance { index, value })
                }
            })
            .collect()
    }

    fn gamma(&self, c: usize) -> f32 {
        self.weight.map_or(1.0, |w| w[c])
    }

    fn beta(&self, c: usize) -> f32 {
        self.bias.map_or(0.0, |b| b[c])
    }
}

/// Folds `bn` into a convolution: `w' = w * (gamma * rsqrt(var + eps))` per output channel,
/// `b' = (b - mean) * rsqrt(var + eps) * gamma + beta`.
///
/// `transpose` is for transposed convolutions, whose output channels are the weight's axis 1.
pub fn fuse_conv_bn_weights(
    conv_weight: ArrayViewD<'_, f32>,
    conv_bias: Option<&[f32]>,
    bn: &BatchNormStats<'_>,
    transpose: bool,
) -> Result<(ArrayD<f32>, Vec<f32>), FoldError> {
    let rsqrt = bn.check()?;
    let axis = usize::from(transpose);
    let c = bn.channels();
    if conv_weight.ndim() < 2 || conv_weight.shape()[axis] != c {
        return Err(FoldError::Shape {
            arg: "conv_weight",
            got: conv_weight.shape().to_vec(),
            expected: format!("{c} output channels on axis {axis}"),
        });
    }
    if let Some(b) = conv_bias.filter(|b| b.len() != c) {
        return Err(FoldError::Shape {
            arg: "conv_bias",
            got: vec![b.len()],
            expected: format!("[{c}]"),
        });
    }
    let mut w = conv_weight.to_owned();
    for (i, mut lane) in w.axis_iter_mut(Axis(axis)).enumerate() {
        let factor = bn.gamma(i) * rsqrt[i];
        lane.mapv_inplace(|v| v * factor);
    }
    let b = (0..c)
        .map(|i| {
            (conv_bias.map_or(0.0, |b| b[i]) - bn.running_mean[i]) * rsqrt[i] * bn.gamma(i)
                + bn.beta(i)
        })
        .collect();
    Ok((w, b))
}

/// Folds `bn` into a linear layer: `w' = w * (gamma * rsqrt(var + eps))` per output row,
/// `b' = (b - mean) * (gamma * rsqrt(var + eps)) + beta`.
pub fn fuse_linear_bn_weights(
    linear_weight: ArrayViewD<'_, f32>,
    linear_bias: Option<&[f32]>,
    bn: &BatchNormStats<'_>,
) -> Result<(ArrayD<f32>, Vec<f32>), FoldError> {
    let rsqrt = bn.check()?;
    let c = bn.channels();
    if linear_weight.ndim() != 2 || linear_weight.shape()[0] != c {
        return Err(FoldError::Shape {
            arg: "linear_weight",
            got: linear_weight.shape().to_vec(),
            expected: format!("[{c}, in_features]"),
        });
    }
    if let Some(b) = linear_bias.filter(|b| b.len() != c) {
        return Err(FoldError::Shape {
            arg: "linear_bias",
            got: vec![b.len()],
            expected: format!("[{c}]"),
        });
    }
    let scale: Vec<f32> = (0..c).map(|i| bn.gamma(i) * rsqrt[i]).collect();
    let mut w = linear_weight.to_owned();
    for (i, mut row) in w.axis_iter_mut(Axis(0)).enumerate() {
        row.mapv_inplace(|v| v * scale[i]);
    }
    let b = (0..c)
        .map(|i| (linear_bias.map_or(0.0, |b| b[i]) - bn.running_mean[i]) * scale[i] + bn.beta(i))
        .collect();
    Ok((w, b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array1};

    /// Folding must give the same outputs as linear followed by batch norm, computed directly.
    #[test]
    fn linear_fold_equals_linear_then_bn() {
        let w = array![[0.5f32, -1.0, 2.0], [1.5, 0.25, -0.75]];
        let b = [0.1f32, -0.2];
        let (gamma, beta, mean, var) = (
            [1.2f32, 0.7],
            [0.3f32, -0.1],
            [0.05f32, -0.4],
            [0.9f32, 1.6],
        );
        let bn = BatchNormStats {
            weight: Some(&gamma),
            bias: Some(&beta),
            running_mean: &mean,
            running_var: &var,
            eps: 1e-5,
        };
        let (fw, fb) = fuse_linear_bn_weights(w.view().into_dyn(), Some(&b), &bn).unwrap();
        let x = Array1::from(vec![0.3f32, -0.7, 1.1]);
        for o in 0..2 {
            let lin = w.row(o).dot(&x) + b[o];
            let want = (lin - mean[o]) / (var[o] + 1e-5).sqrt() * gamma[o] + beta[o];
            let got: f32 = fw
                .index_axis(Axis(0), o)
                .iter()
                .zip(x.iter())
                .map(|(a, b)| a * b)
                .sum::<f32>()
                + fb[o];
            assert!((got - want).abs() < 1e-5, "{got} vs {want}");
        }
    }

    #[test]
    fn mismatched_shapes_and_bad_variance_are_errors() {
        let w = ArrayD::<f32>::zeros(ndarray::IxDyn(&[3, 2, 1, 1]));
        let stats = |var: &'static [f32]| BatchNormStats {
            weight: None,
            bias: None,
            running_mean: &[0.0, 0.0, 0.0],
            running_var: var,
            eps: 0.0,
        };
        assert!(matches!(
            fuse_conv_bn_weights(w.view(), None, &stats(&[1.0, 1.0]), false),
            Err(FoldError::Shape { .. })
        ));
        assert!(matches!(
            fuse_conv_bn_weights(w.view(), None, &stats(&[1.0, 0.0, 1.0]), false),
            Err(FoldError::BadVariance { index: 1, .. })
        ));
        assert!(matches!(
            fuse_conv_bn_weights(w.view(), None, &stats(&[1.0, 1.0, 1.0]), true),
            Err(FoldError::Shape { .. })
        ));
    }
}
