//! [`QuantizedState`]: how one quantized module exports its state and takes a saved one back,
//! in two steps (stage, then commit) so a model-level load changes nothing until every module
//! has accepted its part.

use std::any::Any;

use super::dict::QuantizedStateDict;
use super::error::StateError;
use qtensor::QTensor;

use super::value::QStateTensor;
use crate::functional::QOpError;

/// A module's state built by [`QuantizedState::stage_quantized_state`], waiting to be
/// installed by [`QuantizedState::commit_quantized_state`].
pub struct StagedState {
    value: Box<dyn Any + Send>,
    staged_by: &'static str,
}

impl StagedState {
    /// Wraps what a module built (usually a complete replacement of itself).
    pub fn new<T: Any + Send>(value: T) -> StagedState {
        StagedState {
            value: Box::new(value),
            staged_by: std::any::type_name::<T>(),
        }
    }

    /// The value, if it is a `T`; `module` names the receiver in the error.
    pub fn downcast<T: Any>(self, module: &'static str) -> Result<T, StateError> {
        let staged_by = self.staged_by;
        self.value
            .downcast::<T>()
            .map(|b| *b)
            .map_err(|_| StateError::StagedMismatch { staged_by, module })
    }
}

impl std::fmt::Debug for StagedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StagedState({})", self.staged_by)
    }
}

/// A quantized module's persistent state with PyTorch's names: `weight` (a quantized tensor:
/// int8 values with scale(s), zero point(s) and axis), `bias` (float32), `scale` (float64) and
/// `zero_point` (int64) of the output, batch-norm statistics, norm weights ...
///
/// The state is engine-independent: the weight is kept as given to the prepack, and staging
/// packs it again for the engine current at that time. Implemented by every module of this
/// crate and of the fused quantized modules; a module type outside this crate is reached by
/// the model-level functions once registered with
/// [`register_quantized_state`](crate::state::register_quantized_state).
pub trait QuantizedState: Send {
    /// The module's entries by local name, in a fixed order.
    fn quantized_state(&self) -> Vec<(String, QStateTensor)>;

    /// Checks `state` (this module's entries by local name) against the module (same keys,
    /// element types and shapes, valid values) and builds what it describes, weights repacked
    /// for the current engine. The module itself is not changed.
    fn stage_quantized_state(&self, state: &QuantizedStateDict) -> Result<StagedState, StateError>;

    /// Installs a state built by this module's [`QuantizedState::stage_quantized_state`];
    /// errors only if `staged` came from a module of another type.
    fn commit_quantized_state(&mut self, staged: StagedState) -> Result<(), StateError>;

    /// Stages and commits `state`: the module is changed only if all of it is accepted.
    fn load_quantized_state(&mut self, state: &QuantizedStateDict) -> Result<(), StateError> {
        let staged = self.stage_quantized_state(state)?;
        self.commit_quantized_state(staged)
    }
}

/// The start of every `stage_quantized_state`: errors unless `state` has exactly the keys,
/// element types and shapes of `module`'s current state.
pub fn check_local_state(
    module: &dyn QuantizedState,
    state: &QuantizedStateDict,
) -> Result<(), StateError> {
    let ours = QuantizedStateDict::from_entries(module.quantized_state())?;
    state.check_fits(&ours)
}

/// Output `scale` (float64) and `zero_point` (int64) entries.
pub(crate) fn out_qparams(scale: f64, zero_point: i64) -> [(String, QStateTensor); 2] {
    [
        ("scale".into(), QStateTensor::scalar_f64(scale)),
        ("zero_point".into(), QStateTensor::scalar_i64(zero_point)),
    ]
}

/// Reads and checks the output `scale` (finite, > 0) and `zero_point` (in `zp_range`).
pub(crate) fn read_out_qparams(
    state: &QuantizedStateDict,
    zp_range: std::ops::RangeInclusive<i64>,
) -> Result<(f64, i64), StateError> {
    let scale = state.f64_scalar("scale")?;
    qtensor::check_scale("scale", scale).map_err(|e| StateError::invalid("scale", e))?;
    let zero_point = state.i64_scalar("zero_point")?;
    if !zp_range.contains(&zero_point) {
        return Err(StateError::invalid(
            "zero_point",
            format!(
                "{zero_point} is outside {}..={}",
                zp_range.start(),
                zp_range.end()
            ),
        ));
    }
    Ok((scale, zero_point))
}

/// `weight` (quantized) and, when present, `bias` (float32) entries.
pub(crate) fn weight_entries(
    weight: &QTensor,
    bias: Option<&[f32]>,
) -> Vec<(String, QStateTensor)> {
    let mut out = vec![(
        "weight".to_string(),
        QStateTensor::Quantized(weight.clone()),
    )];
    if let Some(b) = bias {
        out.push(("bias".into(), QStateTensor::vector_f32(b)));
    }
    out
}

/// Reads `weight` and, when `has_bias`, `bias`.
pub(crate) fn read_weight(
    state: &QuantizedStateDict,
    has_bias: bool,
) -> Result<(&QTensor, Option<Vec<f32>>), StateError> {
    let w = state.quantized("weight")?;
    let b = if has_bias {
        Some(state.f32_values("bias")?)
    } else {
        None
    };
    Ok((w, b))
}

/// Converts an operator error raised while rebuilding from the entry `key`.
pub(crate) fn rejected(key: &'static str) -> impl Fn(QOpError) -> StateError {
    move |e| StateError::invalid(key, e)
}

/// Implements `commit_quantized_state` for a module that stages a complete replacement of
/// itself.
macro_rules! commit_replacement {
    ($name:literal) => {
        fn commit_quantized_state(
            &mut self,
            staged: $crate::state::StagedState,
        ) -> Result<(), $crate::state::StateError> {
            *self = staged.downcast::<Self>($name)?;
            Ok(())
        }
    };
}
pub(crate) use commit_replacement;
