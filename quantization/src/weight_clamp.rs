//! PyTorch's `_clamp_weights`: a weight quantized with a narrower integer range than its dtype
//! (e.g. 4-bit weights stored as qint8 with `quant_min=-8, quant_max=7`) keeps its integers
//! inside that range. `quantize_per_tensor` rounds into the dtype's full range, so the largest
//! weight of a symmetric observer (`max / scale = (qmax - qmin) / 2`, e.g. 7.5) would otherwise
//! round one step past `quant_max`.

use qtensor::{QData, QTensor};

/// Clamps the integer values of `q` into `[lo, hi]` if that is narrower than its dtype's
/// range; `q` unchanged otherwise (`_needs_weight_clamping`).
pub(crate) fn clamp_weights(q: QTensor, lo: i64, hi: i64) -> Result<QTensor, qtensor::QError> {
    let (dlo, dhi) = (q.dtype().min(), q.dtype().max());
    if lo <= dlo && hi >= dhi {
        return Ok(q);
    }
    let (data, params) = q.into_parts();
    let data = match data {
        QData::QInt8(a) => QData::QInt8(a.mapv(|v| i64::from(v).clamp(lo, hi) as i8)),
        QData::QUInt8(a) => QData::QUInt8(a.mapv(|v| i64::from(v).clamp(lo, hi) as u8)),
        QData::QInt32(a) => QData::QInt32(a.mapv(|v| i64::from(v).clamp(lo, hi) as i32)),
    };
    QTensor::from_int_repr(data, params)
}
