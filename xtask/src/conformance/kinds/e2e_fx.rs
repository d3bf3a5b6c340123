//! Kind `e2e_fx_ptq`: graph-mode post-training static quantization of FORMAT.md's
//! `SmallCNNFunctional` (functional relu, add and pools; no stubs), end to end:
//! `prepare_fx` with the engine's default `QConfigMapping`, calibration, `convert_fx`, run.
//! Checked: the float output, the quantized output within one output quantum, and the
//! converted graph's node sequence against PyTorch's printed graph.

use nn::functional as F;
use nn::prelude::*;
use nn::{BatchNorm2d, Conv2d, ConvConfig, Linear};
use quantization::eager::ObserverModule;
use quantization::fx::{convert_fx, get_default_qconfig_mapping, prepare_fx, GraphModule};

use crate::conformance::check::{Checker, Verdict};
use crate::conformance::fixture::Case;
use crate::conformance::kinds::model_io::{
    default_qconfig_backend, float, load_state_dict, out_values,
};
use crate::conformance::kinds::UNSUPPORTED;

/// FORMAT.md's `SmallCNNFunctional(c, classes)`, children named as PyTorch's state dict.
#[derive(Module)]
struct SmallCnnFunctional {
    conv1: Child,
    bn1: Child,
    conv2: Child,
    bn2: Child,
    fc1: Child,
    fc2: Child,
}

impl SmallCnnFunctional {
    fn new(c: usize, classes: usize) -> nn::Result<SmallCnnFunctional> {
        let conv = |i, o| Conv2d::from_config(ConvConfig::new(i, o, &[3, 3]).padding(1));
        Ok(SmallCnnFunctional {
            conv1: Child::new(conv(3, c)?),
            bn1: Child::new(BatchNorm2d::new(c)),
            conv2: Child::new(conv(c, c)?),
            bn2: Child::new(BatchNorm2d::new(c)),
            fc1: Child::new(Linear::new(c, 16, true)),
            fc2: Child::new(Linear::new(16, classes, true)),
        })
    }
}

impl nn::Forward for SmallCnnFunctional {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let name = "SmallCNNFunctional";
        let y = F::relu(&self.bn1.forward(self.conv1.forward(x)?)?.into_float(name)?);
        let z = self
            .bn2
            .forward(self.conv2.forward(Value::Float(y.clone()))?)?;
        let x = F::relu(&y.add(&z.into_float(name)?)?);
        let x = F::adaptive_avg_pool2d(&F::max_pool2d(&x, &F::Pool2dOptions::new(2))?, [1, 1])?;
        let x = F::flatten(&x, 1, -1)?;
        let x = F::relu(&self.fc1.forward(Value::Float(x))?.into_float(name)?);
        self.fc2.forward(Value::Float(x))
    }
}

/// `(opcode, target)` per node; get_attr targets are names the pass picks, so only the
/// opcode counts for them.
fn node_sequence(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines().skip(1).map(str::trim) {
        if line.starts_with("return") {
            out.push("output".to_string());
        } else if let Some((_, rhs)) = line.split_once("] = ") {
            let (op, rest) = rhs.split_once("[target=").unwrap_or((rhs, ""));
            let target = rest.split(']').next().unwrap_or("");
            out.push(if op == "get_attr" {
                op.to_string()
            } else {
                format!("{op} {target}")
            });
        }
    }
    out
}

/// The scale of the graph's output: the observer feeding the output node.
fn output_scale(prepared: &GraphModule) -> Result<f64, String> {
    let g = prepared.graph();
    let out = g.output_node().ok_or("the prepared graph has no output")?;
    let obs = g
        .get(out)
        .and_then(|n| n.inputs().first().copied())
        .ok_or("empty output")?;
    let path = g
        .get(obs)
        .and_then(|n| n.target_name())
        .ok_or("output is not an observer")?;
    let m = prepared
        .get_submodule(path)
        .ok()
        .and_then(|m| m.downcast_ref::<ObserverModule>())
        .ok_or("the output is not observed")?;
    let q = m.calculate_qparams().map_err(|e| e.to_string())?;
    Ok(f64::from(q.scales.first().copied().unwrap_or(1.0)))
}

/// Runs one `e2e_fx_ptq` case.
pub fn fx_ptq(case: &Case) -> Result<Verdict, String> {
    if case.str("model")? != "SmallCNNFunctional" {
        return Err(format!("{UNSUPPORTED}model {}", case.str("model")?));
    }
    let backend = default_qconfig_backend(case)?;
    super::select_engine(case)?;
    let c = case.i64("channels")? as usize;
    let classes = case.i64("classes")? as usize;
    let mut model = SmallCnnFunctional::new(c, classes).map_err(|e| e.to_string())?;
    load_state_dict(&mut model, case)?;
    model.eval();

    let mut check = Checker::new();
    let x = float(&case.input("x")?)?;
    let float_y = out_values(model.forward(x.clone()).map_err(|e| e.to_string())?)?;
    let want_float: Vec<f32> = case
        .expected("float_y")?
        .to_f32()?
        .iter()
        .copied()
        .collect();
    check.floats_rel("float_y", &float_y, &want_float);

    let mapping = get_default_qconfig_mapping(backend);
    let mut prepared =
        prepare_fx(model, &mapping, std::slice::from_ref(&x)).map_err(|e| e.to_string())?;
    for batch in case.input_list("calibration")? {
        prepared
            .forward(float(&batch)?)
            .map_err(|e| e.to_string())?;
    }
    let quantum = output_scale(&prepared)?;
    let mut converted = convert_fx(prepared).map_err(|e| e.to_string())?;

    let want_graph = case
        .expected
        .get("graph")
        .and_then(|v| v.as_str())
        .ok_or("missing expected graph")?;
    let ours = node_sequence(&converted.graph().to_string());
    let theirs = node_sequence(want_graph);
    if ours != theirs {
        check.fail(format!(
            "graph: node sequence differs\nours:    {ours:?}\nPyTorch: {theirs:?}"
        ));
    }
    let y = out_values(converted.forward(x).map_err(|e| e.to_string())?)?;
    let want_y: Vec<f32> = case.expected("y")?.to_f32()?.iter().copied().collect();
    check.floats("y", &y, &want_y, quantum * (1.0 + 1e-6));
    Ok(check.finish())
}
