//! [`QuantizedStateDict`]: a quantized model's state by dotted name, in module order, with the
//! type of every module that contributed quantized entries.

use qtensor::QTensor;

use super::error::{Mismatch, StateError};
use super::value::{QStateTensor, TensorSpec};

/// An ordered map from dotted names (`"conv1.weight"`, `"quant.scale"`) to entries, plus the
/// type name of each module with quantized state (`"conv1"` -> `"QuantizedConvReLU2d"`).
///
/// What [`crate::state::quantized_state_dict`] returns and
/// [`crate::state::load_quantized_state_dict`] takes; a module's own part (local names) is
/// what [`crate::state::QuantizedState`] exports and stages.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuantizedStateDict {
    entries: Vec<(String, QStateTensor)>,
    modules: Vec<(String, String)>,
}

impl QuantizedStateDict {
    /// An empty state dict.
    pub fn new() -> QuantizedStateDict {
        QuantizedStateDict::default()
    }

    /// A state dict holding `entries` in order; errors on a repeated name.
    pub fn from_entries(
        entries: impl IntoIterator<Item = (String, QStateTensor)>,
    ) -> Result<QuantizedStateDict, StateError> {
        let mut sd = QuantizedStateDict::new();
        for (k, v) in entries {
            sd.insert_new(k, v)?;
        }
        Ok(sd)
    }

    /// Inserts or replaces `key`, keeping the position of a replaced key.
    pub fn insert(&mut self, key: impl Into<String>, value: QStateTensor) {
        let key = key.into();
        match self.entries.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((key, value)),
        }
    }

    /// Inserts `key`, or errors with [`StateError::DuplicateKey`] if it is present.
    pub fn insert_new(
        &mut self,
        key: impl Into<String>,
        value: QStateTensor,
    ) -> Result<(), StateError> {
        let key = key.into();
        if self.get(&key).is_some() {
            return Err(StateError::DuplicateKey { key });
        }
        self.entries.push((key, value));
        Ok(())
    }

    /// The entry for `key`.
    pub fn get(&self, key: &str) -> Option<&QStateTensor> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Removes and returns the entry for `key`.
    pub fn remove(&mut self, key: &str) -> Option<QStateTensor> {
        let i = self.entries.iter().position(|(k, _)| k == key)?;
        Some(self.entries.remove(i).1)
    }

    /// The keys, in order.
    pub fn keys(&self) -> Vec<&str> {
        self.entries.iter().map(|(k, _)| k.as_str()).collect()
    }

    /// The entries, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &QStateTensor)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True without entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records that the module at `path` (with quantized entries) has type `type_name`.
    pub fn set_module_type(&mut self, path: impl Into<String>, type_name: impl Into<String>) {
        let (path, type_name) = (path.into(), type_name.into());
        match self.modules.iter_mut().find(|(p, _)| *p == path) {
            Some(slot) => slot.1 = type_name,
            None => self.modules.push((path, type_name)),
        }
    }

    /// The module paths and type names recorded (empty for a hand-built dict: not checked then).
    pub fn module_types(&self) -> &[(String, String)] {
        &self.modules
    }

    /// The entries `path.key` for each of `keys` that is present, under their local names
    /// (`"conv1.weight"` -> `"weight"`); `""` is the root module.
    pub fn select(&self, path: &str, keys: &[String]) -> QuantizedStateDict {
        QuantizedStateDict {
            entries: keys
                .iter()
                .filter_map(|k| Some((k.clone(), self.get(&nn::join(path, k))?.clone())))
                .collect(),
            modules: Vec::new(),
        }
    }

    fn require(&self, key: &str) -> Result<&QStateTensor, StateError> {
        self.get(key)
            .ok_or_else(|| StateError::invalid(key, "missing from the state"))
    }

    /// The quantized tensor at `key`, or a typed error naming it.
    pub fn quantized(&self, key: &str) -> Result<&QTensor, StateError> {
        match self.require(key)? {
            QStateTensor::Quantized(q) => Ok(q),
            other => Err(StateError::invalid(
                key,
                format!("expected a quantized tensor, found {}", other.spec()),
            )),
        }
    }

    /// The float32 values at `key` (row-major), or a typed error naming it.
    pub fn f32_values(&self, key: &str) -> Result<Vec<f32>, StateError> {
        match self.require(key)? {
            QStateTensor::F32(a) => Ok(a.iter().copied().collect()),
            other => Err(StateError::invalid(
                key,
                format!("expected float32 values, found {}", other.spec()),
            )),
        }
    }

    /// The one float64 value at `key` (an output scale), or a typed error naming it.
    pub fn f64_scalar(&self, key: &str) -> Result<f64, StateError> {
        match self.require(key)? {
            QStateTensor::F64(a) if a.len() == 1 => Ok(a.iter().copied().next().unwrap_or(0.0)),
            other => Err(StateError::invalid(
                key,
                format!("expected one float64 value, found {}", other.spec()),
            )),
        }
    }

    /// The one int64 value at `key` (an output zero point), or a typed error naming it.
    pub fn i64_scalar(&self, key: &str) -> Result<i64, StateError> {
        match self.require(key)? {
            QStateTensor::I64(a) if a.len() == 1 => Ok(a.iter().copied().next().unwrap_or(0)),
            other => Err(StateError::invalid(
                key,
                format!("expected one int64 value, found {}", other.spec()),
            )),
        }
    }

    /// Checks that `self` has exactly the keys of `expected` with the same element types and
    /// shapes (and, when both record them, the same module types); every difference is
    /// reported in one [`StateError::Mismatch`].
    pub fn check_fits(&self, expected: &QuantizedStateDict) -> Result<(), StateError> {
        let specs: Vec<(String, TensorSpec)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.spec()))
            .collect();
        let mut mismatched = self.spec_mismatches(&specs);
        let missing: Vec<String> = specs
            .iter()
            .filter(|(k, _)| self.get(k).is_none())
            .map(|(k, _)| k.clone())
            .collect();
        let unexpected: Vec<String> = self
            .keys()
            .into_iter()
            .filter(|k| expected.get(k).is_none())
            .map(str::to_string)
            .collect();
        if !self.modules.is_empty() && !expected.modules.is_empty() {
            mismatched.extend(module_mismatches(&expected.modules, &self.modules));
        }
        if missing.is_empty() && unexpected.is_empty() && mismatched.is_empty() {
            Ok(())
        } else {
            Err(StateError::Mismatch {
                missing,
                unexpected,
                mismatched,
            })
        }
    }

    fn spec_mismatches(&self, specs: &[(String, TensorSpec)]) -> Vec<Mismatch> {
        specs
            .iter()
            .filter_map(|(k, want)| {
                let got = self.get(k)?.spec();
                (got != *want).then(|| Mismatch {
                    key: k.clone(),
                    expected: want.to_string(),
                    found: got.to_string(),
                })
            })
            .collect()
    }
}

fn module_mismatches(model: &[(String, String)], file: &[(String, String)]) -> Vec<Mismatch> {
    const NONE: &str = "no quantized module";
    let find = |list: &[(String, String)], p: &str| {
        list.iter().find(|(q, _)| q == p).map(|(_, t)| t.clone())
    };
    let mut out = Vec::new();
    for (path, ty) in model {
        let found = find(file, path).unwrap_or_else(|| NONE.into());
        if found != *ty {
            out.push(Mismatch {
                key: format!("module '{path}'"),
                expected: ty.clone(),
                found,
            });
        }
    }
    for (path, ty) in file {
        if find(model, path).is_none() {
            out.push(Mismatch {
                key: format!("module '{path}'"),
                expected: NONE.into(),
                found: ty.clone(),
            });
        }
    }
    out
}
