//! Activations on quantized tensors: relu and relu6 keep the input's parameters, tanh uses fixed
//! output parameters, the others take the output parameters as arguments.

use qkernels_x86::activation as x86;
use qkernels_x86::quant::QView;
use qtensor::QTensor;

use super::operand::{affine, build, by_dtype, kernel_err, out_affine, values, Act};
use super::{qnnpack, QOpError};
use qtensor::Engine;

fn view<'a, T: Act>(op: &'static str, x: &'a QTensor) -> Result<QView<'a, T>, QOpError> {
    Ok(QView::new(
        values::<T>(op, "input", x)?,
        affine(op, "input", x)?,
    ))
}

/// `max(x, 0)`, keeping the input's parameters.
pub fn relu(x: &QTensor) -> Result<QTensor, QOpError> {
    fn go<T: Act>(x: &QTensor) -> Result<QTensor, QOpError> {
        let v = view::<T>("relu", x)?;
        build(x.shape(), x86::relu(v).map_err(kernel_err("relu"))?, v.q)
    }
    if qtensor::engine() == Engine::Qnnpack {
        let v = qnnpack::view("relu", "input", x)?;
        return qnnpack::finish("relu", qnnpack::kernels().relu(&v));
    }
    by_dtype!("relu", x, go(x))
}

/// `min(max(x, 0), 6)`, keeping the input's parameters.
pub fn relu6(x: &QTensor) -> Result<QTensor, QOpError> {
    fn go<T: Act>(x: &QTensor) -> Result<QTensor, QOpError> {
        let v = view::<T>("relu6", x)?;
        build(x.shape(), x86::relu6(v).map_err(kernel_err("relu6"))?, v.q)
    }
    if qtensor::engine() == Engine::Qnnpack {
        let v = qnnpack::view("relu6", "input", x)?;
        return qnnpack::finish("relu6", qnnpack::kernels().relu6(&v));
    }
    by_dtype!("relu6", x, go(x))
}

/// `tanh(x)` with PyTorch's fixed output parameters (scale 2/256; zero point 128 for quint8).
pub fn tanh(x: &QTensor) -> Result<QTensor, QOpError> {
    fn go<T: Act>(x: &QTensor) -> Result<QTensor, QOpError> {
        let out = x86::tanh(view::<T>("tanh", x)?).map_err(kernel_err("tanh"))?;
        build(x.shape(), out.data, out.q)
    }
    if qtensor::engine() == Engine::Qnnpack {
        let v = qnnpack::view("tanh", "input", x)?;
        return qnnpack::finish("tanh", qnnpack::kernels().tanh(&v));
    }
    by_dtype!("tanh", x, go(x))
}

macro_rules! with_out_qparams {
    ($(#[$doc:meta])* $name:ident $(, $extra:ident)*) => {
        $(#[$doc])*
        pub fn $name(x: &QTensor, $($extra: f64,)* scale: f64, zero_point: i64) -> Result<QTensor, QOpError> {
            const OP: &str = stringify!($name);
            if qtensor::engine() == Engine::Qnnpack {
                let v = qnnpack::view(OP, "input", x)?;
                let out = qnnpack::out_quant(scale, zero_point)?;
                return qnnpack::finish(OP, qnnpack::kernels().$name(&v, $($extra,)* out));
            }
            let out_q = out_affine(scale, zero_point, x.dtype())?;
            fn go<T: Act>(x: &QTensor, $($extra: f64,)* out_q: qkernels_x86::quant::Affine) -> Result<QTensor, QOpError> {
                let out = x86::$name(view::<T>(OP, x)?, $($extra,)* out_q).map_err(kernel_err(OP))?;
                build(x.shape(), out, out_q)
            }
            by_dtype!(OP, x, go(x, $($extra,)* out_q))
        }
    };
}

with_out_qparams!(
    /// `x * relu6(x + 3) / 6`, requantized to `scale` / `zero_point`.
    hardswish
);
with_out_qparams!(
    /// `1 / (1 + exp(-x))`, requantized to `scale` / `zero_point` (PyTorch's modules use 1/256, 0).
    sigmoid
);
with_out_qparams!(
    /// `x` for `x >= 0`, `negative_slope * x` otherwise, requantized.
    leaky_relu,
    negative_slope
);
with_out_qparams!(
    /// `x` for `x > 0`, `alpha * (exp(x) - 1)` otherwise, requantized.
    elu,
    alpha
);
