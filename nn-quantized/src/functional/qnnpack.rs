//! The qnnpack engine's side of the operator layer: quint8 activations into `qkernels-arm`.

use qkernels_arm::{Kernels, QBuf, QView, U8Quant};
use qtensor::{QDType, QParams, QTensor};

use super::operand::{build, kernel_err};
use super::QOpError;

/// The kernels for this process's CPU (chosen once by `qkernels-arm`).
pub fn kernels() -> Kernels {
    Kernels::active()
}

/// A quint8, per-tensor operand as a kernel view (qnnpack takes no other activations).
pub fn view<'a>(
    op: &'static str,
    arg: &'static str,
    x: &'a QTensor,
) -> Result<QView<'a>, QOpError> {
    let data = x
        .as_u8()
        .and_then(|v| v.to_slice())
        .ok_or(QOpError::DType {
            op,
            arg,
            got: x.dtype(),
            expected: "quint8 (the qnnpack engine takes no other activations)",
        })?;
    match x.qparams() {
        QParams::PerTensor { scale, zero_point } => Ok(QView::new(
            data,
            x.shape(),
            U8Quant {
                scale: *scale,
                zero_point: *zero_point as u8,
            },
        )),
        _ => Err(QOpError::PerChannelActivation { op, arg }),
    }
}

/// Output parameters given by the caller, for a quint8 output.
pub fn out_quant(scale: f64, zero_point: i64) -> Result<U8Quant, QOpError> {
    qtensor::check_scale("output scale", scale)?;
    qtensor::check_zero_point("output zero_point", zero_point, QDType::QUInt8)?;
    Ok(U8Quant {
        scale,
        zero_point: zero_point as u8,
    })
}

/// A kernel result as a quantized tensor.
pub fn finish(
    op: &'static str,
    out: Result<QBuf, qkernels_arm::KernelError>,
) -> Result<QTensor, QOpError> {
    let out = out.map_err(kernel_err(op))?;
    build(
        &out.shape,
        out.data,
        qkernels_x86::quant::Affine::new(out.quant.scale, i32::from(out.quant.zero_point)),
    )
}
