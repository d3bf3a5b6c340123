//! `prepare_fx`'s graph pass: a qconfig for every node (the mapping's precedence, call indices
//! counted per module as PyTorch does), the quantization plan of each node, and observers on
//! the edges that need them: inputs of quantized operations (shared by every quantized
//! reader), outputs of operations with their own output parameters, fixed-parameter
//! observers for sigmoid / tanh, none for operations that keep their input's parameters.

use std::collections::{HashMap, HashSet};

use nn::Module;

use super::error::{FxError, Result};
use super::function::Function;
use super::graph::{Arg, Graph, NodeId, OpCode, Position, Target};
use super::graph_module::{GraphModule, Stage};
use super::patterns::{self, Kind};
use super::qconfig_mapping::{ObjectType, QConfigMapping};
use crate::dynamic::DynamicMapping;
use crate::eager::{ObserverModule, QuantMapping};
use crate::fake_quantize::defaults as fq;
use crate::observer::defaults as obs;
use crate::qat::{FakeQuantizeModule, QatCtx, QatMapping};
use crate::{DType, QConfig, QConfigEntry};

/// How a node is quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Activations and weights in int8 (static quantization).
    Static,
    /// Weights in int8, activations quantized on the fly (dynamic quantization).
    Dynamic,
    /// Weights quantized, activations float (weight-only).
    WeightOnly,
}

/// The plan for one quantized node.
#[derive(Debug, Clone)]
pub(crate) struct NodePlan {
    pub(crate) kind: Kind,
    pub(crate) mode: Mode,
    pub(crate) qconfig: QConfig,
    /// The relu fused into this operation (`add_relu`, `linear_relu` ...).
    pub(crate) relu: Option<NodeId>,
}

/// What prepare decided, kept for convert.
#[derive(Debug, Clone, Default)]
pub(crate) struct PreparedInfo {
    pub(crate) plans: HashMap<NodeId, NodePlan>,
    /// Relu nodes fused into the operation before them.
    pub(crate) absorbed: HashSet<NodeId>,
    /// Observer node -> the node it observes.
    pub(crate) observers: HashMap<NodeId, NodeId>,
    /// Operation -> the observer of its output (after the fused relu, if any).
    pub(crate) output_observer: HashMap<NodeId, NodeId>,
    /// QAT (fake-quantize modules instead of observers).
    pub(crate) is_qat: bool,
}

fn activation_dtype(q: &QConfig) -> Option<DType> {
    match &q.activation {
        QConfigEntry::Identity => Some(DType::Float32),
        e => e.dtype(),
    }
}

fn mode_of(q: &QConfig) -> Mode {
    if q.activation.is_dynamic() {
        Mode::Dynamic
    } else if activation_dtype(q).is_some_and(|d| !d.is_quantized()) {
        Mode::WeightOnly
    } else {
        Mode::Static
    }
}

/// PyTorch's `_generate_node_name_to_qconfig`.
pub(crate) fn assign_qconfigs(
    gm: &GraphModule,
    mapping: &QConfigMapping,
) -> HashMap<NodeId, QConfig> {
    let mut counters: HashMap<(String, String), usize> = HashMap::new();
    let mut count = |scope: &str, what: String| {
        let c = counters.entry((scope.to_string(), what)).or_insert(0);
        *c += 1;
        *c - 1
    };
    let mut out = HashMap::new();
    for n in gm.graph.nodes() {
        let scope = n.meta.module_path.as_str();
        let scope_type = n.meta.module_type.as_str();
        let q = match n.op {
            OpCode::CallModule => {
                let path = n.target_name().unwrap_or_default();
                let Ok(m) = gm.get_submodule(path) else {
                    continue;
                };
                if m.is::<ObserverModule>() || m.is::<FakeQuantizeModule>() {
                    continue;
                }
                let parent = path.rsplit_once('.').map_or("", |(p, _)| p);
                let i = count(parent, format!("module:{}", m.type_name()));
                mapping.module_qconfig_at(path, m.type_name(), i)
            }
            OpCode::CallFunction => {
                let Some(f) = n.function() else { continue };
                let i = count(scope, format!("fn:{}", f.torch_name()));
                mapping.function_qconfig(&ObjectType::Function(f), scope, scope_type, i)
            }
            OpCode::CallMethod => {
                mapping.method_qconfig(n.target_name().unwrap_or_default(), scope, scope_type)
            }
            _ => None,
        };
        if let Some(q) = q {
            out.insert(n.id(), q);
        }
    }
    out
}

/// The plan of every node that gets quantized.
fn plan_nodes(
    gm: &GraphModule,
    qconfigs: &HashMap<NodeId, QConfig>,
    smap: &QuantMapping,
) -> Result<HashMap<NodeId, NodePlan>> {
    let dmap = DynamicMapping::default();
    let mut plans = HashMap::new();
    for n in gm.graph.nodes() {
        let Some(q) = qconfigs.get(&n.id()) else {
            continue;
        };
        let mode = mode_of(q);
        let module = (n.op == OpCode::CallModule)
            .then(|| n.target_name().and_then(|t| gm.get_submodule(t).ok()))
            .flatten();
        let dynamic_module = module.is_some_and(|m| dmap.get(m.type_name()).is_some());
        let kind = match mode {
            Mode::Dynamic if dynamic_module => Kind::Module,
            _ => patterns::kind(n, gm, smap),
        };
        if kind == Kind::Float {
            continue;
        }
        let keep = match mode {
            Mode::Static => {
                if let Some(d) = activation_dtype(q) {
                    if d != DType::QUInt8 {
                        return Err(FxError::QConfig {
                            node: n.name.clone(),
                            reason: format!(
                                "activation dtype {d} is not supported by the quantized \
                                 operators (both engines take quint8 activations); use a \
                                 quint8 activation observer or set this node's qconfig to None"
                            ),
                        });
                    }
                }
                true
            }
            Mode::Dynamic => n.function() == Some(Function::Linear) || dynamic_module,
            Mode::WeightOnly => module.is_some_and(|m| {
                m.is::<nn::Linear>()
                    || m.is::<nn::Conv1d>()
                    || m.is::<nn::Conv2d>()
                    || m.is::<nn::Conv3d>()
            }),
        };
        if keep {
            plans.insert(
                n.id(),
                NodePlan {
                    kind,
                    mode,
                    qconfig: q.clone(),
                    relu: None,
                },
            );
        }
    }
    Ok(plans)
}

/// Fuses each functional add / mul / linear / conv with the relu that is its only user.
fn fuse_relus(gm: &GraphModule, plans: &mut HashMap<NodeId, NodePlan>) -> HashSet<NodeId> {
    let mut absorbed = HashSet::new();
    for n in gm.graph.nodes() {
        let Some(plan) = plans.get(&n.id()) else {
            continue;
        };
        if plan.mode != Mode::Static || !patterns::fuses_with_relu(n) {
            continue;
        }
        let binary_scalar = matches!(
            n.function(),
            Some(Function::Add | Function::Mul | Function::TorchAdd | Function::TorchMul)
        ) && n.args.iter().filter(|a| a.node().is_some()).count() < 2;
        if binary_scalar {
            continue;
        }
        let users = gm.graph.users(n.id());
        let [r] = users[..] else { continue };
        let relu = gm.graph.node(r);
        let same = plans
            .get(&r)
            .is_some_and(|p| p.mode == Mode::Static && p.qconfig == plan.qconfig);
        if patterns::is_relu(relu, gm) && same {
            absorbed.insert(r);
            if let Some(p) = plans.get_mut(&n.id()) {
                p.relu = Some(r);
            }
        }
    }
    for r in &absorbed {
        plans.remove(r);
    }
    absorbed
}

enum Observed {
    /// Observed by this observer node.
    By(NodeId),
    /// Quantized with the parameters of its input (shared observer).
    Shared,
}

struct Inserter<'a> {
    graph: Graph,
    gm: &'a GraphModule,
    modules: Vec<(String, Box<dyn Module>)>,
    observed: HashMap<NodeId, Observed>,
    info: PreparedInfo,
    next: usize,
}

impl Inserter<'_> {
    fn new_observer(
        &mut self,
        node: &str,
        entry: &QConfigEntry,
        q: &QConfig,
    ) -> Result<Box<dyn Module>> {
        let built = entry.build().map_err(|source| FxError::Quant {
            node: node.to_string(),
            source,
        })?;
        let none = || FxError::QConfig {
            node: node.to_string(),
            reason: "the activation entry builds no observer (Identity); static quantization \
                     needs one"
                .into(),
        };
        if !self.info.is_qat {
            let m = ObserverModule::new(built, Some(q.clone())).ok_or_else(none)?;
            return Ok(Box::new(m));
        }
        // QAT: a differentiable fake-quantize module (an observer entry is wrapped as is).
        let m = match built {
            crate::PostProcess::FakeQuantize(f) => FakeQuantizeModule::new(f),
            crate::PostProcess::Observer(o) => FakeQuantizeModule::observer(o),
            crate::PostProcess::Identity => return Err(none()),
        };
        Ok(Box::new(m.with_qconfig(q.clone())))
    }

    /// Inserts observer module `m` after `src` and returns its node.
    fn insert_after(&mut self, src: NodeId, m: Box<dyn Module>) -> Result<NodeId> {
        let name = loop {
            let n = format!("activation_post_process_{}", self.next);
            self.next += 1;
            let free = self.gm.get_submodule(&n).is_err()
                && self.gm.attr(&n).is_none()
                && self.graph.find(&n).is_none();
            if free {
                break n;
            }
        };
        self.modules.push((name.clone(), m));
        self.insert_call(src, &name)
    }

    /// Inserts a call of the observer module `name` after `src` and returns its node.
    fn insert_call(&mut self, src: NodeId, name: &str) -> Result<NodeId> {
        let id = self.graph.insert(
            Position::After(src),
            OpCode::CallModule,
            Target::Name(name.to_string()),
            vec![Arg::Node(src)],
            vec![],
            name,
        )?;
        let meta = self.graph.node(src).meta.clone();
        self.graph.node_mut(id).meta = meta;
        self.graph.node_mut(id).meta.module_type = if self.info.is_qat {
            "FakeQuantizeModule".into()
        } else {
            "ObserverModule".into()
        };
        self.info.observers.insert(id, src);
        Ok(id)
    }

    /// The node a quantized reader of `src` should read: `src`'s observer (inserted now if
    /// needed, from the reader's qconfig), or `src` itself if its output is quantized already.
    fn ensure_observed(&mut self, src: NodeId, reader: &str, q: &QConfig) -> Result<NodeId> {
        if self.info.observers.contains_key(&src) {
            return Ok(src);
        }
        match self.observed.get(&src) {
            Some(Observed::By(o)) => return Ok(*o),
            Some(Observed::Shared) => return Ok(src),
            None => {}
        }
        let m = self.new_observer(reader, &q.activation, q)?;
        let o = self.insert_after(src, m)?;
        self.observed.insert(src, Observed::By(o));
        Ok(o)
    }

    fn fixed_observer(&mut self, node: NodeId, q: &QConfig) -> Result<Box<dyn Module>> {
        let n = self.graph.node(node);
        let zero_to_one = patterns::fixed_range_zero_to_one(n, self.gm);
        let name = n.name.clone();
        let entry = match (&q.activation, zero_to_one) {
            (QConfigEntry::Observer(crate::ObserverSpec::FixedQParams { .. }), _) => {
                q.activation.clone()
            }
            (QConfigEntry::FakeQuantize(_), true) => {
                QConfigEntry::FakeQuantize(fq::default_fixed_qparams_range_0to1_fake_quant())
            }
            (QConfigEntry::FakeQuantize(_), false) => {
                QConfigEntry::FakeQuantize(fq::default_fixed_qparams_range_neg1to1_fake_quant())
            }
            (_, true) => QConfigEntry::Observer(obs::default_fixed_qparams_range_0to1_observer()),
            (_, false) => {
                QConfigEntry::Observer(obs::default_fixed_qparams_range_neg1to1_observer())
            }
        };
        self.new_observer(&name, &entry, q)
    }

    /// The observer module an observer node calls.
    fn observer_target(&self, id: NodeId) -> Option<String> {
        self.info
            .observers
            .contains_key(&id)
            .then(|| self.graph.node(id).target_name().map(str::to_string))
            .flatten()
    }

    /// An operation that keeps its input's parameters (PyTorch's general tensor value ops):
    /// its output is observed by the same observer instance as its first input, and so are
    /// the other inputs of a `cat` (PyTorch's `_maybe_make_input_output_share_observers`).
    fn share_observer(&mut self, id: NodeId) -> Result<()> {
        let node = self.graph.node(id).clone();
        let inputs: Vec<NodeId> = node.args.first().map(Arg::nodes).unwrap_or_default();
        let Some(shared) = inputs.first().and_then(|&f| self.observer_target(f)) else {
            self.observed.insert(id, Observed::Shared);
            return Ok(());
        };
        for &other in &inputs[1..] {
            if self.observer_target(other).is_some() {
                self.graph.node_mut(other).target = Target::Name(shared.clone());
            }
        }
        let o = self.insert_call(id, &shared)?;
        self.graph.replace_uses_except(id, o, &[o]);
        self.observed.insert(id, Observed::By(o));
        self.info.output_observer.insert(id, o);
        Ok(())
    }

    fn observe_node(&mut self, id: NodeId, plan: &NodePlan) -> Result<()> {
        let node = self.graph.node(id).clone();
        // Inputs.
        for i in patterns::activation_args(&node) {
            let Some(a) = node.args.get(i) else { continue };
            for src in a.nodes() {
                let o = self.ensure_observed(src, &node.name, &plan.qconfig)?;
                if o != src {
                    self.graph.replace_input(id, src, o);
                }
            }
        }
        // Output.
        let out = plan.relu.unwrap_or(id);
        let m = match plan.kind {
            Kind::Shared => return self.share_observer(id),
            Kind::FixedQParams => self.fixed_observer(id, &plan.qconfig)?,
            _ => {
                let name = self.graph.node(out).name.clone();
                self.new_observer(&name, &plan.qconfig.activation, &plan.qconfig)?
            }
        };
        let o = self.insert_after(out, m)?;
        self.graph.replace_uses_except(out, o, &[o]);
        self.observed.insert(out, Observed::By(o));
        self.info.output_observer.insert(id, o);
        Ok(())
    }
}

/// PyTorch's `_qat_swap_modules` (default QAT module mappings): every module node with a
/// static qconfig whose type has a QAT form becomes that QAT module, in place. Returns the
/// replaced modules by path; nothing changes on error.
fn swap_qat_modules(
    gm: &mut GraphModule,
    qconfigs: &HashMap<NodeId, QConfig>,
) -> Result<Vec<(String, Box<dyn Module>)>> {
    let qmap = QatMapping::default_qat();
    let mut built: Vec<(String, Box<dyn Module>)> = Vec::new();
    for n in gm.graph.nodes() {
        let Some(q) = qconfigs.get(&n.id()) else {
            continue;
        };
        if n.op != OpCode::CallModule || mode_of(q) != Mode::Static {
            continue;
        }
        let path = n.target_name().unwrap_or_default();
        if built.iter().any(|(p, _)| p == path) {
            continue;
        }
        let Ok(m) = gm.get_submodule(path) else {
            continue;
        };
        let Some(ctor) = qmap.get(m) else { continue };
        let ctx = QatCtx {
            path,
            module: m,
            qconfig: q,
        };
        let mut qat = ctor(&ctx).map_err(|e| FxError::QConfig {
            node: n.name.clone(),
            reason: e.to_string(),
        })?;
        qat.set_training_flag(gm.training);
        built.push((path.to_string(), qat));
    }
    let mut originals = Vec::new();
    for (path, qat) in built {
        match gm.replace_submodule(&path, qat) {
            Ok(old) => originals.push((path, old)),
            Err(e) => {
                restore_modules(gm, originals);
                return Err(FxError::Graph(e.to_string()));
            }
        }
    }
    Ok(originals)
}

fn restore_modules(gm: &mut GraphModule, originals: Vec<(String, Box<dyn Module>)>) {
    for (path, m) in originals.into_iter().rev() {
        let _ = gm.replace_submodule(&path, m);
    }
}

/// Inserts the observers into `gm` (`_prepare_fx` after fusion); nothing changes on error.
pub(crate) fn prepare_graph(
    gm: &mut GraphModule,
    mapping: &QConfigMapping,
    is_qat: bool,
) -> Result<()> {
    if matches!(gm.stage, Stage::Prepared | Stage::Converted) {
        return Err(FxError::State(format!(
            "prepare_fx needs a float model; this graph module is {:?} already",
            gm.stage
        )));
    }
    let qconfigs = assign_qconfigs(gm, mapping);
    if !is_qat {
        return observe_graph(gm, &qconfigs, &QuantMapping::default_static(), false);
    }
    let originals = swap_qat_modules(gm, &qconfigs)?;
    match observe_graph(gm, &qconfigs, &crate::qat::convert_mapping(), true) {
        Ok(()) => Ok(()),
        Err(e) => {
            restore_modules(gm, originals);
            Err(e)
        }
    }
}

/// Plans the nodes and inserts the observers (fake quants for QAT); nothing changes on error.
fn observe_graph(
    gm: &mut GraphModule,
    qconfigs: &HashMap<NodeId, QConfig>,
    smap: &QuantMapping,
    is_qat: bool,
) -> Result<()> {
    let mut plans = plan_nodes(gm, qconfigs, smap)?;
    let absorbed = fuse_relus(gm, &mut plans);
    let mut ins = Inserter {
        graph: gm.graph.clone(),
        gm,
        modules: Vec::new(),
        observed: HashMap::new(),
        info: PreparedInfo {
            absorbed,
            is_qat,
            ..PreparedInfo::default()
        },
        next: 0,
    };
    for id in gm.graph.node_ids() {
        let Some(plan) = plans.get(&id) else { continue };
        if plan.mode == Mode::Static {
            ins.observe_node(id, plan)?;
        }
    }
    let Inserter {
        graph,
        modules,
        mut info,
        ..
    } = ins;
    info.plans = plans;
    let mut staged = GraphModule {
        graph,
        tree: Default::default(),
        attrs: Vec::new(),
        training: gm.training,
        stage: Stage::Prepared,
        prepared: None,
    };
    std::mem::swap(&mut staged.tree, &mut gm.tree);
    std::mem::swap(&mut staged.attrs, &mut gm.attrs);
    for (name, mut m) in modules {
        m.set_training_flag(staged.training);
        staged.add_submodule(&name, m)?;
    }
    staged.prepared = Some(info);
    *gm = staged;
    gm.lint()
}
