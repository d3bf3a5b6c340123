//! `prepare` (`torch.ao.quantization.prepare`): qconfigs propagated down the tree and
//! observers attached as each quantizable module's `activation_post_process`.

use nn::{join, Identity, Module};

use super::error::{EagerError, Notice, PrepareReport};
use super::mappings::{in_propagation_list, never_observed, observes_itself, QuantMapping};
use super::observer_module::ObserverModule;
use super::prepared::Prepared;
use crate::{ObserverSpec, QConfig, QConfigEntry};

use super::qconfig_mapping::QConfigMapping;

/// What prepare does at one path.
enum Action {
    /// Wrap the module with its qconfig and (optional) observer.
    Wrap {
        path: String,
        qconfig: QConfig,
        observer: Option<ObserverModule>,
        observe_input: bool,
    },
    /// Put an observer in the module's own `activation_post_process` slot.
    SetSlot {
        path: String,
        observer: ObserverModule,
    },
}

struct Planner<'a> {
    spec: &'a QConfigMapping,
    mapping: &'a QuantMapping,
    actions: Vec<Action>,
    notices: Vec<Notice>,
    any_qconfig: bool,
}

/// PyTorch's `_activation_is_memoryless`: a moving-average observer with averaging constant 1
/// (dynamic quantization) observes a module's input instead of its output.
fn memoryless(q: &QConfig) -> bool {
    let spec = match &q.activation {
        QConfigEntry::Observer(s) => Some(s),
        QConfigEntry::FakeQuantize(f) => Some(f.observer()),
        _ => None,
    };
    matches!(
        spec,
        Some(ObserverSpec::MovingAverageMinMax { averaging_constant, .. })
            | Some(ObserverSpec::MovingAveragePerChannelMinMax { averaging_constant, .. })
            if *averaging_constant == 1.0
    )
}

/// PyTorch's `_assert_valid_qconfig`: per-channel weight observers are not supported for
/// transposed convolutions.
fn check_qconfig(path: &str, m: &dyn Module, q: &QConfig) -> Result<(), EagerError> {
    if !m.is::<nn::ConvTranspose2d>() {
        return Ok(());
    }
    let per_channel = match &q.weight {
        QConfigEntry::Observer(s) => Some(s),
        QConfigEntry::FakeQuantize(f) => Some(f.observer()),
        _ => None,
    }
    .is_some_and(|s| {
        matches!(
            s,
            ObserverSpec::PerChannelMinMax { .. }
                | ObserverSpec::MovingAveragePerChannelMinMax { .. }
        )
    });
    if per_channel {
        return Err(EagerError::QConfig {
            path: path.to_string(),
            module: m.type_name().to_string(),
            reason: "per-channel weight observers are not supported for ConvTranspose; use a \
                     per-tensor weight observer for this module (e.g. the qnnpack qconfig)"
                .into(),
        });
    }
    Ok(())
}

impl Planner<'_> {
    fn observer(&self, path: &str, q: &QConfig) -> Result<Option<ObserverModule>, EagerError> {
        let built = q
            .activation
            .build()
            .map_err(|source| EagerError::Observer {
                path: join(path, "activation_post_process"),
                source,
            })?;
        Ok(ObserverModule::new(built, Some(q.clone())))
    }

    fn wrap(&mut self, path: &str, q: &QConfig, observe: bool) -> Result<(), EagerError> {
        let observer = if observe {
            self.observer(path, q)?
        } else {
            None
        };
        self.actions.push(Action::Wrap {
            path: path.to_string(),
            qconfig: q.clone(),
            observe_input: observe && memoryless(q),
            observer,
        });
        Ok(())
    }

    /// PyTorch's `add_observer_` on `m` (whose own qconfig is `qc`), children first.
    fn visit(
        &mut self,
        m: &dyn Module,
        path: &str,
        qc: Option<&QConfig>,
    ) -> Result<(), EagerError> {
        for (name, child) in m.children() {
            let cpath = join(path, &name);
            if child.is::<Prepared>() || child.is::<ObserverModule>() {
                return Err(EagerError::AlreadyPrepared { path: cpath });
            }
            let cqc = self.spec.resolve(&cpath, child.type_name(), qc);
            if let Some(q) = &cqc {
                self.any_qconfig = true;
                check_qconfig(&cpath, child, q)?;
            }
            let unit = nn_intrinsic::is_fused(child)
                || self.mapping.get(child).is_some_and(|e| e.is_custom());
            if observes_itself(child) {
                if let Some(q) = &cqc {
                    if let Some(observer) = self.observer(&cpath, q)? {
                        self.actions.push(Action::SetSlot {
                            path: join(&cpath, "activation_post_process"),
                            observer,
                        });
                    }
                }
            } else if child.is::<nn::Dropout>() {
                if let Some(q) = &cqc {
                    self.wrap(&cpath, q, false)?;
                }
            } else if unit {
                if let Some(q) = &cqc {
                    self.wrap(&cpath, q, true)?;
                }
            } else {
                self.visit(child, &cpath, cqc.as_ref())?;
            }
        }
        let leaf = m.children().is_empty();
        if leaf
            && !path.is_empty()
            && !m.is::<nn::Sequential>()
            && in_propagation_list(self.mapping, m)
        {
            if let Some(q) = qc {
                self.wrap(path, q, !never_observed(m))?;
            }
        }
        Ok(())
    }
}

/// Attaches observers for post-training static quantization, in place (PyTorch's
/// `prepare(model, inplace=True)` after assigning qconfigs).
///
/// Each module's qconfig is resolved from `spec` down the tree (see [`QConfigMapping`]). Then,
/// as PyTorch's `add_observer_`: every leaf module of a quantizable type (a key of `mapping`:
/// `QuantStub`, `Linear`, `Conv2d` ...) with a qconfig gets an observer on its output, named
/// `<path>.activation_post_process`; fused modules (and a user's types in `mapping`) get one
/// for the whole unit; a `FloatFunctional` gets its own `activation_post_process` replaced;
/// `DeQuantStub` and `Dropout` carry their qconfig without an observer. The root itself is
/// never wrapped (a model that is a single leaf gets a notice: wrap it in `QuantWrapper`).
///
/// Errors (an invalid qconfig for a module, an observer that cannot be built, a model prepared
/// already) leave the model as it was.
pub fn prepare<M: Module + ?Sized>(
    model: &mut M,
    spec: &QConfigMapping,
    mapping: &QuantMapping,
) -> Result<PrepareReport, EagerError> {
    let model = model.as_module_mut();
    let mut planner = Planner {
        spec,
        mapping,
        actions: Vec::new(),
        notices: Vec::new(),
        any_qconfig: false,
    };
    let root_qc = spec.resolve("", model.type_name(), None);
    planner.any_qconfig |= root_qc.is_some();
    planner.visit(model, "", root_qc.as_ref())?;
    let names: Vec<String> = model.named_modules().into_iter().map(|(p, _)| p).collect();
    for p in spec.paths().filter(|p| !p.is_empty()) {
        if !names.iter().any(|n| n == p) {
            planner.notices.push(Notice {
                path: p.to_string(),
                message: "a qconfig is given for this path but the model has no such module".into(),
            });
        }
    }
    if !planner.any_qconfig {
        planner.notices.push(Notice {
            path: String::new(),
            message: "None of the submodule got qconfig applied. Make sure you passed correct \
                      configuration through the qconfig mapping"
                .into(),
        });
    }
    if model.children().is_empty() && in_propagation_list(mapping, model) && root_qc.is_some() {
        planner.notices.push(Notice {
            path: String::new(),
            message: "the model is a single layer: nothing is observed around it; wrap it in \
                      QuantWrapper to quantize it"
                .into(),
        });
    }
    let mut report = PrepareReport {
        observers: Vec::new(),
        notices: planner.notices,
    };
    // The paths come from the walk above over this same model and never nest, so every
    // replacement below finds its slot.
    for action in planner.actions {
        match action {
            Action::Wrap {
                path,
                qconfig,
                observer,
                observe_input,
            } => {
                if observer.is_some() {
                    report
                        .observers
                        .push(join(&path, "activation_post_process"));
                }
                let old = model
                    .replace_submodule(&path, Box::new(Identity::new()))
                    .map_err(EagerError::NoSuchModule)?;
                let wrapped = Prepared::new(old, qconfig, observer, observe_input);
                model
                    .replace_submodule(&path, Box::new(wrapped))
                    .map_err(EagerError::NoSuchModule)?;
            }
            Action::SetSlot { path, observer } => {
                report.observers.push(path.clone());
                model
                    .replace_submodule(&path, Box::new(observer))
                    .map_err(EagerError::NoSuchModule)?;
            }
        }
    }
    Ok(report)
}
