//! A small converted model written by hand for the model-level save / load tests: quantized
//! layers of several kinds, a residual `QFunctional`, and a float head after the dequantize.
#![allow(dead_code)]

use nn::prelude::*;
use nn::{Forward, Identity};
use nn_quantized::functional::ConvOptions;
use nn_quantized::modules as nnq;
use nn_quantized::state::{quantized_state_dict, QuantizedStateDict};
use qtensor::QDType;

use crate::state_common::{bits, Lcg};

/// How a model differs from the reference architecture.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Variant {
    /// The reference.
    Same,
    /// `act` is a LeakyReLU instead of a Hardswish (same keys, other module type).
    OtherActivation,
    /// `bn` is an Identity (its keys are unexpected in a file of the reference).
    NoBatchNorm,
    /// `fc` is a float Linear (float32 keys where the file has qint8 ones).
    FloatFc,
}

#[derive(Module)]
pub struct Net {
    pub quant: Child,
    pub conv: Child,
    pub bn: Child,
    pub act: Child,
    pub skip: Child,
    pub fc: Child,
    pub dequant: Child,
    pub head: Child,
}

impl Forward for Net {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let x = self.quant.forward(x)?;
        let y = self.act.forward(self.bn.forward(self.conv.forward(x)?)?)?;
        let y = self.skip.add(y.clone(), y)?;
        let y = self.fc.forward(y.flatten(1)?)?;
        let y = self.dequant.forward(y)?;
        self.head.forward(y)
    }
}

/// Input shape of [`net`].
pub const INPUT: [usize; 4] = [2, 3, 5, 5];

/// A model with `c` channels, values drawn from `seed`.
pub fn net(c: usize, seed: u64, variant: Variant) -> Net {
    let mut g = Lcg(seed);
    let mut o = ConvOptions::new(2);
    o.padding = vec![1, 1];
    let cw = g.weight(&[c, 3, 3, 3], true);
    let cb = g.vec(c, -0.5, 0.5);
    let (s, z) = g.out();
    let conv = nnq::Conv2d::new(&cw, Some(&cb), o, s, z).unwrap();
    let stats = nnq::BatchNormStats {
        weight: g.vec(c, 0.5, 1.5),
        bias: g.vec(c, -0.5, 0.5),
        running_mean: g.vec(c, -0.5, 0.5),
        running_var: g.vec(c, 0.5, 2.0),
        eps: 1e-5,
    };
    let (s, z) = g.out();
    let bn: Child = match variant {
        Variant::NoBatchNorm => Child::new(Identity::new()),
        _ => Child::new(nnq::BatchNorm2d::new(stats, s, z).unwrap()),
    };
    let (s, z) = g.out();
    let act: Child = match variant {
        Variant::OtherActivation => Child::new(nnq::LeakyReLU::new(s, z, 0.1).unwrap()),
        _ => Child::new(nnq::Hardswish::new(s, z).unwrap()),
    };
    let (ss, sz) = g.out();
    let features = c * 25;
    let fw = g.weight(&[4, features], true);
    let fb = g.vec(4, -0.5, 0.5);
    let (s, z) = g.out();
    let fc: Child = match variant {
        Variant::FloatFc => Child::new(nn::Linear::new(features, 4, true)),
        _ => Child::new(nnq::Linear::new(&fw, Some(&fb), s, z).unwrap()),
    };
    let head = nn::Linear::new(4, 3, true);
    head.weight.set_data(g.array(&[3, 4], 1.0)).unwrap();
    let (qs, qz) = (f64::from(g.range(0.02, 0.05)), 100 + g.below(50) as i64);
    Net {
        quant: Child::new(nnq::Quantize::new(qs, qz, QDType::QUInt8).unwrap()),
        conv: Child::new(conv),
        bn,
        act,
        skip: Child::new(nnq::QFunctional::new(ss, sz).unwrap()),
        fc,
        dequant: Child::new(nnq::DeQuantize::new()),
        head: Child::new(head),
    }
}

/// The model's output bits on a fixed input (`None` if it cannot run, e.g. a float `fc`).
pub fn outputs(m: &mut Net) -> Option<Vec<i64>> {
    let x = Lcg(99).array(&INPUT, 2.0);
    m.forward(Value::Float(Tensor::new(x)))
        .ok()
        .map(|y| bits(&y))
}

/// What must not change when a load fails: the whole state and the outputs.
pub fn snapshot(m: &mut Net) -> (QuantizedStateDict, Option<Vec<i64>>) {
    (quantized_state_dict(&*m).unwrap(), outputs(m))
}
