//! QAT Linear and Conv against scalar references: the forward uses the fake-quantized weight,
//! the weight gradient is the straight-through one, parameters are shared with the float layer.

mod common;

use std::sync::atomic::Ordering;

use common::{assert_close, rand, Geo, Reshaping, RoundFq};
use nn::functional::ConvOptions;
use nn::{Module, NnError, Tensor, Value};
use proptest::prelude::*;

fn fq_of(w: &[f32], fq: &RoundFq) -> (Vec<f32>, Vec<bool>) {
    w.iter().map(|&v| fq.fq(v)).unzip()
}

fn forward(m: &mut dyn Module, x: &Tensor) -> Tensor {
    m.forward(Value::Float(x.clone()))
        .unwrap()
        .into_float("test")
        .unwrap()
}

fn linear_case(batch: usize, in_f: usize, out_f: usize, bias: bool, seed: u64) {
    let float = nn::Linear::new(in_f, out_f, bias);
    float.weight.set_data(rand(&[out_f, in_f], seed)).unwrap();
    let (fq, calls) = RoundFq::new(0.05, -8.0, 7.0);
    let (wq, mask) = fq_of(&float.weight.to_vec(), &fq);
    let mut qat = nn_qat::Linear::from_float(&float, Box::new(fq)).unwrap();
    let x = Tensor::parameter(rand(&[batch, in_f], seed + 1));
    let y = forward(&mut qat, &x);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let b = float.bias.as_ref().map(Tensor::to_vec);
    let xv = x.to_vec();
    let mut want = vec![0.0f32; batch * out_f];
    for i in 0..batch {
        for o in 0..out_f {
            let mut acc = b.as_ref().map_or(0.0, |b| f64::from(b[o]));
            for k in 0..in_f {
                acc += f64::from(xv[i * in_f + k]) * f64::from(wq[o * in_f + k]);
            }
            want[i * out_f + o] = acc as f32;
        }
    }
    assert_close(&y.to_vec(), &want, 1e-5);
    let g = rand(&[batch, out_f], seed + 2);
    y.backward_with(g.clone()).unwrap();
    let gv: Vec<f32> = g.iter().copied().collect();
    let (mut gx, mut gw) = (vec![0.0f32; batch * in_f], vec![0.0f32; out_f * in_f]);
    for i in 0..batch {
        for o in 0..out_f {
            for k in 0..in_f {
                gx[i * in_f + k] += gv[i * out_f + o] * wq[o * in_f + k];
                gw[o * in_f + k] += gv[i * out_f + o] * xv[i * in_f + k];
            }
        }
    }
    for (w, m) in gw.iter_mut().zip(&mask) {
        if !m {
            *w = 0.0;
        }
    }
    assert_close(x.grad().unwrap().as_slice().unwrap(), &gx, 1e-4);
    // The float layer's parameter received the gradient: they are the same tensor.
    assert_close(float.weight.grad().unwrap().as_slice().unwrap(), &gw, 1e-4);
    if let Some(b) = &float.bias {
        let gb: Vec<f32> = (0..out_f)
            .map(|o| (0..batch).map(|i| gv[i * out_f + o]).sum())
            .collect();
        assert_close(b.grad().unwrap().as_slice().unwrap(), &gb, 1e-4);
    }
}

#[test]
fn linear_some_weights_clip_and_get_no_gradient() {
    // Weights in [-1, 1) with scale 0.05 and range -8..7 clip outside [-0.4, 0.35].
    linear_case(3, 5, 4, true, 1);
    linear_case(1, 1, 1, false, 2);
}

fn conv_case(rank: usize, geo: Geo, bias: bool, seed: u64) {
    let spatial = |v: [usize; 3]| v[3 - rank..].to_vec();
    let mut wshape = vec![geo.cout, geo.cin / geo.groups];
    wshape.extend(spatial(geo.kernel));
    let mut xshape = vec![geo.n, geo.cin];
    xshape.extend(spatial(geo.input));
    let opts = ConvOptions {
        stride: spatial(geo.stride),
        padding: spatial(geo.pad),
        dilation: spatial(geo.dil),
        groups: geo.groups,
        output_padding: vec![0; rank],
    };
    let w = Tensor::parameter(rand(&wshape, seed));
    let b = bias.then(|| Tensor::parameter(rand(&[geo.cout], seed + 3)));
    let (fq, calls) = RoundFq::new(0.05, -8.0, 7.0);
    let (wq, mask) = fq_of(&w.to_vec(), &fq);
    let mut m: Box<dyn Module> = match rank {
        1 => {
            Box::new(nn_qat::Conv1d::from_parts(w.clone(), b.clone(), opts, Box::new(fq)).unwrap())
        }
        2 => {
            Box::new(nn_qat::Conv2d::from_parts(w.clone(), b.clone(), opts, Box::new(fq)).unwrap())
        }
        _ => {
            Box::new(nn_qat::Conv3d::from_parts(w.clone(), b.clone(), opts, Box::new(fq)).unwrap())
        }
    };
    let x = Tensor::parameter(rand(&xshape, seed + 1));
    let y = forward(m.as_mut(), &x);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let bv = b.as_ref().map(Tensor::to_vec);
    let want = geo.forward(&x.to_vec(), &wq, bv.as_deref());
    assert_close(&y.to_vec(), &want, 1e-4);
    let g = rand(&y.shape(), seed + 2);
    y.backward_with(g.clone()).unwrap();
    let gv: Vec<f32> = g.iter().copied().collect();
    let (gx, mut gw) = geo.backward(&x.to_vec(), &wq, &gv);
    for (v, m) in gw.iter_mut().zip(&mask) {
        if !m {
            *v = 0.0;
        }
    }
    assert_close(x.grad().unwrap().as_slice().unwrap(), &gx, 1e-4);
    assert_close(w.grad().unwrap().as_slice().unwrap(), &gw, 1e-4);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn linear_matches_reference(batch in 1usize..5, in_f in 1usize..9, out_f in 1usize..7, bias: bool, seed in 0u64..1000) {
        linear_case(batch, in_f, out_f, bias, seed);
    }

    #[test]
    fn conv_matches_reference(
        rank in 1usize..4,
        n in 1usize..3,
        groups in 1usize..3,
        cin_g in 1usize..3,
        cout_g in 1usize..3,
        k in 1usize..4,
        extra in 0usize..3,
        stride in 1usize..3,
        pad in 0usize..2,
        dil in 1usize..3,
        bias: bool,
        seed in 0u64..1000,
    ) {
        let span = dil * (k - 1) + 1;
        let size = span + extra;
        let one = |v: usize| {
            let mut a = [1usize; 3];
            a[3 - rank..].fill(v);
            a
        };
        let mut padv = [0usize; 3];
        padv[3 - rank..].fill(pad);
        let geo = Geo {
            n,
            cin: cin_g * groups,
            cout: cout_g * groups,
            groups,
            input: one(size),
            kernel: one(k),
            stride: one(stride),
            pad: padv,
            dil: one(dil),
        };
        conv_case(rank, geo, bias, seed);
    }
}

#[test]
fn from_float_shares_and_to_float_copies() {
    let float = nn::Conv2d::new(2, 3, 3).unwrap();
    let (fq, _) = RoundFq::new(0.1, -128.0, 127.0);
    let qat = nn_qat::Conv2d::from_float(&float, Box::new(fq)).unwrap();
    assert!(qat.weight.same(&float.weight));
    assert!(qat
        .bias
        .as_ref()
        .unwrap()
        .same(float.bias.as_ref().unwrap()));
    assert_eq!(qat.type_name(), "Conv2d");
    assert_eq!(
        qat.extra_repr(),
        float.extra_repr(),
        "printed like the float convolution"
    );
    let names: Vec<String> = qat.named_modules().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["", "weight_fake_quant"]);
    assert_eq!(qat.state_dict().keys(), ["weight", "bias"]);
    let mut back = qat.to_float().unwrap();
    assert!(!back.weight.same(&qat.weight));
    assert_eq!(back.weight.to_vec(), qat.weight.to_vec());
    assert_eq!(
        back.bias.as_ref().unwrap().to_vec(),
        qat.bias.as_ref().unwrap().to_vec()
    );
    assert!(back.weight.requires_grad());
    back.eval();
    let mut qat = qat;
    qat.eval();
    assert!(!qat.to_float().unwrap().is_training());

    let lin = nn::Linear::new(4, 2, false);
    let (fq, _) = RoundFq::new(0.1, -128.0, 127.0);
    let q = nn_qat::Linear::from_float(&lin, Box::new(fq)).unwrap();
    let l2 = q.to_float().unwrap();
    assert!(l2.bias.is_none());
    assert_eq!(l2.weight.to_vec(), lin.weight.to_vec());
    assert_eq!(q.extra_repr(), lin.extra_repr());
}

#[test]
fn bad_input_is_an_error_before_the_fake_quant_runs() {
    let (fq, calls) = RoundFq::new(0.1, -128.0, 127.0);
    let mut conv =
        nn_qat::Conv2d::from_config(nn::ConvConfig::new(3, 4, &[3, 3]), Box::new(fq)).unwrap();
    let err = conv
        .forward(Value::Float(Tensor::zeros(&[1, 2, 5, 5])))
        .unwrap_err();
    assert!(matches!(err, NnError::InputShape { .. }), "{err}");
    assert!(err.to_string().contains("(N, 3, H, W)"), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    let (fq, calls) = RoundFq::new(0.1, -128.0, 127.0);
    let mut lin = nn_qat::Linear::new(4, 2, true, Box::new(fq));
    let err = lin
        .forward(Value::Float(Tensor::zeros(&[3, 5])))
        .unwrap_err();
    assert!(err.to_string().contains("(*, 4)"), "{err}");
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    // A quantized tensor names the fix.
    let q = qtensor_like();
    let err = lin.forward(Value::Quant(q)).unwrap_err();
    assert!(matches!(err, NnError::QuantizedInput { .. }), "{err}");
}

fn qtensor_like() -> qtensor::QTensor {
    let t = Tensor::zeros(&[1, 4]).to_array();
    qtensor::quantize_per_tensor(t.view(), 0.1, 0, qtensor::QDType::QInt8).unwrap()
}

#[test]
fn a_fake_quant_that_changes_the_shape_is_an_error_naming_the_child() {
    let mut lin = nn_qat::Linear::new(4, 2, true, Box::new(Reshaping));
    let err = lin
        .forward(Value::Float(Tensor::zeros(&[3, 4])))
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("weight_fake_quant returned shape [8]"),
        "{err}"
    );
}

#[test]
fn output_padding_and_bad_parts_are_errors() {
    let float =
        nn::Conv2d::from_config(nn::ConvConfig::new(2, 2, &[3, 3]).output_padding(1)).unwrap();
    let (fq, _) = RoundFq::new(0.1, -128.0, 127.0);
    assert!(nn_qat::Conv2d::from_float(&float, Box::new(fq)).is_err());
    let (fq, _) = RoundFq::new(0.1, -128.0, 127.0);
    let w = Tensor::zeros(&[2, 3]);
    assert!(nn_qat::Linear::from_parts(w, Some(Tensor::zeros(&[3])), Box::new(fq)).is_err());
}
