//! PyTorch 2.11 fbgemm fixtures (conformance/fixtures/ops_fbgemm.json) for
//! linear, linear_relu, linear_dynamic and the convolutions, on every ISA.

mod common;

use common::fixture::*;
use common::isas;
use qkernels_x86::*;
use serde_json::Value;

const OPS: [&str; 8] = [
    "linear",
    "linear_relu",
    "linear_dynamic",
    "conv1d",
    "conv2d",
    "conv2d_relu",
    "conv3d",
    "conv_transpose2d",
];

fn bias(inputs: &Value) -> Option<Vec<f32>> {
    inputs.get("b").filter(|b| !b.is_null()).map(floats)
}

fn out_qparams(p: &Value) -> QParams {
    QParams::new(
        p["out_scale"].as_f64().unwrap(),
        p["out_zero_point"].as_i64().unwrap() as i32,
    )
}

/// Runs one case on `isa`; returns a failure message or a pass summary.
fn run_case(case: &Value, isa: Isa) -> std::result::Result<String, String> {
    let p = &case["params"];
    let op = p["op"].as_str().unwrap();
    let inputs = &case["inputs"];
    let want = &case["expected"]["y"];
    match op {
        "linear" | "linear_relu" => {
            let x = &inputs["x"];
            let w = &inputs["w"];
            let (xs, ws) = (shape(x), shape(w));
            let (m, k, n) = (xs[0], xs[1], ws[0]);
            let pw =
                PackedWeight::pack(&i8s(w), n, k, weight_quant(w)).map_err(|e| e.to_string())?;
            let xm = QuantizedMatrix {
                data: &u8s(x),
                rows: m,
                cols: k,
                qparams: qparams(x),
            };
            let act = if op == "linear_relu" {
                Activation::Relu
            } else {
                Activation::Identity
            };
            let b = bias(inputs);
            let got = quantized_linear_with_isa(isa, xm, &pw, b.as_deref(), out_qparams(p), act)
                .map_err(|e| e.to_string())?;
            check_ints(&got, &u8s(want))
        }
        "linear_dynamic" => {
            let x = &inputs["x"];
            let w = &inputs["w"];
            let (xs, ws) = (shape(x), shape(w));
            let (m, k, n) = (xs[0], xs[1], ws[0]);
            let pw =
                PackedWeight::pack(&i8s(w), n, k, weight_quant(w)).map_err(|e| e.to_string())?;
            let opts = DynamicOptions {
                reduce_range: p["reduce_range"].as_bool().unwrap(),
                relu: false,
            };
            let b = bias(inputs);
            let got = dynamic_linear_with_isa(isa, &floats(x), m, &pw, b.as_deref(), opts)
                .map_err(|e| e.to_string())?;
            let want = floats(want);
            let lo = want.iter().cloned().fold(f32::INFINITY, f32::min);
            let hi = want.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let range = (hi - lo).max(f32::MIN_POSITIVE);
            let worst = got
                .iter()
                .zip(&want)
                .map(|(g, w)| (g - w).abs())
                .fold(0.0f32, f32::max);
            if worst / range <= 1e-4 {
                Ok(format!("worst {:.2e} of range", worst / range))
            } else {
                Err(format!(
                    "worst {:.3e} relative to range {range}",
                    worst / range
                ))
            }
        }
        other => run_conv_case(other, p, inputs, want, isa),
    }
}

fn check_ints(got: &[u8], want: &[u8]) -> std::result::Result<String, String> {
    let (off, worst) = compare_ints(got, want);
    if ints_pass(off, worst, want.len()) {
        Ok(format!("{off}/{} off by one", want.len()))
    } else {
        Err(format!(
            "worst diff {worst}, {off}/{} off by one",
            want.len()
        ))
    }
}

fn run_conv_case(
    op: &str,
    p: &Value,
    inputs: &Value,
    want: &Value,
    isa: Isa,
) -> std::result::Result<String, String> {
    let transposed = match op {
        "conv1d" | "conv2d" | "conv2d_relu" | "conv3d" => false,
        "conv_transpose2d" => true,
        other => return Err(format!("unknown op {other}")),
    };
    let x = &inputs["x"];
    let w = &inputs["w"];
    let params = ConvParams {
        stride: usizes(&p["stride"]),
        padding: usizes(&p["padding"]),
        dilation: usizes(&p["dilation"]),
        groups: p["groups"].as_u64().unwrap() as usize,
        transposed,
        output_padding: p.get("output_padding").map(usizes).unwrap_or_default(),
    };
    let pw = PackedConvWeight::pack(&i8s(w), &shape(w), weight_quant(w), params)
        .map_err(|e| e.to_string())?;
    let xs = shape(x);
    let xv = QuantizedTensorView {
        data: &u8s(x),
        shape: &xs,
        qparams: qparams(x),
    };
    let act = if op.ends_with("_relu") {
        Activation::Relu
    } else {
        Activation::Identity
    };
    let b = bias(inputs);
    let got = quantized_conv_with_isa(isa, xv, &pw, b.as_deref(), out_qparams(p), act)
        .map_err(|e| e.to_string())?;
    if got.shape != shape(want) {
        return Err(format!("shape {:?} != {:?}", got.shape, shape(want)));
    }
    check_ints(&got.data, &u8s(want))
}

#[test]
fn fbgemm_fixtures_match_on_every_isa() {
    let fixtures = load("ops_fbgemm.json");
    let mut failures = Vec::new();
    let mut ran = 0;
    for case in fixtures["cases"].as_array().unwrap() {
        let Some(op) = case["params"]["op"].as_str() else {
            continue;
        };
        if !OPS.contains(&op) {
            continue;
        }
        for isa in isas() {
            ran += 1;
            let name = case["name"].as_str().unwrap();
            match run_case(case, isa) {
                Ok(msg) => eprintln!("pass {name} [{isa}]: {msg}"),
                Err(msg) => failures.push(format!("FAIL {name} [{isa}]: {msg}")),
            }
        }
    }
    assert!(ran > 0, "no fixture case ran");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
