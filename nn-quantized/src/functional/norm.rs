//! Quantized batch normalization (eval mode, running statistics).

use qkernels_x86::elementwise as x86;
use qkernels_x86::nchw::Nchw;
use qkernels_x86::quant::{Affine, QView};
use qtensor::QTensor;

use super::operand::{affine, build, by_dtype, kernel_err, out_affine, values, Act};
use super::{qnnpack, QOpError};

/// Batch-norm parameters and running statistics, one value per channel.
#[derive(Debug, Clone, Copy)]
pub struct BatchNormParams<'a> {
    /// gamma.
    pub weight: &'a [f32],
    /// beta.
    pub bias: &'a [f32],
    /// Running mean.
    pub running_mean: &'a [f32],
    /// Running variance.
    pub running_var: &'a [f32],
    /// Added to the variance.
    pub eps: f64,
}

/// `quantized::batch_norm2d`: `(x - mean) / sqrt(var + eps) * weight + bias`, requantized to
/// `scale` / `zero_point`; `relu` fuses a ReLU (`batch_norm2d_relu`).
pub fn batch_norm2d(
    x: &QTensor,
    bn: &BatchNormParams<'_>,
    scale: f64,
    zero_point: i64,
    relu: bool,
) -> Result<QTensor, QOpError> {
    const OP: &str = "batch_norm2d";
    if qtensor::engine() == qtensor::Engine::Qnnpack {
        let v = qnnpack::view(OP, "input", x)?;
        let out = qnnpack::out_quant(scale, zero_point)?;
        let params = qkernels_arm::BatchNorm {
            weight: bn.weight,
            bias: bn.bias,
            mean: bn.running_mean,
            var: bn.running_var,
            eps: bn.eps,
        };
        return qnnpack::finish(OP, qnnpack::kernels().batch_norm(&v, &params, out, relu));
    }
    let out_q = out_affine(scale, zero_point, x.dtype())?;
    fn go<T: Act>(
        x: &QTensor,
        bn: &BatchNormParams<'_>,
        out_q: Affine,
        relu: bool,
    ) -> Result<QTensor, QOpError> {
        let v = QView::new(values::<T>(OP, "input", x)?, affine(OP, "input", x)?);
        let shape = Nchw::from_slice(x.shape()).map_err(kernel_err(OP))?;
        let params = x86::BatchNorm2d {
            weight: bn.weight,
            bias: bn.bias,
            running_mean: bn.running_mean,
            running_var: bn.running_var,
            eps: bn.eps,
        };
        let kernel = if relu {
            x86::batch_norm2d_relu::<T>
        } else {
            x86::batch_norm2d::<T>
        };
        let out = kernel(v, shape, &params, out_q).map_err(kernel_err(OP))?;
        build(x.shape(), out, out_q)
    }
    by_dtype!(OP, x, go(x, bn, out_q, relu))
}
