//! `prepare_qat` (`torch.ao.quantization.prepare_qat`): float modules swapped for their QAT
//! forms, then the activation fake-quants attached by the eager `prepare`, in their
//! differentiable form.

use nn::{join, Identity, Module};

use super::mapping::{QatCtx, QatMapping};
use super::prepared::QatPrepared;
use super::FakeQuantizeModule;
use crate::eager::{
    prepare, remove_observers, EagerError, ObserverModule, PrepareReport, Prepared, QConfigMapping,
    QuantMapping,
};
use crate::{ObserverSpec, PostProcess, QConfig, QConfigEntry};

/// PyTorch's `_activation_is_memoryless`: a moving-average observer with averaging constant 1
/// observes a module's input instead of its output.
pub(crate) fn memoryless(q: &QConfig) -> bool {
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

/// The activation fake-quant of a qconfig as a module (`None` for an `Identity` entry).
pub(crate) fn activation_fake_quant(
    path: &str,
    q: &QConfig,
) -> Result<Option<FakeQuantizeModule>, EagerError> {
    let built = q
        .activation
        .build()
        .map_err(|source| EagerError::Observer {
            path: join(path, "activation_post_process"),
            source,
        })?;
    Ok(match built {
        PostProcess::FakeQuantize(f) => Some(FakeQuantizeModule::new(f).with_qconfig(q.clone())),
        PostProcess::Observer(o) => Some(FakeQuantizeModule::observer(o).with_qconfig(q.clone())),
        PostProcess::Identity => None,
    })
}

fn already_prepared(m: &dyn Module) -> bool {
    m.is::<Prepared>() || m.is::<QatPrepared>() || m.is::<ObserverModule>()
}

/// PyTorch's `convert(model, mapping=qat_mapping)` step of `prepare_qat`: every module with a
/// qconfig whose type is in `mapping` becomes its QAT form; fused modules are not entered.
fn plan_swaps(
    m: &dyn Module,
    path: &str,
    qc: Option<&QConfig>,
    spec: &QConfigMapping,
    mapping: &QatMapping,
    out: &mut Vec<(String, Box<dyn Module>)>,
) -> Result<(), EagerError> {
    for (name, child) in m.children() {
        let cpath = join(path, &name);
        if already_prepared(child) {
            return Err(EagerError::AlreadyPrepared { path: cpath });
        }
        let cqc = spec.resolve(&cpath, child.type_name(), qc);
        match (&cqc, mapping.get(child)) {
            (Some(q), Some(ctor)) => {
                let ctx = QatCtx {
                    path: &cpath,
                    module: child,
                    qconfig: q,
                };
                out.push((cpath.clone(), ctor(&ctx)?));
            }
            _ if nn_intrinsic::is_fused(child) => {}
            _ => plan_swaps(child, &cpath, cqc.as_ref(), spec, mapping, out)?,
        }
    }
    Ok(())
}

/// A post-training wrapper or observer slot to replace with its QAT form.
enum Replace {
    Wrapper {
        path: String,
        qconfig: QConfig,
        app: Option<FakeQuantizeModule>,
        observe_input: bool,
    },
    Slot {
        path: String,
        app: FakeQuantizeModule,
    },
}

fn plan_replacements(model: &dyn Module) -> Result<Vec<Replace>, EagerError> {
    let mut out = Vec::new();
    let mut wrapped: Vec<String> = Vec::new();
    for (path, m) in model.named_modules() {
        if let Some(p) = m.downcast_ref::<Prepared>() {
            let q = p.qconfig().clone();
            let app = match p.activation_post_process() {
                Some(_) => activation_fake_quant(&path, &q)?,
                None => None,
            };
            out.push(Replace::Wrapper {
                path: path.clone(),
                observe_input: memoryless(&q),
                qconfig: q,
                app,
            });
            wrapped.push(join(&path, "activation_post_process"));
        } else if let Some(o) = m.downcast_ref::<ObserverModule>() {
            if wrapped.contains(&path) {
                continue;
            }
            if let Some(app) = o
                .qconfig()
                .map(|q| activation_fake_quant(&path, q))
                .transpose()?
                .flatten()
            {
                out.push(Replace::Slot { path, app });
            }
        }
    }
    Ok(out)
}

/// Takes the eager wrapper at `path` out of the model (an `Identity` holds the slot).
pub(crate) fn take_prepared(model: &mut dyn Module, path: &str) -> Result<Prepared, EagerError> {
    let found = model
        .get_submodule(path)
        .map_err(EagerError::NoSuchModule)?
        .is::<Prepared>();
    let not_prepared = || EagerError::Convert {
        path: path.to_string(),
        module: "?".into(),
        reason: "expected a prepared module here".into(),
    };
    if !found {
        return Err(not_prepared());
    }
    let old = model
        .replace_submodule(path, Box::new(Identity::new()))
        .map_err(EagerError::NoSuchModule)?;
    old.into_any()
        .downcast::<Prepared>()
        .map(|b| *b)
        .map_err(|_| not_prepared())
}

fn apply_replacements(model: &mut dyn Module, plan: Vec<Replace>) -> Result<(), EagerError> {
    for r in plan {
        match r {
            Replace::Wrapper {
                path,
                qconfig,
                app,
                observe_input,
            } => {
                let inner = take_prepared(model, &path)?.into_inner();
                let new = QatPrepared::new(inner, qconfig, app, observe_input);
                model
                    .replace_submodule(&path, Box::new(new))
                    .map_err(EagerError::NoSuchModule)?;
            }
            Replace::Slot { path, app } => {
                model
                    .replace_submodule(&path, Box::new(app))
                    .map_err(EagerError::NoSuchModule)?;
            }
        }
    }
    Ok(())
}

/// Prepares a model for quantization-aware training, in place (PyTorch's
/// `prepare_qat(model, mapping, inplace=True)` after assigning qconfigs).
///
/// 1. Each module's qconfig is resolved from `spec` as in [`prepare`]; every module with a
///    qconfig whose type is in `qat` becomes its QAT form (`Linear` -> [`nn_qat::Linear`],
///    fused `ConvBn2d` -> [`nn_intrinsic::qat::ConvBn2d`] ...), sharing the float module's
///    parameters, with a fresh weight fake-quant from the qconfig.
/// 2. The eager [`prepare`] attaches the activation fake-quants, with `quant` telling which
///    modules are observed (the QAT types are observed as units: use
///    [`convert_mapping`](super::convert_mapping), or a mapping built from it).
/// 3. Each wrapper prepare made is replaced by a [`QatPrepared`], whose activation fake-quant
///    is a [`FakeQuantizeModule`] (gradients flow through it).
///
/// The model must be in training mode. Errors (a model in eval mode or prepared already, a
/// qconfig whose fake quants cannot be built, a float module its QAT form refuses) leave the
/// model as it was.
///
/// ```
/// use nn::prelude::*;
/// use nn::{DeQuantStub, Linear, QuantStub, ReLU};
/// use quantization::eager::QConfigMapping;
/// use quantization::qat::{convert_mapping, convert_qat, prepare_qat, QatMapping};
/// use quantization::{get_default_qat_qconfig, Backend};
///
/// #[derive(Module)]
/// struct Net { quant: Child, fc: Child, relu: Child, dequant: Child }
/// impl nn::Forward for Net {
///     fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
///         let x = self.relu.forward(self.fc.forward(self.quant.forward(x)?)?)?;
///         self.dequant.forward(x)
///     }
/// }
///
/// qtensor::set_engine(qtensor::Engine::Fbgemm).unwrap();
/// let mut net = Net {
///     quant: Child::new(QuantStub::new()),
///     fc: Child::new(Linear::new(4, 3, true)),
///     relu: Child::new(ReLU::new()),
///     dequant: Child::new(DeQuantStub::new()),
/// };
/// let spec = QConfigMapping::global(get_default_qat_qconfig(Backend::Fbgemm));
/// prepare_qat(&mut net, &spec, &QatMapping::default_qat(), &convert_mapping()).unwrap();
/// assert!(net.get_submodule("fc.weight_fake_quant").is_ok());
/// // Train: the loss reaches the weights through the fake quants.
/// let y = net.forward(Tensor::randn(&[8, 4]).into()).unwrap().into_float("y").unwrap();
/// y.sum().backward().unwrap();
/// assert!(net.parameters()[0].grad().is_some());
/// convert_qat(&mut net, &convert_mapping()).unwrap();
/// assert_eq!(net.fc.type_name(), "QuantizedLinear");
/// ```
pub fn prepare_qat<M: Module + ?Sized>(
    model: &mut M,
    spec: &QConfigMapping,
    qat: &QatMapping,
    quant: &QuantMapping,
) -> Result<PrepareReport, EagerError> {
    let model = model.as_module_mut();
    if !model.is_training() {
        return Err(EagerError::QConfig {
            path: String::new(),
            module: model.type_name().to_string(),
            reason: "prepare_qat only works on models in training mode; call train(true) first"
                .into(),
        });
    }
    let root_qc = spec.resolve("", model.type_name(), None);
    let mut swaps = Vec::new();
    plan_swaps(model, "", root_qc.as_ref(), spec, qat, &mut swaps)?;
    let mut originals = Vec::new();
    for (path, new) in swaps {
        let old = model
            .replace_submodule(&path, new)
            .map_err(EagerError::NoSuchModule)?;
        originals.push((path, old));
    }
    let restore = |model: &mut dyn Module, originals: Vec<(String, Box<dyn Module>)>| {
        for (path, old) in originals {
            // The swapped paths exist: the walk found them in this model.
            let _ = model.replace_submodule(&path, old);
        }
    };
    let report = match prepare(model, spec, quant) {
        Ok(r) => r,
        Err(e) => {
            restore(model, originals);
            return Err(e);
        }
    };
    let result = plan_replacements(model).and_then(|plan| apply_replacements(model, plan));
    if let Err(e) = result {
        remove_observers(model);
        restore(model, originals);
        return Err(e);
    }
    Ok(report)
}
