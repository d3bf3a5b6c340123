//! [`QConfigMapping`] (`torch.ao.quantization.QConfigMapping`) for graph mode: which qconfig
//! each node gets, by global setting, object type (module type, function or method),
//! module name, module name regex and module name + object type + call index, with
//! PyTorch's precedence; the `qconfig_dict` form; the default mappings.

use super::error::{FxError, Result};
use super::function::Function;
use super::regex::Regex;
use crate::fake_quantize::defaults as fq;
use crate::observer::defaults as obs;
use crate::{get_default_qat_qconfig, get_default_qconfig, Backend, QConfig, QConfigEntry};

/// What an `object_type` entry names: a module type, a function or a tensor method.
#[derive(Debug, Clone, PartialEq)]
pub enum ObjectType {
    /// A module type by its type name (`"Linear"`, `"Conv2d"`, a user's `"MyBlock"`).
    Module(String),
    /// A function (`F.relu`, `operator.add`, `torch.cat` ...).
    Function(Function),
    /// A tensor method by name (`"reshape"`, `"sigmoid"`).
    Method(String),
}

impl ObjectType {
    /// The module type named `type_name`.
    pub fn module(type_name: &str) -> ObjectType {
        ObjectType::Module(type_name.to_string())
    }

    /// The tensor method `name`.
    pub fn method(name: &str) -> ObjectType {
        ObjectType::Method(name.to_string())
    }
}

impl From<Function> for ObjectType {
    fn from(f: Function) -> ObjectType {
        ObjectType::Function(f)
    }
}

/// A qconfig entry: `None` keeps the matching nodes in float.
pub type QConfigAny = Option<QConfig>;

/// Which qconfig each node of a traced model gets.
///
/// Precedence, lowest to highest (PyTorch's): global, object type, module name regex (first
/// matching pattern), module name (the node's module or its closest ancestor with an entry),
/// module name + object type + index. For a function or method the "module" is the one whose
/// forward calls it; for a module call it is the module itself, and the index counts calls of
/// that type within the parent.
///
/// ```
/// use quantization::fx::{Function, ObjectType, QConfigMapping};
/// use quantization::{get_default_qconfig, Backend};
/// let q = get_default_qconfig(Backend::Qnnpack);
/// let mapping = QConfigMapping::new()
///     .set_global(Some(q.clone()))
///     .set_object_type(ObjectType::module("Linear"), None) // linears stay float...
///     .set_module_name("head.fc", Some(q.clone())) // ...except this one
///     .set_object_type(Function::Add, None);
/// assert_eq!(mapping.module_qconfig("head.fc", "Linear"), Some(q.clone()));
/// assert_eq!(mapping.module_qconfig("body.fc", "Linear"), None);
/// assert_eq!(mapping.function_qconfig(&ObjectType::Function(Function::Add), "", "Net", 0), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QConfigMapping {
    global: QConfigAny,
    object_types: Vec<(ObjectType, QConfigAny)>,
    module_name_regexes: Vec<(String, Regex, QConfigAny)>,
    module_names: Vec<(String, QConfigAny)>,
    module_name_object_type_order: Vec<(String, ObjectType, usize, QConfigAny)>,
}

fn upsert<K: PartialEq, V>(v: &mut Vec<(K, V)>, k: K, val: V) {
    match v.iter_mut().find(|(x, _)| *x == k) {
        Some((_, slot)) => *slot = val,
        None => v.push((k, val)),
    }
}

impl QConfigMapping {
    /// Nothing set (every node stays float).
    pub fn new() -> QConfigMapping {
        QConfigMapping::default()
    }

    /// The qconfig of nodes no other entry matches (`set_global`).
    pub fn set_global(mut self, qconfig: QConfigAny) -> QConfigMapping {
        self.global = qconfig;
        self
    }

    /// The qconfig of an object type (`set_object_type`); a later call for the same type
    /// replaces the entry.
    pub fn set_object_type(mut self, t: impl Into<ObjectType>, qconfig: QConfigAny) -> Self {
        upsert(&mut self.object_types, t.into(), qconfig);
        self
    }

    /// The qconfig of modules whose path matches `pattern` from its start
    /// (`set_module_name_regex`, Python's `re.match`); the first matching pattern wins.
    /// Errors on a pattern that does not compile.
    pub fn set_module_name_regex(mut self, pattern: &str, qconfig: QConfigAny) -> Result<Self> {
        let re = Regex::new(pattern)?;
        match self
            .module_name_regexes
            .iter_mut()
            .find(|(p, _, _)| p == pattern)
        {
            Some((_, _, slot)) => *slot = qconfig,
            None => self
                .module_name_regexes
                .push((pattern.to_string(), re, qconfig)),
        }
        Ok(self)
    }

    /// The qconfig of the module at `name` and everything inside it (`set_module_name`).
    pub fn set_module_name(mut self, name: &str, qconfig: QConfigAny) -> QConfigMapping {
        upsert(&mut self.module_names, name.to_string(), qconfig);
        self
    }

    /// The qconfig of the `index`-th call (from 0) of `object_type` in the forward of the
    /// module at `module_name` (`set_module_name_object_type_order`).
    pub fn set_module_name_object_type_order(
        mut self,
        module_name: &str,
        object_type: impl Into<ObjectType>,
        index: usize,
        qconfig: QConfigAny,
    ) -> QConfigMapping {
        let t = object_type.into();
        match self
            .module_name_object_type_order
            .iter_mut()
            .find(|(n, o, i, _)| n == module_name && *o == t && *i == index)
        {
            Some((_, _, _, slot)) => *slot = qconfig,
            None => self.module_name_object_type_order.push((
                module_name.to_string(),
                t,
                index,
                qconfig,
            )),
        }
        self
    }

    /// The global qconfig.
    pub fn global(&self) -> Option<&QConfig> {
        self.global.as_ref()
    }

    /// Every qconfig set anywhere (for checks that apply to all of them).
    pub fn all_qconfigs(&self) -> Vec<&QConfig> {
        let mut v: Vec<&QConfig> = self.global.iter().collect();
        v.extend(self.object_types.iter().filter_map(|(_, q)| q.as_ref()));
        v.extend(
            self.module_name_regexes
                .iter()
                .filter_map(|(_, _, q)| q.as_ref()),
        );
        v.extend(self.module_names.iter().filter_map(|(_, q)| q.as_ref()));
        v.extend(
            self.module_name_object_type_order
                .iter()
                .filter_map(|(_, _, _, q)| q.as_ref()),
        );
        v
    }

    fn object_type_qconfig(&self, t: &ObjectType, fallback: QConfigAny) -> QConfigAny {
        self.object_types
            .iter()
            .find(|(o, _)| o == t)
            .map_or(fallback, |(_, q)| q.clone())
    }

    fn regex_qconfig(&self, name: &str, fallback: QConfigAny) -> QConfigAny {
        self.module_name_regexes
            .iter()
            .find(|(_, re, _)| re.is_match_at_start(name))
            .map_or(fallback, |(_, _, q)| q.clone())
    }

    fn module_name_qconfig(&self, name: &str, fallback: QConfigAny) -> QConfigAny {
        let mut cur = name;
        loop {
            if cur.is_empty() {
                return fallback;
            }
            if let Some((_, q)) = self.module_names.iter().find(|(n, _)| n == cur) {
                return q.clone();
            }
            cur = cur.rsplit_once('.').map_or("", |(p, _)| p);
        }
    }

    /// PyTorch's `_maybe_adjust_qconfig_for_module_type_or_name`: object type, then regex,
    /// then module name, over `fallback`.
    fn type_or_name(&self, t: &ObjectType, name: &str, fallback: QConfigAny) -> QConfigAny {
        let q = self.object_type_qconfig(t, fallback);
        let q = self.regex_qconfig(name, q);
        self.module_name_qconfig(name, q)
    }

    fn order_qconfig(
        &self,
        path: &str,
        t: &ObjectType,
        index: usize,
        fallback: QConfigAny,
    ) -> QConfigAny {
        self.module_name_object_type_order
            .iter()
            .find(|(n, o, i, _)| n == path && o == t && *i == index)
            .map_or(fallback, |(_, _, _, q)| q.clone())
    }

    /// The qconfig of a `call_module` node: the module at `path` of type `type_name`.
    pub fn module_qconfig(&self, path: &str, type_name: &str) -> QConfigAny {
        let t = ObjectType::module(type_name);
        self.type_or_name(&t, path, self.global.clone())
    }

    /// As [`QConfigMapping::module_qconfig`] for the module call that is the `index`-th
    /// (from 0) call of its type in its parent's forward.
    pub fn module_qconfig_at(&self, path: &str, type_name: &str, index: usize) -> QConfigAny {
        let q = self.module_qconfig(path, type_name);
        let parent = path.rsplit_once('.').map_or("", |(p, _)| p);
        self.order_qconfig(parent, &ObjectType::module(type_name), index, q)
    }

    /// The qconfig of a `call_function` node calling `f`, the `index`-th such call in the
    /// forward of the module at `scope` (of type `scope_type`).
    pub fn function_qconfig(
        &self,
        f: &ObjectType,
        scope: &str,
        scope_type: &str,
        index: usize,
    ) -> QConfigAny {
        let q = self.object_type_qconfig(f, self.global.clone());
        let q = self.type_or_name(&ObjectType::module(scope_type), scope, q);
        self.order_qconfig(scope, f, index, q)
    }

    /// The qconfig of a `call_method` node calling `method` in the forward of the module at
    /// `scope` (of type `scope_type`).
    pub fn method_qconfig(&self, method: &str, scope: &str, scope_type: &str) -> QConfigAny {
        let q = self.type_or_name(&ObjectType::method(method), scope, self.global.clone());
        self.type_or_name(&ObjectType::module(scope_type), scope, q)
    }

    /// The mapping as a `qconfig_dict` (`to_dict`).
    pub fn to_qconfig_dict(&self) -> QConfigDict {
        QConfigDict {
            global: self.global.clone(),
            object_type: self.object_types.clone(),
            module_name_regex: self
                .module_name_regexes
                .iter()
                .map(|(p, _, q)| (p.clone(), q.clone()))
                .collect(),
            module_name: self.module_names.clone(),
            module_name_object_type_order: self.module_name_object_type_order.clone(),
        }
    }

    /// A mapping from a `qconfig_dict` (`QConfigMapping.from_dict`); errors on a bad regex.
    pub fn from_qconfig_dict(d: &QConfigDict) -> Result<QConfigMapping> {
        let mut m = QConfigMapping::new().set_global(d.global.clone());
        for (t, q) in &d.object_type {
            m = m.set_object_type(t.clone(), q.clone());
        }
        for (p, q) in &d.module_name_regex {
            m = m.set_module_name_regex(p, q.clone())?;
        }
        for (n, q) in &d.module_name {
            m = m.set_module_name(n, q.clone());
        }
        for (n, t, i, q) in &d.module_name_object_type_order {
            m = m.set_module_name_object_type_order(n, t.clone(), *i, q.clone());
        }
        Ok(m)
    }
}

/// The `qconfig_dict` form of a [`QConfigMapping`]: PyTorch's dictionary keys as fields
/// (`""` is `global`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QConfigDict {
    /// `""`.
    pub global: QConfigAny,
    /// `"object_type"`: `[(type, qconfig)]`.
    pub object_type: Vec<(ObjectType, QConfigAny)>,
    /// `"module_name_regex"`: `[(pattern, qconfig)]`.
    pub module_name_regex: Vec<(String, QConfigAny)>,
    /// `"module_name"`: `[(name, qconfig)]`.
    pub module_name: Vec<(String, QConfigAny)>,
    /// `"module_name_object_type_order"`: `[(module_name, type, index, qconfig)]`.
    pub module_name_object_type_order: Vec<(String, ObjectType, usize, QConfigAny)>,
}

impl TryFrom<&QConfigDict> for QConfigMapping {
    type Error = FxError;
    fn try_from(d: &QConfigDict) -> Result<QConfigMapping> {
        QConfigMapping::from_qconfig_dict(d)
    }
}

/// The fixed-qparams operations and whether their range is 0..1 (else -1..1): PyTorch's
/// `_FIXED_QPARAMS_OP_TO_OBSERVER`.
pub(crate) fn fixed_qparams_ops() -> Vec<(ObjectType, bool)> {
    vec![
        (ObjectType::module("Hardsigmoid"), true),
        (Function::Hardsigmoid.into(), true),
        (ObjectType::method("hardsigmoid"), true),
        (ObjectType::module("Sigmoid"), true),
        (Function::Sigmoid.into(), true),
        (ObjectType::method("sigmoid"), true),
        (ObjectType::module("Softmax"), true),
        (ObjectType::module("Tanh"), false),
        (Function::Tanh.into(), false),
        (ObjectType::method("tanh"), false),
    ]
}

fn default_mapping(backend: Backend, qat: bool) -> QConfigMapping {
    let qconfig = if qat {
        get_default_qat_qconfig(backend)
    } else {
        get_default_qconfig(backend)
    };
    let default_weight = if qat {
        QConfigEntry::FakeQuantize(fq::default_weight_fake_quant())
    } else {
        QConfigEntry::Observer(obs::default_weight_observer())
    };
    let transpose = match backend {
        Backend::Fbgemm | Backend::X86 => {
            QConfig::new(qconfig.activation.clone(), default_weight.clone())
        }
        _ => qconfig.clone(),
    };
    let layer_norm = QConfig::new(
        qconfig.activation.clone(),
        QConfigEntry::Observer(obs::default_placeholder_observer()),
    );
    let mut m = QConfigMapping::new()
        .set_global(Some(qconfig))
        .set_object_type(ObjectType::module("ConvTranspose2d"), Some(transpose))
        .set_object_type(ObjectType::module("LayerNorm"), Some(layer_norm));
    for (op, zero_to_one) in fixed_qparams_ops() {
        let activation = match (qat, zero_to_one) {
            (false, true) => {
                QConfigEntry::Observer(obs::default_fixed_qparams_range_0to1_observer())
            }
            (false, false) => {
                QConfigEntry::Observer(obs::default_fixed_qparams_range_neg1to1_observer())
            }
            (true, true) => {
                QConfigEntry::FakeQuantize(fq::default_fixed_qparams_range_0to1_fake_quant())
            }
            (true, false) => {
                QConfigEntry::FakeQuantize(fq::default_fixed_qparams_range_neg1to1_fake_quant())
            }
        };
        m = m.set_object_type(op, Some(QConfig::new(activation, default_weight.clone())));
    }
    m
}

/// `get_default_qconfig_mapping(backend)`: the backend's default qconfig globally,
/// per-tensor weights for transposed convolutions on fbgemm / x86, float weights for layer
/// norm, fixed-qparams observers for sigmoid / hardsigmoid / softmax (0..1) and tanh (-1..1).
pub fn get_default_qconfig_mapping(backend: impl Into<Backend>) -> QConfigMapping {
    default_mapping(backend.into(), false)
}

/// `get_default_qat_qconfig_mapping(backend)`: as [`get_default_qconfig_mapping`] with the
/// QAT qconfig and fixed-qparams fake quantizers.
pub fn get_default_qat_qconfig_mapping(backend: impl Into<Backend>) -> QConfigMapping {
    default_mapping(backend.into(), true)
}
