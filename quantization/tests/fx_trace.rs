//! Tracing a model's own forward into a graph module: the graph's structure and printed form,
//! the graph module giving the eager model's results, editing, and untraceable models.

mod fx_common;

use fx_common::*;
use nn::functional as F;
use nn::prelude::*;
use nn::{Forward, Linear, ReLU};
use quantization::fx::{
    symbolic_trace, trace, Arg, Function, FxError, Graph, OpCode, Position, Target, TraceOptions,
};

fn ops(g: &Graph) -> Vec<(OpCode, String)> {
    g.nodes().map(|n| (n.op, n.target.to_string())).collect()
}

#[test]
fn the_fixture_model_traces_to_pytorch_node_sequence_and_runs_like_eager() {
    for case in cases("e2e_fx_ptq") {
        let x = Tensor::new(f32_tensor(&case["inputs"]["x"]));
        let mut eager = fixture_model(&case);
        let want = eager
            .forward(Value::Float(x.clone()))
            .unwrap()
            .into_float("m")
            .unwrap()
            .to_vec();
        let mut gm = symbolic_trace(fixture_model(&case), &[Value::Float(x.clone())]).unwrap();
        let text = gm.graph().to_string();
        let expected = "graph():
    %x : [num_users=1] = placeholder[target=x]
    %conv1 : [num_users=1] = call_module[target=conv1](args = (%x,), kwargs = {})
    %bn1 : [num_users=1] = call_module[target=bn1](args = (%conv1,), kwargs = {})
    %relu : [num_users=2] = call_function[target=torch.nn.functional.relu](args = (%bn1,), kwargs = {inplace: False})
    %conv2 : [num_users=1] = call_module[target=conv2](args = (%relu,), kwargs = {})
    %bn2 : [num_users=1] = call_module[target=bn2](args = (%conv2,), kwargs = {})
    %add : [num_users=1] = call_function[target=operator.add](args = (%relu, %bn2), kwargs = {})
    %relu_1 : [num_users=1] = call_function[target=torch.nn.functional.relu](args = (%add,), kwargs = {inplace: False})
    %max_pool2d : [num_users=1] = call_function[target=torch.nn.functional.max_pool2d](args = (%relu_1, 2), kwargs = {stride: None, padding: 0, dilation: 1, ceil_mode: False, return_indices: False})
    %adaptive_avg_pool2d : [num_users=1] = call_function[target=torch.nn.functional.adaptive_avg_pool2d](args = (%max_pool2d, 1), kwargs = {})
    %flatten : [num_users=1] = call_function[target=torch.flatten](args = (%adaptive_avg_pool2d, 1), kwargs = {})
    %fc1 : [num_users=1] = call_module[target=fc1](args = (%flatten,), kwargs = {})
    %relu_2 : [num_users=1] = call_function[target=torch.nn.functional.relu](args = (%fc1,), kwargs = {inplace: False})
    %fc2 : [num_users=1] = call_module[target=fc2](args = (%relu_2,), kwargs = {})
    return fc2
";
        assert_eq!(text, expected);
        let got = gm
            .forward(Value::Float(x))
            .unwrap()
            .into_float("gm")
            .unwrap()
            .to_vec();
        assert_eq!(
            got, want,
            "the graph module computes exactly what the eager model does"
        );
        // The modules moved into the graph module keep their names and state.
        let keys = gm.state_dict().keys().join(",");
        assert!(
            keys.starts_with("conv1.weight,conv1.bias,bn1.weight"),
            "{keys}"
        );
        gm.lint().unwrap();
    }
}

#[derive(Module)]
struct Residual {
    fc: Child,
    act: Child,
    w: Tensor,
}

impl Forward for Residual {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let x = x.into_float("Residual")?;
        let h = self
            .act
            .forward(self.fc.forward(Value::Float(x.clone()))?)?
            .into_float("r")?;
        // The model's own parameter is read with get_attr; a constant made in the forward too.
        let y = F::linear(&h, &self.w, None)?;
        let c = Tensor::full(&[1], 0.5);
        let both = Tensor::cat(&[y.mul(&c)?, x], 1)?;
        Ok(Value::Float(both.sigmoid()))
    }
}

fn residual() -> Residual {
    Residual {
        fc: Child::new(Linear::new(4, 4, true)),
        act: Child::new(ReLU::new()),
        w: Tensor::parameter(Tensor::randn(&[3, 4]).to_array()),
    }
}

#[test]
fn parameters_constants_cat_and_methods_are_recorded() {
    nn::manual_seed(3);
    let mut eager = residual();
    let x = Tensor::randn(&[2, 4]);
    let want = eager
        .forward(Value::Float(x.clone()))
        .unwrap()
        .into_float("m")
        .unwrap()
        .to_vec();
    let mut gm = symbolic_trace(eager, &[Value::Float(x.clone())]).unwrap();
    let seq = ops(gm.graph());
    let names: Vec<String> = seq
        .iter()
        .map(|(o, t)| format!("{}:{t}", o.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            "placeholder:x",
            "call_module:fc",
            "call_module:act",
            "get_attr:w",
            "call_function:torch.nn.functional.linear",
            "get_attr:_tensor_constant0",
            "call_function:operator.mul",
            "call_function:torch.cat",
            "call_method:sigmoid",
            "output:output"
        ]
    );
    let got = gm
        .forward(Value::Float(x))
        .unwrap()
        .into_float("gm")
        .unwrap()
        .to_vec();
    assert_eq!(got, want);
    // The parameter is the model's own (shared, trainable).
    assert_eq!(
        gm.named_parameters()
            .iter()
            .filter(|(n, _)| n == "w")
            .count(),
        1
    );
}

#[derive(Module)]
struct DataDependent {
    fc: Child,
}

impl Forward for DataDependent {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let y = self.fc.forward(x)?.into_float("m")?;
        if y.sum().item()? > 0.0 {
            Ok(Value::Float(y.relu()))
        } else {
            Ok(Value::Float(y))
        }
    }
}

#[derive(Module)]
struct Unsupported {
    fc: Child,
}

impl Forward for Unsupported {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let y = self.fc.forward(x)?.into_float("m")?;
        Ok(Value::Float(y.narrow(1, 0, 2)?))
    }
}

#[test]
fn untraceable_models_are_typed_errors_and_come_back_unchanged() {
    let x = Value::Float(Tensor::randn(&[2, 4]));
    let m = DataDependent {
        fc: Child::new(Linear::new(4, 4, true)),
    };
    let before = m.state_dict().get("fc.weight").cloned();
    let r = symbolic_trace(m, std::slice::from_ref(&x)).unwrap_err();
    match &r.error {
        FxError::Untraceable { op, reason, .. } => {
            assert_eq!(op, "item");
            assert!(reason.contains("control flow"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let m = r.into_model();
    assert_eq!(m.state_dict().get("fc.weight").cloned(), before);
    assert_eq!(m.fc.type_name(), "Linear");

    let r = symbolic_trace(
        Unsupported {
            fc: Child::new(Linear::new(4, 4, true)),
        },
        std::slice::from_ref(&x),
    )
    .unwrap_err();
    assert!(
        matches!(&r.error, FxError::Untraceable { op, .. } if op == "narrow"),
        "{}",
        r.error
    );

    let r = symbolic_trace(
        Unsupported {
            fc: Child::new(Linear::new(4, 4, true)),
        },
        &[],
    )
    .unwrap_err();
    assert!(matches!(r.error, FxError::MissingExampleInputs { .. }));
    assert!(r.to_string().contains("example inputs"));
}

#[test]
fn declared_leaves_are_called_as_one_module() {
    #[derive(Module)]
    struct Outer {
        inner: Child,
    }
    impl Forward for Outer {
        fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
            self.inner.forward(x)
        }
    }
    let make = || Outer {
        inner: Child::new(Unsupported {
            fc: Child::new(Linear::new(4, 4, true)),
        }),
    };
    let x = Value::Float(Tensor::randn(&[2, 4]));
    // Not traceable as is; as a leaf the unsupported op stays inside the module.
    assert!(symbolic_trace(make(), std::slice::from_ref(&x)).is_err());
    let opts = TraceOptions::new().leaf_type("Unsupported");
    let mut gm = trace(make(), std::slice::from_ref(&x), &opts).unwrap();
    assert_eq!(
        ops(gm.graph())[1],
        (OpCode::CallModule, "inner".to_string())
    );
    assert_eq!(gm.forward(x.clone()).unwrap().shape(), Some(vec![2, 2]));
    let gm2 = trace(
        make(),
        std::slice::from_ref(&x),
        &TraceOptions::new().leaf_path("inner"),
    )
    .unwrap();
    assert_eq!(gm2.graph().len(), 3);
    // Tracing through a default leaf type exposes its functional.
    let gm3 = trace(
        mlp(),
        &[x],
        &TraceOptions::new().trace_through_type("Linear"),
    )
    .unwrap();
    assert!(gm3.graph().nodes().any(|n| n.is_function(Function::Linear)));
}

fn mlp() -> nn::Sequential {
    nn::Sequential::new()
        .with(Linear::new(4, 3, true))
        .with(ReLU::new())
}

#[test]
fn graphs_are_editable_and_linted() {
    let x = Value::Float(Tensor::randn(&[2, 4]));
    let mut gm = symbolic_trace(mlp(), std::slice::from_ref(&x)).unwrap();
    let before = gm
        .forward(x.clone())
        .unwrap()
        .into_float("a")
        .unwrap()
        .to_vec();
    // Nested sequential names: "0", "1" become call_module targets.
    let relu = gm.graph().find("_1").expect("node for module '1'");
    let g = gm.graph_mut();
    // Insert a sigmoid after the relu and route the output through it.
    let sig = g
        .insert(
            Position::After(relu),
            OpCode::CallMethod,
            Target::Name("sigmoid".into()),
            vec![Arg::Node(relu)],
            vec![],
            "sigmoid",
        )
        .unwrap();
    let changed = g.replace_uses_except(relu, sig, &[sig]);
    assert_eq!(changed.len(), 1);
    gm.lint().unwrap();
    let after = gm
        .forward(x.clone())
        .unwrap()
        .into_float("b")
        .unwrap()
        .to_vec();
    let expect: Vec<f32> = before.iter().map(|v| 1.0 / (1.0 + (-v).exp())).collect();
    assert!(max_diff(&after, &expect) < 1e-6);
    // A node with users cannot be erased; after rerouting it can, and DCE removes dead nodes.
    let g = gm.graph_mut();
    assert!(g.erase_node(relu).is_err());
    g.replace_all_uses_with(sig, relu);
    assert_eq!(g.eliminate_dead_code(), 1);
    gm.lint().unwrap();
    assert_eq!(
        gm.forward(x.clone())
            .unwrap()
            .into_float("c")
            .unwrap()
            .to_vec(),
        before
    );
    // Lint catches a use before definition and a missing module.
    let mut bad = gm.graph().clone();
    let first = bad.find("_0").unwrap();
    let ghost = bad
        .insert(
            Position::Before(first),
            OpCode::CallModule,
            Target::Name("nope".into()),
            vec![Arg::Node(first)],
            vec![],
            "nope",
        )
        .unwrap();
    assert!(bad.lint().is_err());
    bad.move_before(ghost, bad.output_node().unwrap()).unwrap();
    bad.lint().unwrap();
    let err = quantization::fx::GraphModule::new(bad, vec![], vec![]).unwrap_err();
    assert!(err.to_string().contains("module"), "{err}");
}

#[derive(Module)]
struct Recurrent {
    lstm: Child,
    head: Child,
}

impl Forward for Recurrent {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        // LSTM returns (output, (h_n, c_n)); the tuple's parts are used directly.
        let out = self.lstm.forward(x)?.into_tuple("Recurrent")?;
        let states = out[1].clone().into_tuple("Recurrent")?;
        let h = states[0].clone().into_float("Recurrent")?;
        let y = out[0]
            .clone()
            .into_float("Recurrent")?
            .mean_dims(&[0], false)?;
        let both = Tensor::cat(&[y, h.reshape(&[2, 5])?], 1)?;
        self.head.forward(Value::Float(both))
    }
}

#[test]
fn tuple_outputs_of_leaves_become_getitem_nodes() {
    nn::manual_seed(9);
    let mut m = Recurrent {
        lstm: Child::new(nn::LSTM::new(nn::RnnConfig::new(3, 5)).unwrap()),
        head: Child::new(Linear::new(10, 2, true)),
    };
    let x = Value::Float(Tensor::randn(&[4, 2, 3]));
    let want = m
        .forward(x.clone())
        .unwrap()
        .into_float("m")
        .unwrap()
        .to_vec();
    let mut gm = symbolic_trace(m, std::slice::from_ref(&x)).unwrap();
    let getitems = gm
        .graph()
        .nodes()
        .filter(|n| n.is_function(Function::GetItem))
        .count();
    assert_eq!(getitems, 4, "{}", gm.graph());
    let got = gm.forward(x).unwrap().into_float("gm").unwrap().to_vec();
    assert_eq!(got, want);
}

#[test]
fn a_leaf_predicate_decides_by_path_and_module() {
    let make = || {
        nn::Sequential::new()
            .with(mlp())
            .with(Linear::new(3, 2, true))
    };
    let x = Value::Float(Tensor::randn(&[2, 4]));
    // By default the inner Sequential is traced through: its children are called by path.
    let gm = symbolic_trace(make(), std::slice::from_ref(&x)).unwrap();
    let calls: Vec<String> = ops(gm.graph())
        .into_iter()
        .filter(|(o, _)| *o == OpCode::CallModule)
        .map(|(_, t)| t)
        .collect();
    assert_eq!(calls, ["0.0", "0.1", "1"]);
    let opts = TraceOptions::new().leaf_if(|path, m| path == "0" && m.type_name() == "Sequential");
    let mut gm = trace(make(), std::slice::from_ref(&x), &opts).unwrap();
    let calls: Vec<String> = ops(gm.graph())
        .into_iter()
        .filter(|(o, _)| *o == OpCode::CallModule)
        .map(|(_, t)| t)
        .collect();
    assert_eq!(calls, ["0", "1"]);
    assert_eq!(gm.forward(x).unwrap().shape(), Some(vec![2, 2]));
}
