//! The graph IR (`torch.fx.Graph`): nodes in execution order, each an opcode, a target and
//! arguments referring to earlier nodes; built by the tracer, edited by the passes
//! (insert, replace uses, erase, dead-code elimination) and checked by [`Graph::lint`].

use std::collections::{HashMap, HashSet};
use std::fmt;

use qtensor::QDType;

use super::error::{FxError, Result};
use super::function::Function;

/// A node's handle in its graph (stable across edits; never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(usize);

/// What a node does (`node.op`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// A graph input.
    Placeholder,
    /// Reads an attribute of the graph module (parameter, buffer, constant, qparam).
    GetAttr,
    /// Calls a submodule's forward.
    CallModule,
    /// Calls a free function.
    CallFunction,
    /// Calls a method on its first argument.
    CallMethod,
    /// The graph's result.
    Output,
}

impl OpCode {
    /// PyTorch's spelling (`"call_module"`).
    pub fn as_str(self) -> &'static str {
        match self {
            OpCode::Placeholder => "placeholder",
            OpCode::GetAttr => "get_attr",
            OpCode::CallModule => "call_module",
            OpCode::CallFunction => "call_function",
            OpCode::CallMethod => "call_method",
            OpCode::Output => "output",
        }
    }
}

/// A node's target: a name (placeholder, attribute, module path, method, `"output"`) or a
/// function.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A name: the placeholder's, the attribute's or module's dotted path, the method's.
    Name(String),
    /// The function of a `call_function` node.
    Function(Function),
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Name(n) => f.write_str(n),
            Target::Function(func) => f.write_str(func.torch_name()),
        }
    }
}

/// An argument of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    /// The value of another node.
    Node(NodeId),
    /// `None`.
    None,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A quantized dtype (`torch.quint8`).
    DType(QDType),
    /// A list (`[a, b]`).
    List(Vec<Arg>),
    /// A tuple (`(a, b)`).
    Tuple(Vec<Arg>),
}

impl Arg {
    /// The node referred to, if this is a node.
    pub fn node(&self) -> Option<NodeId> {
        match self {
            Arg::Node(n) => Some(*n),
            _ => None,
        }
    }

    /// Every node this argument refers to, nested lists included.
    pub fn nodes(&self) -> Vec<NodeId> {
        let mut out = Vec::new();
        self.collect_nodes(&mut out);
        out
    }

    fn collect_nodes(&self, out: &mut Vec<NodeId>) {
        match self {
            Arg::Node(n) => out.push(*n),
            Arg::List(v) | Arg::Tuple(v) => v.iter().for_each(|a| a.collect_nodes(out)),
            _ => {}
        }
    }

    fn replace_node(&mut self, old: NodeId, new: NodeId) -> bool {
        match self {
            Arg::Node(n) if *n == old => {
                *n = new;
                true
            }
            Arg::List(v) | Arg::Tuple(v) => {
                let mut hit = false;
                for a in v.iter_mut() {
                    hit |= a.replace_node(old, new);
                }
                hit
            }
            _ => false,
        }
    }

    /// An integer list argument from sizes.
    pub fn ints(v: &[i64]) -> Arg {
        Arg::List(v.iter().map(|&i| Arg::Int(i)).collect())
    }
}

/// Where a node was traced: the module whose forward made the call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NodeMeta {
    /// Dotted path of that module (`""`: the model's own forward); for `call_module` the
    /// called module's path.
    pub module_path: String,
    /// Type name of that module.
    pub module_type: String,
    /// Shape of the value when traced, for tensors.
    pub shape: Option<Vec<usize>>,
}

/// One operation of the graph (`torch.fx.Node`).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    id: NodeId,
    /// Unique name in the graph (`"conv1"`, `"add_1"`).
    pub name: String,
    /// What the node does.
    pub op: OpCode,
    /// What it calls or names.
    pub target: Target,
    /// Positional arguments.
    pub args: Vec<Arg>,
    /// Keyword arguments, in order.
    pub kwargs: Vec<(String, Arg)>,
    /// Where it came from.
    pub meta: NodeMeta,
}

impl Node {
    /// The node's handle.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The target's name (module path, attribute, method, placeholder), if a name.
    pub fn target_name(&self) -> Option<&str> {
        match &self.target {
            Target::Name(n) => Some(n),
            Target::Function(_) => None,
        }
    }

    /// The function called, for `call_function`.
    pub fn function(&self) -> Option<Function> {
        match &self.target {
            Target::Function(f) => Some(*f),
            Target::Name(_) => None,
        }
    }

    /// The nodes this node reads, in argument order (duplicates kept).
    pub fn inputs(&self) -> Vec<NodeId> {
        let mut out = Vec::new();
        for a in self.args.iter().chain(self.kwargs.iter().map(|(_, a)| a)) {
            a.collect_nodes(&mut out);
        }
        out
    }

    /// Positional argument `i`, or keyword `key`.
    pub fn arg(&self, i: usize, key: &str) -> Option<&Arg> {
        self.args
            .get(i)
            .or_else(|| self.kwargs.iter().find(|(k, _)| k == key).map(|(_, a)| a))
    }

    /// True for `call_module` of `path`, `call_function` of `f`, ... as a quick filter.
    pub fn is_function(&self, f: Function) -> bool {
        self.op == OpCode::CallFunction && self.function() == Some(f)
    }

    /// True for a `call_method` of `name`.
    pub fn is_method(&self, name: &str) -> bool {
        self.op == OpCode::CallMethod && self.target_name() == Some(name)
    }
}

/// Where [`Graph::insert`] puts a new node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// Right before this node.
    Before(NodeId),
    /// Right after this node.
    After(NodeId),
    /// At the end (before the output node if there is one).
    End,
}

/// A dataflow graph of nodes in execution order (`torch.fx.Graph`).
#[derive(Debug, Clone, Default)]
pub struct Graph {
    nodes: Vec<Option<Node>>,
    order: Vec<NodeId>,
    counters: HashMap<String, usize>,
    used_names: HashSet<String>,
}

/// PyTorch's name sanitisation: dots become underscores, a leading digit gets an underscore.
fn sanitize(hint: &str) -> String {
    let mut s: String = hint
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert(0, '_');
    }
    s
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    /// A unique node name from `hint` (`add`, `add_1`, `add_2` ...), as PyTorch's namespace.
    fn unique_name(&mut self, hint: &str) -> String {
        let base = sanitize(hint);
        // A hint already ending in `_<n>` keeps its base for counting.
        let (stem, start) = match base.rsplit_once('_') {
            Some((stem, n)) if !stem.is_empty() && n.parse::<usize>().is_ok() => {
                (stem.to_string(), n.parse::<usize>().unwrap_or(0))
            }
            _ => (base.clone(), 0),
        };
        let mut candidate = base.clone();
        let counter = self.counters.entry(stem.clone()).or_insert(start);
        while self.used_names.contains(&candidate) {
            *counter += 1;
            candidate = format!("{stem}_{counter}");
        }
        self.used_names.insert(candidate.clone());
        candidate
    }

    /// The node with handle `id` (a handle of this graph that is still in it).
    pub(crate) fn node(&self, id: NodeId) -> &Node {
        self.nodes[id.0]
            .as_ref()
            .expect("erased nodes are not reachable by handle")
    }

    /// The node with handle `id`, if it is (still) in the graph.
    pub fn get(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id.0).and_then(Option::as_ref)
    }

    /// The node with handle `id`, mutably, if it is (still) in the graph.
    pub fn get_mut(&mut self, id: NodeId) -> Option<&mut Node> {
        self.nodes.get_mut(id.0).and_then(Option::as_mut)
    }

    /// The node with handle `id`, mutably (a handle of this graph that is still in it).
    pub(crate) fn node_mut(&mut self, id: NodeId) -> &mut Node {
        self.nodes[id.0]
            .as_mut()
            .expect("erased nodes are not reachable by handle")
    }

    /// The nodes in execution order.
    pub fn nodes(&self) -> impl Iterator<Item = &Node> + '_ {
        self.order.iter().map(move |&id| self.node(id))
    }

    /// The node handles in execution order.
    pub fn node_ids(&self) -> Vec<NodeId> {
        self.order.clone()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True without nodes.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The node named `name`.
    pub fn find(&self, name: &str) -> Option<NodeId> {
        self.nodes().find(|n| n.name == name).map(Node::id)
    }

    /// The output node, if the graph has one.
    pub fn output_node(&self) -> Option<NodeId> {
        self.nodes().find(|n| n.op == OpCode::Output).map(Node::id)
    }

    /// The placeholders, in order.
    pub fn placeholders(&self) -> Vec<NodeId> {
        self.nodes()
            .filter(|n| n.op == OpCode::Placeholder)
            .map(Node::id)
            .collect()
    }

    /// Position of `id` in the execution order.
    pub fn position(&self, id: NodeId) -> Option<usize> {
        self.order.iter().position(|&n| n == id)
    }

    /// Inserts a node named after `name_hint` (made unique) at `at`.
    pub fn insert(
        &mut self,
        at: Position,
        op: OpCode,
        target: Target,
        args: Vec<Arg>,
        kwargs: Vec<(String, Arg)>,
        name_hint: &str,
    ) -> Result<NodeId> {
        for a in args.iter().chain(kwargs.iter().map(|(_, a)| a)) {
            for n in a.nodes() {
                if self.get(n).is_none() {
                    return Err(FxError::Graph(format!(
                        "an argument of new node '{name_hint}' refers to a node not in the graph"
                    )));
                }
            }
        }
        let index = match at {
            Position::Before(n) => self.position(n),
            Position::After(n) => self.position(n).map(|p| p + 1),
            Position::End => Some(match self.output_node() {
                Some(o) if op != OpCode::Output => self.position(o).unwrap_or(self.order.len()),
                _ => self.order.len(),
            }),
        }
        .ok_or_else(|| FxError::Graph("insertion point is not in the graph".into()))?;
        let id = NodeId(self.nodes.len());
        let name = self.unique_name(name_hint);
        self.nodes.push(Some(Node {
            id,
            name,
            op,
            target,
            args,
            kwargs,
            meta: NodeMeta::default(),
        }));
        self.order.insert(index, id);
        Ok(id)
    }

    /// Appends a placeholder named `name`.
    pub fn placeholder(&mut self, name: &str) -> Result<NodeId> {
        self.insert(
            Position::End,
            OpCode::Placeholder,
            Target::Name(name.into()),
            vec![],
            vec![],
            name,
        )
    }

    /// Appends a `get_attr` of `path`.
    pub fn get_attr(&mut self, path: &str) -> Result<NodeId> {
        self.insert(
            Position::End,
            OpCode::GetAttr,
            Target::Name(path.into()),
            vec![],
            vec![],
            path,
        )
    }

    /// Appends a `call_module` of the submodule at `path`.
    pub fn call_module(&mut self, path: &str, args: Vec<Arg>) -> Result<NodeId> {
        self.insert(
            Position::End,
            OpCode::CallModule,
            Target::Name(path.into()),
            args,
            vec![],
            path,
        )
    }

    /// Appends a `call_function` of `f`.
    pub fn call_function(
        &mut self,
        f: Function,
        args: Vec<Arg>,
        kwargs: Vec<(String, Arg)>,
    ) -> Result<NodeId> {
        self.insert(
            Position::End,
            OpCode::CallFunction,
            Target::Function(f),
            args,
            kwargs,
            f.node_name(),
        )
    }

    /// Appends a `call_method` of `method` (its first argument is the object).
    pub fn call_method(
        &mut self,
        method: &str,
        args: Vec<Arg>,
        kwargs: Vec<(String, Arg)>,
    ) -> Result<NodeId> {
        self.insert(
            Position::End,
            OpCode::CallMethod,
            Target::Name(method.into()),
            args,
            kwargs,
            method,
        )
    }

    /// Appends the output node returning `value`; errors if there is one already.
    pub fn output(&mut self, value: Arg) -> Result<NodeId> {
        if self.output_node().is_some() {
            return Err(FxError::Graph(
                "the graph has an output node already".into(),
            ));
        }
        self.insert(
            Position::End,
            OpCode::Output,
            Target::Name("output".into()),
            vec![value],
            vec![],
            "output",
        )
    }

    /// The nodes that read `id`, in execution order (`node.users`).
    pub fn users(&self, id: NodeId) -> Vec<NodeId> {
        self.nodes()
            .filter(|n| n.inputs().contains(&id))
            .map(Node::id)
            .collect()
    }

    /// Makes every reader of `old` read `new` instead (`replace_all_uses_with`); returns the
    /// nodes changed.
    pub fn replace_all_uses_with(&mut self, old: NodeId, new: NodeId) -> Vec<NodeId> {
        self.replace_uses_except(old, new, &[])
    }

    /// As [`Graph::replace_all_uses_with`], except in the nodes of `keep`.
    pub fn replace_uses_except(
        &mut self,
        old: NodeId,
        new: NodeId,
        keep: &[NodeId],
    ) -> Vec<NodeId> {
        let mut changed = Vec::new();
        for id in self.order.clone() {
            if id == new || keep.contains(&id) {
                continue;
            }
            let node = self.node_mut(id);
            let mut hit = false;
            for a in node.args.iter_mut() {
                hit |= a.replace_node(old, new);
            }
            for (_, a) in node.kwargs.iter_mut() {
                hit |= a.replace_node(old, new);
            }
            if hit {
                changed.push(id);
            }
        }
        changed
    }

    /// Makes `user` read `new` where it read `old` (`replace_input_with`).
    pub fn replace_input(&mut self, user: NodeId, old: NodeId, new: NodeId) {
        let node = self.node_mut(user);
        for a in node.args.iter_mut() {
            a.replace_node(old, new);
        }
        for (_, a) in node.kwargs.iter_mut() {
            a.replace_node(old, new);
        }
    }

    /// Removes a node nothing reads (`erase_node`); errors if it still has users.
    pub fn erase_node(&mut self, id: NodeId) -> Result<Node> {
        let Some(pos) = self.position(id) else {
            return Err(FxError::Graph(
                "erase_node: the node is not in the graph".into(),
            ));
        };
        let users = self.users(id);
        if !users.is_empty() {
            let names: Vec<&str> = users.iter().map(|&u| self.node(u).name.as_str()).collect();
            return Err(FxError::Graph(format!(
                "erase_node: '{}' still has users [{}]",
                self.node(id).name,
                names.join(", ")
            )));
        }
        self.order.remove(pos);
        let node = self.nodes[id.0].take().expect("in order, so present");
        self.used_names.remove(&node.name);
        Ok(node)
    }

    /// Moves node `id` to just before `anchor` (its arguments must still come first).
    pub fn move_before(&mut self, id: NodeId, anchor: NodeId) -> Result<()> {
        let pos = self
            .position(id)
            .ok_or_else(|| FxError::Graph("move_before: node not in the graph".into()))?;
        self.order.remove(pos);
        let at = self
            .position(anchor)
            .ok_or_else(|| FxError::Graph("move_before: anchor not in the graph".into()))?;
        self.order.insert(at, id);
        Ok(())
    }

    /// Removes nodes whose values are never used (`eliminate_dead_code`), repeatedly;
    /// placeholders and the output stay. Returns how many were removed.
    pub fn eliminate_dead_code(&mut self) -> usize {
        let mut removed = 0;
        loop {
            let mut used: HashSet<NodeId> = HashSet::new();
            for n in self.nodes() {
                used.extend(n.inputs());
            }
            let dead: Vec<NodeId> = self
                .nodes()
                .filter(|n| {
                    !matches!(n.op, OpCode::Placeholder | OpCode::Output) && !used.contains(&n.id)
                })
                .map(Node::id)
                .collect();
            if dead.is_empty() {
                return removed;
            }
            for id in dead {
                if let Some(pos) = self.position(id) {
                    self.order.remove(pos);
                    if let Some(node) = self.nodes[id.0].take() {
                        self.used_names.remove(&node.name);
                    }
                    removed += 1;
                }
            }
        }
    }

    /// Checks the invariants (`graph.lint()`): unique names, arguments defined before use,
    /// placeholders first, one output at the end, targets of the right kind.
    pub fn lint(&self) -> Result<()> {
        let mut seen: HashSet<NodeId> = HashSet::new();
        let mut names: HashSet<&str> = HashSet::new();
        let mut past_placeholders = false;
        let mut outputs = 0;
        for (i, n) in self.nodes().enumerate() {
            if !names.insert(&n.name) {
                return Err(FxError::Graph(format!(
                    "node name '{}' is used twice",
                    n.name
                )));
            }
            for input in n.inputs() {
                if !seen.contains(&input) {
                    let what = self
                        .get(input)
                        .map_or("an erased node".to_string(), |u| format!("'{}'", u.name));
                    return Err(FxError::Graph(format!(
                        "node '{}' uses {what} before it is defined",
                        n.name
                    )));
                }
            }
            match n.op {
                OpCode::Placeholder if past_placeholders => {
                    return Err(FxError::Graph(format!(
                        "placeholder '{}' comes after other nodes",
                        n.name
                    )))
                }
                OpCode::Placeholder => {}
                _ => past_placeholders = true,
            }
            let name_target = matches!(
                n.op,
                OpCode::Placeholder
                    | OpCode::GetAttr
                    | OpCode::CallModule
                    | OpCode::CallMethod
                    | OpCode::Output
            );
            if name_target != n.target_name().is_some() {
                return Err(FxError::Graph(format!(
                    "node '{}' ({}) has a target of the wrong kind",
                    n.name,
                    n.op.as_str()
                )));
            }
            if n.op == OpCode::CallMethod && n.args.first().and_then(Arg::node).is_none() {
                return Err(FxError::Graph(format!(
                    "call_method '{}' needs the object as its first argument",
                    n.name
                )));
            }
            if n.op == OpCode::Output {
                outputs += 1;
                if i + 1 != self.len() {
                    return Err(FxError::Graph(
                        "the output node is not the last node".into(),
                    ));
                }
            }
            seen.insert(n.id);
        }
        if outputs != 1 {
            return Err(FxError::Graph(format!(
                "a graph needs exactly one output node, found {outputs}"
            )));
        }
        Ok(())
    }
}

/// A float as Python's `repr` prints it (`2.0`, `0.1`, `1e-05`, `inf`).
fn py_float(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == v.trunc() && v.abs() < 1e16 {
        return format!("{v:.1}");
    }
    let s = format!("{v}");
    let exp = v.abs().log10().floor();
    if !(-4.0..16.0).contains(&exp) {
        let e = format!("{v:e}");
        // Python writes e-05 / e+16.
        if let Some((m, x)) = e.split_once('e') {
            let (sign, digits) = match x.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', x),
            };
            return format!("{m}e{sign}{digits:0>2}");
        }
    }
    s
}

impl Graph {
    fn fmt_arg(&self, a: &Arg, percent: bool) -> String {
        match a {
            Arg::Node(n) => {
                let name = self.get(*n).map_or("<erased>", |n| n.name.as_str());
                if percent {
                    format!("%{name}")
                } else {
                    name.to_string()
                }
            }
            Arg::None => "None".into(),
            Arg::Bool(b) => if *b { "True" } else { "False" }.into(),
            Arg::Int(i) => i.to_string(),
            Arg::Float(f) => py_float(*f),
            Arg::Str(s) => format!("'{s}'"),
            Arg::DType(d) => d.to_string(),
            Arg::List(v) => format!(
                "[{}]",
                v.iter()
                    .map(|a| self.fmt_arg(a, percent))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Arg::Tuple(v) => self.fmt_tuple(v, percent),
        }
    }

    fn fmt_tuple(&self, v: &[Arg], percent: bool) -> String {
        let items: Vec<String> = v.iter().map(|a| self.fmt_arg(a, percent)).collect();
        if items.len() == 1 {
            format!("({},)", items[0])
        } else {
            format!("({})", items.join(", "))
        }
    }
}

impl fmt::Display for Graph {
    /// The graph as `print(graph)` shows it in PyTorch.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "graph():")?;
        for n in self.nodes() {
            if n.op == OpCode::Output {
                let ret = match n.args.first() {
                    Some(a) => self.fmt_arg(a, false),
                    None => "None".into(),
                };
                writeln!(f, "    return {ret}")?;
                continue;
            }
            let users = self.users(n.id).len();
            write!(
                f,
                "    %{} : [num_users={users}] = {}[target={}]",
                n.name,
                n.op.as_str(),
                n.target
            )?;
            if !matches!(n.op, OpCode::Placeholder | OpCode::GetAttr) {
                let kwargs: Vec<String> = n
                    .kwargs
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", self.fmt_arg(v, true)))
                    .collect();
                write!(
                    f,
                    "(args = {}, kwargs = {{{}}})",
                    self.fmt_tuple(&n.args, true),
                    kwargs.join(", ")
                )?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_floats() {
        assert_eq!(py_float(2.0), "2.0");
        assert_eq!(py_float(0.1), "0.1");
        assert_eq!(py_float(1e-5), "1e-05");
        assert_eq!(py_float(-0.25), "-0.25");
    }

    #[test]
    fn names_are_unique_with_pytorch_suffixes() {
        let mut g = Graph::new();
        assert_eq!(g.unique_name("add"), "add");
        assert_eq!(g.unique_name("add"), "add_1");
        assert_eq!(g.unique_name("add"), "add_2");
        assert_eq!(g.unique_name("block.conv1"), "block_conv1");
        assert_eq!(g.unique_name("0"), "_0");
    }
}
