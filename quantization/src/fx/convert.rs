//! `convert_fx`'s graph pass: observers become `quantize_per_tensor` where a float value
//! enters a quantized section and disappear elsewhere; modules are swapped for their
//! quantized forms (the eager mapping's constructors); functionals become quantized
//! operators (`add_relu`, `linear`, `cat` ...); `dequantize` is inserted where a quantized
//! value reaches float code.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use nn::Module;
use nn_quantized::functional as qf;
use qtensor::{Engine, QDType};

use super::error::{FxError, Result};
use super::function::Function;
use super::graph::{Arg, Graph, NodeId, OpCode, Position, Target};
use super::graph_module::{GraphModule, Stage};
use super::patterns::Kind;
use super::prepare::{Mode, NodePlan, PreparedInfo};
use super::runtime::Attr;
use crate::dynamic::DynamicMapping;
use crate::eager::{FromFloatCtx, ObserverModule, QuantMapping};
use crate::qat::FakeQuantizeModule;
use crate::{DType, ZeroPoints};

struct Converter<'a> {
    gm: &'a GraphModule,
    info: &'a PreparedInfo,
    /// The module swap table (the QAT convert mapping for a QAT-prepared graph).
    smap: QuantMapping,
    graph: Graph,
    attrs: Vec<(String, Attr)>,
    swaps: Vec<(String, Box<dyn Module>)>,
    /// Nodes whose output is a quantized tensor after conversion.
    quantized: HashSet<NodeId>,
    weight_updates: WeightUpdates,
}

fn err(node: &str, reason: impl Into<String>) -> FxError {
    FxError::Unsupported {
        node: node.to_string(),
        reason: reason.into(),
    }
}

impl Converter<'_> {
    fn observer(&self, id: NodeId) -> Result<&ObserverModule> {
        let n = self
            .gm
            .graph
            .get(id)
            .ok_or_else(|| FxError::State("an observer node is missing".into()))?;
        let t = n.target_name().unwrap_or_default();
        self.gm
            .get_submodule(t)
            .ok()
            .and_then(|m| m.downcast_ref::<ObserverModule>())
            .ok_or_else(|| FxError::State(format!("observer '{t}' is missing")))
    }

    /// `(scale, zero_point, dtype)` of an observer (PyTorch's fallback 1.0 / 0 if it saw
    /// nothing).
    fn qparams(&self, obs: NodeId) -> Result<(f64, i64, QDType)> {
        let o = self.observer(obs)?;
        let name = self.gm.graph.node(obs).name.clone();
        let q = o.calculate_qparams().map_err(|source| FxError::Quant {
            node: name.clone(),
            source,
        })?;
        let zp = match &q.zero_points {
            ZeroPoints::Int(z) => z.first().copied().unwrap_or(0),
            ZeroPoints::Float(z) => z.first().map_or(0, |&v| v as i64),
        };
        let dtype = o.dtype().qdtype().ok_or_else(|| {
            err(
                &name,
                format!("observer dtype {} is not quantized", o.dtype()),
            )
        })?;
        Ok((
            f64::from(q.scales.first().copied().unwrap_or(1.0)),
            zp,
            dtype,
        ))
    }

    fn fresh_attr(&self, hint: &str) -> String {
        (0..)
            .map(|i| format!("{hint}_{i}"))
            .find(|n| self.gm.attr(n).is_none() && !self.attrs.iter().any(|(a, _)| a == n))
            .unwrap_or_else(|| hint.to_string())
    }

    fn add_attr(&mut self, before: NodeId, hint: &str, a: Attr) -> Result<NodeId> {
        let name = self.fresh_attr(hint);
        self.attrs.push((name.clone(), a));
        self.graph.insert(
            Position::Before(before),
            OpCode::GetAttr,
            Target::Name(name.clone()),
            vec![],
            vec![],
            &name,
        )
    }

    /// get_attr nodes for `(scale, zero_point)` named `<prefix>scale_<k>` before `before`.
    fn qparam_attrs(&mut self, before: NodeId, prefix: &str, s: f64, z: i64) -> Result<(Arg, Arg)> {
        let sn = self.add_attr(before, &format!("{prefix}scale"), Attr::Float(s))?;
        let zn = self.add_attr(before, &format!("{prefix}zero_point"), Attr::Int(z))?;
        Ok((Arg::Node(sn), Arg::Node(zn)))
    }

    fn ctx_module(&self, id: NodeId) -> Result<&dyn Module> {
        let n = self.graph.node(id);
        let t = n.target_name().unwrap_or_default();
        self.gm
            .get_submodule(t)
            .map_err(|e| FxError::State(e.to_string()))
    }

    /// Replaces every observer node: removed after a quantized producer, a
    /// `quantize_per_tensor` after a float one.
    fn lower_observers(&mut self) -> Result<()> {
        let mut obs: Vec<NodeId> = self.info.observers.keys().copied().collect();
        obs.sort();
        for o in obs {
            if self.graph.get(o).is_none() {
                continue;
            }
            let src = self
                .graph
                .node(o)
                .args
                .first()
                .and_then(Arg::node)
                .ok_or_else(|| FxError::State("an observer node lost its input".into()))?;
            if self.produces_quantized(src) {
                self.graph.replace_all_uses_with(o, src);
                self.graph.erase_node(o)?;
                continue;
            }
            let (s, z, dtype) = self.qparams(o)?;
            let reader = self
                .graph
                .users(o)
                .first()
                .map_or_else(|| "x".to_string(), |&u| self.graph.node(u).name.clone());
            let (sa, za) = self.qparam_attrs(o, &format!("{reader}_input_"), s, z)?;
            let q = self.graph.insert(
                Position::Before(o),
                OpCode::CallFunction,
                Target::Function(Function::QuantizePerTensor),
                vec![Arg::Node(src), sa, za, Arg::DType(dtype)],
                vec![],
                "quantize_per_tensor",
            )?;
            self.graph.replace_all_uses_with(o, q);
            self.graph.erase_node(o)?;
            self.quantized.insert(q);
        }
        Ok(())
    }

    /// True if `id`'s output is quantized after conversion (its plan is static and it is not
    /// a float op).
    fn produces_quantized(&self, id: NodeId) -> bool {
        if self.info.absorbed.contains(&id) {
            return true;
        }
        self.info
            .plans
            .get(&id)
            .is_some_and(|p| p.mode == Mode::Static && p.kind != Kind::Float)
    }

    fn output_qparams(&self, id: NodeId) -> Result<(f64, i64, QDType)> {
        let o = self.info.output_observer.get(&id).ok_or_else(|| {
            FxError::State(format!(
                "node '{}' has no output observer",
                self.graph.node(id).name
            ))
        })?;
        self.qparams(*o)
    }

    fn output_observer_module(&self, id: NodeId) -> Result<&ObserverModule> {
        let o = self.info.output_observer.get(&id).ok_or_else(|| {
            FxError::State(format!(
                "node '{}' has no output observer",
                self.graph.node(id).name
            ))
        })?;
        self.observer(*o)
    }

    /// Replaces node `id` by a call of `f` with `args` (the fused relu too).
    fn replace_with(
        &mut self,
        id: NodeId,
        plan: &NodePlan,
        f: Function,
        args: Vec<Arg>,
    ) -> Result<NodeId> {
        let new = self.graph.insert(
            Position::Before(id),
            OpCode::CallFunction,
            Target::Function(f),
            args,
            vec![],
            f.node_name(),
        )?;
        let meta = self.graph.node(id).meta.clone();
        self.graph.node_mut(new).meta = meta;
        let last = plan.relu.unwrap_or(id);
        self.graph.replace_all_uses_with(last, new);
        if let Some(r) = plan.relu {
            self.graph.erase_node(r)?;
        }
        self.graph.replace_all_uses_with(id, new);
        self.graph.erase_node(id)?;
        self.quantized.insert(new);
        Ok(new)
    }

    fn tensor_attr(&self, a: Option<&Arg>, what: &str, node: &str) -> Result<Option<nn::Tensor>> {
        match a {
            None | Some(Arg::None) => Ok(None),
            Some(Arg::Node(n)) => {
                let src = self.graph.node(*n);
                match (src.op, src.target_name().and_then(|t| self.gm.attr(t))) {
                    (OpCode::GetAttr, Some(Attr::Tensor(t))) => Ok(Some(t.clone())),
                    _ => Err(err(
                        node,
                        format!("the {what} must be a parameter or constant of the model (get_attr) to be quantized"),
                    )),
                }
            }
            Some(_) => Err(err(node, format!("the {what} must be a tensor"))),
        }
    }

    fn packed(&self, id: NodeId, plan: &NodePlan) -> Result<qf::PackedWeight> {
        let node = self.graph.node(id).clone();
        let f = node.function().unwrap_or(Function::Linear);
        let w = self
            .tensor_attr(node.args.get(1), "weight", &node.name)?
            .ok_or_else(|| err(&node.name, "no weight"))?;
        let b = self.tensor_attr(node.args.get(2), "bias", &node.name)?;
        let stand_in = nn::Identity::new();
        let module: &dyn Module = match self.info.output_observer.get(&id) {
            Some(o) => self.observer(*o)?,
            None => &stand_in,
        };
        let ctx = FromFloatCtx::new(&node.name, module, &plan.qconfig, None);
        let qw = ctx
            .quantize_weight(w.data().view(), DType::QInt8)
            .map_err(|e| err(&node.name, e.to_string()))?;
        let bias = b.map(|b| b.to_vec());
        let packed = if f == Function::Linear {
            qf::linear_prepack(&qw, bias.as_deref())
        } else {
            let rank = w.ndim().saturating_sub(2);
            let ints = |i: usize, default: usize| -> Vec<usize> {
                match node.args.get(i) {
                    Some(Arg::Int(v)) => vec![(*v).max(0) as usize; rank],
                    Some(Arg::Tuple(v)) | Some(Arg::List(v)) => v
                        .iter()
                        .map(|a| match a {
                            Arg::Int(x) => (*x).max(0) as usize,
                            _ => default,
                        })
                        .collect(),
                    _ => vec![default; rank],
                }
            };
            let mut o = qf::ConvOptions::new(rank);
            o.stride = ints(3, 1);
            o.padding = ints(4, 0);
            o.dilation = ints(5, 1);
            o.groups = match node.args.get(6) {
                Some(Arg::Int(g)) => (*g).max(1) as usize,
                _ => 1,
            };
            qf::conv_prepack(&qw, bias.as_deref(), &o)
        };
        packed.map_err(|e| err(&node.name, e.to_string()))
    }

    fn convert_function(&mut self, id: NodeId, plan: &NodePlan) -> Result<()> {
        use Function::*;
        let node = self.graph.node(id).clone();
        let f = node.function().unwrap_or(Neg);
        let prefix = format!("{}_", node.meta.module_path.replace('.', "_"));
        match f {
            Add | Mul | TorchAdd | TorchMul => {
                let a0 = node.args.first().cloned().unwrap_or(Arg::None);
                let a1 = node.args.get(1).cloned().unwrap_or(Arg::None);
                let is_add = matches!(f, Add | TorchAdd);
                match (a0.node().is_some(), a1.node().is_some()) {
                    (true, true) => {
                        let (s, z, _) = self.output_qparams(id)?;
                        let (sa, za) = self.qparam_attrs(id, &prefix, s, z)?;
                        let qf = match (is_add, plan.relu.is_some()) {
                            (true, false) => QAdd,
                            (true, true) => QAddRelu,
                            (false, false) => QMul,
                            (false, true) => QMulRelu,
                        };
                        self.replace_with(id, plan, qf, vec![a0, a1, sa, za])?;
                    }
                    (x_first, _) => {
                        let (x, s) = if x_first { (a0, a1) } else { (a1, a0) };
                        let qf = if is_add { QAddScalar } else { QMulScalar };
                        self.replace_with(id, plan, qf, vec![x, s])?;
                    }
                }
            }
            Cat => {
                let (s, z, _) = self.output_qparams(id)?;
                let (sa, za) = self.qparam_attrs(id, &prefix, s, z)?;
                let list = node.args.first().cloned().unwrap_or(Arg::List(vec![]));
                let dim = node.arg(1, "dim").cloned().unwrap_or(Arg::Int(0));
                self.replace_with(id, plan, QCat, vec![list, dim, sa, za])?;
            }
            Linear | Conv1d | Conv2d | Conv3d => {
                let (s, z, _) = self.output_qparams(id)?;
                let packed = self.packed(id, plan)?;
                let pa = self.add_attr(
                    id,
                    &format!("{prefix}packed_weight"),
                    Attr::Packed(Arc::new(packed)),
                )?;
                let (sa, za) = self.qparam_attrs(id, &prefix, s, z)?;
                let x = node.args.first().cloned().unwrap_or(Arg::None);
                let qf = match (f == Linear, plan.relu.is_some()) {
                    (true, false) => QLinear,
                    (true, true) => QLinearRelu,
                    (false, false) => QConv,
                    (false, true) => QConvRelu,
                };
                self.replace_with(id, plan, qf, vec![x, Arg::Node(pa), sa, za])?;
            }
            Hardswish | Elu | LeakyRelu => {
                let (s, z, _) = self.output_qparams(id)?;
                let (sa, za) = self.qparam_attrs(id, &prefix, s, z)?;
                let x = node.args.first().cloned().unwrap_or(Arg::None);
                let args = match f {
                    Hardswish => vec![x, sa, za],
                    Elu => vec![
                        x,
                        sa,
                        za,
                        node.arg(1, "alpha").cloned().unwrap_or(Arg::Float(1.0)),
                    ],
                    _ => vec![
                        x,
                        node.arg(1, "negative_slope")
                            .cloned()
                            .unwrap_or(Arg::Float(0.01)),
                        sa,
                        za,
                    ],
                };
                let qf = match f {
                    Hardswish => QHardswish,
                    Elu => QElu,
                    _ => QLeakyRelu,
                };
                self.replace_with(id, plan, qf, args)?;
            }
            other => return Err(err(&node.name, format!("{other} has no quantized form"))),
        }
        Ok(())
    }

    fn convert_module(&mut self, id: NodeId, plan: &NodePlan) -> Result<()> {
        let node = self.graph.node(id).clone();
        let path = node.target_name().unwrap_or_default().to_string();
        let m = self.ctx_module(id)?;
        let entry = self.smap.get(m).ok_or_else(|| {
            err(
                &node.name,
                format!("{} has no quantized module", m.type_name()),
            )
        })?;
        let obs = self.output_observer_module(id)?;
        let ctx = FromFloatCtx::new(&path, m, &plan.qconfig, Some(obs));
        let q = entry
            .build(&ctx)
            .map_err(|e| err(&node.name, e.to_string()))?;
        self.swaps.push((path, q));
        self.quantized.insert(id);
        Ok(())
    }

    /// Dynamic quantization: a module swapped for its dynamic counterpart (the dynamic
    /// mapping's constructors); a functional linear lowered to `linear_dynamic` with its
    /// weight packed.
    fn convert_dynamic(&mut self, id: NodeId, plan: &NodePlan) -> Result<()> {
        let node = self.graph.node(id).clone();
        if node.op == OpCode::CallModule {
            let path = node.target_name().unwrap_or_default().to_string();
            let m = self.ctx_module(id)?;
            let build = DynamicMapping::default()
                .get(m.type_name())
                .ok_or_else(|| {
                    err(
                        &node.name,
                        format!("{} has no dynamic quantized module", m.type_name()),
                    )
                })?;
            let q = build(m, &plan.qconfig).map_err(|e| err(&node.name, e.to_string()))?;
            self.swaps.push((path, q));
            return Ok(());
        }
        let x = node.args.first().cloned().unwrap_or(Arg::None);
        let w = self
            .tensor_attr(node.args.get(1), "weight", &node.name)?
            .ok_or_else(|| err(&node.name, "no weight"))?;
        let b = self.tensor_attr(node.args.get(2), "bias", &node.name)?;
        let stand_in = nn::Identity::new();
        let ctx = FromFloatCtx::new(&node.name, &stand_in, &plan.qconfig, None);
        let qw = ctx
            .quantize_weight(w.data().view(), DType::QInt8)
            .map_err(|e| err(&node.name, e.to_string()))?;
        let bias = b.map(|b| b.to_vec());
        let packed =
            qf::linear_prepack(&qw, bias.as_deref()).map_err(|e| err(&node.name, e.to_string()))?;
        let prefix = format!("{}_", node.name);
        let pa = self.add_attr(
            id,
            &format!("{prefix}packed_weight"),
            Attr::Packed(Arc::new(packed)),
        )?;
        let reduce = qtensor::engine() == Engine::Fbgemm;
        let f = Function::QLinearDynamic;
        let new = self.graph.insert(
            Position::Before(id),
            OpCode::CallFunction,
            Target::Function(f),
            vec![x, Arg::Node(pa), Arg::Bool(reduce)],
            vec![],
            f.node_name(),
        )?;
        self.graph.replace_all_uses_with(id, new);
        self.graph.erase_node(id)?;
        Ok(())
    }

    /// Weight-only quantization: the float module's weight replaced by its quantized and
    /// dequantized value (PyTorch's reference weight-only module computes the same).
    fn convert_weight_only(&mut self, id: NodeId, plan: &NodePlan) -> Result<()> {
        let node = self.graph.node(id).clone();
        let m = self.ctx_module(id)?;
        let weight = m
            .local_parameters()
            .into_iter()
            .find(|(n, _)| n == "weight")
            .map(|(_, t)| t)
            .ok_or_else(|| {
                err(
                    &node.name,
                    "weight-only quantization needs a module with a weight",
                )
            })?;
        let ctx = FromFloatCtx::new(&node.name, m, &plan.qconfig, None);
        let qw = ctx
            .quantize_weight(weight.data().view(), DType::QInt8)
            .map_err(|e| err(&node.name, e.to_string()))?;
        self.weight_updates.push((weight, qw.dequantize()));
        Ok(())
    }
}

/// The float weights replaced by weight-only quantization.
type WeightUpdates = Vec<(nn::Tensor, ndarray::ArrayD<f32>)>;

/// Inserts `dequantize` wherever a quantized value reaches code that is not quantized.
fn insert_dequantize(
    graph: &mut Graph,
    quantized: &mut HashSet<NodeId>,
    keeps_params: &HashSet<NodeId>,
) -> Result<()> {
    let mut deq: HashMap<NodeId, NodeId> = HashMap::new();
    for id in graph.node_ids() {
        let node = graph.node(id).clone();
        // A node that keeps its input's parameters is quantized iff its input is.
        if keeps_params.contains(&id) {
            let first = node.inputs().first().copied();
            if first.is_some_and(|f| quantized.contains(&f)) {
                quantized.insert(id);
                continue;
            }
        }
        if quantized.contains(&id) || node.is_method("dequantize") {
            continue;
        }
        for input in node.inputs() {
            if !quantized.contains(&input) {
                continue;
            }
            let d = match deq.get(&input) {
                Some(d) => *d,
                None => {
                    let d = graph.insert(
                        Position::After(input),
                        OpCode::CallMethod,
                        Target::Name("dequantize".into()),
                        vec![Arg::Node(input)],
                        vec![],
                        "dequantize",
                    )?;
                    deq.insert(input, d);
                    d
                }
            };
            graph.replace_input(id, input, d);
        }
    }
    Ok(())
}

/// Converts a prepared graph module in place (`convert_fx`); nothing changes on error.
pub(crate) fn convert_graph(gm: &mut GraphModule) -> Result<()> {
    let info = match (&gm.stage, &gm.prepared) {
        (Stage::Prepared, Some(info)) => info.clone(),
        _ => {
            return Err(FxError::State(format!(
                "convert_fx needs a model from prepare_fx (calibrated); this graph module is \
                 {:?}",
                gm.stage
            )))
        }
    };
    if !info.is_qat {
        return convert_observed(gm, info, QuantMapping::default_static());
    }
    let originals = freeze_fake_quants(gm, &info)?;
    match convert_observed(gm, info, crate::qat::convert_mapping()) {
        Ok(()) => Ok(()),
        Err(e) => {
            for (path, m) in originals {
                let _ = gm.replace_submodule(&path, m);
            }
            Err(e)
        }
    }
}

/// QAT: every fake quant of the graph is replaced by an observer standing for it (its trained
/// `calculate_qparams`), and every QAT module's weight fake quant sees the final (folded)
/// weight once more, as PyTorch's quantized `from_float` does. Returns the fake quants by
/// path; nothing but that last weight observation changes on error.
fn freeze_fake_quants(
    gm: &mut GraphModule,
    info: &PreparedInfo,
) -> Result<Vec<(String, Box<dyn Module>)>> {
    let mut module_paths: Vec<String> = Vec::new();
    for (id, p) in &info.plans {
        if p.mode == Mode::Static && p.kind == Kind::Module {
            if let Some(t) = gm.graph.get(*id).and_then(|n| n.target_name()) {
                module_paths.push(t.to_string());
            }
        }
    }
    module_paths.sort();
    module_paths.dedup();
    for path in &module_paths {
        let m = gm
            .get_submodule_mut(path)
            .map_err(|e| FxError::State(e.to_string()))?;
        crate::qat::observe_final_weight(m)
            .map_err(|e| err(path, format!("observing the final weight: {e}")))?;
    }
    let mut frozen: Vec<(String, ObserverModule)> = Vec::new();
    for &o in info.observers.keys() {
        let Some(path) = gm.graph.get(o).and_then(|n| n.target_name()) else {
            continue;
        };
        if frozen.iter().any(|(p, _)| p == path) {
            continue;
        }
        let Ok(m) = gm.get_submodule(path) else {
            continue;
        };
        let Some(fq) = m.downcast_ref::<FakeQuantizeModule>() else {
            continue;
        };
        let q = fq
            .qconfig()
            .cloned()
            .ok_or_else(|| FxError::State(format!("fake quant '{path}' has no qconfig")))?;
        let obs = crate::qat::frozen(path, fq, &q).map_err(|e| err(path, e.to_string()))?;
        frozen.push((path.to_string(), obs));
    }
    let mut originals = Vec::new();
    for (path, obs) in frozen {
        match gm.replace_submodule(&path, Box::new(obs)) {
            Ok(old) => originals.push((path, old)),
            Err(e) => {
                for (p, m) in originals {
                    let _ = gm.replace_submodule(&p, m);
                }
                return Err(FxError::State(e.to_string()));
            }
        }
    }
    Ok(originals)
}

/// The conversion of a graph whose observers are `ObserverModule`s, modules swapped through
/// `smap`; nothing changes on error.
fn convert_observed(gm: &mut GraphModule, info: PreparedInfo, smap: QuantMapping) -> Result<()> {
    nn_quantized::register_quant_ops();
    let mut c = Converter {
        gm: &*gm,
        info: &info,
        smap,
        graph: gm.graph.clone(),
        attrs: Vec::new(),
        swaps: Vec::new(),
        quantized: HashSet::new(),
        weight_updates: Vec::new(),
    };
    for (id, p) in &info.plans {
        if p.mode == Mode::Static && matches!(p.kind, Kind::Module) {
            c.quantized.insert(*id);
        }
    }
    c.lower_observers()?;
    let mut keeps_params = HashSet::new();
    let mut ids: Vec<NodeId> = info.plans.keys().copied().collect();
    ids.sort();
    for id in ids {
        let plan = &info.plans[&id];
        if c.graph.get(id).is_none() {
            return Err(FxError::State(
                "a planned node is no longer in the graph".into(),
            ));
        }
        match (plan.mode, plan.kind, c.graph.node(id).op) {
            (Mode::Static, Kind::Module, _) => c.convert_module(id, plan)?,
            (Mode::Static, Kind::General, _) => c.convert_function(id, plan)?,
            (Mode::Static, Kind::Shared | Kind::FixedQParams, _) => {
                keeps_params.insert(id);
                if plan.kind == Kind::FixedQParams {
                    c.quantized.insert(id);
                }
            }
            (Mode::Dynamic, _, _) => c.convert_dynamic(id, plan)?,
            (Mode::WeightOnly, _, _) => c.convert_weight_only(id, plan)?,
            (_, Kind::Float, _) => {}
        }
    }
    let Converter {
        mut graph,
        attrs,
        swaps,
        mut quantized,
        weight_updates,
        ..
    } = c;
    // Fixed-qparams nodes are quantized only with a quantized input.
    for id in keeps_params.iter() {
        quantized.remove(id);
    }
    insert_dequantize(&mut graph, &mut quantized, &keeps_params)?;
    graph.eliminate_dead_code();
    graph.lint()?;
    // Nothing below fails.
    gm.graph = graph;
    for (name, a) in attrs {
        gm.set_attr(&name, a);
    }
    for (path, m) in swaps {
        let _ = gm.replace_submodule(&path, m);
    }
    for (t, w) in weight_updates {
        let _ = t.set_data(w);
    }
    gm.delete_unused();
    gm.prepared = None;
    gm.stage = Stage::Converted;
    gm.lint()
}
