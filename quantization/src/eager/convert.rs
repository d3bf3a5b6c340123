//! `convert` (`torch.ao.quantization.convert`): every observed float module swapped for its
//! quantized form, built from the observed parameters and the qconfig's weight observer.

use nn::{join, Identity, Module};

use super::context::FromFloatCtx;
use super::error::{ConvertReport, EagerError};
use super::mappings::{observes_itself, QuantMapping};
use super::observer_module::ObserverModule;
use super::prepared::Prepared;

enum Action {
    /// Put the new module at the path.
    Swap(String, Box<dyn Module>),
    /// Remove the wrapper (qconfig and observer), keeping the float module.
    Unwrap(String),
    /// Put an `Identity` back in the slot of a functional module's observer.
    ClearSlot(String),
}

struct Planner<'a> {
    mapping: &'a QuantMapping,
    actions: Vec<Action>,
    report: ConvertReport,
}

impl Planner<'_> {
    fn build(
        &mut self,
        path: &str,
        float: &dyn Module,
        ctx: FromFloatCtx<'_>,
        training: bool,
    ) -> Result<bool, EagerError> {
        let Some(entry) = self.mapping.get(float) else {
            return Ok(false);
        };
        let mut new = entry.build(&ctx)?;
        new.set_training_flag(training);
        self.report.notices.extend(ctx.take_notices());
        self.report.swapped.push((
            path.to_string(),
            float.type_name().to_string(),
            new.type_name().to_string(),
        ));
        self.actions.push(Action::Swap(path.to_string(), new));
        Ok(true)
    }

    fn visit(&mut self, m: &dyn Module, path: &str) -> Result<(), EagerError> {
        for (name, child) in m.children() {
            let cpath = join(path, &name);
            if let Some(p) = child.downcast_ref::<Prepared>() {
                let ctx =
                    FromFloatCtx::new(&cpath, p.inner(), p.qconfig(), p.activation_post_process());
                if !self.build(&cpath, p.inner(), ctx, child.is_training())? {
                    self.actions.push(Action::Unwrap(cpath));
                }
            } else if observes_itself(child) {
                let slot = join(&cpath, "activation_post_process");
                let obs = child
                    .get_submodule("activation_post_process")
                    .ok()
                    .and_then(|o| o.downcast_ref::<ObserverModule>());
                if let Some(obs) = obs {
                    match obs.qconfig() {
                        Some(q) => {
                            let ctx = FromFloatCtx::new(&cpath, child, q, Some(obs));
                            if !self.build(&cpath, child, ctx, child.is_training())? {
                                self.actions.push(Action::ClearSlot(slot));
                            }
                        }
                        None => self.actions.push(Action::ClearSlot(slot)),
                    }
                }
            } else {
                self.visit(child, &cpath)?;
            }
        }
        Ok(())
    }
}

/// Swaps every prepared (observed) module for its quantized form, in place (PyTorch's
/// `convert(model, mapping, inplace=True)`), then removes the remaining observers and qconfigs.
///
/// For each module prepare wrapped (and each `FloatFunctional` it observed), the constructor
/// `mapping` has for the float type runs with the observed parameters: output scale / zero
/// point from the activation observer, the weight quantized with a fresh weight observer of
/// the module's qconfig, and packed for the current engine ([`qtensor::engine`]). Modules whose
/// type has no entry keep their float form (their observer is removed).
///
/// An observer that saw no data gives PyTorch's defaults (scale 1.0, zero point 0) and a
/// notice in the report. Errors (a qconfig whose dtypes the quantized kernels cannot run, a
/// shape the engine refuses ...) are found before anything is changed, so the model is left
/// as it was.
pub fn convert<M: Module + ?Sized>(
    model: &mut M,
    mapping: &QuantMapping,
) -> Result<ConvertReport, EagerError> {
    let model = model.as_module_mut();
    let mut planner = Planner {
        mapping,
        actions: Vec::new(),
        report: ConvertReport::default(),
    };
    planner.visit(model, "")?;
    // The paths come from the walk above over this same model and never nest, so every
    // replacement below finds its slot.
    for action in planner.actions {
        match action {
            Action::Swap(path, new) => {
                model
                    .replace_submodule(&path, new)
                    .map_err(EagerError::NoSuchModule)?;
            }
            Action::Unwrap(path) => {
                let old = model
                    .replace_submodule(&path, Box::new(Identity::new()))
                    .map_err(EagerError::NoSuchModule)?;
                // The planner saw a Prepared at this path.
                if let Ok(p) = old.into_any().downcast::<Prepared>() {
                    model
                        .replace_submodule(&path, p.into_inner())
                        .map_err(EagerError::NoSuchModule)?;
                }
            }
            Action::ClearSlot(path) => {
                model
                    .replace_submodule(&path, Box::new(Identity::new()))
                    .map_err(EagerError::NoSuchModule)?;
            }
        }
    }
    Ok(planner.report)
}
