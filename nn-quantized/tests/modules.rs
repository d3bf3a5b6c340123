//! Quantized modules: forward equals the operator layer, printed forms as PyTorch's, typed
//! errors when a float tensor reaches them.

use ndarray::{ArrayD, IxDyn};
use nn::{FunctionalExt, Module, NnError, Tensor, Value};
use nn_quantized::functional::{self as F, ConvOptions};
use nn_quantized::modules as nnq;
use qtensor::{quantize_per_channel, quantize_per_tensor, set_engine, Engine, QDType, QTensor};

fn wave(shape: &[usize], k: f32) -> ArrayD<f32> {
    let n: usize = shape.iter().product();
    ArrayD::from_shape_vec(
        IxDyn(shape),
        (0..n).map(|i| (i as f32 * k).sin() * 1.5).collect(),
    )
    .unwrap()
}

fn qin(shape: &[usize]) -> QTensor {
    quantize_per_tensor(wave(shape, 0.31).view(), 0.02, 100, QDType::QUInt8).unwrap()
}

fn ints(q: &QTensor) -> Vec<i64> {
    q.int_repr().to_i64().iter().copied().collect()
}

fn out(v: Value) -> QTensor {
    v.as_quant().expect("a quantized output").clone()
}

#[test]
fn conv_and_linear_modules_equal_the_operators_and_print_like_pytorch() {
    set_engine(Engine::Qnnpack).unwrap();
    let w = quantize_per_tensor(wave(&[8, 3, 3, 3], 0.7).view(), 0.01, 0, QDType::QInt8).unwrap();
    let bias = vec![0.1f32; 8];
    let mut opts = ConvOptions::new(2);
    opts.padding = vec![1, 1];
    let mut conv =
        nnq::Conv2d::new(&w, Some(&bias), opts.clone(), 0.023052804172039032, 0).unwrap();
    let x = qin(&[2, 3, 5, 5]);
    let y = out(conv.forward(Value::Quant(x.clone())).unwrap());
    let packed = F::conv_prepack(&w, Some(&bias), &opts).unwrap();
    let want = F::conv(&x, &packed, 0.023052804172039032, 0, false).unwrap();
    assert_eq!(ints(&y), ints(&want));
    assert_eq!(
        conv.repr(),
        "QuantizedConv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), scale=0.023052804172039032, \
         zero_point=0, padding=(1, 1))"
    );

    let lw = quantize_per_channel(
        wave(&[4, 6], 0.4).view(),
        &[0.01, 0.02, 0.015, 0.01],
        &[0; 4],
        0,
        QDType::QInt8,
    )
    .unwrap();
    let mut lin = nnq::Linear::new(&lw, None, 0.05, 3).unwrap();
    let lx = qin(&[3, 6]);
    let ly = out(lin.forward(Value::Quant(lx.clone())).unwrap());
    let lp = F::linear_prepack(&lw, None).unwrap();
    assert_eq!(
        ints(&ly),
        ints(&F::linear(&lx, &lp, 0.05, 3, false).unwrap())
    );
    assert_eq!(
        lin.repr(),
        "QuantizedLinear(in_features=6, out_features=4, scale=0.05, zero_point=3, \
         qscheme=torch.per_channel_affine)"
    );
}

#[test]
fn float_input_to_a_quantized_module_names_the_module_and_the_fix() {
    set_engine(Engine::Qnnpack).unwrap();
    let w = quantize_per_tensor(wave(&[4, 6], 0.4).view(), 0.01, 0, QDType::QInt8).unwrap();
    let mut lin = nnq::Linear::new(&w, None, 0.05, 3).unwrap();
    let err = lin
        .forward(Value::Float(Tensor::new(wave(&[2, 6], 0.1))))
        .unwrap_err();
    match &err {
        NnError::FloatInput { module, fix } => {
            assert_eq!(module, "QuantizedLinear");
            assert!(fix.contains("QuantStub"), "{fix}");
        }
        other => panic!("unexpected error {other:?}"),
    }
    let mut dq = nnq::DeQuantize::new();
    assert!(matches!(
        dq.forward(Value::Float(Tensor::new(wave(&[2], 0.1)))),
        Err(NnError::FloatInput { .. })
    ));
    let mut q = nnq::Quantize::new(0.1, 3, QDType::QUInt8).unwrap();
    let err = q.forward(Value::Quant(qin(&[2]))).unwrap_err();
    assert!(matches!(err, NnError::QuantizedInput { .. }), "{err:?}");
}

#[test]
fn quantize_dequantize_and_functional_modules() {
    set_engine(Engine::Qnnpack).unwrap();
    let x = wave(&[2, 5], 0.3);
    let mut q = nnq::Quantize::new(0.054247007, 62, QDType::QUInt8).unwrap();
    let qx = out(q.forward(Value::Float(Tensor::new(x.clone()))).unwrap());
    let want = quantize_per_tensor(x.view(), 0.054247007, 62, QDType::QUInt8).unwrap();
    assert_eq!(ints(&qx), ints(&want));
    assert_eq!(
        q.repr(),
        "Quantize(scale=tensor([0.0542]), zero_point=tensor([62]), dtype=torch.quint8)"
    );
    let mut dq = nnq::DeQuantize::new();
    let back = dq.forward(Value::Quant(qx.clone())).unwrap();
    assert_eq!(back.as_float().unwrap().to_array(), qx.dequantize());

    let mut f: Box<dyn Module> = Box::new(nnq::QFunctional::new(0.03, 64).unwrap());
    let a = qin(&[2, 4]);
    let b = quantize_per_tensor(wave(&[2, 4], 0.9).view(), 0.015, 130, QDType::QUInt8).unwrap();
    let sum = out(f.add(a.clone().into(), b.clone().into()).unwrap());
    assert_eq!(ints(&sum), ints(&F::add(&a, &b, 0.03, 64).unwrap()));
    let cat = out(f.cat(vec![a.clone().into(), b.clone().into()], -1).unwrap());
    assert_eq!(cat.shape(), &[2, 8]);
    assert_eq!(ints(&cat), ints(&F::cat(&[&a, &b], 1, 0.03, 64).unwrap()));
    let ms = out(f.mul_scalar(a.clone().into(), 2.0).unwrap());
    assert_eq!(ints(&ms), ints(&F::mul_scalar(&a, 2.0).unwrap()));
    assert!(f.matmul(a.clone().into(), b.into()).is_err());
    assert!(f.forward(a.into()).is_err());
    assert_eq!(
        f.repr(),
        "QFunctional(\n  scale=0.03, zero_point=64\n  (activation_post_process): Identity()\n)"
    );
}

#[test]
fn batch_norm3d_is_batch_norm2d_on_merged_depth() {
    set_engine(Engine::Qnnpack).unwrap();
    let stats = || nnq::BatchNormStats {
        weight: vec![1.2, 0.8],
        bias: vec![0.1, -0.2],
        running_mean: vec![0.05, -0.1],
        running_var: vec![0.9, 1.3],
        eps: 1e-5,
    };
    let x5 = qin(&[2, 2, 3, 2, 4]);
    let x4 = x5.reshape(&[2, 2, 6, 4]).unwrap();
    let mut bn3 = nnq::BatchNorm3d::new(stats(), 0.02, 120).unwrap();
    let mut bn2 = nnq::BatchNorm2d::new(stats(), 0.02, 120).unwrap();
    let y3 = out(bn3.forward(Value::Quant(x5)).unwrap());
    let y2 = out(bn2.forward(Value::Quant(x4)).unwrap());
    assert_eq!(y3.shape(), &[2, 2, 3, 2, 4]);
    assert_eq!(ints(&y3), ints(&y2));
    assert!(
        bn2.forward(Value::Quant(qin(&[2, 3, 2, 2]))).is_err(),
        "wrong channel count"
    );
}

#[test]
fn activations_norms_and_embeddings_run_as_modules() {
    set_engine(Engine::Qnnpack).unwrap();
    let x = qin(&[2, 4, 3]);
    let mut hs = nnq::Hardswish::new(0.02, 10).unwrap();
    let y = out(hs.forward(Value::Quant(x.clone())).unwrap());
    assert_eq!(ints(&y), ints(&F::hardswish(&x, 0.02, 10).unwrap()));
    let mut lr = nnq::LeakyReLU::new(0.02, 64, 0.1).unwrap();
    assert_eq!(lr.repr(), "QuantizedLeakyReLU(negative_slope=0.1)");
    let y = out(lr.forward(Value::Quant(x.clone())).unwrap());
    assert_eq!(ints(&y), ints(&F::leaky_relu(&x, 0.1, 0.02, 64).unwrap()));
    let mut ln = nnq::LayerNorm::new(&[3], None, None, 1e-5, 0.05, 128).unwrap();
    assert_eq!(
        ln.repr(),
        "QuantizedLayerNorm((3,), eps=1e-05, elementwise_affine=False)"
    );
    assert_eq!(
        out(ln.forward(Value::Quant(x.clone())).unwrap()).shape(),
        &[2, 4, 3]
    );
    let mut gn = nnq::GroupNorm::new(2, 4, None, None, 1e-5, 0.05, 128).unwrap();
    assert_eq!(
        out(gn.forward(Value::Quant(x)).unwrap()).shape(),
        &[2, 4, 3]
    );
    assert!(nnq::GroupNorm::new(3, 4, None, None, 1e-5, 0.05, 128).is_err());

    let w = wave(&[6, 3], 0.8);
    let q = qtensor::quantize_per_channel_float_qparams(
        w.view(),
        &[0.02; 6],
        &[100.0; 6],
        0,
        QDType::QUInt8,
    )
    .unwrap();
    let mut emb = nnq::Embedding::new(&q).unwrap();
    let idx = Tensor::new(ArrayD::from_shape_vec(IxDyn(&[2]), vec![5.0, 0.0]).unwrap());
    let y = emb.forward(Value::Float(idx)).unwrap();
    assert_eq!(y.shape(), Some(vec![2, 3]));
    let bad = Tensor::new(ArrayD::from_shape_vec(IxDyn(&[1]), vec![0.5]).unwrap());
    assert!(emb.forward(Value::Float(bad)).is_err());
    let mut bag = nnq::EmbeddingBag::new(&q, false).unwrap();
    let idx =
        Tensor::new(ArrayD::from_shape_vec(IxDyn(&[2, 3]), vec![0., 1., 2., 3., 4., 5.]).unwrap());
    assert_eq!(
        bag.forward(Value::Float(idx)).unwrap().shape(),
        Some(vec![2, 3])
    );
    assert_eq!(
        emb.repr(),
        "QuantizedEmbedding(num_embeddings=6, embedding_dim=3, dtype=torch.quint8, \
         qscheme=torch.per_channel_affine_float_qparams)"
    );
}

#[test]
fn float_pooling_layers_run_on_quantized_tensors_with_the_engine_kernels() {
    set_engine(Engine::Qnnpack).unwrap();
    nn_quantized::register_quant_ops();
    let x = qin(&[1, 2, 4, 4]);
    let mut gap = nn::AdaptiveAvgPool2d::new([1, 1]).unwrap();
    let y = out(gap.forward(Value::Quant(x.clone())).unwrap());
    assert_eq!(ints(&y), ints(&F::adaptive_avg_pool2d(&x, [1, 1]).unwrap()));
}
