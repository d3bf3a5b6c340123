//! [`FloatWeights`]: float parameters by PyTorch name (a state dict: `nn::StateDict`, or a map
//! of arrays), the input of the `from_state_dict` constructors; and reading them from a float
//! module's parameters.

use std::collections::{BTreeMap, HashMap};

use ndarray::{ArrayD, ArrayViewD};
use nn::Module;

use crate::error::{DynamicError, Result};

/// Float parameters by PyTorch name (`weight_ih_l0`, `bias_hh_l1_reverse`, ...).
pub trait FloatWeights {
    /// The tensor `name`, if present.
    fn tensor(&self, name: &str) -> Option<ArrayViewD<'_, f32>>;

    /// Every name present.
    fn names(&self) -> Vec<String>;
}

impl FloatWeights for BTreeMap<String, ArrayD<f32>> {
    fn tensor(&self, name: &str) -> Option<ArrayViewD<'_, f32>> {
        self.get(name).map(ArrayD::view)
    }

    fn names(&self) -> Vec<String> {
        self.keys().cloned().collect()
    }
}

impl FloatWeights for HashMap<String, ArrayD<f32>> {
    fn tensor(&self, name: &str) -> Option<ArrayViewD<'_, f32>> {
        self.get(name).map(ArrayD::view)
    }

    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.keys().cloned().collect();
        v.sort();
        v
    }
}

impl FloatWeights for nn::StateDict {
    /// The float32 entry `name` (an int64 entry is not a weight and is not returned).
    fn tensor(&self, name: &str) -> Option<ArrayViewD<'_, f32>> {
        match self.get(name) {
            Some(nn::StateTensor::F32(a)) => Some(a.view()),
            _ => None,
        }
    }

    fn names(&self) -> Vec<String> {
        self.keys().into_iter().map(str::to_string).collect()
    }
}

/// A float module's own parameters by local name (what `from_float` reads).
pub(crate) fn module_parameters(m: &dyn Module) -> BTreeMap<String, ArrayD<f32>> {
    m.local_parameters()
        .into_iter()
        .map(|(name, t)| (name, t.to_array()))
        .collect()
}

/// Looks up `name` and checks its shape.
pub(crate) fn take<'a>(
    module: &'static str,
    weights: &'a dyn FloatWeights,
    name: &str,
    shape: &[usize],
) -> Result<ArrayViewD<'a, f32>> {
    let t = weights
        .tensor(name)
        .ok_or_else(|| DynamicError::MissingWeight {
            module,
            name: name.to_string(),
        })?;
    if t.shape() != shape {
        return Err(DynamicError::WeightShape {
            module,
            name: name.to_string(),
            expected: shape.to_vec(),
            got: t.shape().to_vec(),
        });
    }
    Ok(t)
}

/// Errors if `weights` has names outside `expected`.
pub(crate) fn reject_unexpected(
    module: &'static str,
    weights: &dyn FloatWeights,
    expected: &[String],
) -> Result<()> {
    let names: Vec<String> = weights
        .names()
        .into_iter()
        .filter(|n| !expected.contains(n))
        .collect();
    if names.is_empty() {
        Ok(())
    } else {
        Err(DynamicError::UnexpectedWeights { module, names })
    }
}
