//! Graph-mode post-training quantization end to end against PyTorch's fixtures: the same
//! node sequence as PyTorch's converted graph and outputs within one output quantum.

mod fx_common;

use fx_common::*;
use nn::prelude::*;
use quantization::eager::ObserverModule;
use quantization::fx::{
    convert_fx, get_default_qconfig_mapping, prepare_fx, Graph, GraphModule, OpCode,
};
use quantization::{Backend, ZeroPoints};

/// `(op, target)` of every node, from our graph.
fn sequence(g: &Graph) -> Vec<(String, String)> {
    g.nodes()
        .map(|n| (n.op.as_str().to_string(), n.target.to_string()))
        .collect()
}

/// `(op, target)` of every node of a printed PyTorch graph; get_attr targets are names
/// chosen by the pass, so only the opcode is kept for them.
fn printed_sequence(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let line = line.trim();
        if line.starts_with("return") {
            out.push(("output".into(), "output".into()));
            continue;
        }
        let Some((_, rhs)) = line.split_once("] = ") else {
            continue;
        };
        let (op, rest) = rhs.split_once("[target=").unwrap();
        let target = rest.split(']').next().unwrap();
        out.push((op.to_string(), target.to_string()));
    }
    out
}

fn normalize(seq: Vec<(String, String)>) -> Vec<(String, String)> {
    seq.into_iter()
        .map(|(op, t)| {
            if op == "get_attr" {
                (op, String::new())
            } else {
                (op, t)
            }
        })
        .collect()
}

/// The output scale: the observer of the last call_module before the output.
fn output_scale(prepared: &GraphModule) -> f64 {
    let g = prepared.graph();
    let out = g.output_node().unwrap();
    let obs = g.get(out).unwrap().inputs()[0];
    let path = g.get(obs).unwrap().target_name().unwrap();
    let m = prepared
        .get_submodule(path)
        .unwrap()
        .downcast_ref::<ObserverModule>()
        .unwrap();
    let q = m.calculate_qparams().unwrap();
    assert!(matches!(q.zero_points, ZeroPoints::Int(_)));
    f64::from(q.scales[0])
}

#[test]
fn small_cnn_functional_matches_pytorch_on_both_engines() {
    for case in cases("e2e_fx_ptq") {
        let name = case["name"].as_str().unwrap().to_string();
        let engine: qtensor::Engine = case["params"]["engine"].as_str().unwrap().parse().unwrap();
        qtensor::set_engine(engine).unwrap();
        let backend = Backend::from(engine);
        let x = Value::Float(Tensor::new(f32_tensor(&case["inputs"]["x"])));
        let mut model = fixture_model(&case);
        let float_y = model
            .forward(x.clone())
            .unwrap()
            .into_float("m")
            .unwrap()
            .to_vec();
        let want_float: Vec<f32> = f32_tensor(&case["expected"]["float_y"])
            .iter()
            .copied()
            .collect();
        let mag = want_float.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(
            max_diff(&float_y, &want_float) <= 1e-5 * mag,
            "{name}: float_y"
        );
        let mut prepared = prepare_fx(
            model,
            &get_default_qconfig_mapping(backend),
            std::slice::from_ref(&x),
        )
        .unwrap_or_else(|e| panic!("{name}: {e}"));
        // Observers: the input, conv1, conv2, add-relu (shared by the pools and flatten, as
        // PyTorch shares one instance), fc1, fc2.
        let observer_calls: Vec<&str> = prepared
            .graph()
            .nodes()
            .filter(|n| n.op == OpCode::CallModule)
            .filter_map(|n| n.target_name())
            .filter(|t| t.starts_with("activation_post_process"))
            .collect();
        let mut distinct = observer_calls.clone();
        distinct.dedup();
        assert_eq!(
            (observer_calls.len(), distinct.len()),
            (9, 6),
            "{}",
            prepared.graph()
        );
        // Prepared models compute the float function (observers pass values through); the
        // calibration batches are the only data the observers see, as in the fixture.
        for batch in case["inputs"]["calibration"].as_array().unwrap() {
            prepared
                .forward(Value::Float(Tensor::new(f32_tensor(batch))))
                .unwrap();
        }
        let quantum = output_scale(&prepared);
        let mut converted = convert_fx(prepared).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ours = converted.graph().to_string();
        let theirs = case["expected"]["graph"].as_str().unwrap();
        println!("{name}\n--- ours ---\n{ours}--- PyTorch ---\n{theirs}");
        assert_eq!(
            normalize(sequence(converted.graph())),
            normalize(printed_sequence(theirs)),
            "{name}: node sequence differs"
        );
        let y = converted
            .forward(x)
            .unwrap()
            .into_float("c")
            .unwrap()
            .to_vec();
        let want: Vec<f32> = f32_tensor(&case["expected"]["y"]).iter().copied().collect();
        let worst = max_diff(&y, &want);
        let off: Vec<(usize, f32, f32)> = y
            .iter()
            .zip(&want)
            .enumerate()
            .filter(|(_, (a, b))| (*a - *b).abs() as f64 > quantum * 0.5)
            .map(|(i, (a, b))| (i, *a, *b))
            .collect();
        println!("{name}: {} of {} off: {off:?}", off.len(), y.len());
        assert!(
            worst as f64 <= quantum * (1.0 + 1e-6),
            "{name}: worst {worst} > quantum {quantum}"
        );
    }
}
