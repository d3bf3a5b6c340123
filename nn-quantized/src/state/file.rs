//! The file form of a [`QuantizedStateDict`]: safetensors with a metadata header.

use std::collections::{HashMap, HashSet};

use ndarray::{ArrayD, IxDyn};
use qtensor::{QData, QParams, QScheme, QTensor};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use super::crc::Crc32;
use super::dict::QuantizedStateDict;
use super::error::StateError;
use super::value::{QStateTensor, StateDType};

/// The `format` value of the metadata header.
pub const FORMAT_NAME: &str = "quantized-state";
/// The newest format version this build writes and reads.
pub const FORMAT_VERSION: u64 = 1;

const SCHEME_NONE: &str = "none";

#[derive(Serialize, Deserialize)]
struct TensorMeta {
    name: String,
    dtype: String,
    scheme: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    axis: Option<usize>,
    crc32: String,
}

#[derive(Serialize, Deserialize)]
struct ModuleMeta {
    path: String,
    #[serde(rename = "type")]
    type_name: String,
}

/// One safetensors tensor to write.
struct Stored {
    name: String,
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

fn le_bytes<T: Copy, const N: usize>(
    values: impl Iterator<Item = T>,
    f: fn(T) -> [u8; N],
) -> Vec<u8> {
    values.flat_map(f).collect()
}

fn crc_of(parts: &[&Stored]) -> String {
    let mut c = Crc32::new();
    for p in parts {
        c.update(&(p.shape.len() as u64).to_le_bytes());
        for &d in &p.shape {
            c.update(&(d as u64).to_le_bytes());
        }
        c.update(&p.bytes);
    }
    format!("{:08x}", c.finish())
}

fn aux_names(key: &str, per_channel: bool) -> (String, String) {
    if per_channel {
        (
            format!("{key}.q_per_channel_scales"),
            format!("{key}.q_per_channel_zero_points"),
        )
    } else {
        (format!("{key}.q_scale"), format!("{key}.q_zero_point"))
    }
}

/// The stored tensors of one entry (values first, then any parameters) and its metadata.
fn encode(key: &str, value: &QStateTensor) -> (Vec<Stored>, TensorMeta) {
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

impl QuantizedStateDict {
    /// The safetensors bytes of this state with the metadata header; errors if two stored
    /// names collide. Layout (format version 1):
    ///
    /// - A quantized entry `K` is stored as its integer values under `K` (`I8` for qint8, `U8` for
    ///   quint8, `I32` for qint32) and its parameters beside it: per-tensor `K.q_scale` (`F64`,
    ///   0-d) and `K.q_zero_point` (`I64`, 0-d); per-channel `K.q_per_channel_scales` (`F64`, one
    ///   per channel) and `K.q_per_channel_zero_points` (`I64`); per-channel with float qparams
    ///   (embeddings) the same two names as `F32`. The axis is in the metadata.
    /// - float16 / float32 / float64 / int64 entries are stored as `F16` / `F32` / `F64` / `I64`
    ///   under their key.
    /// - `__metadata__` holds `format` (`"quantized-state"`), `format_version`, `engine` (the
    ///   engine current when saving, for information only: the state does not depend on it),
    ///   `tensors` (a JSON array, one object per entry in order: `name`, `dtype`, `scheme`,
    ///   `axis` for per-channel ones, and `crc32` of the entry's shapes and bytes) and `modules`
    ///   (a JSON array of `{path, type}` for the modules with quantized entries).
    pub fn to_safetensors(&self) -> Result<Vec<u8>, StateError> {
        let mut stored = Vec::new();
        let mut metas = Vec::new();
        for (k, v) in self.iter() {
            let (parts, meta) = encode(k, v);
            stored.extend(parts);
            metas.push(meta);
        }
        let mut seen = HashSet::new();
        if let Some(dup) = stored.iter().find(|s| !seen.insert(s.name.as_str())) {
            return Err(StateError::DuplicateKey {
                key: dup.name.clone(),
            });
        }
        let modules: Vec<ModuleMeta> = self
            .module_types()
            .iter()
            .map(|(p, t)| ModuleMeta {
                path: p.clone(),
                type_name: t.clone(),
            })
            .collect();
        let metadata = HashMap::from([
            ("format".to_string(), FORMAT_NAME.to_string()),
            ("format_version".to_string(), FORMAT_VERSION.to_string()),
            ("engine".to_string(), qtensor::engine().name().to_string()),
            ("tensors".to_string(), to_json(&metas)?),
            ("modules".to_string(), to_json(&modules)?),
        ]);
        let views = stored
            .iter()
            .map(|s| {
                TensorView::new(s.dtype, s.shape.clone(), &s.bytes)
                    .map(|v| (s.name.as_str(), v))
                    .map_err(|e| StateError::invalid(&s.name, e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        safetensors::serialize(views, Some(metadata)).map_err(|e| StateError::invalid("(file)", e))
    }

    /// Reads bytes written by [`QuantizedStateDict::to_safetensors`]. Every problem is a typed
    /// error: [`StateError::Corrupt`] for damaged or truncated bytes (checked against each
    /// entry's CRC-32), [`StateError::NotQuantizedFile`] for a safetensors file without this
    /// format's header, [`StateError::FutureVersion`] for a newer format version,
    /// [`StateError::InvalidEntry`] for parameters no quantized tensor can have.
    pub fn from_safetensors(bytes: &[u8]) -> Result<QuantizedStateDict, StateError> {
        let st = SafeTensors::deserialize(bytes)
            .map_err(|e| StateError::corrupt(format!("not a readable safetensors file ({e})")))?;
        let (_, header) = SafeTensors::read_metadata(bytes)
            .map_err(|e| StateError::corrupt(format!("unreadable header ({e})")))?;
        let meta = header
            .metadata()
            .as_ref()
            .ok_or_else(|| StateError::NotQuantizedFile {
                reason: "the safetensors header has no metadata (a float state dict? load it with \
                     nn::StateDict::load)"
                    .into(),
            })?;
        check_format(meta)?;
        let field = |name: &str| {
            meta.get(name)
                .ok_or_else(|| StateError::corrupt(format!("the metadata has no '{name}' field")))
        };
        let tensors: Vec<TensorMeta> = serde_json::from_str(field("tensors")?)
            .map_err(|e| StateError::corrupt(format!("metadata 'tensors': {e}")))?;
        let modules: Vec<ModuleMeta> = serde_json::from_str(field("modules")?)
            .map_err(|e| StateError::corrupt(format!("metadata 'modules': {e}")))?;
        let mut sd = QuantizedStateDict::new();
        let mut used = HashSet::new();
        for t in &tensors {
            let value = decode(&st, t, &mut used)?;
            sd.insert_new(t.name.clone(), value).map_err(|_| {
                StateError::corrupt(format!("'{}' is listed twice in the metadata", t.name))
            })?;
        }
        if let Some(extra) = st.names().into_iter().find(|n| !used.contains(*n)) {
            return Err(StateError::corrupt(format!(
                "tensor '{extra}' is not described by the metadata"
            )));
        }
        for m in modules {
            if sd.module_types().iter().any(|(p, _)| *p == m.path) {
                return Err(StateError::corrupt(format!(
                    "module '{}' is listed twice in the metadata",
                    m.path
                )));
            }
            sd.set_module_type(m.path, m.type_name);
        }
        Ok(sd)
    }

    /// Writes the safetensors file (to a temporary file renamed into place, so an existing file
    /// is never left half-written).
    pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<(), StateError> {
        let path = path.as_ref();
        let bytes = self.to_safetensors()?;
        let io = |e: std::io::Error| StateError::Io {
            action: "write",
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(".tmp{}", std::process::id()));
        let tmp = std::path::PathBuf::from(tmp);
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })
    }

    /// Reads a safetensors file written by [`QuantizedStateDict::save`].
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<QuantizedStateDict, StateError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| StateError::Io {
            action: "read",
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        QuantizedStateDict::from_safetensors(&bytes)
    }
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StateError> {
    serde_json::to_string(value).map_err(|e| StateError::invalid("(metadata)", e))
}

fn check_format(meta: &HashMap<String, String>) -> Result<(), StateError> {
    match meta.get("format") {
        Some(f) if f == FORMAT_NAME => {}
        Some(f) => {
            return Err(StateError::NotQuantizedFile {
                reason: format!("the metadata names format '{f}', expected '{FORMAT_NAME}'"),
            })
        }
        None => {
            return Err(StateError::NotQuantizedFile {
                reason: "the metadata has no 'format' field (a float state dict? load it with \
                         nn::StateDict::load)"
                    .into(),
            })
        }
    }
    let v = meta
        .get("format_version")
        .ok_or_else(|| StateError::corrupt("the metadata has no 'format_version' field"))?;
    match v.parse::<u64>() {
        Ok(n) if n > FORMAT_VERSION => Err(StateError::FutureVersion {
            found: n,
            supported: FORMAT_VERSION,
        }),
        Ok(n) if n >= 1 => Ok(()),
        _ => Err(StateError::corrupt(format!(
            "format_version '{v}' is not a version number"
        ))),
    }
}

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

fn decode(
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
