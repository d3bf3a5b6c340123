//! [`GraphModule`] (`torch.fx.GraphModule`): a graph plus the submodules and attributes it
//! refers to, runnable as an [`nn::Module`].

use std::collections::HashMap;
use std::fmt;

use nn::{join, Buffer, Module, NnError, Tensor, Value};

use super::error::{FxError, Result};
use super::exec;
use super::graph::{Graph, NodeId, OpCode, Target};
use super::runtime::{Attr, CallArgs, Rt};

/// An intermediate container of a graph module's tree (PyTorch prints it as `Module`).
pub struct ModuleTree {
    children: Vec<(String, Box<dyn Module>)>,
    training: bool,
}

impl ModuleTree {
    /// An empty container.
    pub fn new() -> ModuleTree {
        ModuleTree {
            children: Vec::new(),
            training: true,
        }
    }
}

impl Default for ModuleTree {
    fn default() -> Self {
        ModuleTree::new()
    }
}

impl Module for ModuleTree {
    fn type_name(&self) -> &'static str {
        "Module"
    }

    fn forward(&mut self, _input: Value) -> nn::Result<Value> {
        Err(NnError::bad_arg(
            "Module",
            "an intermediate container of a graph module has no forward",
        ))
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.children
            .iter()
            .map(|(n, m)| (n.clone(), m.as_ref()))
            .collect()
    }

    fn child_slots_mut(&mut self) -> Vec<(String, &mut Box<dyn Module>)> {
        self.children
            .iter_mut()
            .map(|(n, m)| (n.clone(), m))
            .collect()
    }

    fn is_training(&self) -> bool {
        self.training
    }

    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }
}

/// Where a graph module came from, so that each pass checks it is given the right stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Traced (or built by hand), nothing quantization-specific.
    Traced,
    /// Fused by `fuse_fx`.
    Fused,
    /// Observed by `prepare_fx` / `prepare_qat_fx`: calibrate or train it, then convert.
    Prepared,
    /// Quantized by `convert_fx`.
    Converted,
}

/// A graph with the modules and attributes it uses; its `forward` runs the graph.
pub struct GraphModule {
    pub(crate) graph: Graph,
    pub(crate) tree: ModuleTree,
    pub(crate) attrs: Vec<(String, Attr)>,
    pub(crate) training: bool,
    pub(crate) stage: Stage,
    pub(crate) prepared: Option<super::prepare::PreparedInfo>,
}

impl GraphModule {
    /// A graph module from a graph, the modules its `call_module` nodes name (by dotted path)
    /// and the attributes its `get_attr` nodes name; checks that every target exists.
    pub fn new(
        graph: Graph,
        modules: Vec<(String, Box<dyn Module>)>,
        attrs: Vec<(String, Attr)>,
    ) -> Result<GraphModule> {
        super::quantized_state::register();
        let mut gm = GraphModule {
            graph,
            tree: ModuleTree::new(),
            attrs,
            training: true,
            stage: Stage::Traced,
            prepared: None,
        };
        for (path, m) in modules {
            gm.add_submodule(&path, m)?;
        }
        gm.lint()?;
        Ok(gm)
    }

    /// The graph.
    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// The graph, for editing; call [`GraphModule::lint`] (PyTorch: `recompile`) after.
    pub fn graph_mut(&mut self) -> &mut Graph {
        &mut self.graph
    }

    /// Which pass produced this module.
    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// The attribute `name` (`get_attr` target), if any.
    pub fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|(n, _)| n == name).map(|(_, a)| a)
    }

    /// The attributes by name, in registration order.
    pub fn attrs(&self) -> &[(String, Attr)] {
        &self.attrs
    }

    /// Sets attribute `name` (replacing one of that name).
    pub fn set_attr(&mut self, name: &str, value: Attr) {
        match self.attrs.iter_mut().find(|(n, _)| n == name) {
            Some((_, a)) => *a = value,
            None => self.attrs.push((name.to_string(), value)),
        }
    }

    /// A new attribute name from `hint` (`hint_0`, `hint_1` ...) not used yet.
    pub fn fresh_attr_name(&self, hint: &str) -> String {
        (0..)
            .map(|i| format!("{hint}_{i}"))
            .find(|n| self.attr(n).is_none() && self.get_submodule(n).is_err())
            .unwrap_or_else(|| hint.to_string())
    }

    /// Adds (or replaces) the submodule at a dotted path, creating intermediate containers
    /// (`add_submodule`).
    pub fn add_submodule(&mut self, path: &str, m: Box<dyn Module>) -> Result<()> {
        if path.is_empty() || path.split('.').any(str::is_empty) {
            return Err(FxError::Graph(format!("'{path}' is not a module path")));
        }
        if self.get_submodule(path).is_ok() {
            self.replace_submodule(path, m)
                .map_err(|e| FxError::Graph(e.to_string()))?;
            return Ok(());
        }
        let segs: Vec<&str> = path.split('.').collect();
        let mut cur: &mut dyn Module = &mut self.tree;
        for (i, seg) in segs.iter().enumerate() {
            let last = i + 1 == segs.len();
            let exists = cur.child_slot_mut(seg).is_some();
            if !exists {
                let Some(tree) = cur.downcast_mut::<ModuleTree>() else {
                    return Err(FxError::Graph(format!(
                        "cannot add '{path}': '{}' ({}) has no child '{seg}' and is not a \
                         container",
                        segs[..i].join("."),
                        cur.type_name()
                    )));
                };
                let child: Box<dyn Module> = if last {
                    return {
                        tree.children.push((seg.to_string(), m));
                        Ok(())
                    };
                } else {
                    Box::new(ModuleTree::new())
                };
                tree.children.push((seg.to_string(), child));
            }
            cur = cur
                .child_slot_mut(seg)
                .map(|s| s.as_mut())
                .ok_or_else(|| FxError::Graph(format!("cannot reach '{path}'")))?;
        }
        Ok(())
    }

    /// Removes the submodule at `path` from its container and returns it; errors if there is
    /// none there (only modules of the graph module's own containers can be removed).
    pub fn take_submodule(&mut self, path: &str) -> Result<Box<dyn Module>> {
        let (parent, name) = path.rsplit_once('.').unwrap_or(("", path));
        let tree: Option<&mut ModuleTree> = if parent.is_empty() {
            Some(&mut self.tree)
        } else {
            self.tree
                .get_submodule_mut(parent)
                .ok()
                .and_then(|m| m.downcast_mut::<ModuleTree>())
        };
        let tree = tree.ok_or_else(|| FxError::Graph(format!("no container holds '{path}'")))?;
        let i = tree
            .children
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| FxError::Graph(format!("no submodule '{path}'")))?;
        Ok(tree.children.remove(i).1)
    }

    /// Removes the submodule at `path` from its container (`delete_submodule`); true if it was
    /// there. Only modules of the graph module's own containers can be removed.
    pub fn delete_submodule(&mut self, path: &str) -> bool {
        let (parent, name) = path.rsplit_once('.').unwrap_or(("", path));
        let tree: Option<&mut ModuleTree> = if parent.is_empty() {
            Some(&mut self.tree)
        } else {
            self.tree
                .get_submodule_mut(parent)
                .ok()
                .and_then(|m| m.downcast_mut::<ModuleTree>())
        };
        match tree {
            Some(t) => {
                let before = t.children.len();
                t.children.retain(|(n, _)| n != name);
                before != t.children.len()
            }
            None => false,
        }
    }

    /// Removes the modules no `call_module` node uses and the attributes no `get_attr` node
    /// reads (`delete_all_unused_submodules`), and empty containers.
    pub fn delete_unused(&mut self) {
        let used_mods: Vec<String> = self
            .graph
            .nodes()
            .filter(|n| n.op == OpCode::CallModule)
            .filter_map(|n| n.target_name().map(str::to_string))
            .collect();
        let used_attrs: Vec<String> = self
            .graph
            .nodes()
            .filter(|n| n.op == OpCode::GetAttr)
            .filter_map(|n| n.target_name().map(str::to_string))
            .collect();
        self.attrs.retain(|(n, _)| used_attrs.contains(n));
        fn prune(t: &mut ModuleTree, prefix: &str, used: &[String]) {
            t.children.retain_mut(|(name, m)| {
                let path = join(prefix, name);
                if used.iter().any(|u| u == &path) {
                    return true;
                }
                match m.downcast_mut::<ModuleTree>() {
                    Some(sub) => {
                        prune(sub, &path, used);
                        !sub.children.is_empty()
                    }
                    None => used.iter().any(|u| u.starts_with(&format!("{path}."))),
                }
            });
        }
        prune(&mut self.tree, "", &used_mods);
    }

    /// Checks the graph ([`Graph::lint`]) and that every `call_module` / `get_attr` target
    /// exists.
    pub fn lint(&self) -> Result<()> {
        self.graph.lint()?;
        for n in self.graph.nodes() {
            match n.op {
                OpCode::CallModule => {
                    let t = n.target_name().unwrap_or_default();
                    if self.get_submodule(t).is_err() {
                        return Err(FxError::Graph(format!(
                            "node '{}' calls module '{t}', which the graph module does not have",
                            n.name
                        )));
                    }
                }
                OpCode::GetAttr => {
                    let t = n.target_name().unwrap_or_default();
                    if self.attr(t).is_none() {
                        return Err(FxError::Graph(format!(
                            "node '{}' reads attribute '{t}', which the graph module does not \
                             have",
                            n.name
                        )));
                    }
                }
                OpCode::CallMethod => {
                    let t = n.target_name().unwrap_or_default();
                    if !exec::METHODS.contains(&t) {
                        return Err(FxError::Graph(format!(
                            "node '{}' calls the unknown method '{t}'",
                            n.name
                        )));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Runs the graph on its inputs (one per placeholder).
    pub fn run(&mut self, inputs: Vec<Value>) -> Result<Value> {
        self.run_observed(inputs, &mut |_, _| Ok(()))
    }

    /// Runs the graph, calling `watch(node, value)` after each node (for calibration hooks).
    pub(crate) fn run_observed(
        &mut self,
        inputs: Vec<Value>,
        watch: &mut dyn FnMut(NodeId, &Value) -> Result<()>,
    ) -> Result<Value> {
        let placeholders = self.graph.placeholders();
        if placeholders.len() != inputs.len() {
            return Err(FxError::Forward(NnError::bad_arg(
                "GraphModule",
                format!(
                    "the graph takes {} inputs, got {}",
                    placeholders.len(),
                    inputs.len()
                ),
            )));
        }
        let mut env: HashMap<NodeId, Rt> = HashMap::new();
        for (p, v) in placeholders.iter().zip(inputs) {
            env.insert(*p, Rt::V(v));
        }
        let order = self.graph.node_ids();
        let mut result = None;
        for id in order {
            let node = self.graph.node(id).clone();
            if node.op == OpCode::Placeholder {
                continue;
            }
            let lookup = |n: NodeId| env.get(&n).cloned();
            let args: Vec<Rt> = node.args.iter().map(|a| Rt::resolve(a, &lookup)).collect();
            let kwargs: Vec<(String, Rt)> = node
                .kwargs
                .iter()
                .map(|(k, a)| (k.clone(), Rt::resolve(a, &lookup)))
                .collect();
            let run_err = |source: NnError| FxError::Run {
                node: node.name.clone(),
                source,
            };
            let out = match (&node.op, &node.target) {
                (OpCode::GetAttr, Target::Name(t)) => {
                    Rt::from_attr(self.attr(t).ok_or_else(|| {
                        FxError::Graph(format!("no attribute '{t}' (node '{}')", node.name))
                    })?)
                }
                (OpCode::CallModule, Target::Name(t)) => {
                    let input = match args.len() {
                        1 => args[0].value(t),
                        _ => Rt::List(args.clone()).value(t),
                    }
                    .map_err(run_err)?;
                    let m = self.tree.get_submodule_mut(t).map_err(run_err)?;
                    Rt::V(
                        m.forward(input)
                            .map_err(|e| e.in_child(t))
                            .map_err(run_err)?,
                    )
                }
                (OpCode::CallFunction, Target::Function(f)) => {
                    let c = CallArgs {
                        op: f.torch_name(),
                        args,
                        kwargs,
                    };
                    exec::call_function(*f, &c).map_err(run_err)?
                }
                (OpCode::CallMethod, Target::Name(m)) => {
                    let c = CallArgs {
                        op: m,
                        args,
                        kwargs,
                    };
                    exec::call_method(m, &c).map_err(run_err)?
                }
                (OpCode::Output, _) => {
                    let v = args
                        .first()
                        .cloned()
                        .unwrap_or(Rt::None)
                        .value("output")
                        .map_err(run_err)?;
                    result = Some(v);
                    break;
                }
                _ => {
                    return Err(FxError::Graph(format!(
                        "node '{}' has a target of the wrong kind",
                        node.name
                    )))
                }
            };
            if let Rt::V(v) = &out {
                watch(id, v)?;
            }
            env.insert(id, out);
        }
        result.ok_or_else(|| FxError::Graph("the graph has no output node".into()))
    }

    /// The Python-like source of the graph is not generated; this prints the graph
    /// (`print_readable` shows the same nodes).
    pub fn print_graph(&self) -> String {
        self.graph.to_string()
    }
}

impl Module for GraphModule {
    fn type_name(&self) -> &'static str {
        "GraphModule"
    }

    /// Runs the graph: one input per placeholder (several as a tuple).
    fn forward(&mut self, input: Value) -> nn::Result<Value> {
        let inputs = if self.graph.placeholders().len() == 1 {
            vec![input]
        } else {
            input.into_tuple("GraphModule")?
        };
        self.run(inputs).map_err(NnError::from)
    }

    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        self.attrs
            .iter()
            .filter_map(|(n, a)| match a {
                Attr::Tensor(t) if t.requires_grad() => Some((n.clone(), t.clone())),
                _ => None,
            })
            .collect()
    }

    fn local_buffers(&self) -> Vec<(String, Buffer)> {
        self.attrs
            .iter()
            .filter_map(|(n, a)| match a {
                Attr::Tensor(t) if !t.requires_grad() => {
                    Some((n.clone(), Buffer::Float(t.clone())))
                }
                Attr::Float(f) => Some((n.clone(), Buffer::Float(Tensor::scalar(*f as f32)))),
                Attr::Int(i) => Some((n.clone(), Buffer::Int(nn::IntTensor::scalar(*i)))),
                _ => None,
            })
            .collect()
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.tree.children()
    }

    fn child_slots_mut(&mut self) -> Vec<(String, &mut Box<dyn Module>)> {
        self.tree.child_slots_mut()
    }

    fn is_training(&self) -> bool {
        self.training
    }

    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }
}

impl fmt::Debug for GraphModule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n{}", self.repr(), self.graph)
    }
}
