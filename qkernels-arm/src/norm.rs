//! `quantized::batch_norm` (ATen's generic kernel; the qnnpack engine has no batch norm).

use crate::{KernelError, Kernels, QBuf, QView, U8Quant};

/// Batch-norm statistics and affine parameters, one value per channel.
#[derive(Debug, Clone, Copy)]
pub struct BatchNorm<'a> {
    /// Scale (gamma).
    pub weight: &'a [f32],
    /// Shift (beta).
    pub bias: &'a [f32],
    /// Running mean.
    pub mean: &'a [f32],
    /// Running variance.
    pub var: &'a [f32],
    /// Added to the variance.
    pub eps: f64,
}

/// PyTorch's `compute_fused_params`: per channel `alpha` and `beta` such that
/// `y_q = out_zp + round(alpha * (x_q - in_zp) + beta)`.
fn fused_params(bn: &BatchNorm, c: usize, input_scale: f64, output_scale: f64) -> (f32, f32) {
    let inv_sigma = (1.0 / f64::from((bn.var[c] + bn.eps as f32).sqrt())) as f32;
    let (w, b) = (bn.weight[c], bn.bias[c]);
    let alpha = (f64::from(inv_sigma * w) * (input_scale / output_scale)) as f32;
    let beta = (f64::from(b - bn.mean[c] * inv_sigma * w) / output_scale) as f32;
    (alpha, beta)
}

impl Kernels {
    /// `quantized::batch_norm` (`batch_norm_relu` with `relu`) over channel axis 1 of a 2- to
    /// 5-d tensor: `out_zp + round(fma(alpha, x_q - in_zp, beta))`, clamped.
    pub fn batch_norm(
        &self,
        x: &QView,
        bn: &BatchNorm,
        out: U8Quant,
        relu: bool,
    ) -> Result<QBuf, KernelError> {
        x.validate("x")?;
        out.validate("output scale")?;
        if !(2..=5).contains(&x.shape.len()) {
            return Err(KernelError::BadShape {
                arg: "x",
                reason: format!("batch norm needs 2 to 5 dimensions, got {:?}", x.shape),
            });
        }
        let c = x.shape[1];
        for (arg, v) in [
            ("weight", bn.weight),
            ("bias", bn.bias),
            ("mean", bn.mean),
            ("var", bn.var),
        ] {
            crate::linear::check_len(arg, v.len(), c)?;
        }
        let params: Vec<(f32, f32)> = (0..c)
            .map(|ch| fused_params(bn, ch, x.quant.scale, out.scale))
            .collect();
        let inner: usize = x.shape[2..].iter().product();
        let zp_in = f32::from(x.quant.zero_point);
        let lo = if relu { i64::from(out.zero_point) } else { 0 };
        let data = x
            .data
            .iter()
            .enumerate()
            .map(|(i, &q)| {
                let ch = match x.layout {
                    crate::Layout::Nhwc if x.shape.len() > 2 => i % c,
                    _ => (i / inner.max(1)) % c,
                };
                let (alpha, beta) = params[ch];
                // The vectorised kernel: fmadd(1, q, -zp) is exact, then fmadd(alpha, ., beta).
                let y = alpha.mul_add(f32::from(q) - zp_in, beta);
                (i64::from(out.zero_point) + y.round_ties_even() as i64).clamp(lo, 255) as u8
            })
            .collect();
        Ok(QBuf {
            data,
            shape: x.shape.to_vec(),
            quant: out,
            layout: x.layout,
        })
    }
}
