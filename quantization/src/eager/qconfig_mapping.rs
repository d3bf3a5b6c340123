//! [`QConfigMapping`]: which qconfig each module gets, PyTorch's `model.qconfig = ...`
//! assignments (or eager `qconfig_dict`) as data, resolved down the tree as
//! `propagate_qconfig_` does.

use crate::QConfig;

/// A qconfig for the whole model plus overrides by module type and by module path; `None`
/// anywhere switches quantization off for that module and (unless overridden again) its
/// descendants.
///
/// Resolution for a module, as PyTorch's `propagate_qconfig_`: its path's entry if there is
/// one, else its type's entry if there is one, else its parent's qconfig (the global one at
/// the root).
///
/// ```
/// use quantization::{eager::QConfigMapping, get_default_qconfig, Backend};
/// let spec = QConfigMapping::global(get_default_qconfig(Backend::Qnnpack))
///     .set_path("head", None); // keep the head in float
/// assert!(spec.path_entry("head").is_some());
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QConfigMapping {
    global: Option<QConfig>,
    by_type: Vec<(String, Option<QConfig>)>,
    by_path: Vec<(String, Option<QConfig>)>,
}

impl QConfigMapping {
    /// No qconfig anywhere (nothing is quantized until entries are added).
    pub fn new() -> QConfigMapping {
        QConfigMapping::default()
    }

    /// `qconfig` for the whole model (`model.qconfig = qconfig`).
    pub fn global(qconfig: QConfig) -> QConfigMapping {
        QConfigMapping {
            global: Some(qconfig),
            ..QConfigMapping::default()
        }
    }

    /// Sets the model-wide qconfig.
    pub fn set_global(mut self, qconfig: Option<QConfig>) -> QConfigMapping {
        self.global = qconfig;
        self
    }

    /// Sets the qconfig of every module whose type name is `type_name` (`"Linear"`).
    pub fn set_type(mut self, type_name: &str, qconfig: Option<QConfig>) -> QConfigMapping {
        self.by_type.retain(|(t, _)| t != type_name);
        self.by_type.push((type_name.to_string(), qconfig));
        self
    }

    /// Sets the qconfig of the module at `path` (`"features.0"`; `model.features[0].qconfig =
    /// ...`), inherited by its descendants.
    pub fn set_path(mut self, path: &str, qconfig: Option<QConfig>) -> QConfigMapping {
        self.by_path.retain(|(p, _)| p != path);
        self.by_path.push((path.to_string(), qconfig));
        self
    }

    /// The model-wide qconfig.
    pub fn global_qconfig(&self) -> Option<&QConfig> {
        self.global.as_ref()
    }

    /// The entry for `path`, if one was set (`Some(None)`: switched off there).
    pub fn path_entry(&self, path: &str) -> Option<Option<&QConfig>> {
        self.by_path
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, q)| q.as_ref())
    }

    /// The paths with an entry.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.by_path.iter().map(|(p, _)| p.as_str())
    }

    /// The qconfig of the module at `path` of type `type_name` whose parent has `parent`
    /// (for the root, `path` is `""` and `parent` is ignored in favour of the global one).
    pub fn resolve(
        &self,
        path: &str,
        type_name: &str,
        parent: Option<&QConfig>,
    ) -> Option<QConfig> {
        if let Some(entry) = self.path_entry(path) {
            return entry.cloned();
        }
        // The global qconfig is the root's path entry (PyTorch's `qconfig_dict[""]`).
        if path.is_empty() && self.global.is_some() {
            return self.global.clone();
        }
        if let Some((_, q)) = self.by_type.iter().find(|(t, _)| t == type_name) {
            return q.clone();
        }
        if path.is_empty() {
            None
        } else {
            parent.cloned()
        }
    }
}

impl From<QConfig> for QConfigMapping {
    fn from(q: QConfig) -> Self {
        QConfigMapping::global(q)
    }
}
