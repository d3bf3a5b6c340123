//! `quantize` (prepare, calibrate, convert in one call), `QuantWrapper`, `add_quant_dequant`,
//! and removing observers again.

use nn::{join, Child, DeQuantStub, Identity, Module, QuantStub, Result as NnResult, Value};

use super::convert::convert;
use super::error::{ConvertReport, EagerError, Notice};
use super::mappings::{observes_itself, QuantMapping};
use super::observer_module::ObserverModule;
use super::prepare::prepare;
use super::prepared::Prepared;
use super::qconfig_mapping::QConfigMapping;

/// A module between a `QuantStub` and a `DeQuantStub` (`torch.ao.quantization.QuantWrapper`):
/// children `quant`, `dequant`, `module`; forward `dequant(module(quant(x)))`.
pub struct QuantWrapper {
    /// Where the input becomes quantized.
    pub quant: Child,
    /// Where the output returns to float.
    pub dequant: Child,
    /// The wrapped module.
    pub module: Child,
}

impl QuantWrapper {
    /// Wraps `module` (boxed).
    pub fn new(module: Box<dyn Module>) -> QuantWrapper {
        let training = module.is_training();
        let mut quant = QuantStub::new();
        quant.set_training_flag(training);
        let mut dequant = DeQuantStub::new();
        dequant.set_training_flag(training);
        let mut m = Child::from_box(module);
        m.bind_name("module");
        QuantWrapper {
            quant: Child::named("quant", quant),
            dequant: Child::named("dequant", dequant),
            module: m,
        }
    }
}

impl Module for QuantWrapper {
    fn type_name(&self) -> &'static str {
        "QuantWrapper"
    }

    fn forward(&mut self, input: Value) -> NnResult<Value> {
        nn::transactional(self, |s| {
            let x = s.quant.forward(input)?;
            let y = s.module.forward(x)?;
            s.dequant.forward(y)
        })
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("quant".into(), self.quant.module()),
            ("dequant".into(), self.dequant.module()),
            ("module".into(), self.module.module()),
        ]
    }

    fn child_slots_mut(&mut self) -> Vec<(String, &mut Box<dyn Module>)> {
        vec![
            ("quant".into(), self.quant.slot_mut()),
            ("dequant".into(), self.dequant.slot_mut()),
            ("module".into(), self.module.slot_mut()),
        ]
    }

    fn is_training(&self) -> bool {
        self.module.is_training()
    }

    fn set_training_flag(&mut self, _training: bool) {}
}

fn leaves_to_wrap(
    m: &dyn Module,
    path: &str,
    spec: &QConfigMapping,
    qc: Option<&crate::QConfig>,
    out: &mut Vec<String>,
) {
    for (name, child) in m.children() {
        let cpath = join(path, &name);
        let cqc = spec.resolve(&cpath, child.type_name(), qc);
        if child.children().is_empty() {
            if cqc.is_some() {
                out.push(cpath);
            }
        } else {
            leaves_to_wrap(child, &cpath, spec, cqc.as_ref(), out);
        }
    }
}

/// Wraps every leaf module that has a qconfig in a [`QuantWrapper`], in place (PyTorch's
/// `add_quant_dequant`): each then quantizes its own input and dequantizes its output. The
/// root is never wrapped (wrap a single-layer model yourself: `QuantWrapper::new(layer)`).
/// Returns the wrapped paths.
pub fn add_quant_dequant<M: Module + ?Sized>(
    model: &mut M,
    spec: &QConfigMapping,
) -> Result<Vec<String>, EagerError> {
    let model = model.as_module_mut();
    let root_qc = spec.resolve("", model.type_name(), None);
    let mut paths = Vec::new();
    leaves_to_wrap(model, "", spec, root_qc.as_ref(), &mut paths);
    for p in &paths {
        let old = model
            .replace_submodule(p, Box::new(Identity::new()))
            .map_err(EagerError::NoSuchModule)?;
        model
            .replace_submodule(p, Box::new(QuantWrapper::new(old)))
            .map_err(EagerError::NoSuchModule)?;
    }
    Ok(paths)
}

/// Removes every observer and qconfig prepare attached, in place (PyTorch's
/// `_remove_qconfig`): the model is the float model it was before prepare.
pub fn remove_observers<M: Module + ?Sized>(model: &mut M) {
    let model = model.as_module_mut();
    let mut wrapped = Vec::new();
    let mut slots = Vec::new();
    for (path, m) in model.named_modules() {
        if m.is::<Prepared>() {
            wrapped.push(path);
        } else if observes_itself(m)
            && m.get_submodule("activation_post_process")
                .is_ok_and(|o| o.is::<ObserverModule>())
        {
            slots.push(join(&path, "activation_post_process"));
        }
    }
    // Inner-most first, so that outer paths stay valid.
    for path in wrapped.iter().rev() {
        if let Ok(old) = model.replace_submodule(path, Box::new(Identity::new())) {
            if let Ok(p) = old.into_any().downcast::<Prepared>() {
                let _ = model.replace_submodule(path, p.into_inner());
            }
        }
    }
    for path in slots {
        let _ = model.replace_submodule(&path, Box::new(Identity::new()));
    }
}

/// Post-training static quantization in one call, in place (PyTorch's `quantize(model,
/// run_fn, run_args, inplace=True)`): eval mode, [`prepare`], `run_fn` to calibrate,
/// [`convert`] with the default mapping.
///
/// If `run_fn` fails, the observers are removed and the training flags restored: the model is
/// the float model it was (and the error is [`EagerError::Calibration`]).
pub fn quantize<M: Module + ?Sized>(
    model: &mut M,
    run_fn: impl FnOnce(&mut M) -> NnResult<()>,
    spec: &QConfigMapping,
) -> Result<ConvertReport, EagerError> {
    let mapping = QuantMapping::default_static();
    let modes: Vec<(String, bool)> = model
        .named_modules()
        .into_iter()
        .map(|(p, m)| (p, m.is_training()))
        .collect();
    model.eval();
    let restore_modes = |model: &mut M| {
        model.visit_mut(&mut |path, m| {
            if let Some((_, t)) = modes.iter().find(|(p, _)| p == path) {
                m.set_training_flag(*t);
            }
        });
    };
    let prepared = match prepare(model, spec, &mapping) {
        Ok(r) => r,
        Err(e) => {
            restore_modes(model);
            return Err(e);
        }
    };
    if let Err(e) = run_fn(model) {
        remove_observers(model);
        restore_modes(model);
        return Err(EagerError::Calibration(e));
    }
    let mut report = match convert(model, &mapping) {
        Ok(r) => r,
        Err(e) => {
            remove_observers(model);
            restore_modes(model);
            return Err(e);
        }
    };
    let mut notices: Vec<Notice> = prepared.notices;
    notices.append(&mut report.notices);
    report.notices = notices;
    Ok(report)
}
