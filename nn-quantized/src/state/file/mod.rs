//! The file form of a [`QuantizedStateDict`]: safetensors with a metadata header (the layout
//! is documented on [`QuantizedStateDict::to_safetensors`]); [`encode`] and [`decode`] turn one
//! entry into stored tensors and back.

mod decode;
mod encode;

use std::collections::{HashMap, HashSet};

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};
use serde::{Deserialize, Serialize};

use super::crc::Crc32;
use super::dict::QuantizedStateDict;
use super::error::StateError;

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
            let (parts, meta) = encode::encode(k, v);
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
            let value = decode::decode(&st, t, &mut used)?;
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
