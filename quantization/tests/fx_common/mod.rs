//! Shared pieces of the graph-mode tests: the fixture models written as ordinary eager
//! models, and the fixture loader.

#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};
use nn::functional as F;
use nn::prelude::*;
use nn::{BatchNorm2d, Conv2d, ConvConfig, Forward, Linear, StateDict, StateTensor};
use serde_json::Value as Json;

/// `SmallCNNFunctional` (conformance/FORMAT.md, "Models"): functional relu, add and pools.
#[derive(Module)]
pub struct SmallCnnFunctional {
    pub conv1: Child,
    pub bn1: Child,
    pub conv2: Child,
    pub bn2: Child,
    pub fc1: Child,
    pub fc2: Child,
}

impl Forward for SmallCnnFunctional {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let name = "SmallCNNFunctional";
        let y = F::relu(&self.bn1.forward(self.conv1.forward(x)?)?.into_float(name)?);
        let z = self
            .bn2
            .forward(self.conv2.forward(Value::Float(y.clone()))?)?
            .into_float(name)?;
        let x = F::relu(&y.add(&z)?);
        let x = F::adaptive_avg_pool2d(&F::max_pool2d(&x, &F::Pool2dOptions::new(2))?, [1, 1])?;
        let x = F::flatten(&x, 1, -1)?;
        let x = F::relu(&self.fc1.forward(Value::Float(x))?.into_float(name)?);
        self.fc2.forward(Value::Float(x))
    }
}

pub fn conv(i: usize, o: usize) -> Child {
    Child::new(Conv2d::from_config(ConvConfig::new(i, o, &[3, 3]).padding(1)).unwrap())
}

pub fn small_cnn_functional(c: usize, classes: usize) -> SmallCnnFunctional {
    SmallCnnFunctional {
        conv1: conv(3, c),
        bn1: Child::new(BatchNorm2d::new(c)),
        conv2: conv(c, c),
        bn2: Child::new(BatchNorm2d::new(c)),
        fc1: Child::new(Linear::new(c, 16, true)),
        fc2: Child::new(Linear::new(16, classes, true)),
    }
}

pub fn fixtures() -> Json {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../conformance/fixtures/e2e.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture file")).expect("JSON")
}

pub fn shape(t: &Json) -> Vec<usize> {
    t["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

pub fn f32_tensor(t: &Json) -> ArrayD<f32> {
    let data: Vec<f32> = t["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape(t)), data).unwrap()
}

pub fn state_dict(j: &Json) -> StateDict {
    let mut sd = StateDict::new();
    for (k, t) in j.as_object().unwrap() {
        let v = match t["dtype"].as_str().unwrap() {
            "f32" => StateTensor::F32(f32_tensor(t)),
            "i64" => StateTensor::I64(
                ArrayD::from_shape_vec(
                    IxDyn(&shape(t)),
                    t["data"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_i64().unwrap())
                        .collect(),
                )
                .unwrap(),
            ),
            other => panic!("unexpected dtype {other}"),
        };
        sd.insert(k.clone(), v);
    }
    sd
}

/// The fixture cases of `kind`.
pub fn cases(kind: &str) -> Vec<Json> {
    fixtures()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] == kind)
        .cloned()
        .collect()
}

/// The fixture's model with its state dict loaded, in eval mode.
pub fn fixture_model(case: &Json) -> SmallCnnFunctional {
    let p = &case["params"];
    let mut m = small_cnn_functional(
        p["channels"].as_u64().unwrap() as usize,
        p["classes"].as_u64().unwrap() as usize,
    );
    m.load_state_dict(&state_dict(&case["inputs"]["state_dict"]), true)
        .unwrap();
    m.eval();
    m
}

/// Largest absolute difference.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
}
