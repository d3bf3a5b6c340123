//! Tracing a model's own forward into a [`GraphModule`] (`torch.fx.symbolic_trace`, or
//! `Tracer` with leaf modules): the forward runs once on example inputs while `nn`'s hooks
//! ([`nn::trace`]) report each top-level operation and each child module call.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use nn::trace::{OpKind, OpRecord, TraceArg, Tracer};
use nn::{join, Module, Tensor, Value};

use super::error::{FxError, Rejected, Result};
use super::function::Function;
use super::graph::{Arg, Graph, NodeId};
use super::graph_module::GraphModule;
use super::runtime::Attr;

/// A user's leaf test: `(path, module) -> is a leaf`.
pub type LeafPredicate = dyn Fn(&str, &dyn Module) -> bool + Send + Sync;

/// Which child modules are recorded as one `call_module` node (leaves) rather than traced
/// through.
///
/// By default the layers of the `nn` family are leaves (every module type a graph-mode pass
/// knows: convolutions, linear, norms, activations, pools, ...); containers
/// (`Sequential`), functional modules (`FloatFunctional`) and a user's own modules are
/// traced through. Add leaves by type name or by path, or with a predicate.
#[derive(Clone, Default)]
pub struct TraceOptions {
    leaf_types: Vec<String>,
    leaf_paths: Vec<String>,
    not_leaf_types: Vec<String>,
    predicate: Option<Arc<LeafPredicate>>,
}

/// Type names of the library modules recorded as leaves by default.
pub const DEFAULT_LEAF_TYPES: &[&str] = &[
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose2d",
    "Linear",
    "BatchNorm1d",
    "BatchNorm2d",
    "BatchNorm3d",
    "ReLU",
    "ReLU6",
    "Hardswish",
    "Hardsigmoid",
    "Sigmoid",
    "Tanh",
    "LeakyReLU",
    "ELU",
    "GELU",
    "SiLU",
    "Softmax",
    "LayerNorm",
    "GroupNorm",
    "InstanceNorm2d",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "Flatten",
    "Dropout",
    "Identity",
    "QuantStub",
    "DeQuantStub",
    "Embedding",
    "EmbeddingBag",
    "Upsample",
    "LSTM",
    "GRU",
    "RNN",
    "LSTMCell",
    "GRUCell",
    "RNNCell",
];

impl std::fmt::Debug for TraceOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceOptions")
            .field("leaf_types", &self.leaf_types)
            .field("leaf_paths", &self.leaf_paths)
            .field("not_leaf_types", &self.not_leaf_types)
            .field("predicate", &self.predicate.is_some())
            .finish()
    }
}

impl TraceOptions {
    /// The default leaves.
    pub fn new() -> TraceOptions {
        TraceOptions::default()
    }

    /// Records modules of this type (`type_name()`, e.g. a user's `"MyBlock"`) as leaves.
    pub fn leaf_type(mut self, type_name: &str) -> TraceOptions {
        self.leaf_types.push(type_name.to_string());
        self
    }

    /// Records the module at this dotted path as a leaf.
    pub fn leaf_path(mut self, path: &str) -> TraceOptions {
        self.leaf_paths.push(path.to_string());
        self
    }

    /// Traces through modules of this type even if they are leaves by default.
    pub fn trace_through_type(mut self, type_name: &str) -> TraceOptions {
        self.not_leaf_types.push(type_name.to_string());
        self
    }

    /// Leaves are also the modules for which `f(path, module)` is true
    /// (`Tracer.is_leaf_module`).
    pub fn leaf_if(
        mut self,
        f: impl Fn(&str, &dyn Module) -> bool + Send + Sync + 'static,
    ) -> TraceOptions {
        self.predicate = Some(Arc::new(f));
        self
    }

    /// True if the module at `path` is recorded as one call.
    pub fn is_leaf(&self, path: &str, m: &dyn Module) -> bool {
        let t = m.type_name();
        if self.leaf_paths.iter().any(|p| p == path) || self.leaf_types.iter().any(|l| l == t) {
            return true;
        }
        if self.predicate.as_ref().is_some_and(|f| f(path, m)) {
            return true;
        }
        if self.not_leaf_types.iter().any(|l| l == t) {
            return false;
        }
        DEFAULT_LEAF_TYPES.contains(&t) || super::patterns::is_library_leaf(m)
    }
}

enum Frame {
    Leaf {
        path: String,
        type_name: String,
        input: Value,
    },
    Through {
        path: String,
        type_name: String,
    },
}

struct State {
    options: TraceOptions,
    graph: Graph,
    by_tensor: HashMap<usize, NodeId>,
    /// Keeps every recorded tensor alive so that tensor ids stay unique while tracing.
    alive: Vec<Tensor>,
    root_tensors: HashMap<usize, String>,
    frames: Vec<Frame>,
    attrs: Vec<(String, Attr)>,
    leaves: Vec<String>,
    error: Option<FxError>,
    constants: usize,
}

impl State {
    fn scope(&self) -> (String, String) {
        for f in self.frames.iter().rev() {
            if let Frame::Through { path, type_name } = f {
                return (path.clone(), type_name.clone());
            }
        }
        (String::new(), String::new())
    }

    fn current_path(&self) -> String {
        match self.frames.last() {
            Some(Frame::Leaf { path, .. }) | Some(Frame::Through { path, .. }) => path.clone(),
            None => String::new(),
        }
    }

    fn fail(&mut self, op: &str, reason: impl Into<String>) {
        if self.error.is_none() {
            let path = self.scope().0;
            self.error = Some(FxError::Untraceable {
                op: op.to_string(),
                path,
                reason: reason.into(),
            });
        }
    }

    fn graph_err(&mut self, e: FxError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    fn register(&mut self, t: &Tensor, id: NodeId) {
        self.by_tensor.insert(t.id(), id);
        self.alive.push(t.clone());
        self.graph.node_mut(id).meta.shape = Some(t.shape());
    }

    /// The node producing `t`: a traced value, a parameter / buffer of the model (`get_attr`),
    /// or a constant made inside the forward (`_tensor_constant<n>`).
    fn node_of(&mut self, t: &Tensor) -> Result<NodeId> {
        if let Some(&id) = self.by_tensor.get(&t.id()) {
            return Ok(id);
        }
        let name = match self.root_tensors.get(&t.id()) {
            Some(n) => n.clone(),
            None => {
                let n = format!("_tensor_constant{}", self.constants);
                self.constants += 1;
                n
            }
        };
        if !self.attrs.iter().any(|(a, _)| a == &name) {
            self.attrs.push((name.clone(), Attr::Tensor(t.clone())));
        }
        let id = self.graph.get_attr(&name)?;
        self.register(t, id);
        Ok(id)
    }

    fn value_arg(&mut self, v: &Value) -> Result<Arg> {
        match v {
            Value::Float(t) => Ok(Arg::Node(self.node_of(t)?)),
            Value::Tuple(items) => Ok(Arg::Tuple(
                items
                    .iter()
                    .map(|i| self.value_arg(i))
                    .collect::<Result<_>>()?,
            )),
            Value::Quant(_) => Err(FxError::Untraceable {
                op: "quantized tensor".into(),
                path: self.scope().0,
                reason: "reaches traced code; graph mode traces float models".into(),
            }),
        }
    }

    /// Registers a module's or placeholder's output: a tensor, or the elements of a tuple
    /// through `operator.getitem` nodes.
    fn register_value(&mut self, v: &Value, id: NodeId) -> Result<()> {
        match v {
            Value::Float(t) => {
                self.register(t, id);
                Ok(())
            }
            Value::Tuple(items) => {
                for (i, item) in items.iter().enumerate() {
                    let g = self.graph.call_function(
                        Function::GetItem,
                        vec![Arg::Node(id), Arg::Int(i as i64)],
                        vec![],
                    )?;
                    let scope = self.scope();
                    self.graph.node_mut(g).meta.module_path = scope.0;
                    self.graph.node_mut(g).meta.module_type = scope.1;
                    self.register_value(item, g)?;
                }
                Ok(())
            }
            Value::Quant(_) => Err(FxError::Untraceable {
                op: "quantized tensor".into(),
                path: self.scope().0,
                reason: "was produced; graph mode traces float models".into(),
            }),
        }
    }

    fn record_op(&mut self, r: &OpRecord<'_>) -> Result<()> {
        if r.unnamed() {
            self.fail(
                r.name,
                "cannot be recorded by the tracer (it does not report its arguments); call a \
                 supported operation instead, or move it into a leaf module",
            );
            return Ok(());
        }
        let mut inputs = Vec::new();
        for t in &r.tensors {
            inputs.push(match t {
                Some(t) => Arg::Node(self.node_of(t)?),
                None => Arg::None,
            });
        }
        let Some((op, target, args, kwargs)) = super::normalize::normalize(r, inputs) else {
            let what = match r.kind {
                OpKind::Function => r.name.to_string(),
                OpKind::Method => format!("Tensor.{}", r.name),
            };
            self.fail(
                &what,
                "is not supported by graph mode yet; move it into a leaf module \
                 (TraceOptions::leaf_type / leaf_path)",
            );
            return Ok(());
        };
        let hint = match &target {
            super::graph::Target::Function(f) => f.node_name().to_string(),
            super::graph::Target::Name(n) => n.clone(),
        };
        let id = self
            .graph
            .insert(super::graph::Position::End, op, target, args, kwargs, &hint)?;
        let scope = self.scope();
        self.graph.node_mut(id).meta.module_path = scope.0;
        self.graph.node_mut(id).meta.module_type = scope.1;
        self.register(r.output, id);
        Ok(())
    }
}

struct Recorder(State);

impl Tracer for Recorder {
    fn op(&mut self, record: OpRecord<'_>) {
        if self.0.error.is_some() {
            return;
        }
        if let Err(e) = self.0.record_op(&record) {
            self.0.graph_err(e);
        }
    }

    fn enter_module(&mut self, name: &str, module: &dyn Module, input: &Value) -> bool {
        let path = join(&self.0.current_path(), name);
        let type_name = module.type_name().to_string();
        if self.0.options.is_leaf(&path, module) {
            self.0.frames.push(Frame::Leaf {
                path,
                type_name,
                input: input.clone(),
            });
            true
        } else {
            self.0.frames.push(Frame::Through { path, type_name });
            false
        }
    }

    fn exit_module(&mut self, output: Option<&Value>) {
        let Some(frame) = self.0.frames.pop() else {
            return;
        };
        let (
            Frame::Leaf {
                path,
                type_name,
                input,
            },
            Some(out),
        ) = (frame, output)
        else {
            return;
        };
        if self.0.error.is_some() {
            return;
        }
        let s = &mut self.0;
        let result = (|| -> Result<()> {
            let arg = s.value_arg(&input)?;
            let args = match arg {
                Arg::Tuple(items) => items,
                a => vec![a],
            };
            let id = s.graph.call_module(&path, args)?;
            s.graph.node_mut(id).meta.module_path = path.clone();
            s.graph.node_mut(id).meta.module_type = type_name;
            if !s.leaves.contains(&path) {
                s.leaves.push(path);
            }
            s.register_value(out, id)
        })();
        if let Err(e) = result {
            s.graph_err(e);
        }
    }

    fn enter_method(&mut self, name: &str, module: &dyn Module) {
        let path = join(&self.0.current_path(), name);
        self.0.frames.push(Frame::Through {
            path,
            type_name: module.type_name().to_string(),
        });
    }

    fn exit_method(&mut self) {
        self.0.frames.pop();
    }

    fn value_read(&mut self, what: &'static str) {
        self.0.fail(
            what,
            "reads tensor values: a graph cannot depend on them (control flow on tensor data is \
             not traceable); compute it outside the forward or move it into a leaf module",
        );
    }
}

fn check_inputs(pass: &'static str, inputs: &[Value]) -> Result<()> {
    if inputs.is_empty() {
        return Err(FxError::MissingExampleInputs { pass });
    }
    for v in inputs {
        if matches!(v, Value::Quant(_)) {
            return Err(FxError::Untraceable {
                op: "example input".into(),
                path: String::new(),
                reason: "is quantized; graph mode traces float models on float inputs".into(),
            });
        }
    }
    Ok(())
}

/// Traces `model` by running its forward on `example_inputs` (one value per forward input;
/// several are passed to the forward as a tuple) with the default leaves.
pub fn symbolic_trace<M: Module>(
    model: M,
    example_inputs: &[Value],
) -> std::result::Result<GraphModule, Rejected<M>> {
    trace(model, example_inputs, &TraceOptions::new())
}

/// Traces `model` with the given leaf modules; see [`symbolic_trace`].
///
/// Errors ([`FxError::Untraceable`], [`FxError::MissingExampleInputs`],
/// [`FxError::Forward`]) hand the model back unchanged (buffers such as batch-norm running
/// statistics are restored after the traced run either way). A [`GraphModule`] is returned
/// as it is. The leaf modules are moved out of the model into the graph module under the
/// same paths.
pub fn trace<M: Module>(
    model: M,
    example_inputs: &[Value],
    options: &TraceOptions,
) -> std::result::Result<GraphModule, Rejected<M>> {
    super::quantize_fx::to_graph(model, example_inputs, options, "symbolic_trace")
        .map(|(gm, _source)| gm)
}

/// What a traced run produced: the graph, its attributes and the leaf paths.
type Traced = (Graph, Vec<(String, Attr)>, Vec<String>);

pub(crate) fn trace_graph(
    model: &mut dyn Module,
    example_inputs: &[Value],
    options: &TraceOptions,
    pass: &'static str,
) -> Result<Traced> {
    check_inputs(pass, example_inputs)?;
    let mut root_tensors = HashMap::new();
    for (name, t) in model.named_parameters() {
        root_tensors.insert(t.id(), name);
    }
    for (name, b) in model.named_buffers() {
        if let nn::Buffer::Float(t) = b {
            root_tensors.entry(t.id()).or_insert(name);
        }
    }
    let mut graph = Graph::new();
    let mut state_init = Vec::new();
    let names: Vec<String> = if example_inputs.len() == 1 {
        vec!["x".into()]
    } else {
        (0..example_inputs.len()).map(|i| format!("x{i}")).collect()
    };
    for n in &names {
        state_init.push(graph.placeholder(n)?);
    }
    let state = State {
        options: options.clone(),
        graph,
        by_tensor: HashMap::new(),
        alive: Vec::new(),
        root_tensors,
        frames: Vec::new(),
        attrs: Vec::new(),
        leaves: Vec::new(),
        error: None,
        constants: 0,
    };
    let rec = Rc::new(RefCell::new(Recorder(state)));
    {
        let mut r = rec.borrow_mut();
        for (id, v) in state_init.iter().zip(example_inputs) {
            r.0.register_value(v, *id)?;
        }
    }
    let input = if example_inputs.len() == 1 {
        example_inputs[0].clone()
    } else {
        Value::Tuple(example_inputs.to_vec())
    };
    let snapshot = model.state_dict();
    let out = nn::no_grad(|| nn::trace::trace_with(rec.clone(), || model.forward(input)));
    // The traced run may have updated buffers (batch-norm statistics in training mode).
    let _ = model.load_state_dict(&snapshot, false);
    let recorder = Rc::try_unwrap(rec)
        .map_err(|_| FxError::Graph("the tracer is still in use".into()))?
        .into_inner();
    let mut s = recorder.0;
    if let Some(e) = s.error.take() {
        return Err(e);
    }
    let out = out.map_err(FxError::Forward)?;
    let out_arg = s.value_arg(&out)?;
    s.graph.output(out_arg)?;
    Ok((s.graph, s.attrs, s.leaves))
}

pub(crate) fn trace_arg(a: &TraceArg) -> Arg {
    match a {
        TraceArg::None => Arg::None,
        TraceArg::Bool(b) => Arg::Bool(*b),
        TraceArg::Int(i) => Arg::Int(*i),
        TraceArg::Float(f) => Arg::Float(*f),
        TraceArg::Ints(v) => Arg::ints(v),
        TraceArg::Str(s) => Arg::Str(s.clone()),
    }
}
