//! Hooks for a graph tracer (`torch.fx`): while a [`Tracer`] is installed with [`trace_with`],
//! every operation called from traced code at the top level (not from inside another recorded
//! operation or a leaf module) is reported with its tensor inputs, its non-tensor arguments and
//! its output; every child module call is offered to the tracer, which records it as one call
//! (a leaf) or lets its forward be traced through; reads of tensor values are reported.
//!
//! The operations of this crate report themselves under PyTorch's names (`"torch.flatten"`,
//! `"torch.nn.functional.max_pool2d"`, method `"relu"`, `"operator.add"` for [`Tensor::add`]);
//! an operation that does not ([`Tensor::from_op`] called directly at the top level) is
//! reported as [`OpRecord::unnamed`] so the tracer can refuse it by name.
//!
//! Nothing here costs more than a thread-local flag check when no tracer is installed.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::error::Result;
use crate::module::{Module, Value};
use crate::tensor::Tensor;

/// A non-tensor argument of a recorded operation.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceArg {
    /// Python's `None`.
    None,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A list of integers.
    Ints(Vec<i64>),
    /// A string.
    Str(String),
}

impl From<bool> for TraceArg {
    fn from(v: bool) -> Self {
        TraceArg::Bool(v)
    }
}

impl From<usize> for TraceArg {
    fn from(v: usize) -> Self {
        TraceArg::Int(v as i64)
    }
}

impl From<isize> for TraceArg {
    fn from(v: isize) -> Self {
        TraceArg::Int(v as i64)
    }
}

impl From<f32> for TraceArg {
    fn from(v: f32) -> Self {
        TraceArg::Float(f64::from(v))
    }
}

impl From<&[usize]> for TraceArg {
    fn from(v: &[usize]) -> Self {
        TraceArg::Ints(v.iter().map(|&d| d as i64).collect())
    }
}

impl From<&[isize]> for TraceArg {
    fn from(v: &[isize]) -> Self {
        TraceArg::Ints(v.iter().map(|&d| d as i64).collect())
    }
}

/// How PyTorch code calls an operation: a free function (`call_function`) or a tensor
/// method (`call_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    /// `torch.flatten(x, 1)`, `F.relu(x)`, `x + y` (`operator.add`).
    Function,
    /// `x.relu()`, `x.flatten(1)`.
    Method,
}

/// One operation called by traced code.
#[derive(Debug)]
pub struct OpRecord<'a> {
    /// Function or method.
    pub kind: OpKind,
    /// PyTorch's name: the function's qualified name or the method's name.
    pub name: &'static str,
    /// The tensor arguments in order (`None` for an absent optional tensor such as a bias).
    pub tensors: Vec<Option<&'a Tensor>>,
    /// The non-tensor arguments by name, in the order of PyTorch's signature.
    pub args: Vec<(&'static str, TraceArg)>,
    /// The result.
    pub output: &'a Tensor,
    /// False for a [`Tensor::from_op`] that no named operation wrapped: `name` is then the
    /// autograd op name and the arguments are unknown.
    pub named: bool,
}

impl OpRecord<'_> {
    /// True for an operation that did not report its name and arguments.
    pub fn unnamed(&self) -> bool {
        !self.named
    }
}

/// Receives what traced code does; installed with [`trace_with`].
pub trait Tracer {
    /// An operation called at the top level of traced code.
    fn op(&mut self, record: OpRecord<'_>);
    /// A child module named `name` (its field or index in the parent) is about to run on
    /// `input`: return true to record it as one call (a leaf; its forward runs untraced), false
    /// to trace through its forward. Every call is followed by [`Tracer::exit_module`].
    fn enter_module(&mut self, name: &str, module: &dyn Module, input: &Value) -> bool;
    /// The module entered last returned (`output` is `None` if its forward failed).
    fn exit_module(&mut self, output: Option<&Value>);
    /// A functional method (`FloatFunctional.add` ...) of child `name` is called; its body is
    /// traced through. Followed by [`Tracer::exit_method`].
    fn enter_method(&mut self, name: &str, module: &dyn Module) {
        let _ = (name, module);
    }
    /// The method entered last returned.
    fn exit_method(&mut self) {}
    /// Traced code read tensor values (`item`, `to_vec`, `to_array`, `argmax`): the graph
    /// cannot depend on them.
    fn value_read(&mut self, what: &'static str);
}

thread_local! {
    static TRACER: RefCell<Option<Rc<RefCell<dyn Tracer>>>> = const { RefCell::new(None) };
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f` with `tracer` receiving what it does on this thread, then uninstalls it (also if
/// `f` panics). Tracing does not nest: a tracer installed already is put back afterwards.
pub fn trace_with<T>(tracer: Rc<RefCell<dyn Tracer>>, f: impl FnOnce() -> T) -> T {
    struct Restore {
        previous: Option<Rc<RefCell<dyn Tracer>>>,
        depth: usize,
    }
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.previous.take();
            ACTIVE.with(|a| a.set(previous.is_some()));
            TRACER.with(|t| *t.borrow_mut() = previous);
            DEPTH.with(|d| d.set(self.depth));
        }
    }
    let previous = TRACER.with(|t| t.borrow_mut().replace(tracer));
    let _restore = Restore {
        previous,
        depth: DEPTH.with(|d| d.replace(0)),
    };
    ACTIVE.with(|a| a.set(true));
    f()
}

/// True while a tracer is installed and the code running is at the top level of the traced
/// forward (not inside a recorded operation or leaf module).
pub fn is_tracing() -> bool {
    ACTIVE.with(Cell::get) && DEPTH.with(Cell::get) == 0
}

fn with_tracer(f: impl FnOnce(&mut dyn Tracer)) {
    let tracer = TRACER.with(|t| t.borrow().clone());
    if let Some(t) = tracer {
        if let Ok(mut t) = t.try_borrow_mut() {
            f(&mut *t);
        }
    }
}

/// Increments the depth while alive (nothing below is reported).
struct Nested;

impl Nested {
    fn enter() -> Nested {
        DEPTH.with(|d| d.set(d.get() + 1));
        Nested
    }
}

impl Drop for Nested {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// What a traced operation returns: a tensor, or a result holding one.
pub(crate) trait TracedOutput {
    fn traced_tensor(&self) -> Option<&Tensor>;
}

impl TracedOutput for Tensor {
    fn traced_tensor(&self) -> Option<&Tensor> {
        Some(self)
    }
}

impl TracedOutput for Result<Tensor> {
    fn traced_tensor(&self) -> Option<&Tensor> {
        self.as_ref().ok()
    }
}

/// Runs the body of the named operation `name`; at the top level of traced code, reports it
/// (with `args()`, evaluated only then) and hides the operations it is built from.
pub(crate) fn op<T: TracedOutput>(
    kind: OpKind,
    name: &'static str,
    tensors: &[Option<&Tensor>],
    args: impl FnOnce() -> Vec<(&'static str, TraceArg)>,
    body: impl FnOnce() -> T,
) -> T {
    if !is_tracing() {
        return body();
    }
    let out = {
        let _nested = Nested::enter();
        body()
    };
    if let Some(output) = out.traced_tensor() {
        let record = OpRecord {
            kind,
            name,
            tensors: tensors.to_vec(),
            args: args(),
            output,
            named: true,
        };
        with_tracer(|t| t.op(record));
    }
    out
}

/// A function-style operation (`call_function`).
pub(crate) fn function<T: TracedOutput>(
    name: &'static str,
    tensors: &[Option<&Tensor>],
    args: impl FnOnce() -> Vec<(&'static str, TraceArg)>,
    body: impl FnOnce() -> T,
) -> T {
    op(OpKind::Function, name, tensors, args, body)
}

/// A method-style operation (`call_method`).
pub(crate) fn method<T: TracedOutput>(
    name: &'static str,
    tensors: &[Option<&Tensor>],
    args: impl FnOnce() -> Vec<(&'static str, TraceArg)>,
    body: impl FnOnce() -> T,
) -> T {
    op(OpKind::Method, name, tensors, args, body)
}

/// No non-tensor arguments.
pub(crate) fn no_args() -> Vec<(&'static str, TraceArg)> {
    Vec::new()
}

/// [`Tensor::from_op`] at the top level of traced code: an operation that did not name itself.
pub(crate) fn unnamed_op(op: &'static str, inputs: &[&Tensor], output: &Tensor) {
    if !is_tracing() {
        return;
    }
    let record = OpRecord {
        kind: OpKind::Function,
        name: op,
        tensors: inputs.iter().map(|t| Some(*t)).collect(),
        args: Vec::new(),
        output,
        named: false,
    };
    with_tracer(|t| t.op(record));
}

/// Traced code read tensor values through `what`.
pub(crate) fn value_read(what: &'static str) {
    if is_tracing() {
        with_tracer(|t| t.value_read(what));
    }
}

/// Runs child `name`'s forward under the tracer (called by [`crate::Child::forward`] while
/// [`is_tracing`]).
pub(crate) fn module_call(name: &str, module: &mut dyn Module, input: Value) -> Result<Value> {
    let mut leaf = false;
    with_tracer(|t| leaf = t.enter_module(name, module, &input));
    let out = if leaf {
        let _nested = Nested::enter();
        module.forward(input)
    } else {
        module.forward(input)
    };
    with_tracer(|t| t.exit_module(out.as_ref().ok()));
    out
}

/// Runs child `name`'s functional method under the tracer (called by [`crate::Child::call`]).
pub(crate) fn method_call(
    name: &str,
    module: &mut dyn Module,
    run: impl FnOnce(&mut dyn Module) -> Result<Value>,
) -> Result<Value> {
    with_tracer(|t| t.enter_method(name, module));
    let out = run(module);
    with_tracer(|t| t.exit_method());
    out
}
