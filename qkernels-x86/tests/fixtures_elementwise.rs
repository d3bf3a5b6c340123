//! Runs every case of `conformance/fixtures/ops_fbgemm.json` whose `op` is
//! implemented by this part of the crate and compares with PyTorch 2.11.
//!
//! Integer outputs must be equal, or off by one quantum on at most 1% of the
//! elements (FORMAT.md); output scale / zero point must match where the
//! fixture gives them.

use qkernels_x86::activation;
use qkernels_x86::elementwise::{self, BatchNorm2d, CatInput};
use qkernels_x86::nchw::Nchw;
use qkernels_x86::pool::{self, AvgPool2d, MaxPool2d, UpsampleSize};
use qkernels_x86::quant::{Affine, QView};
use serde_json::Value;

const MY_OPS: &[&str] = &[
    "add",
    "add_relu",
    "mul",
    "add_scalar",
    "mul_scalar",
    "cat",
    "relu",
    "relu6",
    "hardswish",
    "sigmoid",
    "tanh",
    "leaky_relu",
    "elu",
    "batch_norm2d",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "upsample",
];

struct QT {
    shape: Vec<usize>,
    data: Vec<u8>,
    q: Affine,
}

fn qtensor(v: &Value) -> QT {
    assert_eq!(
        v["dtype"], "quint8",
        "only quint8 fixtures are expected here"
    );
    assert_eq!(v["qscheme"], "per_tensor_affine");
    QT {
        shape: usizes(&v["shape"]),
        data: v["int_repr"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| u8::try_from(x.as_i64().unwrap()).unwrap())
            .collect(),
        q: Affine::new(
            v["scale"].as_f64().unwrap(),
            v["zero_point"].as_i64().unwrap() as i32,
        ),
    }
}

fn floats(v: &Value) -> Vec<f32> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn pair(v: &Value) -> [usize; 2] {
    let u = usizes(v);
    match u.as_slice() {
        [a] => [*a, *a],
        [a, b] => [*a, *b],
        _ => panic!("expected 1 or 2 ints, got {v}"),
    }
}

fn out_q(p: &Value) -> Affine {
    Affine::new(
        p["out_scale"].as_f64().unwrap(),
        p["out_zero_point"].as_i64().unwrap() as i32,
    )
}

fn view(t: &QT) -> QView<'_, u8> {
    QView::new(&t.data, t.q)
}

fn nchw(t: &QT) -> Nchw {
    Nchw::from_slice(&t.shape).unwrap()
}

/// Runs one case; returns (shape, data, output qparams).
fn run(op: &str, p: &Value, inputs: &Value) -> (Vec<usize>, Vec<u8>, Affine) {
    let x = || qtensor(&inputs["x"]);
    let (a, b) = (|| qtensor(&inputs["a"]), || qtensor(&inputs["b"]));
    match op {
        "add" | "add_relu" | "mul" => {
            let (a, b) = (a(), b());
            let oq = out_q(p);
            let f = match op {
                "add" => elementwise::add::<u8>,
                "add_relu" => elementwise::add_relu::<u8>,
                _ => elementwise::mul::<u8>,
            };
            (a.shape.clone(), f(view(&a), view(&b), oq).unwrap(), oq)
        }
        "add_scalar" | "mul_scalar" => {
            let a = a();
            let c = p["scalar"].as_f64().unwrap();
            let r = if op == "add_scalar" {
                elementwise::add_scalar(view(&a), c)
            } else {
                elementwise::mul_scalar(view(&a), c)
            }
            .unwrap();
            (a.shape.clone(), r.data, r.q)
        }
        "cat" => {
            let (a, b) = (a(), b());
            let oq = out_q(p);
            let ins = [
                CatInput {
                    data: &a.data,
                    shape: &a.shape,
                    q: a.q,
                },
                CatInput {
                    data: &b.data,
                    shape: &b.shape,
                    q: b.q,
                },
            ];
            let r = elementwise::cat(&ins, p["dim"].as_u64().unwrap() as usize, oq).unwrap();
            (r.shape, r.data, oq)
        }
        "relu" | "relu6" => {
            let x = x();
            let f = if op == "relu" {
                activation::relu::<u8>
            } else {
                activation::relu6::<u8>
            };
            (x.shape.clone(), f(view(&x)).unwrap(), x.q)
        }
        "hardswish" | "sigmoid" => {
            let x = x();
            let oq = out_q(p);
            let f = if op == "hardswish" {
                activation::hardswish::<u8>
            } else {
                activation::sigmoid::<u8>
            };
            (x.shape.clone(), f(view(&x), oq).unwrap(), oq)
        }
        "tanh" => {
            let x = x();
            let r = activation::tanh(view(&x)).unwrap();
            (x.shape.clone(), r.data, r.q)
        }
        "leaky_relu" => {
            let x = x();
            let oq = out_q(p);
            let slope = p["negative_slope"].as_f64().unwrap();
            (
                x.shape.clone(),
                activation::leaky_relu(view(&x), slope, oq).unwrap(),
                oq,
            )
        }
        "elu" => {
            let x = x();
            let oq = out_q(p);
            let alpha = p["alpha"].as_f64().unwrap();
            (
                x.shape.clone(),
                activation::elu(view(&x), alpha, oq).unwrap(),
                oq,
            )
        }
        "batch_norm2d" => {
            let x = x();
            let oq = out_q(p);
            let (w, bias) = (floats(&inputs["weight"]), floats(&inputs["bias"]));
            let (mean, var) = (
                floats(&inputs["running_mean"]),
                floats(&inputs["running_var"]),
            );
            let bn = BatchNorm2d {
                weight: &w,
                bias: &bias,
                running_mean: &mean,
                running_var: &var,
                eps: p["eps"].as_f64().unwrap(),
            };
            let y = elementwise::batch_norm2d(view(&x), nchw(&x), &bn, oq).unwrap();
            (x.shape.clone(), y, oq)
        }
        "max_pool2d" => {
            let x = x();
            let mut mp = MaxPool2d::new(pair(&p["kernel_size"]));
            if let Some(s) = p
                .get("stride")
                .filter(|s| !s.as_array().is_some_and(|a| a.is_empty()))
            {
                mp.stride = pair(s);
            }
            if let Some(pd) = p.get("padding") {
                mp.padding = pair(pd);
            }
            let (s, y) = pool::max_pool2d(view(&x), nchw(&x), &mp).unwrap();
            (s.dims().to_vec(), y, x.q)
        }
        "avg_pool2d" => {
            let x = x();
            let mut ap = AvgPool2d::new(pair(&p["kernel_size"]));
            if let Some(s) = p
                .get("stride")
                .filter(|s| !s.as_array().is_some_and(|a| a.is_empty()))
            {
                ap.stride = pair(s);
            }
            if let Some(pd) = p.get("padding") {
                ap.padding = pair(pd);
            }
            let (s, y) = pool::avg_pool2d(view(&x), nchw(&x), &ap).unwrap();
            (s.dims().to_vec(), y, x.q)
        }
        "adaptive_avg_pool2d" => {
            let x = x();
            let (s, y) =
                pool::adaptive_avg_pool2d(view(&x), nchw(&x), pair(&p["output_size"])).unwrap();
            (s.dims().to_vec(), y, x.q)
        }
        "upsample" => {
            let x = x();
            assert_eq!(p["mode"], "nearest");
            let f = p["scale_factor"].as_f64().unwrap();
            let size = UpsampleSize::ScaleFactor { h: f, w: f };
            let (s, y) = pool::upsample_nearest2d(view(&x), nchw(&x), size).unwrap();
            (s.dims().to_vec(), y, x.q)
        }
        _ => unreachable!("{op}"),
    }
}

#[test]
fn fbgemm_op_fixtures_match_pytorch() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../conformance/fixtures/ops_fbgemm.json"
    );
    let text = std::fs::read_to_string(path).expect("fixture file");
    let doc: Value = serde_json::from_str(&text).unwrap();
    let (mut passed, mut failed, mut seen_ops) = (0, Vec::new(), Vec::new());
    for case in doc["cases"].as_array().unwrap() {
        assert_eq!(case["kind"], "op");
        let p = &case["params"];
        let op = p["op"].as_str().unwrap();
        if !MY_OPS.contains(&op) {
            continue;
        }
        seen_ops.push(op.to_string());
        assert_eq!(p["engine"], "fbgemm");
        let name = case["name"].as_str().unwrap();
        let want = qtensor(&case["expected"]["y"]);
        let (shape, got, q) = run(op, p, &case["inputs"]);
        let mut problems = Vec::new();
        if shape != want.shape {
            problems.push(format!("shape {shape:?} != {:?}", want.shape));
        }
        if q.zero_point != want.q.zero_point
            || ((q.scale - want.q.scale) / want.q.scale).abs() > 1e-6
        {
            problems.push(format!("qparams {q:?} != {:?}", want.q));
        }
        let (mut off_by_one, mut worst) = (0usize, 0i32);
        if got.len() == want.data.len() {
            for (g, w) in got.iter().zip(&want.data) {
                let d = (i32::from(*g) - i32::from(*w)).abs();
                worst = worst.max(d);
                off_by_one += usize::from(d == 1);
            }
        } else {
            problems.push(format!("{} values != {}", got.len(), want.data.len()));
        }
        if worst > 1 || off_by_one * 100 > want.data.len() {
            problems.push(format!(
                "worst error {worst}, {off_by_one} of {} off by one",
                want.data.len()
            ));
        }
        println!(
            "{name}: {} (worst {worst}, {off_by_one}/{} off by one)",
            if problems.is_empty() { "pass" } else { "FAIL" },
            want.data.len()
        );
        if problems.is_empty() {
            passed += 1;
        } else {
            failed.push(format!("{name}: {}", problems.join("; ")));
        }
    }
    for op in MY_OPS {
        assert!(
            seen_ops.iter().any(|s| s == op),
            "fixture file has no case for {op}"
        );
    }
    println!("{passed} passed, {} failed", failed.len());
    assert!(failed.is_empty(), "failing cases:\n{}", failed.join("\n"));
}
