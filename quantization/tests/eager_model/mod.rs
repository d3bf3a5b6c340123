//! A user's own model for the eager-mode tests: FORMAT.md's SmallCNN shape, written with
//! `#[derive(Module)]`, with non-trivial batch-norm statistics.
#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};
use nn::prelude::*;
use nn::{
    AdaptiveAvgPool2d, BatchNorm2d, Conv2d, ConvConfig, DeQuantStub, FloatFunctional, Linear,
    MaxPool2d, QuantStub, ReLU,
};

/// Deterministic test data.
pub fn wave(shape: &[usize], k: f32) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(
        IxDyn(shape),
        (0..n)
            .map(|i| (i as f32 * k).sin() * 1.7 + ((i * 7) % 11) as f32 * 0.05)
            .collect(),
    )
    .unwrap()
}

/// A float input tensor.
pub fn input(shape: &[usize], k: f32) -> Value {
    Value::Float(Tensor::new(wave(shape, k)))
}

#[derive(Module)]
pub struct Net {
    pub quant: Child,
    pub conv1: Child,
    pub bn1: Child,
    pub relu1: Child,
    pub conv2: Child,
    pub bn2: Child,
    pub skip: Child,
    pub relu2: Child,
    pub pool: Child,
    pub gap: Child,
    pub fc1: Child,
    pub relu3: Child,
    pub fc2: Child,
    pub dequant: Child,
}

fn bn(c: usize, k: f32) -> BatchNorm2d {
    let b = BatchNorm2d::new(c);
    let v = |off: f32, amp: f32| wave(&[c], k).mapv(|x| off + amp * x);
    b.weight.as_ref().unwrap().set_data(v(1.0, 0.2)).unwrap();
    b.bias.as_ref().unwrap().set_data(v(0.0, 0.1)).unwrap();
    b.running_mean
        .as_ref()
        .unwrap()
        .set_data(v(0.0, 0.3))
        .unwrap();
    b.running_var
        .as_ref()
        .unwrap()
        .set_data(v(1.0, 0.4).mapv(f32::abs))
        .unwrap();
    b
}

fn conv(i: usize, o: usize, k: f32) -> Conv2d {
    let c = Conv2d::from_config(ConvConfig::new(i, o, &[3, 3]).padding(1)).unwrap();
    c.weight
        .set_data(wave(&[o, i, 3, 3], k).mapv(|x| x * 0.3))
        .unwrap();
    c.bias
        .as_ref()
        .unwrap()
        .set_data(wave(&[o], k * 2.0).mapv(|x| x * 0.1))
        .unwrap();
    c
}

fn linear(i: usize, o: usize, k: f32) -> Linear {
    let l = Linear::new(i, o, true);
    l.weight
        .set_data(wave(&[o, i], k).mapv(|x| x * 0.4))
        .unwrap();
    l.bias
        .as_ref()
        .unwrap()
        .set_data(wave(&[o], k).mapv(|x| x * 0.05))
        .unwrap();
    l
}

impl Net {
    pub fn new(c: usize, classes: usize) -> Net {
        Net {
            quant: Child::new(QuantStub::new()),
            conv1: Child::new(conv(3, c, 0.37)),
            bn1: Child::new(bn(c, 0.9)),
            relu1: Child::new(ReLU::new()),
            conv2: Child::new(conv(c, c, 0.53)),
            bn2: Child::new(bn(c, 1.3)),
            skip: Child::new(FloatFunctional::new()),
            relu2: Child::new(ReLU::new()),
            pool: Child::new(MaxPool2d::new(2).unwrap()),
            gap: Child::new(AdaptiveAvgPool2d::new([1, 1]).unwrap()),
            fc1: Child::new(linear(c, 16, 0.71)),
            relu3: Child::new(ReLU::new()),
            fc2: Child::new(linear(16, classes, 0.29)),
            dequant: Child::new(DeQuantStub::new()),
        }
    }

    /// The fusion groups of the conformance case.
    pub const GROUPS: [&'static [&'static str]; 3] = [
        &["conv1", "bn1", "relu1"],
        &["conv2", "bn2"],
        &["fc1", "relu3"],
    ];
}

impl nn::Forward for Net {
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

/// The values of a float output.
pub fn floats(v: &Value) -> Vec<f32> {
    v.as_float().expect("a float output").to_vec()
}

/// Type names at every path.
pub fn types(m: &dyn Module) -> Vec<(String, String)> {
    m.named_modules()
        .into_iter()
        .map(|(p, m)| (p, m.type_name().to_string()))
        .collect()
}
