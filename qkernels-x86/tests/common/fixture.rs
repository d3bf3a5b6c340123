//! Reading the conformance fixtures (format in conformance/FORMAT.md).

use qkernels_x86::{QParams, WeightQuant};
use serde_json::Value;
use std::path::PathBuf;

/// Loads `conformance/fixtures/<name>` from the workspace root.
pub fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../conformance/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

pub fn shape(t: &Value) -> Vec<usize> {
    t["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

pub fn ints(t: &Value, key: &str) -> Vec<i64> {
    t[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

pub fn floats(t: &Value) -> Vec<f32> {
    t["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

pub fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

/// Values of a quint8 tensor.
pub fn u8s(t: &Value) -> Vec<u8> {
    ints(t, "int_repr").into_iter().map(|v| v as u8).collect()
}

/// Values of a qint8 tensor.
pub fn i8s(t: &Value) -> Vec<i8> {
    ints(t, "int_repr").into_iter().map(|v| v as i8).collect()
}

/// Per-tensor parameters of a quantized tensor.
pub fn qparams(t: &Value) -> QParams {
    assert_eq!(t["qscheme"], "per_tensor_affine");
    QParams::new(
        t["scale"].as_f64().unwrap(),
        t["zero_point"].as_i64().unwrap() as i32,
    )
}

/// Weight quantization (per tensor, or per channel along axis 0).
pub fn weight_quant(t: &Value) -> WeightQuant {
    match t["qscheme"].as_str().unwrap() {
        "per_tensor_affine" => {
            let q = qparams(t);
            WeightQuant::PerTensor {
                scale: q.scale,
                zero_point: q.zero_point,
            }
        }
        "per_channel_affine" => {
            assert_eq!(
                t["axis"].as_i64(),
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
                zero_points: ints(t, "zero_points")
                    .into_iter()
                    .map(|v| v as i32)
                    .collect(),
            }
        }
        other => panic!("unknown qscheme {other}"),
    }
}

/// Integer comparison with the fixtures' tolerance: equal, or off by one on at
/// most 1% of the elements. Returns (off-by-one count, worst difference).
pub fn compare_ints(got: &[u8], want: &[u8]) -> (usize, i32) {
    assert_eq!(got.len(), want.len(), "output length");
    let mut off = 0;
    let mut worst = 0;
    for (&g, &w) in got.iter().zip(want) {
        let d = (g as i32 - w as i32).abs();
        worst = worst.max(d);
        if d == 1 {
            off += 1;
        }
    }
    (off, worst)
}

/// Whether an integer comparison passes the tolerance.
pub fn ints_pass(off: usize, worst: i32, len: usize) -> bool {
    worst <= 1 && (off as f64) <= 0.01 * len as f64
}
