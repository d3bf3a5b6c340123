//! The tracer hooks: top-level operations are reported once with PyTorch's names and their
//! arguments, the operations they are built from are hidden, leaf modules are reported as one
//! call, other modules are traced through, and value reads are reported.

use std::cell::RefCell;
use std::rc::Rc;

use nn::functional as F;
use nn::prelude::*;
use nn::trace::{trace_with, OpKind, OpRecord, TraceArg, Tracer};
use nn::{Conv2d, Forward, Linear, ReLU};

#[derive(Debug, Clone, PartialEq)]
enum Event {
    Op {
        kind: OpKind,
        name: String,
        inputs: usize,
        args: Vec<(String, TraceArg)>,
        named: bool,
        output_shape: Vec<usize>,
    },
    Enter(String, String),
    Exit(Option<Vec<usize>>),
    Method(String),
    Read(String),
}

/// Records everything; modules whose type is in `leaves` are leaves.
struct Recorder {
    leaves: Vec<&'static str>,
    events: Vec<Event>,
}

impl Tracer for Recorder {
    fn op(&mut self, r: OpRecord<'_>) {
        self.events.push(Event::Op {
            kind: r.kind,
            name: r.name.to_string(),
            inputs: r.tensors.iter().filter(|t| t.is_some()).count(),
            args: r
                .args
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            named: !r.unnamed(),
            output_shape: r.output.shape(),
        });
    }
    fn enter_module(&mut self, name: &str, module: &dyn Module, _input: &Value) -> bool {
        self.events
            .push(Event::Enter(name.into(), module.type_name().into()));
        self.leaves.contains(&module.type_name())
    }
    fn exit_module(&mut self, output: Option<&Value>) {
        self.events.push(Event::Exit(output.and_then(Value::shape)));
    }
    fn enter_method(&mut self, name: &str, _module: &dyn Module) {
        self.events.push(Event::Method(name.into()));
    }
    fn value_read(&mut self, what: &'static str) {
        self.events.push(Event::Read(what.into()));
    }
}

fn record<T>(leaves: Vec<&'static str>, f: impl FnOnce() -> T) -> (T, Vec<Event>) {
    let rec = Rc::new(RefCell::new(Recorder {
        leaves,
        events: Vec::new(),
    }));
    let out = trace_with(rec.clone(), f);
    let events = std::mem::take(&mut rec.borrow_mut().events);
    (out, events)
}

fn op_names(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Op { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn functions_report_once_with_arguments_and_hide_their_parts() {
    let x = Tensor::randn(&[2, 3, 4, 4]);
    let (y, ev) = record(vec![], || {
        let p = F::max_pool2d(&x, &F::Pool2dOptions::new(2)).unwrap();
        F::flatten(&p, 1, -1).unwrap()
    });
    assert_eq!(y.shape(), vec![2, 12]);
    assert_eq!(ev.len(), 2, "{ev:?}");
    match &ev[0] {
        Event::Op {
            kind,
            name,
            inputs,
            args,
            named,
            output_shape,
        } => {
            assert_eq!(*kind, OpKind::Function);
            assert_eq!(name, "torch.nn.functional.max_pool2d");
            assert_eq!(*inputs, 1);
            assert!(named);
            assert_eq!(output_shape, &vec![2, 3, 2, 2]);
            assert_eq!(args[0], ("kernel_size".into(), TraceArg::Ints(vec![2, 2])));
            assert_eq!(args[4], ("ceil_mode".into(), TraceArg::Bool(false)));
        }
        other => panic!("{other:?}"),
    }
    // flatten is built from reshape, which is not reported separately.
    assert_eq!(
        op_names(&ev),
        ["torch.nn.functional.max_pool2d", "torch.flatten"]
    );
}

#[test]
fn methods_and_operators_have_pytorch_names() {
    let a = Tensor::randn(&[3]);
    let b = Tensor::randn(&[3]);
    let (_, ev) = record(vec![], || {
        let s = a.add(&b).unwrap().relu();
        let t = s.mul_scalar(2.0).flatten(0, -1).unwrap();
        Tensor::cat(&[t.clone(), t], 0).unwrap()
    });
    assert_eq!(
        op_names(&ev),
        [
            "operator.add",
            "relu",
            "operator.mul",
            "flatten",
            "torch.cat"
        ]
    );
    let kinds: Vec<OpKind> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Op { kind, .. } => Some(*kind),
            _ => None,
        })
        .collect();
    assert_eq!(
        kinds,
        [
            OpKind::Function,
            OpKind::Method,
            OpKind::Function,
            OpKind::Method,
            OpKind::Function
        ]
    );
    match &ev[2] {
        Event::Op { args, inputs, .. } => {
            assert_eq!(*inputs, 1);
            assert_eq!(args, &vec![("other".to_string(), TraceArg::Float(2.0))]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_operation_without_a_name_is_reported_as_unnamed() {
    let x = Tensor::randn(&[4]);
    let (_, ev) = record(vec![], || x.narrow(0, 1, 2).unwrap());
    match &ev[..] {
        [Event::Op { name, named, .. }] => {
            assert_eq!(name, "narrow");
            assert!(!named);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn value_reads_are_reported() {
    let x = Tensor::randn(&[1]);
    let (_, ev) = record(vec![], || {
        let _ = x.item().unwrap();
        let _ = x.to_vec();
    });
    assert_eq!(
        ev,
        [Event::Read("item".into()), Event::Read("to_vec".into())]
    );
}

#[derive(Module)]
struct Block {
    conv: Child,
    relu: Child,
}

impl Forward for Block {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let y = self.conv.forward(x)?;
        self.relu.forward(y)
    }
}

#[derive(Module)]
struct Net {
    block: Child,
    fc: Child,
}

impl Forward for Net {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let y = self.block.forward(x)?.into_float("Net")?;
        let y = F::adaptive_avg_pool2d(&y, [1, 1])?;
        self.fc.forward(Value::Float(F::flatten(&y, 1, -1)?))
    }
}

fn net() -> Net {
    Net {
        block: Child::new(Block {
            conv: Child::new(Conv2d::new(3, 4, 3).unwrap()),
            relu: Child::new(ReLU::new()),
        }),
        fc: Child::new(Linear::new(4, 2, true)),
    }
}

#[test]
fn leaf_modules_are_one_call_and_others_are_traced_through() {
    let mut m = net();
    let x = Tensor::randn(&[1, 3, 6, 6]);
    let (y, ev) = record(vec!["Conv2d", "ReLU", "Linear"], || {
        m.forward(Value::Float(x.clone()))
    });
    assert_eq!(y.unwrap().shape(), Some(vec![1, 2]));
    let enter = |n: &str, t: &str| Event::Enter(n.into(), t.into());
    assert_eq!(ev[0], enter("block", "Block"));
    assert_eq!(ev[1], enter("conv", "Conv2d"));
    assert_eq!(ev[2], Event::Exit(Some(vec![1, 4, 4, 4])));
    assert_eq!(ev[3], enter("relu", "ReLU"));
    assert_eq!(ev[4], Event::Exit(Some(vec![1, 4, 4, 4])));
    assert_eq!(ev[5], Event::Exit(Some(vec![1, 4, 4, 4])));
    // The conv's and relu's own operations are hidden; the parent's functionals are not.
    assert_eq!(
        op_names(&ev),
        ["torch.nn.functional.adaptive_avg_pool2d", "torch.flatten"]
    );
    assert_eq!(ev.last(), Some(&Event::Exit(Some(vec![1, 2]))));
}

#[test]
fn a_module_that_is_not_a_leaf_shows_its_operations() {
    let mut m = net();
    let x = Tensor::randn(&[1, 3, 6, 6]);
    let (_, ev) = record(vec!["Block"], || m.forward(Value::Float(x.clone())));
    // Block is a leaf; Linear is traced through: its F.linear is reported.
    assert_eq!(
        op_names(&ev),
        [
            "torch.nn.functional.adaptive_avg_pool2d",
            "torch.flatten",
            "torch.nn.functional.linear"
        ]
    );
}

#[test]
fn functional_module_methods_are_traced_through() {
    let mut ff = Child::named("skip", nn::FloatFunctional::new());
    let a = Tensor::randn(&[2]);
    let (_, ev) = record(vec!["Identity"], || {
        ff.add(Value::Float(a.clone()), Value::Float(a.clone()))
    });
    assert_eq!(ev[0], Event::Method("skip".into()));
    assert_eq!(op_names(&ev), ["operator.add"]);
}

#[test]
fn nothing_is_reported_or_changed_outside_tracing() {
    assert!(!nn::trace::is_tracing());
    let x = Tensor::randn(&[2, 2]);
    let (_, ev) = record(vec![], nn::trace::is_tracing);
    assert!(ev.is_empty());
    assert!(!nn::trace::is_tracing());
    // Results do not depend on tracing.
    let plain = F::relu(&x.add_scalar(-0.1)).to_vec();
    let (traced, _) = record(vec![], || F::relu(&x.add_scalar(-0.1)));
    assert_eq!(traced.to_vec(), plain);
}

#[test]
fn the_tracer_is_uninstalled_after_a_panic() {
    let r = std::panic::catch_unwind(|| {
        record(vec![], || panic!("inside"));
    });
    assert!(r.is_err());
    assert!(!nn::trace::is_tracing());
}
