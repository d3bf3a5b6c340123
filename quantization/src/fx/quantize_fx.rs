//! The entry points (`torch.ao.quantization.quantize_fx`): [`fuse_fx`], [`prepare_fx`],
//! [`prepare_qat_fx`], [`convert_fx`]. Each takes the model by value and returns a [`GraphModule`], or hands
//! the model back unchanged with the error ([`Rejected`]).

use std::any::Any;

use nn::{Module, Value};

use super::convert::convert_graph;
use super::error::{FxError, Rejected};
use super::fuse::{fuse_graph, unstash};
use super::graph_module::{GraphModule, Stage};
use super::prepare::prepare_graph;
use super::qconfig_mapping::QConfigMapping;
use super::tracer::{trace_graph, TraceOptions};

type Out<M> = std::result::Result<GraphModule, Rejected<M>>;

/// Where a graph module came from: a traced model (whose leaves were moved out), or a graph
/// module given as is.
pub(crate) enum Source<M> {
    Model { model: M, leaves: Vec<String> },
    Graph,
}

/// The model as a graph module: traced (leaves moved out of it) or, for a graph module, as is.
pub(crate) fn to_graph<M: Module>(
    model: M,
    inputs: &[Value],
    options: &TraceOptions,
    pass: &'static str,
) -> std::result::Result<(GraphModule, Source<M>), Rejected<M>> {
    let any: Box<dyn Any> = Box::new(model);
    let mut model = match any.downcast::<GraphModule>() {
        Ok(gm) => return Ok((*gm, Source::Graph)),
        Err(any) => match any.downcast::<M>() {
            Ok(m) => *m,
            Err(_) => unreachable!("the box holds an M"),
        },
    };
    let (graph, attrs, leaves) = match trace_graph(&mut model, inputs, options, pass) {
        Ok(t) => t,
        Err(e) => return Err(Rejected::new(e, model)),
    };
    let mut modules = Vec::new();
    for path in &leaves {
        match model.replace_submodule(path, Box::new(nn::Identity::new())) {
            Ok(m) => modules.push((path.clone(), m)),
            Err(e) => {
                for (p, m) in modules.into_iter().rev() {
                    let _ = model.replace_submodule(&p, m);
                }
                return Err(Rejected::new(FxError::Forward(e), model));
            }
        }
    }
    let training = model.is_training();
    match GraphModule::new(graph, modules, attrs) {
        Ok(mut gm) => {
            gm.training = training;
            Ok((gm, Source::Model { model, leaves }))
        }
        Err(e) => Err(Rejected::new(e, model)),
    }
}

/// The model as it was given, from the graph module of [`to_graph`] (after undoing any
/// change to it).
fn give_back<M: Module>(mut gm: GraphModule, src: Source<M>) -> M {
    match src {
        Source::Graph => {
            let any: Box<dyn Any> = Box::new(gm);
            match any.downcast::<M>() {
                Ok(m) => *m,
                Err(_) => unreachable!("a graph source is a GraphModule"),
            }
        }
        Source::Model { mut model, leaves } => {
            for path in leaves {
                if let Ok(m) = gm.take_submodule(&path) {
                    let _ = model.replace_submodule(&path, m);
                }
            }
            model
        }
    }
}

/// `fuse_fx(model)`: traces the model (on `example_inputs`) and fuses conv-bn-relu, conv-bn,
/// conv-relu, linear-relu, linear-bn, bn-relu and convtranspose-bn chains (a functional relu
/// included) into the fused modules, batch norms folded. The model must be in eval mode.
pub fn fuse_fx<M: Module>(model: M, example_inputs: &[Value]) -> Out<M> {
    let (mut gm, src) = to_graph(model, example_inputs, &TraceOptions::new(), "fuse_fx")?;
    match fuse_graph(&mut gm, false) {
        Ok(_) => Ok(gm),
        Err(e) => Err(Rejected::new(e, give_back(gm, src))),
    }
}

fn prepare<M: Module>(
    model: M,
    mapping: &QConfigMapping,
    example_inputs: &[Value],
    options: &TraceOptions,
    is_qat: bool,
    pass: &'static str,
) -> Out<M> {
    let (mut gm, src) = to_graph(model, example_inputs, options, pass)?;
    if matches!(gm.stage, Stage::Prepared | Stage::Converted) {
        let e = FxError::State(format!(
            "{pass} needs a float model; this graph module is {:?} already",
            gm.stage
        ));
        return Err(Rejected::new(e, give_back(gm, src)));
    }
    let backup = (gm.graph.clone(), gm.stage);
    let stash = match fuse_graph(&mut gm, is_qat) {
        Ok(s) => s,
        Err(e) => return Err(Rejected::new(e, give_back(gm, src))),
    };
    if let Err(e) = prepare_graph(&mut gm, mapping, is_qat) {
        gm.graph = backup.0;
        gm.stage = backup.1;
        unstash(&mut gm, stash);
        return Err(Rejected::new(e, give_back(gm, src)));
    }
    Ok(gm)
}

/// `prepare_fx(model, qconfig_mapping, example_inputs)`: traces the model, fuses it, assigns
/// each node its qconfig and inserts observers. Run the result on calibration data, then
/// [`convert_fx`]. The model should be in eval mode.
///
/// Errors (the model handed back unchanged): untraceable forward, missing example inputs,
/// a fusion that cannot be done (training mode), an unsupported qconfig.
pub fn prepare_fx<M: Module>(
    model: M,
    qconfig_mapping: &QConfigMapping,
    example_inputs: &[Value],
) -> Out<M> {
    prepare(
        model,
        qconfig_mapping,
        example_inputs,
        &TraceOptions::new(),
        false,
        "prepare_fx",
    )
}

/// [`prepare_fx`] with tracing options (leaf modules: PyTorch's
/// `prepare_custom_config.set_non_traceable_module_names / classes`).
pub fn prepare_fx_with<M: Module>(
    model: M,
    qconfig_mapping: &QConfigMapping,
    example_inputs: &[Value],
    options: &TraceOptions,
) -> Out<M> {
    prepare(
        model,
        qconfig_mapping,
        example_inputs,
        options,
        false,
        "prepare_fx",
    )
}

/// `prepare_qat_fx(model, qconfig_mapping, example_inputs)`: as [`prepare_fx`] for
/// quantization-aware training. The model must be in training mode (PyTorch documents it;
/// here an eval-mode model is an [`FxError::State`]). Chains are fused in their training form
/// (conv-bn(-relu) keeps the batch norm, as `nn_intrinsic`'s fused modules), every statically
/// quantized module with a QAT form is swapped for it (the default [`QatMapping`](crate::qat::QatMapping):
/// `nn_qat::Linear`, `Conv2d`, `nn_intrinsic::qat::ConvBnReLU2d`, `LinearReLU` ...), and
/// differentiable [`FakeQuantizeModule`](crate::qat::FakeQuantizeModule)s stand where
/// `prepare_fx` puts observers (built from the qconfig's activation entries, fake quants with
/// [`get_default_qat_qconfig_mapping`](super::get_default_qat_qconfig_mapping)). Train the
/// result with `nn`'s autograd and optimizers, then [`convert_fx`].
pub fn prepare_qat_fx<M: Module>(
    model: M,
    qconfig_mapping: &QConfigMapping,
    example_inputs: &[Value],
) -> Out<M> {
    prepare_qat_fx_with(model, qconfig_mapping, example_inputs, &TraceOptions::new())
}

/// [`prepare_qat_fx`] with tracing options (leaf modules).
pub fn prepare_qat_fx_with<M: Module>(
    model: M,
    qconfig_mapping: &QConfigMapping,
    example_inputs: &[Value],
    options: &TraceOptions,
) -> Out<M> {
    if !model.is_training() {
        let e = FxError::State(
            "prepare_qat_fx needs a model in training mode; call train(true) first".into(),
        );
        return Err(Rejected::new(e, model));
    }
    prepare(
        model,
        qconfig_mapping,
        example_inputs,
        options,
        true,
        "prepare_qat_fx",
    )
}

/// `convert_fx(prepared)`: swaps observed modules for quantized ones, functionals for
/// quantized operators, observers for `quantize_per_tensor` at the borders of quantized
/// sections, and inserts `dequantize` where quantized values reach float code. The result is
/// what PyTorch's `convert_fx` lowers to for the fbgemm / qnnpack backends.
///
/// A model from [`prepare_qat_fx`]: the QAT modules are converted through the eager QAT
/// convert constructors ([`convert_mapping`](crate::qat::convert_mapping): weights quantized
/// with their trained weight fake quant, batch norms folded), and each fake quant gives its
/// `calculate_qparams` as an observer would.
pub fn convert_fx(model: GraphModule) -> Out<GraphModule> {
    let mut model = model;
    match convert_graph(&mut model) {
        Ok(()) => Ok(model),
        Err(e) => Err(Rejected::new(e, model)),
    }
}
