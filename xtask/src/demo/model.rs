//! The demo's CNN: written once with stubs and a functional add, so every workflow (float,
//! dynamic, eager static, FX, QAT) runs the same forward code.

use nn::prelude::*;
use nn::{
    BatchNorm2d, Conv2d, ConvConfig, DeQuantStub, Flatten, Linear, MaxPool2d, QuantStub, ReLU,
};

/// Two conv-bn-relu blocks, a max pool, and a two-layer classifier, between the stubs that mark
/// where quantization starts and ends.
#[derive(Module)]
pub struct DigitsCnn {
    quant: Child,
    conv1: Child,
    bn1: Child,
    relu1: Child,
    conv2: Child,
    bn2: Child,
    relu2: Child,
    pool: Child,
    flatten: Child,
    fc1: Child,
    relu3: Child,
    fc2: Child,
    dequant: Child,
}

/// The groups that fuse into conv-bn-relu and linear-relu.
pub const FUSE_GROUPS: &[&[&str]] = &[
    &["conv1", "bn1", "relu1"],
    &["conv2", "bn2", "relu2"],
    &["fc1", "relu3"],
];

impl DigitsCnn {
    /// A freshly initialised model.
    pub fn new() -> nn::Result<DigitsCnn> {
        let conv = |i, o| Conv2d::from_config(ConvConfig::new(i, o, &[3, 3]).padding(1));
        Ok(DigitsCnn {
            quant: Child::new(QuantStub::new()),
            conv1: Child::new(conv(1, 16)?),
            bn1: Child::new(BatchNorm2d::new(16)),
            relu1: Child::new(ReLU::new()),
            conv2: Child::new(conv(16, 32)?),
            bn2: Child::new(BatchNorm2d::new(32)),
            relu2: Child::new(ReLU::new()),
            pool: Child::new(MaxPool2d::new(2)?),
            flatten: Child::new(Flatten::new()),
            fc1: Child::new(Linear::new(32 * 4 * 4, 64, true)),
            relu3: Child::new(ReLU::new()),
            fc2: Child::new(Linear::new(64, 10, true)),
            dequant: Child::new(DeQuantStub::new()),
        })
    }

    /// A model with the weights of `state` (a trained model's `state_dict`), in eval mode.
    pub fn with_state(state: &nn::StateDict) -> nn::Result<DigitsCnn> {
        let mut m = DigitsCnn::new()?;
        m.load_state_dict(state, true)?;
        m.eval();
        Ok(m)
    }
}

impl nn::Forward for DigitsCnn {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let x = self.quant.forward(x)?;
        let x = self
            .relu1
            .forward(self.bn1.forward(self.conv1.forward(x)?)?)?;
        let x = self
            .relu2
            .forward(self.bn2.forward(self.conv2.forward(x)?)?)?;
        let x = self.flatten.forward(self.pool.forward(x)?)?;
        let x = self.relu3.forward(self.fc1.forward(x)?)?;
        let x = self.fc2.forward(x)?;
        self.dequant.forward(x)
    }
}
