//! prepare_qat / training / convert_qat on small models: the swaps, gradients through every
//! fake quant, frozen batch norms, the converted model against the fake-quantized one, and
//! errors that leave the model as it was.

mod common;

use common::Lcg;
use nn::prelude::*;
use nn::{BatchNorm2d, Conv2d, ConvConfig, DeQuantStub, Flatten, Linear, QuantStub, ReLU};
use quantization::eager::{fuse_modules_qat, EagerError, QConfigMapping};
use quantization::qat::{
    convert_mapping, convert_qat, disable_observer, freeze_bn_stats, prepare_qat, quantize_qat,
    FakeQuantizeModule, QatMapping, QatPrepared,
};
use quantization::{get_default_qat_qconfig, qconfig, Backend};

#[derive(Module)]
struct Net {
    quant: Child,
    conv: Child,
    bn: Child,
    relu: Child,
    flat: Child,
    fc: Child,
    dequant: Child,
}

impl nn::Forward for Net {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let x = self.quant.forward(x)?;
        let x = self.relu.forward(self.bn.forward(self.conv.forward(x)?)?)?;
        let x = self.fc.forward(self.flat.forward(x)?)?;
        self.dequant.forward(x)
    }
}

fn net() -> Net {
    nn::manual_seed(3);
    Net {
        quant: Child::new(QuantStub::new()),
        conv: Child::new(Conv2d::from_config(ConvConfig::new(2, 4, &[3, 3]).padding(1)).unwrap()),
        bn: Child::new(BatchNorm2d::new(4)),
        relu: Child::new(ReLU::new()),
        flat: Child::new(Flatten::new()),
        fc: Child::new(Linear::new(4 * 5 * 5, 3, true)),
        dequant: Child::new(DeQuantStub::new()),
    }
}

fn input(seed: u64, n: usize) -> Tensor {
    Tensor::new(Lcg(seed).tensor(&[n, 2, 5, 5], 1.0, 0.2))
}

fn run(m: &mut Net, x: &Tensor) -> Tensor {
    m.forward(Value::Float(x.clone()))
        .unwrap()
        .into_float("t")
        .unwrap()
}

fn spec() -> QConfigMapping {
    QConfigMapping::global(get_default_qat_qconfig(Backend::Fbgemm))
}

fn prepared() -> Net {
    qtensor::set_engine(qtensor::Engine::Fbgemm).unwrap();
    let mut m = net();
    fuse_modules_qat(&mut m, &[&["conv", "bn", "relu"]]).unwrap();
    prepare_qat(
        &mut m,
        &spec(),
        &QatMapping::default_qat(),
        &convert_mapping(),
    )
    .unwrap();
    m
}

fn sgd_step(m: &Net, lr: f32) {
    for p in m.parameters() {
        if let Some(g) = p.grad() {
            p.update_data(|d| d.zip_mut_with(&g, |w, g| *w -= lr * g));
        }
    }
    m.zero_grad();
}

#[test]
fn prepare_qat_swaps_and_attaches_differentiable_fake_quants() {
    qtensor::set_engine(qtensor::Engine::Fbgemm).unwrap();
    let mut m = net();
    fuse_modules_qat(&mut m, &[&["conv", "bn", "relu"]]).unwrap();
    let before = m.named_parameters();
    prepare_qat(
        &mut m,
        &spec(),
        &QatMapping::default_qat(),
        &convert_mapping(),
    )
    .unwrap();
    let conv = m.conv.module().downcast_ref::<QatPrepared>().unwrap();
    assert!(conv.inner().is::<nn_intrinsic::qat::ConvBnReLU2d>());
    assert!(m
        .fc
        .module()
        .downcast_ref::<QatPrepared>()
        .unwrap()
        .inner()
        .is::<nn_qat::Linear>());
    assert!(m.quant.module().is::<QatPrepared>());
    let dequant = m.dequant.module().downcast_ref::<QatPrepared>().unwrap();
    assert!(
        dequant.activation_post_process().is_none(),
        "DeQuantStub is not observed"
    );
    let names: Vec<String> = m.named_modules().into_iter().map(|(n, _)| n).collect();
    for want in [
        "quant.activation_post_process",
        "conv.bn",
        "conv.weight_fake_quant",
        "conv.activation_post_process",
        "fc.weight_fake_quant",
        "fc.activation_post_process",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    // The float parameters are the QAT model's (shared, same names as PyTorch's).
    let after = m.named_parameters();
    let find = |v: &[(String, Tensor)], k: &str| v.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert!(find(&before, "conv.0.weight").same(&find(&after, "conv.weight")));
    assert!(find(&before, "fc.weight").same(&find(&after, "fc.weight")));
    assert!(find(&before, "conv.1.weight").same(&find(&after, "conv.bn.weight")));

    // Every parameter gets a gradient through the fake quants (the activation ones included).
    let x = input(1, 4);
    run(&mut m, &x).sum().backward().unwrap();
    for (name, p) in m.named_parameters() {
        let g = p.grad().unwrap_or_else(|| panic!("no gradient for {name}"));
        assert!(g.iter().any(|&v| v != 0.0), "zero gradient for {name}");
    }
    let fq = m
        .get_submodule("fc.activation_post_process")
        .unwrap()
        .downcast_ref::<FakeQuantizeModule>()
        .unwrap();
    assert!(fq.fake_quantizer().unwrap().observer().max_val()[0] > 0.0);
}

#[test]
fn frozen_batch_norms_stay_frozen_through_train() {
    let mut m = prepared();
    assert_eq!(freeze_bn_stats(&mut m), 1);
    m.train(true);
    assert!(m.is_training());
    assert!(!m.get_submodule("conv.bn").unwrap().is_training());
    let rv = |m: &Net| {
        m.named_buffers()
            .into_iter()
            .find(|(n, _)| n == "conv.bn.running_var")
            .unwrap()
            .1
            .as_float()
            .unwrap()
            .to_vec()
    };
    let before = rv(&m);
    run(&mut m, &input(2, 3));
    assert_eq!(rv(&m), before);
    assert_eq!(quantization::qat::update_bn_stats(&mut m), 1);
    run(&mut m, &input(2, 3));
    assert_ne!(rv(&m), before);
    assert_eq!(
        disable_observer(&mut m),
        5,
        "quant, conv weight + output, fc weight + output"
    );
}

/// After training, the int8 model computes what the fake-quantized model computes, up to a
/// few output quanta (rounding of the folded weights and of intermediate requantizations).
#[test]
fn converted_model_matches_the_fake_quantized_one() {
    let mut m = prepared();
    for step in 0..6 {
        let x = input(10 + step, 8);
        run(&mut m, &x).powi_sum().backward().unwrap();
        sgd_step(&m, 0.01);
    }
    disable_observer(&mut m);
    freeze_bn_stats(&mut m);
    m.eval();
    let x = input(99, 6);
    let y_fq = nn::no_grad(|| run(&mut m, &x));
    let report = convert_qat(&mut m, &convert_mapping()).unwrap();
    assert_eq!(m.conv.type_name(), "QuantizedConvReLU2d");
    assert_eq!(m.fc.type_name(), "QuantizedLinear");
    assert_eq!(m.quant.type_name(), "Quantize");
    assert_eq!(report.swapped.len(), 4, "{:?}", report.swapped);
    let y_q = run(&mut m, &x);
    let range = y_fq.to_vec().iter().fold(0.0f32, |a, v| a.max(v.abs()));
    let worst = y_q
        .to_vec()
        .iter()
        .zip(y_fq.to_vec())
        .fold(0.0f32, |a, (p, q)| a.max((p - q).abs()));
    assert!(worst <= 0.05 * range, "worst {worst} of range {range}");
}

trait PowiSum {
    fn powi_sum(&self) -> Tensor;
}

impl PowiSum for Tensor {
    fn powi_sum(&self) -> Tensor {
        self.mul(self).unwrap().sum()
    }
}

#[test]
fn errors_leave_the_model_as_it_was() {
    qtensor::set_engine(qtensor::Engine::Fbgemm).unwrap();
    let mut m = net();
    m.eval();
    let err = prepare_qat(
        &mut m,
        &spec(),
        &QatMapping::default_qat(),
        &convert_mapping(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("training mode"), "{err}");
    assert!(m.fc.module().is::<Linear>());

    let mut m = prepared();
    let err = prepare_qat(
        &mut m,
        &spec(),
        &QatMapping::default_qat(),
        &convert_mapping(),
    )
    .unwrap_err();
    assert!(matches!(err, EagerError::AlreadyPrepared { .. }), "{err}");

    // A weight fake quant replaced by something convert cannot read the parameters from.
    m.replace_submodule("fc.weight_fake_quant", Box::new(nn::Identity::new()))
        .unwrap();
    let err = convert_qat(&mut m, &convert_mapping()).unwrap_err();
    assert!(
        err.to_string().contains("weight_fake_quant is a Identity"),
        "{err}"
    );
    assert!(m.conv.module().is::<QatPrepared>() && m.quant.module().is::<QatPrepared>());
    assert!(m
        .get_submodule("conv.activation_post_process")
        .unwrap()
        .is::<FakeQuantizeModule>());
    let x = input(3, 2);
    run(&mut m, &x).sum().backward().unwrap();
    assert!(
        m.named_parameters()[0].1.grad().is_some(),
        "still trainable"
    );
}

#[test]
fn quantize_qat_trains_and_converts_in_one_call() {
    qtensor::set_engine(qtensor::Engine::Fbgemm).unwrap();
    let mut m = net();
    let report = quantize_qat(
        &mut m,
        |m| {
            for step in 0..3 {
                let y = m
                    .forward(Value::Float(input(20 + step, 4)))?
                    .into_float("y")?;
                y.mul(&y)?.sum().backward()?;
                sgd_step(m, 0.01);
            }
            Ok(())
        },
        &spec(),
    )
    .unwrap();
    assert_eq!(m.fc.type_name(), "QuantizedLinear");
    assert_eq!(m.conv.type_name(), "QuantizedConv2d");
    assert!(report.swapped.iter().any(|(p, _, _)| p == "conv"));
    let y = run(&mut m, &input(5, 2));
    assert_eq!(y.shape(), [2, 3]);
}

#[test]
fn embeddings_need_float_qparams_and_convert_to_8bit_rows() {
    qtensor::set_engine(qtensor::Engine::Fbgemm).unwrap();
    let mut emb = nn::Sequential::new().with(nn::Embedding::new(10, 4, None).unwrap());
    let wrong = QConfigMapping::global(get_default_qat_qconfig(Backend::Fbgemm));
    let mapping = QatMapping::default_qat().with_embeddings();
    let err = prepare_qat(&mut emb, &wrong, &mapping, &convert_mapping()).unwrap_err();
    assert!(
        err.to_string().contains("per_channel_affine_float_qparams"),
        "{err}"
    );
    assert!(emb.get(0).unwrap().module().is::<nn::Embedding>());

    let right = QConfigMapping::global(qconfig::default_embedding_qat_qconfig());
    prepare_qat(&mut emb, &right, &mapping, &convert_mapping()).unwrap();
    let idx = Tensor::from_vec(&[2, 3], vec![0.0, 1.0, 2.0, 9.0, 9.0, 3.0]).unwrap();
    let y = emb
        .forward(Value::Float(idx.clone()))
        .unwrap()
        .into_float("y")
        .unwrap();
    y.sum().backward().unwrap();
    convert_qat(&mut emb, &convert_mapping()).unwrap();
    assert_eq!(emb.get(0).unwrap().type_name(), "QuantizedEmbedding");
    let yq = emb.forward(Value::Float(idx)).unwrap();
    let yq = match yq {
        Value::Float(t) => t.to_vec(),
        Value::Quant(q) => q.dequantize().iter().copied().collect(),
        Value::Tuple(_) => panic!("a tensor"),
    };
    let worst = yq
        .iter()
        .zip(y.to_vec())
        .fold(0.0f32, |a, (p, q)| a.max((p - q).abs()));
    assert!(worst < 0.05, "8-bit rows: {worst}");
}

/// A qconfig of learnable fake quants: after `enable_param_learning` their scales are
/// parameters of the model that the loss reaches, and convert uses the learned values.
#[test]
fn learnable_fake_quants_train_their_scales() {
    use quantization::fake_quantize::defaults;
    use quantization::qat::enable_param_learning;
    use quantization::{FakeQuantizeSpec, QConfig, QConfigEntry};
    qtensor::set_engine(qtensor::Engine::Fbgemm).unwrap();
    let learnable = |spec: FakeQuantizeSpec| {
        QConfigEntry::FakeQuantize(FakeQuantizeSpec::Learnable {
            observer: spec.observer().clone(),
            scale: 0.1,
            zero_point: 0.0,
            channel_len: None,
            use_grad_scaling: true,
        })
    };
    let q = QConfig {
        activation: learnable(defaults::default_fake_quant()),
        weight: learnable(defaults::default_weight_fake_quant()),
    };
    let mut m = net();
    fuse_modules_qat(&mut m, &[&["conv", "bn", "relu"]]).unwrap();
    prepare_qat(
        &mut m,
        &QConfigMapping::global(q),
        &QatMapping::default_qat(),
        &convert_mapping(),
    )
    .unwrap();
    run(&mut m, &input(30, 4)); // static estimate: observers set the parameters
    assert_eq!(enable_param_learning(&mut m), 5);
    let scale = |m: &Net, path: &str| {
        m.named_parameters()
            .into_iter()
            .find(|(n, _)| n == path)
            .unwrap_or_else(|| panic!("no parameter {path}"))
            .1
    };
    let s = scale(&m, "fc.weight_fake_quant.scale");
    let before = s.to_vec()[0];
    run(&mut m, &input(31, 4)).powi_sum().backward().unwrap();
    assert!(s.grad().unwrap()[0] != 0.0);
    assert!(scale(&m, "conv.activation_post_process.scale")
        .grad()
        .is_some());
    sgd_step(&m, 0.01);
    assert_ne!(s.to_vec()[0], before);
    let learned = s.to_vec()[0];
    m.eval();
    convert_qat(&mut m, &convert_mapping()).unwrap();
    let fc =
        m.fc.module()
            .downcast_ref::<nn_quantized::Linear>()
            .unwrap();
    assert_eq!(fc.weight().q_scale().unwrap(), f64::from(learned));
}
