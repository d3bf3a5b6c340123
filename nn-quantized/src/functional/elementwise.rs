//! Binary and scalar arithmetic on quantized tensors: `quantized::add`, `add_relu`, `mul`,
//! `mul_relu`, `add_scalar`, `mul_scalar`, `cat`.

use qkernels_x86::elementwise as x86;
use qkernels_x86::op_error::OpError;
use qkernels_x86::quant::{Affine, QView};
use qtensor::QTensor;

use super::operand::{affine, build, by_dtype, kernel_err, out_affine, values, Act};
use super::{qnnpack, QOpError};
use qtensor::Engine;

type BinaryKernel<T> = fn(QView<T>, QView<T>, Affine) -> Result<Vec<T>, OpError>;

fn binary<T: Act>(
    op: &'static str,
    kernel: BinaryKernel<T>,
    a: &QTensor,
    b: &QTensor,
    out_q: Affine,
) -> Result<QTensor, QOpError> {
    if a.shape() != b.shape() {
        return Err(QOpError::Shape {
            op,
            msg: format!(
                "operands have shapes {:?} and {:?} (broadcasting is not supported)",
                a.shape(),
                b.shape()
            ),
        });
    }
    let va = QView::new(values::<T>(op, "a", a)?, affine(op, "a", a)?);
    let vb = QView::new(values::<T>(op, "b", b)?, affine(op, "b", b)?);
    let out = kernel(va, vb, out_q).map_err(kernel_err(op))?;
    build(a.shape(), out, out_q)
}

/// The qnnpack kernel behind each binary operator (relu fused by a flag).
macro_rules! binary_arm {
    ($k:expr, add, $a:expr, $b:expr, $o:expr) => {
        $k.add($a, $b, $o, false)
    };
    ($k:expr, add_relu, $a:expr, $b:expr, $o:expr) => {
        $k.add($a, $b, $o, true)
    };
    ($k:expr, mul, $a:expr, $b:expr, $o:expr) => {
        $k.mul($a, $b, $o, false)
    };
    ($k:expr, mul_relu, $a:expr, $b:expr, $o:expr) => {
        $k.mul($a, $b, $o, true)
    };
}

macro_rules! binary_op {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// Both operands must have the same shape and 8-bit dtype and be per-tensor quantized;
        /// the result has the given `scale` and `zero_point`.
        pub fn $name(a: &QTensor, b: &QTensor, scale: f64, zero_point: i64) -> Result<QTensor, QOpError> {
            const OP: &str = stringify!($name);
            if qtensor::engine() == Engine::Qnnpack {
                let k = qnnpack::kernels();
                let (va, vb) = (qnnpack::view(OP, "a", a)?, qnnpack::view(OP, "b", b)?);
                let out = qnnpack::out_quant(scale, zero_point)?;
                return qnnpack::finish(OP, binary_arm!(k, $name, &va, &vb, out));
            }
            let out_q = out_affine(scale, zero_point, a.dtype())?;
            fn go<T: Act>(a: &QTensor, b: &QTensor, out_q: Affine) -> Result<QTensor, QOpError> {
                binary::<T>(OP, x86::$name::<T>, a, b, out_q)
            }
            by_dtype!(OP, a, go(a, b, out_q))
        }
    };
}

binary_op!(
    /// `a + b` (`torch.ops.quantized.add`).
    add
);
binary_op!(
    /// `relu(a + b)` (`torch.ops.quantized.add_relu`).
    add_relu
);
binary_op!(
    /// `a * b` (`torch.ops.quantized.mul`).
    mul
);
binary_op!(
    /// `relu(a * b)` (`torch.ops.quantized.mul_relu`).
    mul_relu
);

macro_rules! scalar_op {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub fn $name(x: &QTensor, scalar: f64) -> Result<QTensor, QOpError> {
            const OP: &str = stringify!($name);
            if qtensor::engine() == Engine::Qnnpack {
                let v = qnnpack::view(OP, "input", x)?;
                return qnnpack::finish(OP, qnnpack::kernels().$name(&v, scalar, false));
            }
            fn go<T: Act>(x: &QTensor, scalar: f64) -> Result<QTensor, QOpError> {
                let v = QView::new(values::<T>(OP, "input", x)?, affine(OP, "input", x)?);
                let out = x86::$name(v, scalar).map_err(kernel_err(OP))?;
                build(x.shape(), out.data, out.q)
            }
            by_dtype!(OP, x, go(x, scalar))
        }
    };
}

scalar_op!(
    /// `x + scalar` (`torch.ops.quantized.add_scalar`): PyTorch moves the zero point and keeps
    /// the integers when it can, so the output parameters are chosen by the operator.
    add_scalar
);
scalar_op!(
    /// `x * scalar` (`torch.ops.quantized.mul_scalar`): PyTorch rescales (and mirrors for a
    /// negative scalar), so the output parameters are chosen by the operator.
    mul_scalar
);

/// Concatenation along `dim` of tensors with possibly different parameters, requantized to
/// `scale` / `zero_point` (`torch.ops.quantized.cat`).
pub fn cat(
    inputs: &[&QTensor],
    dim: usize,
    scale: f64,
    zero_point: i64,
) -> Result<QTensor, QOpError> {
    const OP: &str = "cat";
    let first = inputs.first().ok_or(QOpError::Shape {
        op: OP,
        msg: "needs at least one tensor".into(),
    })?;
    if qtensor::engine() == Engine::Qnnpack {
        let views = inputs
            .iter()
            .map(|x| qnnpack::view(OP, "inputs", x))
            .collect::<Result<Vec<_>, _>>()?;
        let out = qnnpack::out_quant(scale, zero_point)?;
        return qnnpack::finish(OP, qnnpack::kernels().cat(&views, dim, out));
    }
    let out_q = out_affine(scale, zero_point, first.dtype())?;
    fn go<T: Act>(inputs: &[&QTensor], dim: usize, out_q: Affine) -> Result<QTensor, QOpError> {
        let parts = inputs
            .iter()
            .map(|x| {
                Ok(x86::CatInput {
                    data: values::<T>(OP, "inputs", x)?,
                    shape: x.shape(),
                    q: affine(OP, "inputs", x)?,
                })
            })
            .collect::<Result<Vec<_>, QOpError>>()?;
        let out = x86::cat(&parts, dim, out_q).map_err(kernel_err(OP))?;
        build(&out.shape, out.data, out_q)
    }
    by_dtype!(OP, first, go(inputs, dim, out_q))
}
