//! [`DynamicSpec`]: which modules `quantize_dynamic` swaps, and with which qconfig
//! (PyTorch's `qconfig_spec`).

use nn_quantized_dynamic::WeightDType;

use crate::qconfig::{default_dynamic_qconfig, float16_dynamic_qconfig, QConfig};

/// A key of a spec: a module type (the float class name PyTorch prints, `"Linear"`, `"LSTM"`)
/// or a module's dotted name in the model (`"encoder.fc1"`; `""` is the whole model).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModuleKey {
    /// Every module whose [`nn::Module::type_name`] is this.
    Type(String),
    /// The module at this dotted path.
    Name(String),
}

/// The module types `quantize_dynamic` swaps by default, as PyTorch's `qconfig_spec=None`.
pub const DEFAULT_TYPES: [&str; 6] = ["Linear", "LSTM", "GRU", "LSTMCell", "RNNCell", "GRUCell"];

/// Which modules to quantize and how (`qconfig_spec`). A qconfig given to a key applies to the
/// matching module and everything below it unless a deeper key says otherwise; a name key wins
/// over a type key for the same module, and `None` excludes (PyTorch's `propagate_qconfig_`).
#[derive(Debug, Clone, PartialEq)]
pub enum DynamicSpec {
    /// `qconfig_spec=None`: [`DEFAULT_TYPES`] with the dtype's default qconfig.
    Default,
    /// A set of types and / or names, each with the dtype's default qconfig
    /// (`default_dynamic_qconfig` for qint8, `float16_dynamic_qconfig` for float16).
    Set(Vec<ModuleKey>),
    /// Types and / or names mapped to qconfigs (the dtype argument is then ignored).
    Map(Vec<(ModuleKey, Option<QConfig>)>),
}

impl DynamicSpec {
    /// A set of module types: `{nn.Linear, nn.LSTM}` is `DynamicSpec::types(["Linear", "LSTM"])`.
    pub fn types<S: Into<String>>(types: impl IntoIterator<Item = S>) -> DynamicSpec {
        DynamicSpec::Set(
            types
                .into_iter()
                .map(|t| ModuleKey::Type(t.into()))
                .collect(),
        )
    }

    /// A set of module names: `{"fc1", "rnn"}`.
    pub fn names<S: Into<String>>(names: impl IntoIterator<Item = S>) -> DynamicSpec {
        DynamicSpec::Set(
            names
                .into_iter()
                .map(|n| ModuleKey::Name(n.into()))
                .collect(),
        )
    }

    /// An empty map, to fill with [`DynamicSpec::with_type`] / [`DynamicSpec::with_name`].
    pub fn map() -> DynamicSpec {
        DynamicSpec::Map(Vec::new())
    }

    /// Adds (or replaces) a type entry; `None` excludes the type. A `Set` or `Default` spec
    /// becomes a map (its entries keep the qint8 default qconfig).
    pub fn with_type(self, ty: impl Into<String>, qconfig: Option<QConfig>) -> DynamicSpec {
        self.with(ModuleKey::Type(ty.into()), qconfig)
    }

    /// Adds (or replaces) a name entry; `None` excludes that module and what is below it.
    pub fn with_name(self, name: impl Into<String>, qconfig: Option<QConfig>) -> DynamicSpec {
        self.with(ModuleKey::Name(name.into()), qconfig)
    }

    fn with(self, key: ModuleKey, qconfig: Option<QConfig>) -> DynamicSpec {
        let mut entries = self.resolve(WeightDType::QInt8);
        entries.retain(|(k, _)| *k != key);
        entries.push((key, qconfig));
        DynamicSpec::Map(entries)
    }

    /// The entries with qconfigs filled in for `dtype`.
    pub(crate) fn resolve(&self, dtype: WeightDType) -> Vec<(ModuleKey, Option<QConfig>)> {
        let default = match dtype {
            WeightDType::QInt8 => default_dynamic_qconfig(),
            WeightDType::Float16 => float16_dynamic_qconfig(),
        };
        match self {
            DynamicSpec::Default => DEFAULT_TYPES
                .iter()
                .map(|t| (ModuleKey::Type(t.to_string()), Some(default.clone())))
                .collect(),
            DynamicSpec::Set(keys) => keys
                .iter()
                .map(|k| (k.clone(), Some(default.clone())))
                .collect(),
            DynamicSpec::Map(entries) => entries.clone(),
        }
    }
}
