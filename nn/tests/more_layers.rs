//! Activations, layer/group/instance norm, upsampling and embeddings against references.

mod common;

use common::{assert_close, check_grad, param, rand};
use ndarray::ArrayD;
use nn::functional::{self as F, BagMode, GeluApproximate, UpsampleMode, UpsampleSize};
use nn::prelude::*;
use nn::{
    Embedding, EmbeddingBag, GroupNorm, Hardswish, InstanceNorm2d, LayerNorm, LeakyReLU, Softmax,
    Upsample, ELU, GELU,
};

/// Inputs away from every kink (0, +-3, 6) so finite differences are clean.
fn smooth_inputs() -> Tensor {
    let v = vec![
        -5.0f32, -3.5, -2.0, -1.0, -0.5, 0.3, 1.2, 2.5, 3.5, 5.0, 7.0, -0.2,
    ];
    Tensor::parameter(ArrayD::from_shape_vec(vec![3, 4], v).unwrap())
}

/// The Gaussian CDF by Simpson integration of the density from -10 (independent of erf).
fn phi(x: f64) -> f64 {
    let (a, n) = (-10.0, 20_000);
    let h = (x - a) / n as f64;
    let pdf = |t: f64| (-0.5 * t * t).exp() / (2.0 * std::f64::consts::PI).sqrt();
    let mut s = pdf(a) + pdf(x);
    for i in 1..n {
        s += pdf(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    s * h / 3.0
}

#[test]
fn activations_match_formulas_and_gradients() {
    let x = smooth_inputs();
    let xs = x.to_vec();
    type Case = (&'static str, fn(&Tensor) -> Tensor, fn(f32) -> f32);
    let cases: [Case; 9] = [
        ("relu6", F::relu6, |v| v.clamp(0.0, 6.0)),
        ("hardswish", F::hardswish, |v| {
            v * (v + 3.0).clamp(0.0, 6.0) / 6.0
        }),
        ("hardsigmoid", F::hardsigmoid, |v| {
            (v + 3.0).clamp(0.0, 6.0) / 6.0
        }),
        ("sigmoid", F::sigmoid, |v| 1.0 / (1.0 + (-v).exp())),
        ("tanh", F::tanh, f32::tanh),
        ("silu", F::silu, |v| v / (1.0 + (-v).exp())),
        (
            "leaky",
            |t| F::leaky_relu(t, 0.1),
            |v| if v > 0.0 { v } else { 0.1 * v },
        ),
        (
            "elu",
            |t| F::elu(t, 0.7),
            |v| if v > 0.0 { v } else { 0.7 * (v.exp() - 1.0) },
        ),
        (
            "gelu_tanh",
            |t| F::gelu(t, GeluApproximate::Tanh),
            |v| {
                0.5 * v
                    * (1.0
                        + ((2.0 / std::f32::consts::PI).sqrt() * (v + 0.044715 * v * v * v)).tanh())
            },
        ),
    ];
    for (name, f, r) in cases {
        let y = f(&x).to_vec();
        let expect: Vec<f32> = xs.iter().map(|&v| r(v)).collect();
        assert_close(&y, &expect, 1e-6);
        check_grad(&[&x], || Ok(f(&x)));
        let _ = name;
    }
    let y = F::gelu(&x, GeluApproximate::None).to_vec();
    let expect: Vec<f32> = xs
        .iter()
        .map(|&v| (f64::from(v) * phi(f64::from(v))) as f32)
        .collect();
    assert_close(&y, &expect, 1e-6);
    check_grad(&[&x], || Ok(F::gelu(&x, GeluApproximate::None)));
    // Modules print as PyTorch.
    assert_eq!(LeakyReLU::default().extra_repr(), "negative_slope=0.01");
    assert_eq!(ELU::default().extra_repr(), "alpha=1.0");
    assert_eq!(GELU::default().extra_repr(), "approximate='none'");
    assert_eq!(Softmax::new(1).extra_repr(), "dim=1");
    let q =
        qtensor::quantize_per_tensor(x.to_array().view(), 0.1, 0, qtensor::QDType::QInt8).unwrap();
    assert!(Hardswish::new().forward(Value::Quant(q)).is_err());
}

fn norm_ref(x: &[f32], rows: usize, eps: f64) -> Vec<f32> {
    let len = x.len() / rows;
    x.chunks(len)
        .flat_map(|r| {
            let mu = r.iter().map(|&v| f64::from(v)).sum::<f64>() / len as f64;
            let var = r.iter().map(|&v| (f64::from(v) - mu).powi(2)).sum::<f64>() / len as f64;
            r.iter()
                .map(move |&v| ((f64::from(v) - mu) / (var + eps).sqrt()) as f32)
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn layer_group_instance_norm() {
    let x = param(&[2, 4, 3, 2], 1);
    let mut ln = LayerNorm::new(&[3, 2]).unwrap();
    let w = param(&[3, 2], 2);
    let b = param(&[3, 2], 3);
    ln.weight = Some(w.clone());
    ln.bias = Some(b.clone());
    let y = ln
        .forward(Value::Float(x.clone()))
        .unwrap()
        .into_float("t")
        .unwrap();
    let n = norm_ref(&x.to_vec(), 8, 1e-5);
    let (wv, bv) = (w.to_vec(), b.to_vec());
    let expect: Vec<f32> = n
        .iter()
        .enumerate()
        .map(|(i, v)| v * wv[i % 6] + bv[i % 6])
        .collect();
    assert_close(&y.to_vec(), &expect, 1e-5);
    assert_eq!(
        ln.extra_repr(),
        "(3, 2), eps=1e-05, elementwise_affine=True"
    );
    check_grad(&[&x, &w, &b], || {
        F::layer_norm(&x, &[3, 2], Some(&w), Some(&b), 1e-5)
    });
    assert!(ln.forward(Value::Float(rand(&[2, 3, 3], 1))).is_err());

    let gw = param(&[4], 4);
    let gb = param(&[4], 5);
    let y = F::group_norm(&x, 2, Some(&gw), Some(&gb), 1e-5).unwrap();
    let n = norm_ref(&x.to_vec(), 4, 1e-5);
    let (wv, bv) = (gw.to_vec(), gb.to_vec());
    let expect: Vec<f32> = n
        .iter()
        .enumerate()
        .map(|(i, v)| v * wv[(i / 6) % 4] + bv[(i / 6) % 4])
        .collect();
    assert_close(&y.to_vec(), &expect, 1e-5);
    check_grad(&[&x, &gw, &gb], || {
        F::group_norm(&x, 2, Some(&gw), Some(&gb), 1e-5)
    });
    assert!(GroupNorm::new(3, 4).is_err());

    let mut inorm = InstanceNorm2d::with_options(4, 1e-5, 0.1, true, true);
    let y = inorm
        .forward(Value::Float(x.clone()))
        .unwrap()
        .into_float("t")
        .unwrap();
    assert_close(&y.to_vec(), &norm_ref(&x.to_vec(), 8, 1e-5), 1e-5);
    check_grad(&[&x], || F::instance_norm(&x, None, None, 1e-5));
    // Running mean: 0.9 * 0 + 0.1 * (batch mean of the instance means).
    let d = x.data();
    let m0: f32 = (0..2)
        .map(|n| (0..6).map(|k| d[[n, 0, k / 2, k % 2]]).sum::<f32>() / 6.0)
        .sum::<f32>()
        / 2.0;
    assert!((inorm.running_mean.as_ref().unwrap().to_vec()[0] - 0.1 * m0).abs() < 1e-6);
    assert_eq!(inorm.named_buffers().len(), 3);
    assert_eq!(
        InstanceNorm2d::new(4).extra_repr(),
        "4, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False"
    );
}

fn bilinear_ref(x: &ArrayD<f32>, oh: usize, ow: usize, align: bool) -> Vec<f32> {
    let (h, w) = (x.shape()[2], x.shape()[3]);
    let src = |o: usize, i: usize, out: usize| -> f32 {
        if align {
            if out > 1 {
                o as f32 * (i as f32 - 1.0) / (out as f32 - 1.0)
            } else {
                0.0
            }
        } else {
            ((o as f32 + 0.5) * i as f32 / out as f32 - 0.5).max(0.0)
        }
    };
    let mut out = Vec::new();
    for p in 0..x.shape()[0] * x.shape()[1] {
        let (n, c) = (p / x.shape()[1], p % x.shape()[1]);
        for i in 0..oh {
            for j in 0..ow {
                let (sy, sx) = (src(i, h, oh), src(j, w, ow));
                let (y0, x0) = (sy.floor() as usize, sx.floor() as usize);
                let (y1, x1) = ((y0 + 1).min(h - 1), (x0 + 1).min(w - 1));
                let (ly, lx) = (sy - y0 as f32, sx - x0 as f32);
                let v = (1.0 - ly) * ((1.0 - lx) * x[[n, c, y0, x0]] + lx * x[[n, c, y0, x1]])
                    + ly * ((1.0 - lx) * x[[n, c, y1, x0]] + lx * x[[n, c, y1, x1]]);
                out.push(v);
            }
        }
    }
    out
}

#[test]
fn upsampling() {
    let x = param(&[1, 2, 3, 4], 6);
    let d = x.data();
    let y = F::interpolate(&x, UpsampleSize::Scale([2.0, 2.0]), UpsampleMode::Nearest).unwrap();
    assert_eq!(y.shape(), vec![1, 2, 6, 8]);
    let yd = y.data();
    for c in 0..2 {
        for i in 0..6 {
            for j in 0..8 {
                assert_eq!(yd[[0, c, i, j]], d[[0, c, i / 2, j / 2]]);
            }
        }
    }
    let y = F::interpolate(&x, UpsampleSize::Size([5, 7]), UpsampleMode::Nearest).unwrap();
    let yd = y.data();
    for i in 0..5 {
        for j in 0..7 {
            assert_eq!(yd[[0, 1, i, j]], d[[0, 1, i * 3 / 5, j * 4 / 7]]);
        }
    }
    for align in [false, true] {
        let mode = UpsampleMode::Bilinear {
            align_corners: align,
        };
        let y = F::interpolate(&x, UpsampleSize::Size([5, 9]), mode).unwrap();
        assert_close(&y.to_vec(), &bilinear_ref(&d, 5, 9, align), 1e-6);
        check_grad(&[&x], || {
            F::interpolate(&x, UpsampleSize::Size([5, 9]), mode)
        });
    }
    check_grad(&[&x], || {
        F::interpolate(&x, UpsampleSize::Scale([2.0, 1.5]), UpsampleMode::Nearest)
    });
    let up = Upsample::new(UpsampleSize::Scale([2.0, 2.0]), UpsampleMode::Nearest);
    assert_eq!(up.extra_repr(), "scale_factor=2.0, mode='nearest'");
    assert!(F::interpolate(
        &rand(&[2, 3], 1),
        UpsampleSize::Size([2, 2]),
        UpsampleMode::Nearest
    )
    .is_err());
}

#[test]
fn embeddings() {
    nn::manual_seed(1);
    let mut emb = Embedding::new(6, 3, Some(0)).unwrap();
    assert!(emb.weight.to_vec()[..3].iter().all(|&v| v == 0.0));
    let idx = Tensor::from_vec(&[2, 2], vec![1.0, 0.0, 5.0, 1.0]).unwrap();
    let y = emb
        .forward(Value::Float(idx))
        .unwrap()
        .into_float("t")
        .unwrap();
    assert_eq!(y.shape(), vec![2, 2, 3]);
    let w = emb.weight.data();
    assert_eq!(y.data()[[1, 0, 2]], w[[5, 2]]);
    y.sum().backward().unwrap();
    let g = emb.weight.grad().unwrap();
    assert_eq!(
        g.index_axis(ndarray::Axis(0), 0)
            .iter()
            .copied()
            .collect::<Vec<f32>>(),
        vec![0.0; 3]
    );
    assert_eq!(
        g.index_axis(ndarray::Axis(0), 1)
            .iter()
            .copied()
            .collect::<Vec<f32>>(),
        vec![2.0; 3]
    );
    assert_eq!(
        g.index_axis(ndarray::Axis(0), 5)
            .iter()
            .copied()
            .collect::<Vec<f32>>(),
        vec![1.0; 3]
    );
    assert!(emb
        .forward(Value::Float(Tensor::from_vec(&[1], vec![6.0]).unwrap()))
        .is_err());
    assert!(emb
        .forward(Value::Float(Tensor::from_vec(&[1], vec![1.5]).unwrap()))
        .is_err());
    assert_eq!(emb.extra_repr(), "6, 3, padding_idx=0");
    let wt = param(&[5, 4], 7);
    check_grad(&[&wt], || F::embedding(&[1, 3, 3, 0], &[2, 2], &wt, None));

    let idx = [1usize, 2, 4, 4, 3, 0];
    let offsets = [0usize, 2, 2, 5];
    for mode in [BagMode::Sum, BagMode::Mean, BagMode::Max] {
        let y = F::embedding_bag(&idx, &offsets, &wt, mode, None).unwrap();
        let wd = wt.data();
        let mut expect = Vec::new();
        for (b, &s) in offsets.iter().enumerate() {
            let e = offsets.get(b + 1).copied().unwrap_or(idx.len());
            for d in 0..4 {
                let vals: Vec<f32> = idx[s..e].iter().map(|&i| wd[[i, d]]).collect();
                expect.push(match mode {
                    _ if vals.is_empty() => 0.0,
                    BagMode::Sum => vals.iter().sum(),
                    BagMode::Mean => vals.iter().sum::<f32>() / vals.len() as f32,
                    BagMode::Max => vals.iter().copied().fold(f32::NEG_INFINITY, f32::max),
                });
            }
        }
        assert_close(&y.to_vec(), &expect, 1e-6);
        check_grad(&[&wt], || F::embedding_bag(&idx, &offsets, &wt, mode, None));
    }
    let psw = [0.5f32, 2.0, 1.0, -1.0, 3.0, 0.25];
    check_grad(&[&wt], || {
        F::embedding_bag(&idx, &offsets, &wt, BagMode::Sum, Some(&psw))
    });
    assert!(F::embedding_bag(&idx, &offsets, &wt, BagMode::Mean, Some(&psw)).is_err());
    assert!(F::embedding_bag(&idx, &[1, 2], &wt, BagMode::Sum, None).is_err());
    let mut bag = EmbeddingBag::new(5, 4, BagMode::Mean);
    let y = bag
        .forward(Value::Float(
            Tensor::from_vec(&[2, 3], vec![1.0, 2.0, 4.0, 4.0, 3.0, 0.0]).unwrap(),
        ))
        .unwrap();
    assert_eq!(y.shape(), Some(vec![2, 4]));
    assert_eq!(bag.extra_repr(), "5, 4, mode='mean'");
}
