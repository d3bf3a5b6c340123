//! `relu` and `relu6`: clamps in the quantized domain.

use super::kernels;
use crate::isa::Isa;
use crate::op_error::OpError;
use crate::quant::{quantize_val, QInt, QView};

pub(crate) fn clamp_with_isa<T: QInt>(isa: Isa, x: QView<T>, lo: T, hi: T) -> Vec<T> {
    let mut out = vec![T::default(); x.data.len()];
    kernels::clamp(isa, x.data, lo, hi, &mut out);
    out
}

/// `relu` on a quantized tensor: `max(x, zero_point)`; the output keeps the
/// input's quantization parameters.
///
/// Errors: invalid quantization parameters.
pub fn relu<T: QInt>(x: QView<T>) -> Result<Vec<T>, OpError> {
    x.q.validate::<T>("x")?;
    let lo = T::from_i32_sat(x.q.zero_point);
    Ok(clamp_with_isa(
        crate::isa::active_isa(),
        x,
        lo,
        T::from_i32_sat(T::QMAX),
    ))
}

/// `relu6` (`hardtanh(x, 0, 6)` in PyTorch 2.11): clamps to
/// `[quantize(0), quantize(6)]` with the input's parameters, which it keeps.
///
/// Errors: invalid quantization parameters.
pub fn relu6<T: QInt>(x: QView<T>) -> Result<Vec<T>, OpError> {
    x.q.validate::<T>("x")?;
    let lo: T = quantize_val(x.q.scale, x.q.zero_point, 0.0);
    let hi: T = quantize_val(x.q.scale, x.q.zero_point, 6.0);
    Ok(clamp_with_isa(crate::isa::active_isa(), x, lo, hi))
}
