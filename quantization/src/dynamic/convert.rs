//! `quantize_dynamic`: plan every swap first (qconfigs propagated down the tree as PyTorch's
//! `propagate_qconfig_` does, every converter run), then put the new modules in place; any
//! failure leaves the model untouched.

use nn::{join, Module};
use nn_quantized_dynamic::WeightDType;

use super::error::QuantizeDynamicError;
use super::mapping::DynamicMapping;
use super::spec::{DynamicSpec, ModuleKey};
use crate::qconfig::QConfig;

/// One module `quantize_dynamic` replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swapped {
    /// Its dotted path.
    pub path: String,
    /// The float type it had (`"Linear"`).
    pub from: String,
    /// The dynamic type it has now (`"DynamicQuantizedLinear"`).
    pub to: String,
}

/// `torch.ao.quantization.quantize_dynamic(model, qconfig_spec, dtype, inplace=True)`: swaps the
/// layers `spec` selects for their dynamic counterparts ([`DynamicMapping::default`]), with
/// weights quantized by each layer's qconfig; layers not selected stay float. Puts the model in
/// eval mode and returns what was swapped.
///
/// As in PyTorch, the model itself (the root) is never swapped, only modules below it, and a
/// type key that matches no module is not an error. Unlike PyTorch, a name key that matches no
/// module is an error.
///
/// Errors (leaving the model unchanged) if a name key names no module, or a selected layer
/// cannot be converted (its qconfig's weight dtype is neither qint8 nor float16, its weights
/// are not finite, ...).
///
/// ```
/// use nn::{Linear, Module, ReLU, Sequential};
/// use nn_quantized_dynamic::WeightDType;
/// use quantization::dynamic::{quantize_dynamic, DynamicSpec};
/// qtensor::set_engine(qtensor::Engine::Qnnpack).unwrap();
/// let mut model = Sequential::new()
///     .with(Linear::new(4, 8, true))
///     .with(ReLU::new())
///     .with(Linear::new(8, 2, true));
/// let swapped = quantize_dynamic(&mut model, &DynamicSpec::types(["Linear"]), WeightDType::QInt8).unwrap();
/// assert_eq!(swapped.len(), 2);
/// assert_eq!(model.get_submodule("2").unwrap().type_name(), "DynamicQuantizedLinear");
/// ```
pub fn quantize_dynamic<M: Module + ?Sized>(
    model: &mut M,
    spec: &DynamicSpec,
    dtype: WeightDType,
) -> Result<Vec<Swapped>, QuantizeDynamicError> {
    quantize_dynamic_with(model, spec, dtype, &DynamicMapping::default())
}

/// [`quantize_dynamic`] with a custom float -> dynamic table (PyTorch's `mapping=`).
pub fn quantize_dynamic_with<M: Module + ?Sized>(
    model: &mut M,
    spec: &DynamicSpec,
    dtype: WeightDType,
    mapping: &DynamicMapping,
) -> Result<Vec<Swapped>, QuantizeDynamicError> {
    let entries = spec.resolve(dtype);
    let root = model.as_module();
    for (key, _) in &entries {
        if let ModuleKey::Name(name) = key {
            if root.get_submodule(name).is_err() {
                return Err(QuantizeDynamicError::NoSuchModule { name: name.clone() });
            }
        }
    }
    let mut plan = Vec::new();
    plan_swaps(root, "", None, &entries, mapping, &mut plan)?;
    let mut done: Vec<(String, Box<dyn Module>)> = Vec::new();
    let mut swapped = Vec::new();
    for (path, new) in plan {
        let to = new.type_name().to_string();
        match model.replace_submodule(&path, new) {
            Ok(old) => {
                swapped.push(Swapped {
                    path: path.clone(),
                    from: old.type_name().to_string(),
                    to,
                });
                done.push((path, old));
            }
            Err(e) => {
                for (p, old) in done.into_iter().rev() {
                    // Undoing a replacement that just succeeded at the same path cannot fail.
                    let _ = model.replace_submodule(&p, old);
                }
                return Err(QuantizeDynamicError::Swap {
                    path,
                    reason: e.to_string(),
                });
            }
        }
    }
    model.eval();
    Ok(swapped)
}

/// The qconfig `entries` give `key`: `Some(None)` if the key is mapped to "no qconfig".
fn lookup<'a>(
    entries: &'a [(ModuleKey, Option<QConfig>)],
    key: &ModuleKey,
) -> Option<Option<&'a QConfig>> {
    entries
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, q)| q.as_ref())
}

/// Walks the tree with the inherited qconfig, converting every selected module of a mapped type
/// (and not descending into it, nor into fused modules).
fn plan_swaps(
    m: &dyn Module,
    path: &str,
    parent: Option<&QConfig>,
    entries: &[(ModuleKey, Option<QConfig>)],
    mapping: &DynamicMapping,
    plan: &mut Vec<(String, Box<dyn Module>)>,
) -> Result<(), QuantizeDynamicError> {
    let ty = m.type_name();
    let mut qc = lookup(entries, &ModuleKey::Type(ty.to_string())).unwrap_or(parent);
    qc = lookup(entries, &ModuleKey::Name(path.to_string())).unwrap_or(qc);
    if let (false, Some(q), Some(convert)) = (path.is_empty(), qc, mapping.get(ty)) {
        let new = convert(m, q).map_err(|source| QuantizeDynamicError::Convert {
            path: path.to_string(),
            float_type: ty.to_string(),
            source: Box::new(source),
        })?;
        plan.push((path.to_string(), new));
        return Ok(());
    }
    if nn_intrinsic::is_fused(m) {
        // Fused modules are swapped as one unit or not at all (PyTorch's `_convert`).
        return Ok(());
    }
    for (name, child) in m.children() {
        plan_swaps(child, &join(path, &name), qc, entries, mapping, plan)?;
    }
    Ok(())
}
