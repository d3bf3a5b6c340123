//! Fused float modules run their children in order and refuse wrong types; quantized fused
//! modules equal the operator with the ReLU fused.

use ndarray::{ArrayD, IxDyn};
use nn::{BatchNorm2d, Conv2d, Linear, Module, ReLU, Tensor, Value};
use nn_intrinsic::{quantized as nniq, BNReLU2d, ConvBnReLU2d, ConvReLU2d, LinearReLU};
use nn_quantized::functional::{self as F, ConvOptions};
use qtensor::{quantize_per_tensor, set_engine, Engine, QDType};

fn wave(shape: &[usize], k: f32) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|i| (i as f32 * k).sin()).collect()).unwrap()
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_float().unwrap().to_vec()
}

#[test]
fn fused_float_modules_compose_their_children() {
    let conv = Conv2d::new(2, 3, 3).unwrap();
    let (w, b) = (conv.weight.clone(), conv.bias.clone());
    let mut fused = ConvReLU2d::new(conv, ReLU::new());
    let x = Tensor::new(wave(&[1, 2, 5, 5], 0.3));
    let mut reference = Conv2d::from_parts(w, b, nn::functional::ConvOptions::new(2)).unwrap();
    let want = reference
        .forward(Value::Float(x.clone()))
        .unwrap()
        .as_float()
        .unwrap()
        .relu();
    let got = fused.forward(Value::Float(x)).unwrap();
    assert_eq!(floats(&got), want.to_vec());
    assert_eq!(fused.children().len(), 2);
    assert!(fused
        .repr()
        .starts_with("ConvReLU2d(\n  (0): Conv2d(2, 3, kernel_size=(3, 3)"));

    let mut cbr = ConvBnReLU2d::new(
        Conv2d::new(2, 3, 1).unwrap(),
        BatchNorm2d::new(3),
        ReLU::new(),
    );
    cbr.eval();
    let x = Tensor::new(wave(&[1, 2, 2, 2], 0.5));
    let y = cbr.forward(Value::Float(x)).unwrap();
    assert!(floats(&y).iter().all(|&v| v >= 0.0));
    let mut bnr = BNReLU2d::new(BatchNorm2d::new(2), ReLU::new());
    bnr.eval();
    let y = bnr
        .forward(Value::Float(Tensor::new(wave(&[1, 2, 2, 2], 0.7))))
        .unwrap();
    let want: Vec<f32> = wave(&[1, 2, 2, 2], 0.7)
        .iter()
        .map(|&v| (v / (1.0f32 + 1e-5).sqrt()).max(0.0))
        .collect();
    for (g, w) in floats(&y).iter().zip(&want) {
        assert!((g - w).abs() < 1e-6);
    }
}

#[test]
fn wrong_types_are_refused_and_handed_back() {
    let mods: Vec<Box<dyn Module>> = vec![Box::new(Linear::new(2, 2, true)), Box::new(ReLU::new())];
    let (err, back) = match ConvReLU2d::from_modules(mods) {
        Err(e) => e,
        Ok(_) => panic!("a Linear is not a Conv2d"),
    };
    assert_eq!(back.len(), 2);
    assert!(err.to_string().contains("Conv2d, ReLU"), "{err}");
    let ok: Vec<Box<dyn Module>> = vec![Box::new(Linear::new(2, 2, true)), Box::new(ReLU::new())];
    assert!(LinearReLU::from_modules(ok).is_ok());
}

#[test]
fn quantized_fused_modules_apply_relu_in_the_kernel() {
    set_engine(Engine::Qnnpack).unwrap();
    let w = quantize_per_tensor(wave(&[4, 2, 3, 3], 0.9).view(), 0.01, 0, QDType::QInt8).unwrap();
    let x =
        quantize_per_tensor(wave(&[1, 2, 6, 6], 0.2).view(), 0.02, 128, QDType::QUInt8).unwrap();
    let opts = ConvOptions::new(2);
    let core = nn_quantized::ConvCore::new(&w, None, opts.clone(), 0.01, 120).unwrap();
    let mut m = nniq::ConvReLU2d::new(core);
    let y = m.forward(Value::Quant(x.clone())).unwrap();
    let packed = F::conv_prepack(&w, None, &opts).unwrap();
    let want = F::conv(&x, &packed, 0.01, 120, true).unwrap();
    assert_eq!(y.as_quant().unwrap().int_repr(), want.int_repr());
    assert!(m
        .repr()
        .starts_with("QuantizedConvReLU2d(2, 4, kernel_size=(3, 3)"));
    assert!(m
        .forward(Value::Float(Tensor::new(wave(&[1, 2, 6, 6], 0.2))))
        .is_err());
}
