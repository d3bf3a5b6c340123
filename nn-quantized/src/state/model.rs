//! A whole model's quantized state: collected over the module tree, loaded all-or-nothing.

use std::path::Path;

use nn::{join, Buffer, Module};

use super::dict::QuantizedStateDict;
use super::error::StateError;
use super::module_state::StagedState;
use super::registry::{as_quantized_state, as_quantized_state_mut};
use super::value::QStateTensor;

/// The model's state split by who owns it.
struct Collected {
    all: QuantizedStateDict,
    /// Paths of the modules with a [`super::QuantizedState`], with the local names of their
    /// entries.
    quantized_modules: Vec<(String, Vec<String>)>,
    /// Keys that belong to float modules (parameters and buffers, loaded through `nn`).
    float_keys: Vec<String>,
}

fn collect(model: &dyn Module) -> Result<Collected, StateError> {
    let mut all = QuantizedStateDict::new();
    let mut quantized_modules = Vec::new();
    let mut float_keys = Vec::new();
    for (path, m) in model.named_modules() {
        let mut own = Vec::new();
        if let Some(q) = as_quantized_state(m) {
            let entries = q.quantized_state();
            if !entries.is_empty() {
                all.set_module_type(path.clone(), m.type_name());
            }
            for (k, v) in entries {
                all.insert_new(join(&path, &k), v)?;
                own.push(k);
            }
            quantized_modules.push((path.clone(), own.clone()));
        }
        let params = m
            .local_parameters()
            .into_iter()
            .map(|(k, t)| (k, QStateTensor::F32(t.to_array())));
        let buffers = m.local_buffers().into_iter().map(|(k, b)| {
            let v = match b {
                Buffer::Float(t) => QStateTensor::F32(t.to_array()),
                Buffer::Int(i) => QStateTensor::I64(i.get()),
            };
            (k, v)
        });
        // A module's quantized state is authoritative for the names it exports.
        for (k, v) in params.chain(buffers).filter(|(k, _)| !own.contains(k)) {
            let key = join(&path, &k);
            all.insert_new(key.clone(), v)?;
            float_keys.push(key);
        }
    }
    if all.module_types().is_empty() {
        return Err(StateError::NotQuantized {
            model: model.type_name().to_string(),
        });
    }
    Ok(Collected {
        all,
        quantized_modules,
        float_keys,
    })
}

/// The model's state with PyTorch's dotted names: every quantized module's
/// [`QuantizedState`](super::QuantizedState) entries (`conv1.weight` quantized, `conv1.bias`,
/// `conv1.scale`, `conv1.zero_point`, `quant.scale` ...) and the parameters and buffers of the
/// float modules left in it, in module order, with the type of each quantized module.
///
/// Errors: [`StateError::NotQuantized`] if no quantized module has state (a float or only
/// prepared model), [`StateError::DuplicateKey`] if two entries share a name.
pub fn quantized_state_dict(model: &dyn Module) -> Result<QuantizedStateDict, StateError> {
    Ok(collect(model)?.all)
}

/// Loads `state` into a model prepared and converted the same way as the one it came from
/// (the engine may differ: weights are repacked for the current one), all or nothing.
///
/// Everything is checked before the model changes: the keys, element types and shapes of every
/// entry and the type of every quantized module ([`StateError::Mismatch`] lists all
/// differences), then each module builds its new state from its entries
/// ([`StateError::InvalidEntry`] names the key whose values it refuses). Only then are the
/// float parameters and the quantized modules updated. [`StateError::NotQuantized`] if no
/// quantized module of the model has state.
pub fn load_quantized_state_dict(
    model: &mut dyn Module,
    state: &QuantizedStateDict,
) -> Result<(), StateError> {
    let ours = collect(model)?;
    state.check_fits(&ours.all)?;
    let mut staged: Vec<(String, StagedState)> = Vec::new();
    for (path, keys) in &ours.quantized_modules {
        let m = model
            .get_submodule(path)
            .map_err(|e| StateError::invalid(path, e))?;
        let q = as_quantized_state(m).ok_or_else(|| StateError::invalid(path, "not quantized"))?;
        let s = q
            .stage_quantized_state(&state.select(path, keys))
            .map_err(|e| e.in_module(path))?;
        staged.push((path.clone(), s));
    }
    let mut floats = nn::StateDict::new();
    for k in &ours.float_keys {
        if let Some(v) = state.get(k).and_then(QStateTensor::to_nn) {
            floats.insert(k.clone(), v);
        }
    }
    // Checked above to match key for key (not strict: names a quantized module exports are
    // loaded by it, not by nn). nn's load changes nothing when it fails.
    model
        .load_state_dict(&floats, false)
        .map_err(|e| StateError::invalid("(float parameters)", e))?;
    for (path, s) in staged {
        let m = model
            .get_submodule_mut(&path)
            .map_err(|e| StateError::invalid(&path, e))?;
        if let Some(q) = as_quantized_state_mut(m) {
            q.commit_quantized_state(s)?;
        }
    }
    Ok(())
}

/// Saves the model's quantized state ([`quantized_state_dict`]) to a safetensors file with a
/// metadata header (format version, and per tensor its dtype, scheme, axis and checksum).
pub fn save_quantized(model: &dyn Module, path: impl AsRef<Path>) -> Result<(), StateError> {
    quantized_state_dict(model)?.save(path)
}

/// Loads a file written by [`save_quantized`] into a model prepared and converted the same
/// way: outputs are then those of the saved model, bit for bit, on the same engine. A
/// corrupted, truncated, future-version or foreign file, or one for another architecture, is a
/// typed error and leaves the model unchanged (see [`load_quantized_state_dict`]).
pub fn load_quantized(model: &mut dyn Module, path: impl AsRef<Path>) -> Result<(), StateError> {
    let state = QuantizedStateDict::load(path)?;
    load_quantized_state_dict(model, &state)
}
