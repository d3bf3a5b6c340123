//! `convert` for QAT models: the trained fake-quants' parameters handed to the eager
//! [`convert`], whose constructors (with the QAT entries of
//! [`convert_mapping`](super::convert_mapping)) build the quantized modules.

use nn::{join, Identity, Module};

use super::from_qat::observe_final_weight;
use super::frozen::FrozenQParams;
use super::prepare::take_prepared;
use super::prepared::QatPrepared;
use super::FakeQuantizeModule;
use crate::eager::{convert, ConvertReport, EagerError, ObserverModule, Prepared, QuantMapping};
use crate::{PostProcess, QConfig};

/// The eager-form activation observer standing for a trained fake quant.
pub(crate) fn frozen(
    path: &str,
    app: &FakeQuantizeModule,
    q: &QConfig,
) -> Result<ObserverModule, EagerError> {
    let stand_in = FrozenQParams::of(app.type_name(), app.observer_ref(), app.calculate_qparams());
    ObserverModule::new(PostProcess::Observer(Box::new(stand_in)), Some(q.clone())).ok_or_else(
        || EagerError::Convert {
            path: path.to_string(),
            module: app.type_name().to_string(),
            reason: "no observer could stand for the activation fake quant".into(),
        },
    )
}

/// What convert takes out of the QAT model, to put back if the conversion fails.
enum Stashed {
    Wrapper {
        path: String,
        qconfig: Box<QConfig>,
        app: Option<Box<FakeQuantizeModule>>,
        observe_input: bool,
    },
    Slot {
        path: String,
        app: Box<dyn Module>,
    },
}

fn take_qat_prepared(model: &mut dyn Module, path: &str) -> Result<QatPrepared, EagerError> {
    let old = model
        .replace_submodule(path, Box::new(Identity::new()))
        .map_err(EagerError::NoSuchModule)?;
    old.into_any()
        .downcast::<QatPrepared>()
        .map(|b| *b)
        .map_err(|_| EagerError::Convert {
            path: path.to_string(),
            module: "?".into(),
            reason: "expected a QAT-prepared module here".into(),
        })
}

fn restore(model: &mut dyn Module, stash: Vec<Stashed>) {
    for s in stash {
        match s {
            Stashed::Wrapper {
                path,
                qconfig,
                app,
                observe_input,
            } => {
                if let Ok(p) = take_prepared(model, &path) {
                    let back =
                        QatPrepared::new(p.into_inner(), *qconfig, app.map(|a| *a), observe_input);
                    let _ = model.replace_submodule(&path, Box::new(back));
                }
            }
            Stashed::Slot { path, app } => {
                let _ = model.replace_submodule(&path, app);
            }
        }
    }
}

/// Converts a QAT model to a quantized one, in place (PyTorch's `convert(model,
/// inplace=True)` after `prepare_qat` and training).
///
/// Every module `prepare_qat` observed becomes the quantized module `mapping` gives for its
/// type (use [`convert_mapping`](super::convert_mapping)): weights quantized with the
/// parameters of their trained `weight_fake_quant` (batch norms folded in first), output
/// scale / zero point from the activation fake-quant's `calculate_qparams`. As PyTorch's
/// quantized `from_float`, each weight fake-quant first sees the final (folded) weight once
/// more (its statistics move if its observer is on). Modules without an entry keep their
/// float form.
///
/// If the conversion fails the model is the QAT model it was (apart from that last weight
/// observation), and can be fixed and converted again.
pub fn convert_qat<M: Module + ?Sized>(
    model: &mut M,
    mapping: &QuantMapping,
) -> Result<ConvertReport, EagerError> {
    let model = model.as_module_mut();
    let mut wrappers = Vec::new();
    let mut slots = Vec::new();
    let mut apps: Vec<String> = Vec::new();
    for (path, m) in model.named_modules() {
        if let Some(p) = m.downcast_ref::<QatPrepared>() {
            let obs = p
                .activation_post_process()
                .map(|a| frozen(&path, a, p.qconfig()))
                .transpose()?;
            apps.push(join(&path, "activation_post_process"));
            wrappers.push((path, obs));
        } else if let Some(f) = m.downcast_ref::<FakeQuantizeModule>() {
            if let (Some(q), false) = (f.qconfig(), apps.contains(&path)) {
                slots.push((path.clone(), frozen(&path, f, q)?));
            }
        }
    }
    for (path, _) in &wrappers {
        let m = model
            .get_submodule_mut(path)
            .map_err(EagerError::NoSuchModule)?;
        if let Some(p) = m.downcast_mut::<QatPrepared>() {
            observe_final_weight(p.inner_mut()).map_err(|e| EagerError::Convert {
                path: path.clone(),
                module: p.type_name().to_string(),
                reason: format!("observing the final weight: {e}"),
            })?;
        }
    }
    let mut stash = Vec::new();
    for (path, obs) in wrappers {
        let p = match take_qat_prepared(model, &path) {
            Ok(p) => p,
            Err(e) => {
                restore(model, stash);
                return Err(e);
            }
        };
        let observe_input = p.observes_input();
        let (inner, qconfig, app) = p.into_parts();
        let eager = Prepared::new(inner, qconfig.clone(), obs, observe_input);
        // The slot was just emptied, so it exists.
        let _ = model.replace_submodule(&path, Box::new(eager));
        stash.push(Stashed::Wrapper {
            path,
            qconfig: Box::new(qconfig),
            app: app.map(Box::new),
            observe_input,
        });
    }
    for (path, obs) in slots {
        match model.replace_submodule(&path, Box::new(obs)) {
            Ok(app) => stash.push(Stashed::Slot { path, app }),
            Err(e) => {
                restore(model, stash);
                return Err(EagerError::NoSuchModule(e));
            }
        }
    }
    match convert(model, mapping) {
        Ok(report) => Ok(report),
        Err(e) => {
            restore(model, stash);
            Err(e)
        }
    }
}
