//! One entry to its stored tensors (values, then any quantization parameters) and metadata.

use qtensor::{QData, QParams, QScheme};
use safetensors::Dtype;

use super::{aux_names, crc_of, le_bytes, Stored, TensorMeta, SCHEME_NONE};
use crate::state::value::QStateTensor;

/// The stored tensors of one entry (values first, then any parameters) and its metadata.
pub(super) fn encode(key: &str, value: &QStateTensor) -> (Vec<Stored>, TensorMeta) {
    let stored = |name: &str, dtype, shape: &[usize], bytes| Stored {
        name: name.to_string(),
        dtype,
        shape: shape.to_vec(),
        bytes,
    };
    let mut axis = None;
    let parts = match value {
        QStateTensor::Quantized(q) => {
            let (dtype, bytes) = match q.int_repr() {
                QData::QUInt8(a) => (Dtype::U8, a.iter().copied().collect()),
                QData::QInt8(a) => (Dtype::I8, le_bytes(a.iter().copied(), i8::to_le_bytes)),
                QData::QInt32(a) => (Dtype::I32, le_bytes(a.iter().copied(), i32::to_le_bytes)),
            };
            let main = stored(key, dtype, q.shape(), bytes);
            let (s, z) = aux_names(key, q.qparams().axis().is_some());
            let (scales, zero_points) = match q.qparams() {
                QParams::PerTensor { scale, zero_point } => (
                    stored(&s, Dtype::F64, &[], scale.to_le_bytes().to_vec()),
                    stored(&z, Dtype::I64, &[], zero_point.to_le_bytes().to_vec()),
                ),
                QParams::PerChannel {
                    scales,
                    zero_points,
                    axis: a,
                } => {
                    axis = Some(*a);
                    (
                        stored(
                            &s,
                            Dtype::F64,
                            &[scales.len()],
                            le_bytes(scales.iter().copied(), f64::to_le_bytes),
                        ),
                        stored(
                            &z,
                            Dtype::I64,
                            &[zero_points.len()],
                            le_bytes(zero_points.iter().copied(), i64::to_le_bytes),
                        ),
                    )
                }
                QParams::PerChannelFloat {
                    scales,
                    zero_points,
                    axis: a,
                } => {
                    axis = Some(*a);
                    (
                        stored(
                            &s,
                            Dtype::F32,
                            &[scales.len()],
                            le_bytes(scales.iter().copied(), f32::to_le_bytes),
                        ),
                        stored(
                            &z,
                            Dtype::F32,
                            &[zero_points.len()],
                            le_bytes(zero_points.iter().copied(), f32::to_le_bytes),
                        ),
                    )
                }
            };
            vec![main, scales, zero_points]
        }
        QStateTensor::F16(a) => vec![stored(
            key,
            Dtype::F16,
            a.shape(),
            le_bytes(a.iter().copied(), half::f16::to_le_bytes),
        )],
        QStateTensor::F32(a) => vec![stored(
            key,
            Dtype::F32,
            a.shape(),
            le_bytes(a.iter().copied(), f32::to_le_bytes),
        )],
        QStateTensor::F64(a) => vec![stored(
            key,
            Dtype::F64,
            a.shape(),
            le_bytes(a.iter().copied(), f64::to_le_bytes),
        )],
        QStateTensor::I64(a) => vec![stored(
            key,
            Dtype::I64,
            a.shape(),
            le_bytes(a.iter().copied(), i64::to_le_bytes),
        )],
    };
    let meta = TensorMeta {
        name: key.to_string(),
        dtype: value.dtype().name().to_string(),
        scheme: value
            .qscheme()
            .map_or(SCHEME_NONE, QScheme::name)
            .to_string(),
        axis,
        crc32: crc_of(&parts.iter().collect::<Vec<_>>()),
    };
    (parts, meta)
}
