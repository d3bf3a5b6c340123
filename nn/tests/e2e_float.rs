//! The float models of the end-to-end fixtures (`conformance/FORMAT.md`, "Models"), loaded from
//! the fixtures' state dicts, reproduce PyTorch's `float_y` within 1e-5 of its largest magnitude.

use ndarray::{ArrayD, IxDyn};
use nn::functional as F;
use nn::prelude::*;
use nn::{
    AdaptiveAvgPool2d, BatchNorm2d, Conv2d, ConvConfig, DeQuantStub, FloatFunctional, Forward,
    Linear, MaxPool2d, QuantStub, ReLU, StateDict, StateTensor,
};
use serde_json::Value as Json;

fn fixtures() -> Json {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../conformance/fixtures/e2e.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture file")).expect("valid JSON")
}

fn shape(t: &Json) -> Vec<usize> {
    t["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect()
}

fn f32_tensor(t: &Json) -> ArrayD<f32> {
    let data: Vec<f32> = t["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape(t)), data).unwrap()
}

fn state_dict(j: &Json) -> StateDict {
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

/// `SmallCNN(c, classes)` in eager mode.
#[derive(Module)]
struct SmallCnn {
    quant: Child,
    conv1: Child,
    bn1: Child,
    relu1: Child,
    conv2: Child,
    bn2: Child,
    skip: Child,
    relu2: Child,
    pool: Child,
    gap: Child,
    fc1: Child,
    relu3: Child,
    fc2: Child,
    dequant: Child,
}

impl SmallCnn {
    fn new(c: usize, classes: usize) -> SmallCnn {
        let conv =
            |i| Child::new(Conv2d::from_config(ConvConfig::new(i, c, &[3, 3]).padding(1)).unwrap());
        SmallCnn {
            quant: Child::new(QuantStub::new()),
            conv1: conv(3),
            bn1: Child::new(BatchNorm2d::new(c)),
            relu1: Child::new(ReLU::new()),
            conv2: conv(c),
            bn2: Child::new(BatchNorm2d::new(c)),
            skip: Child::new(FloatFunctional::new()),
            relu2: Child::new(ReLU::new()),
            pool: Child::new(MaxPool2d::new(2).unwrap()),
            gap: Child::new(AdaptiveAvgPool2d::new([1, 1]).unwrap()),
            fc1: Child::new(Linear::new(c, 16, true)),
            relu3: Child::new(ReLU::new()),
            fc2: Child::new(Linear::new(16, classes, true)),
            dequant: Child::new(DeQuantStub::new()),
        }
    }
}

impl Forward for SmallCnn {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let x = self.quant.forward(x)?;
        let y = self
            .relu1
            .forward(self.bn1.forward(self.conv1.forward(x)?)?)?;
        let z = self.bn2.forward(self.conv2.forward(y.clone())?)?;
        let x = self.relu2.forward(self.skip.add(y, z)?)?;
        let x = self.gap.forward(self.pool.forward(x)?)?;
        let x = x.flatten(1)?;
        let x = self.relu3.forward(self.fc1.forward(x)?)?;
        let x = self.fc2.forward(x)?;
        self.dequant.forward(x)
    }
}

/// `SmallCNNFunctional`: the same network with functional relu / add / pools.
#[derive(Module)]
struct SmallCnnFunctional {
    conv1: Child,
    bn1: Child,
    conv2: Child,
    bn2: Child,
    fc1: Child,
    fc2: Child,
}

impl Forward for SmallCnnFunctional {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let name = "SmallCNNFunctional";
        let y = self
            .bn1
            .forward(self.conv1.forward(x)?)?
            .into_float(name)?
            .relu();
        let z = self
            .bn2
            .forward(self.conv2.forward(Value::Float(y.clone()))?)?
            .into_float(name)?;
        let x = y.add(&z)?.relu();
        let x = F::adaptive_avg_pool2d(&F::max_pool2d(&x, &F::Pool2dOptions::new(2))?, [1, 1])?;
        let x = F::flatten(&x, 1, -1)?;
        let x = self.fc1.forward(Value::Float(x))?.into_float(name)?.relu();
        self.fc2.forward(Value::Float(x))
    }
}

fn small_cnn_functional(c: usize, classes: usize) -> SmallCnnFunctional {
    let conv =
        |i| Child::new(Conv2d::from_config(ConvConfig::new(i, c, &[3, 3]).padding(1)).unwrap());
    SmallCnnFunctional {
        conv1: conv(3),
        bn1: Child::new(BatchNorm2d::new(c)),
        conv2: conv(c),
        bn2: Child::new(BatchNorm2d::new(c)),
        fc1: Child::new(Linear::new(c, 16, true)),
        fc2: Child::new(Linear::new(16, classes, true)),
    }
}

fn check_case(case: &Json, model: &mut dyn Module) {
    let name = case["name"].as_str().unwrap();
    let sd = state_dict(&case["inputs"]["state_dict"]);
    model
        .load_state_dict(&sd, true)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    model.eval();
    let x = Tensor::new(f32_tensor(&case["inputs"]["x"]));
    let y = nn::no_grad(|| model.forward(Value::Float(x)))
        .unwrap()
        .into_float(name)
        .unwrap();
    let expected = f32_tensor(&case["expected"]["float_y"]);
    assert_eq!(y.shape(), expected.shape(), "{name}");
    let scale = expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = y
        .to_vec()
        .iter()
        .zip(expected.iter())
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    assert!(
        worst <= 1e-5 * scale,
        "{name}: worst error {worst} vs max magnitude {scale}"
    );
}

#[test]
fn fixture_models_reproduce_pytorch_float_outputs() {
    let fx = fixtures();
    let mut seen = 0;
    for case in fx["cases"].as_array().unwrap() {
        let p = &case["params"];
        let mut model: Box<dyn Module> = match p["model"].as_str().unwrap() {
            "SmallCNN" => Box::new(SmallCnn::new(
                p["channels"].as_u64().unwrap() as usize,
                p["classes"].as_u64().unwrap() as usize,
            )),
            "SmallCNNFunctional" => Box::new(small_cnn_functional(
                p["channels"].as_u64().unwrap() as usize,
                p["classes"].as_u64().unwrap() as usize,
            )),
            "MLP" => {
                let s: Vec<usize> = p["sizes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as usize)
                    .collect();
                Box::new(
                    Sequential::new()
                        .with(Linear::new(s[0], s[1], true))
                        .with(ReLU::new())
                        .with(Linear::new(s[1], s[2], true)),
                )
            }
            other => panic!("unknown model {other}"),
        };
        check_case(case, model.as_mut());
        seen += 1;
    }
    assert!(seen >= 3, "expected the e2e fixture cases, found {seen}");
}

#[test]
fn small_cnn_prints_and_names_like_pytorch() {
    let m = SmallCnn::new(8, 10);
    let keys = m.state_dict().keys().join(",");
    assert!(keys.starts_with("conv1.weight,conv1.bias,bn1.weight,bn1.bias,bn1.running_mean,bn1.running_var,bn1.num_batches_tracked,conv2.weight"), "{keys}");
    let text = m.to_string();
    assert!(text.starts_with("SmallCnn(\n  (quant): QuantStub()\n  (conv1): Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n  (bn1): BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)\n  (relu1): ReLU()"), "{text}");
    assert!(text.contains("(pool): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n  (gap): AdaptiveAvgPool2d(output_size=1)\n  (fc1): Linear(in_features=8, out_features=16, bias=True)"), "{text}");
}
