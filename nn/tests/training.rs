//! Losses and optimizers against hand-written references.

mod common;

use common::{assert_close, check_grad, param, rand};
use nn::functional::{self as F, Reduction};
use nn::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
use nn::Tensor;

#[test]
fn softmax_family_values_and_gradients() {
    let x = param(&[3, 5], 1);
    let d = x.data();
    let ls = F::log_softmax(&x, 1).unwrap();
    let sm = F::softmax(&x, -1).unwrap();
    for i in 0..3 {
        let lse = (0..5).map(|j| f64::from(d[[i, j]]).exp()).sum::<f64>().ln();
        for j in 0..5 {
            let r = f64::from(d[[i, j]]) - lse;
            assert!((f64::from(ls.data()[[i, j]]) - r).abs() < 1e-6);
            assert!((f64::from(sm.data()[[i, j]]) - r.exp()).abs() < 1e-6);
        }
    }
    check_grad(&[&x], || F::log_softmax(&x, 1));
    check_grad(&[&x], || F::softmax(&x, 0));
}

#[test]
fn cross_entropy_and_mse() {
    let logits = param(&[4, 3], 2);
    let targets = [2, 0, 1, 2];
    let loss = F::cross_entropy(&logits, &targets, Reduction::Mean).unwrap();
    let d = logits.data();
    let r: f64 = targets
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let lse = (0..3).map(|j| f64::from(d[[i, j]]).exp()).sum::<f64>().ln();
            lse - f64::from(d[[i, t]])
        })
        .sum::<f64>()
        / 4.0;
    assert!((f64::from(loss.item().unwrap()) - r).abs() < 1e-6);
    check_grad(&[&logits], || {
        F::cross_entropy(&logits, &targets, Reduction::Sum)
    });
    assert!(F::cross_entropy(&logits, &[0, 3, 0, 0], Reduction::Mean).is_err());
    assert!(F::cross_entropy(&logits, &[0, 1], Reduction::Mean).is_err());
    let a = param(&[2, 3], 3);
    let b = rand(&[2, 3], 4);
    let mse = F::mse_loss(&a, &b, Reduction::Mean).unwrap();
    let r: f32 = a
        .to_vec()
        .iter()
        .zip(b.to_vec())
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f32>()
        / 6.0;
    assert!((mse.item().unwrap() - r).abs() < 1e-6);
    check_grad(&[&a], || F::mse_loss(&a, &b, Reduction::None));
    assert!(F::mse_loss(&a, &rand(&[3, 2], 1), Reduction::Mean).is_err());
}

/// Runs `steps` of an optimizer on `loss = sum(w * c)` (gradient `c`) and returns the weights.
fn run(opt: &mut dyn Optimizer, w: &Tensor, c: &Tensor, steps: usize) -> Vec<f32> {
    for _ in 0..steps {
        opt.zero_grad();
        w.mul(c).unwrap().sum().backward().unwrap();
        opt.step().unwrap();
    }
    w.to_vec()
}

#[test]
fn sgd_with_momentum_follows_pytorch_update() {
    let w0 = [0.5f32, -1.0, 2.0];
    let g = [1.0f32, -2.0, 0.25];
    let c = Tensor::from_vec(&[3], g.to_vec()).unwrap();
    for (momentum, nesterov, wd) in [(0.0, false, 0.0), (0.9, false, 0.0), (0.9, true, 0.1)] {
        let w = Tensor::parameter(ndarray::arr1(&w0).into_dyn());
        let mut opt = Sgd::new(
            vec![w.clone()],
            SgdConfig::new(0.1)
                .momentum(momentum)
                .nesterov(nesterov)
                .weight_decay(wd),
        )
        .unwrap();
        let got = run(&mut opt, &w, &c, 3);
        // Reference, written out.
        let (lr, m) = (0.1f32, momentum as f32);
        let mut p = w0;
        let mut buf: Option<[f32; 3]> = None;
        for _ in 0..3 {
            let mut d = [0.0f32; 3];
            for i in 0..3 {
                d[i] = g[i] + wd as f32 * p[i];
            }
            if m != 0.0 {
                let b = match buf {
                    None => d,
                    Some(b) => [m * b[0] + d[0], m * b[1] + d[1], m * b[2] + d[2]],
                };
                buf = Some(b);
                d = if nesterov {
                    [d[0] + m * b[0], d[1] + m * b[1], d[2] + m * b[2]]
                } else {
                    b
                };
            }
            for i in 0..3 {
                p[i] -= lr * d[i];
            }
        }
        assert_close(&got, &p, 1e-6);
    }
    assert!(Sgd::new(vec![], SgdConfig::new(-1.0)).is_err());
    assert!(Sgd::new(vec![], SgdConfig::new(0.1).nesterov(true)).is_err());
}

#[test]
fn adam_follows_pytorch_update() {
    let w0 = [0.5f32, -1.0, 2.0];
    let g = [1.0f32, -2.0, 0.25];
    let c = Tensor::from_vec(&[3], g.to_vec()).unwrap();
    let w = Tensor::parameter(ndarray::arr1(&w0).into_dyn());
    let cfg = AdamConfig {
        lr: 0.01,
        weight_decay: 0.05,
        ..Default::default()
    };
    let mut opt = Adam::new(vec![w.clone()], cfg).unwrap();
    let got = run(&mut opt, &w, &c, 4);
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
    let mut p: Vec<f64> = w0.iter().map(|&v| f64::from(v)).collect();
    let (mut m, mut v) = (vec![0.0f64; 3], vec![0.0f64; 3]);
    for t in 1..=4 {
        for i in 0..3 {
            let gi = f64::from(g[i]) + 0.05 * p[i];
            m[i] = b1 * m[i] + (1.0 - b1) * gi;
            v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
            let denom = v[i].sqrt() / (1.0 - b2.powi(t)).sqrt() + eps;
            p[i] -= 0.01 / (1.0 - b1.powi(t)) * m[i] / denom;
        }
    }
    let p32: Vec<f32> = p.iter().map(|&v| v as f32).collect();
    assert_close(&got, &p32, 1e-5);
    assert!(Adam::new(
        vec![],
        AdamConfig {
            betas: (1.0, 0.9),
            ..Default::default()
        }
    )
    .is_err());
}

#[test]
fn parameters_without_gradients_are_left_alone() {
    let a = param(&[2], 5);
    let b = param(&[2], 6);
    let before = b.to_vec();
    let mut opt = Sgd::new(
        vec![a.clone(), b.clone()],
        SgdConfig::new(0.5).momentum(0.9),
    )
    .unwrap();
    a.sum().backward().unwrap();
    opt.step().unwrap();
    assert_eq!(b.to_vec(), before);
    assert!(a.grad().is_some());
    opt.zero_grad();
    assert!(a.grad().is_none());
}
