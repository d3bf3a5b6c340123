//! Every `op` case of `conformance/fixtures/ops_qnnpack.json` (PyTorch 2.11, engine qnnpack)
//! against these kernels, on every path this CPU can run. Tolerances are the fixture format's:
//! integers equal or off by one on at most 1% of the elements, dynamic linear within 1e-4 of
//! the output's range.

use std::path::PathBuf;

use qkernels_arm::{
    BatchNorm, ConvParams, ConvWeights, Kernels, LinearWeights, OutputSpec, Path, Pool2d, QBuf,
    QView, U8Quant, WeightQuant,
};
use serde_json::Value;

fn fixture() -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../conformance/fixtures/ops_qnnpack.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("uint") as usize)
        .collect()
}

fn shape(t: &Value) -> Vec<usize> {
    usizes(&t["shape"])
}

fn f32s(t: &Value) -> Vec<f32> {
    t["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

fn ints(t: &Value) -> Vec<i64> {
    t["int_repr"]
        .as_array()
        .expect("int_repr")
        .iter()
        .map(|x| x.as_i64().expect("int"))
        .collect()
}

fn quant(t: &Value) -> U8Quant {
    U8Quant::new(
        t["scale"].as_f64().unwrap(),
        t["zero_point"].as_i64().unwrap() as u8,
    )
    .unwrap()
}

fn u8s(t: &Value) -> Vec<u8> {
    assert_eq!(t["dtype"], "quint8");
    ints(t).into_iter().map(|v| v as u8).collect()
}

fn weight_quant(t: &Value) -> WeightQuant {
    match t["qscheme"].as_str().unwrap() {
        "per_tensor_affine" => WeightQuant::PerTensor {
            scale: t["scale"].as_f64().unwrap(),
            zero_point: t["zero_point"].as_i64().unwrap() as i8,
        },
        _ => {
            assert_eq!(
                t["axis"].as_u64(),
                Some(0),
                "per-channel weights along axis 0"
            );
            WeightQuant::PerChannel {
                scales: t["scales"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect(),
                zero_points: t["zero_points"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap() as i8)
                    .collect(),
            }
        }
    }
}

fn out_quant(p: &Value) -> U8Quant {
    U8Quant::new(
        p["out_scale"].as_f64().unwrap(),
        p["out_zero_point"].as_i64().unwrap() as u8,
    )
    .unwrap()
}

/// Owned input tensor, borrowed as a view.
struct Input {
    data: Vec<u8>,
    shape: Vec<usize>,
    quant: U8Quant,
}

impl Input {
    fn new(t: &Value) -> Input {
        Input {
            data: u8s(t),
            shape: shape(t),
            quant: quant(t),
        }
    }

    fn view(&self) -> QView<'_> {
        QView::new(&self.data, &self.shape, self.quant)
    }
}

/// Compares an integer result with the expected tensor; `Err` describes the failure.
fn check_q(got: &QBuf, expected: &Value) -> Result<String, String> {
    if got.shape != shape(expected) {
        return Err(format!(
            "shape {:?}, expected {:?}",
            got.shape,
            shape(expected)
        ));
    }
    let eq = quant(expected);
    if got.quant.zero_point != eq.zero_point
        || ((got.quant.scale - eq.scale) / eq.scale).abs() > 1e-6
    {
        return Err(format!("qparams {:?}, expected {eq:?}", got.quant));
    }
    let want = ints(expected);
    let (mut off1, mut worst) = (0usize, 0i64);
    for (&g, &w) in got.data.iter().zip(&want) {
        let d = (i64::from(g) - w).abs();
        worst = worst.max(d);
        off1 += usize::from(d == 1);
    }
    if worst > 1 || off1 * 100 > want.len() {
        return Err(format!(
            "worst error {worst}, {off1} of {} off by one",
            want.len()
        ));
    }
    Ok(format!("{off1} of {} off by one", want.len()))
}

fn conv_params(p: &Value, transposed: bool) -> ConvParams {
    let (s, pad, d) = (
        usizes(&p["stride"]),
        usizes(&p["padding"]),
        usizes(&p["dilation"]),
    );
    let groups = p["groups"].as_u64().unwrap() as usize;
    if transposed {
        let op = p.get("output_padding").map_or(vec![0; s.len()], usizes);
        ConvParams::transposed(&s, &pad, &op, &d, groups)
    } else {
        ConvParams::new(&s, &pad, &d, groups)
    }
}

fn run_case(k: Kernels, case: &Value) -> Result<String, String> {
    let p = &case["params"];
    let inputs = &case["inputs"];
    let y = &case["expected"]["y"];
    let op = p["op"].as_str().unwrap();
    let e = |e: qkernels_arm::KernelError| e.to_string();
    let got = match op {
        "linear" | "linear_relu" => {
            let (w, x) = (&inputs["w"], Input::new(&inputs["x"]));
            let ws = shape(w);
            let wv: Vec<i8> = ints(w).into_iter().map(|v| v as i8).collect();
            let wq = weight_quant(w);
            let bias = f32s(&inputs["b"]);
            let lw = LinearWeights {
                weight: &wv,
                out_features: ws[0],
                in_features: ws[1],
                quant: &wq,
                bias: Some(&bias),
            };
            let packed = k.pack_linear(&lw).map_err(e)?;
            let out = OutputSpec {
                quant: out_quant(p),
                relu: op == "linear_relu",
            };
            k.linear(&packed, &x.view(), out).map_err(e)?
        }
        "linear_dynamic" => {
            let w = &inputs["w"];
            let ws = shape(w);
            let wv: Vec<i8> = ints(w).into_iter().map(|v| v as i8).collect();
            let wq = weight_quant(w);
            let bias = f32s(&inputs["b"]);
            let lw = LinearWeights {
                weight: &wv,
                out_features: ws[0],
                in_features: ws[1],
                quant: &wq,
                bias: Some(&bias),
            };
            let packed = k.pack_linear(&lw).map_err(e)?;
            let x = &inputs["x"];
            let (out, out_shape) = k
                .linear_dynamic(&packed, &f32s(x), &shape(x), false)
                .map_err(e)?;
            let want = f32s(y);
            if out_shape != shape(y) {
                return Err(format!("shape {out_shape:?}"));
            }
            let range = want.iter().cloned().fold(f32::NEG_INFINITY, f32::max)
                - want.iter().cloned().fold(f32::INFINITY, f32::min);
            let worst = out
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            return if worst <= 1e-4 * range.max(f32::MIN_POSITIVE) {
                Ok(format!("worst {worst:e} of range {range}"))
            } else {
                Err(format!("worst {worst:e} of range {range}"))
            };
        }
        "conv1d" | "conv2d" | "conv2d_relu" | "conv3d" | "conv_transpose2d" => {
            let (w, x) = (&inputs["w"], Input::new(&inputs["x"]));
            let ws = shape(w);
            let wv: Vec<i8> = ints(w).into_iter().map(|v| v as i8).collect();
            let wq = weight_quant(w);
            let bias = f32s(&inputs["b"]);
            let cw = ConvWeights {
                weight: &wv,
                shape: &ws,
                quant: &wq,
                bias: Some(&bias),
            };
            let packed = k
                .pack_conv(&cw, &conv_params(p, op == "conv_transpose2d"))
                .map_err(e)?;
            let out = OutputSpec {
                quant: out_quant(p),
                relu: op == "conv2d_relu",
            };
            k.conv(&packed, &x.view(), out).map_err(e)?
        }
        "add" | "add_relu" | "mul" => {
            let (a, b) = (Input::new(&inputs["a"]), Input::new(&inputs["b"]));
            match op {
                "mul" => k.mul(&a.view(), &b.view(), out_quant(p), false),
                _ => k.add(&a.view(), &b.view(), out_quant(p), op == "add_relu"),
            }
            .map_err(e)?
        }
        "add_scalar" | "mul_scalar" => {
            let a = Input::new(&inputs["a"]);
            let c = p["scalar"].as_f64().unwrap();
            if op == "add_scalar" {
                k.add_scalar(&a.view(), c, false)
            } else {
                k.mul_scalar(&a.view(), c, false)
            }
            .map_err(e)?
        }
        "cat" => {
            let (a, b) = (Input::new(&inputs["a"]), Input::new(&inputs["b"]));
            k.cat(
                &[a.view(), b.view()],
                p["dim"].as_u64().unwrap() as usize,
                out_quant(p),
            )
            .map_err(e)?
        }
        "relu" | "relu6" | "tanh" | "hardswish" | "sigmoid" | "leaky_relu" | "elu" => {
            let x = Input::new(&inputs["x"]);
            let v = x.view();
            match op {
                "relu" => k.relu(&v),
                "relu6" => k.relu6(&v),
                "tanh" => k.tanh(&v),
                "hardswish" => k.hardswish(&v, out_quant(p)),
                "sigmoid" => k.sigmoid(&v, out_quant(p)),
                "leaky_relu" => {
                    k.leaky_relu(&v, p["negative_slope"].as_f64().unwrap(), out_quant(p))
                }
                _ => k.elu(&v, p["alpha"].as_f64().unwrap(), out_quant(p)),
            }
            .map_err(e)?
        }
        "max_pool2d" | "avg_pool2d" => {
            let x = Input::new(&inputs["x"]);
            let two = |key: &str| -> [usize; 2] { usizes(&p[key]).try_into().unwrap() };
            let pool = Pool2d::new(two("kernel_size"), two("stride"), two("padding"));
            if op == "max_pool2d" {
                k.max_pool2d(&x.view(), &pool)
            } else {
                k.avg_pool2d(&x.view(), &pool)
            }
            .map_err(e)?
        }
        "adaptive_avg_pool2d" => {
            let x = Input::new(&inputs["x"]);
            k.adaptive_avg_pool2d(&x.view(), usizes(&p["output_size"]).try_into().unwrap())
                .map_err(e)?
        }
        "upsample" => {
            assert_eq!(p["mode"], "nearest");
            let x = Input::new(&inputs["x"]);
            let sf = p["scale_factor"].as_f64().unwrap();
            let size = |d: usize| (x.shape[d] as f64 * sf).floor() as usize;
            k.upsample_nearest2d(&x.view(), [size(2), size(3)], Some([sf, sf]))
                .map_err(e)?
        }
        "batch_norm2d" => {
            let x = Input::new(&inputs["x"]);
            let (w, b, m, v) = (
                f32s(&inputs["weight"]),
                f32s(&inputs["bias"]),
                f32s(&inputs["running_mean"]),
                f32s(&inputs["running_var"]),
            );
            let bn = BatchNorm {
                weight: &w,
                bias: &b,
                mean: &m,
                var: &v,
                eps: p["eps"].as_f64().unwrap(),
            };
            k.batch_norm(&x.view(), &bn, out_quant(p), false)
                .map_err(e)?
        }
        "flatten" => {
            // A shape operation, not a kernel: the values must come through unchanged.
            let x = Input::new(&inputs["x"]);
            let start = p["start_dim"].as_u64().unwrap() as usize;
            let mut s = x.shape[..start].to_vec();
            s.push(x.shape[start..].iter().product());
            QBuf {
                data: x.data.clone(),
                shape: s,
                quant: x.quant,
                layout: qkernels_arm::Layout::Nchw,
            }
        }
        other => return Err(format!("unknown op {other}")),
    };
    check_q(&got, y)
}

#[test]
fn every_qnnpack_op_case_on_every_path() {
    let fx = fixture();
    let cases = fx["cases"].as_array().expect("cases");
    assert!(!cases.is_empty());
    for path in Path::ALL {
        let Ok(k) = Kernels::new(path) else {
            println!("path {path}: skipped (not available on this CPU)");
            continue;
        };
        let mut failures = Vec::new();
        for case in cases {
            assert_eq!(case["kind"], "op");
            let name = case["name"].as_str().unwrap();
            match run_case(k, case) {
                Ok(note) => println!("[{path}] {name}: ok ({note})"),
                Err(why) => failures.push(format!("[{path}] {name}: {why}")),
            }
        }
        println!(
            "path {path}: {} passed, {} failed",
            cases.len() - failures.len(),
            failures.len()
        );
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
