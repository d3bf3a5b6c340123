//! Stored tensors back to one entry, every inconsistency a typed error.

use std::collections::HashSet;

use ndarray::{ArrayD, IxDyn};
use qtensor::{QData, QParams, QScheme, QTensor};
use safetensors::{Dtype, SafeTensors};

use super::{aux_names, crc_of, Stored, TensorMeta, SCHEME_NONE};
use crate::state::error::StateError;
use crate::state::value::{QStateTensor, StateDType};

fn storage_of(dtype: StateDType) -> Dtype {
    match dtype {
        StateDType::QUInt8 => Dtype::U8,
        StateDType::QInt8 => Dtype::I8,
        StateDType::QInt32 => Dtype::I32,
        StateDType::Float16 => Dtype::F16,
        StateDType::Float32 => Dtype::F32,
        StateDType::Float64 => Dtype::F64,
        StateDType::Int64 => Dtype::I64,
    }
}

/// A stored tensor of the expected safetensors dtype, as owned parts for the checksum.
fn fetch(
    st: &SafeTensors<'_>,
    name: &str,
    dtype: Dtype,
    used: &mut HashSet<String>,
) -> Result<Stored, StateError> {
    let view = st.tensor(name).map_err(|_| {
        StateError::corrupt(format!("tensor '{name}' listed in the metadata is missing"))
    })?;
    if view.dtype() != dtype {
        return Err(StateError::corrupt(format!(
            "tensor '{name}' is stored as {:?}, the metadata says {dtype:?}",
            view.dtype()
        )));
    }
    used.insert(name.to_string());
    Ok(Stored {
        name: name.to_string(),
        dtype,
        shape: view.shape().to_vec(),
        bytes: view.data().to_vec(),
    })
}

fn array<T, const N: usize>(s: &Stored, f: fn([u8; N]) -> T) -> Result<ArrayD<T>, StateError> {
    let values: Vec<T> = s
        .bytes
        .chunks_exact(N)
        .map(|c| {
            let mut b = [0u8; N];
            b.copy_from_slice(c);
            f(b)
        })
        .collect();
    ArrayD::from_shape_vec(IxDyn(&s.shape), values)
        .map_err(|e| StateError::corrupt(format!("tensor '{}': {e}", s.name)))
}

fn flat<T: Copy, const N: usize>(
    s: &Stored,
    f: fn([u8; N]) -> T,
    len: Option<usize>,
) -> Result<Vec<T>, StateError> {
    let ok = match len {
        None => s.shape.is_empty(),
        Some(n) => s.shape == [n],
    };
    if !ok {
        return Err(StateError::corrupt(format!(
            "tensor '{}' has shape {:?}, expected {}",
            s.name,
            s.shape,
            len.map_or("a scalar".to_string(), |n| format!("[{n}]"))
        )));
    }
    Ok(array(s, f)?.iter().copied().collect())
}

pub(super) fn decode(
    st: &SafeTensors<'_>,
    t: &TensorMeta,
    used: &mut HashSet<String>,
) -> Result<QStateTensor, StateError> {
    let dtype = StateDType::from_name(&t.dtype).ok_or_else(|| {
        StateError::corrupt(format!("'{}' has unknown dtype '{}'", t.name, t.dtype))
    })?;
    let main = fetch(st, &t.name, storage_of(dtype), used)?;
    let Some(qdtype) = dtype.qdtype() else {
        if t.scheme != SCHEME_NONE || t.axis.is_some() {
            return Err(StateError::corrupt(format!(
                "'{}' is {dtype} but the metadata gives it a quantization scheme",
                t.name
            )));
        }
        check_crc(t, &[&main])?;
        return Ok(match dtype {
            StateDType::Float16 => QStateTensor::F16(array(&main, half::f16::from_le_bytes)?),
            StateDType::Float32 => QStateTensor::F32(array(&main, f32::from_le_bytes)?),
            StateDType::Float64 => QStateTensor::F64(array(&main, f64::from_le_bytes)?),
            _ => QStateTensor::I64(array(&main, i64::from_le_bytes)?),
        });
    };
    let scheme = QScheme::from_name(&t.scheme).ok_or_else(|| {
        StateError::corrupt(format!("'{}' has unknown scheme '{}'", t.name, t.scheme))
    })?;
    let per_channel = match (scheme, t.axis) {
        (QScheme::PerTensorAffine, None) => false,
        (QScheme::PerChannelAffine | QScheme::PerChannelAffineFloatQParams, Some(_)) => true,
        _ => {
            return Err(StateError::corrupt(format!(
                "'{}': scheme {} with axis {:?} is not a stored form",
                t.name, t.scheme, t.axis
            )))
        }
    };
    let float_qparams = scheme == QScheme::PerChannelAffineFloatQParams;
    let (s_name, z_name) = aux_names(&t.name, per_channel);
    let (s_dtype, z_dtype) = if float_qparams {
        (Dtype::F32, Dtype::F32)
    } else {
        (Dtype::F64, Dtype::I64)
    };
    let scales = fetch(st, &s_name, s_dtype, used)?;
    let zero_points = fetch(st, &z_name, z_dtype, used)?;
    check_crc(t, &[&main, &scales, &zero_points])?;
    let channels = match t.axis {
        Some(a) => Some(main.shape.get(a).copied().ok_or_else(|| {
            StateError::invalid(
                &t.name,
                format!("axis {a} out of range for shape {:?}", main.shape),
            )
        })?),
        None => None,
    };
    let qparams = match (float_qparams, t.axis) {
        (false, None) => QParams::PerTensor {
            scale: flat(&scales, f64::from_le_bytes, None)?[0],
            zero_point: flat(&zero_points, i64::from_le_bytes, None)?[0],
        },
        (false, Some(axis)) => QParams::PerChannel {
            scales: flat(&scales, f64::from_le_bytes, channels)?,
            zero_points: flat(&zero_points, i64::from_le_bytes, channels)?,
            axis,
        },
        (true, axis) => QParams::PerChannelFloat {
            scales: flat(&scales, f32::from_le_bytes, channels)?,
            zero_points: flat(&zero_points, f32::from_le_bytes, channels)?,
            axis: axis.unwrap_or(0),
        },
    };
    let data = match qdtype {
        qtensor::QDType::QUInt8 => QData::QUInt8(array(&main, u8::from_le_bytes)?),
        qtensor::QDType::QInt8 => QData::QInt8(array(&main, i8::from_le_bytes)?),
        qtensor::QDType::QInt32 => QData::QInt32(array(&main, i32::from_le_bytes)?),
    };
    QTensor::from_int_repr(data, qparams)
        .map(QStateTensor::Quantized)
        .map_err(|e| StateError::invalid(&t.name, e))
}

fn check_crc(t: &TensorMeta, parts: &[&Stored]) -> Result<(), StateError> {
    let got = crc_of(parts);
    if got == t.crc32 {
        Ok(())
    } else {
        Err(StateError::corrupt(format!(
            "'{}' fails its checksum (crc32 {got}, the metadata says {}): the data is damaged",
            t.name, t.crc32
        )))
    }
}
