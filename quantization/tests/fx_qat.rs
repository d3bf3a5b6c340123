//! Graph-mode quantization-aware training: `prepare_qat_fx` swaps in the QAT modules and
//! differentiable fake quants, the graph module trains with `nn`'s optimizer, and
//! `convert_fx` turns it into an int8 model that computes what the fake-quantized one did.

use nn::functional as F;
use nn::optim::{Optimizer, Sgd, SgdConfig};
use nn::prelude::*;
use nn::{BatchNorm2d, Conv2d, ConvConfig, Forward, Linear, ReLU};
use quantization::fx::{
    convert_fx, get_default_qat_qconfig_mapping, prepare_qat_fx, FxError, GraphModule, OpCode,
};
use quantization::qat::{disable_observer, freeze_bn_stats, FakeQuantizeModule};
use quantization::Backend;

#[derive(Module)]
struct Net {
    conv: Child,
    bn: Child,
    relu: Child,
    fc1: Child,
    relu1: Child,
    fc2: Child,
}

impl Forward for Net {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let y = self.relu.forward(self.bn.forward(self.conv.forward(x)?)?)?;
        let y = F::adaptive_avg_pool2d(&y.into_float("Net")?, [2, 2])?;
        let y = F::flatten(&y, 1, -1)?;
        let y = self.relu1.forward(self.fc1.forward(Value::Float(y))?)?;
        self.fc2.forward(y)
    }
}

fn net() -> Net {
    nn::manual_seed(7);
    Net {
        conv: Child::new(Conv2d::from_config(ConvConfig::new(3, 4, &[3, 3]).padding(1)).unwrap()),
        bn: Child::new(BatchNorm2d::new(4)),
        relu: Child::new(ReLU::new()),
        fc1: Child::new(Linear::new(16, 8, true)),
        relu1: Child::new(ReLU::new()),
        fc2: Child::new(Linear::new(8, 3, true)),
    }
}

fn run(m: &mut GraphModule, x: &Tensor) -> Tensor {
    m.forward(Value::Float(x.clone()))
        .unwrap()
        .into_float("test")
        .unwrap()
}

/// The scale of the fake quant whose output the graph returns.
fn output_scale(m: &GraphModule) -> f32 {
    let g = m.graph();
    let out = g.nodes().find(|n| n.op == OpCode::Output).unwrap();
    let last = g.get(out.inputs()[0]).unwrap();
    let fq = m
        .get_submodule(last.target_name().unwrap())
        .unwrap()
        .downcast_ref::<FakeQuantizeModule>()
        .expect("the output is fake-quantized");
    fq.calculate_qparams().unwrap().scales[0]
}

#[test]
fn prepare_qat_fx_trains_and_converts_to_int8() {
    qtensor::set_engine(qtensor::Engine::Fbgemm).unwrap();
    let mapping = get_default_qat_qconfig_mapping(Backend::Fbgemm);
    let x = Tensor::randn(&[8, 3, 6, 6]);
    let target = Tensor::randn(&[8, 3]);
    let mut m = net();
    m.train(true);
    let mut gm = prepare_qat_fx(m, &mapping, &[Value::Float(x.clone())]).unwrap();

    // Fused in training form and swapped for the QAT modules; fake quants, no observers.
    assert!(gm
        .get_submodule("conv")
        .unwrap()
        .is::<nn_intrinsic::qat::ConvBnReLU2d>());
    assert!(gm
        .get_submodule("fc1")
        .unwrap()
        .is::<nn_intrinsic::qat::LinearReLU>());
    assert!(gm.get_submodule("fc2").unwrap().is::<nn_qat::Linear>());
    let fqs = gm
        .named_modules()
        .into_iter()
        .filter(|(_, m)| m.is::<FakeQuantizeModule>())
        .count();
    // Input, conv output, fc1 output, fc2 output, and the three weight fake quants.
    assert_eq!(fqs, 7, "{}", gm.graph());
    assert!(!gm
        .named_modules()
        .into_iter()
        .any(|(_, m)| m.is::<quantization::eager::ObserverModule>()));

    // A few SGD steps: the loss goes down and the weights move.
    let w0 = gm.get_submodule("fc2").unwrap().parameters()[0].to_vec();
    let mut opt = Sgd::new(gm.parameters(), SgdConfig::new(0.05)).unwrap();
    let mut losses = Vec::new();
    for _ in 0..8 {
        opt.zero_grad();
        let y = run(&mut gm, &x);
        let loss = F::mse_loss(&y, &target, F::Reduction::Mean).unwrap();
        losses.push(loss.to_vec()[0]);
        loss.backward().unwrap();
        opt.step().unwrap();
    }
    assert!(
        losses.last().unwrap() < &losses[0],
        "loss did not decrease: {losses:?}"
    );
    let w1 = gm.get_submodule("fc2").unwrap().parameters()[0].to_vec();
    assert!(w0.iter().zip(&w1).any(|(a, b)| a != b), "weights unchanged");
    for p in gm.parameters() {
        assert!(p.to_vec().iter().all(|v| v.is_finite()));
    }

    // The fake-quantized model, frozen, in eval mode: what int8 should compute.
    disable_observer(&mut gm);
    freeze_bn_stats(&mut gm);
    gm.eval();
    let want = run(&mut gm, &x).to_vec();
    let scale = output_scale(&gm);
    assert!(scale > 0.0);

    let mut q = convert_fx(gm).unwrap();
    assert_eq!(
        q.get_submodule("conv").unwrap().type_name(),
        "QuantizedConvReLU2d"
    );
    assert!(!q
        .named_modules()
        .into_iter()
        .any(|(_, m)| m.is::<FakeQuantizeModule>()));
    let got = run(&mut q, &x).to_vec();
    assert_eq!(got.len(), want.len());
    let worst = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst <= 3.0 * scale + 1e-6,
        "int8 output differs from the fake-quantized one by {worst} (scale {scale})"
    );
}

#[test]
fn prepare_qat_fx_rejects_an_eval_mode_model() {
    let mapping = get_default_qat_qconfig_mapping(Backend::Fbgemm);
    let mut m = net();
    m.eval();
    let x = Value::Float(Tensor::randn(&[2, 3, 6, 6]));
    let r = prepare_qat_fx(m, &mapping, &[x]).unwrap_err();
    assert!(matches!(r.error, FxError::State(_)), "{:?}", r.error);
    let back = r.into_model();
    assert!(!back.is_training());
    assert!(back.conv.module().is::<Conv2d>());
    assert!(back.bn.module().is::<BatchNorm2d>());
}
