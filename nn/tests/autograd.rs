//! Tensor operations and their gradients, against finite differences and plain references.

use ndarray::{ArrayD, IxDyn};
use nn::{gradcheck, no_grad, GradCheckOptions, NnError, Rng, Tensor};

fn rand_param(shape: &[usize], seed: u64) -> Tensor {
    let mut r = Rng::new(seed);
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| r.uniform(-1.0, 1.0)).collect();
    Tensor::parameter(ArrayD::from_shape_vec(IxDyn(shape), v).unwrap())
}

fn check(leaves: &[&Tensor], f: impl FnMut() -> nn::Result<Tensor>) {
    let leaves: Vec<Tensor> = leaves.iter().map(|t| (*t).clone()).collect();
    let report = gradcheck(&leaves, f, GradCheckOptions::default()).unwrap();
    assert!(report.is_ok(), "{report}");
    assert!(report.checked > 0);
}

#[test]
fn broadcasting_binary_ops_gradients() {
    let a = rand_param(&[2, 3, 4], 1);
    let b = rand_param(&[3, 1], 2);
    check(&[&a, &b], || a.add(&b));
    check(&[&a, &b], || a.sub(&b));
    check(&[&a, &b], || a.mul(&b));
    let c = Tensor::parameter(b.data().mapv(|v| v.abs() + 0.5));
    check(&[&a, &c], || a.div(&c));
}

#[test]
fn broadcast_values_match_reference() {
    let a = rand_param(&[2, 1, 3], 3);
    let b = rand_param(&[4, 1], 4);
    let y = a.mul(&b).unwrap();
    assert_eq!(y.shape(), vec![2, 4, 3]);
    let (ad, bd, yd) = (a.data(), b.data(), y.data());
    for i in 0..2 {
        for j in 0..4 {
            for k in 0..3 {
                assert_eq!(yd[[i, j, k]], ad[[i, 0, k]] * bd[[j, 0]]);
            }
        }
    }
    let err = a.add(&rand_param(&[3, 2], 5)).unwrap_err();
    assert!(
        matches!(err, NnError::ShapeMismatch { op: "add", .. }),
        "{err}"
    );
}

#[test]
fn unary_ops_gradients() {
    // Values away from the kinks of relu/clamp so finite differences are exact enough.
    let x = Tensor::parameter(rand_param(&[3, 5], 6).data().mapv(|v| {
        if v.abs() < 0.1 {
            v + 0.3
        } else {
            v
        }
    }));
    check(&[&x], || Ok(x.relu()));
    check(&[&x], || Ok(x.exp()));
    check(&[&x], || Ok(x.sigmoid()));
    check(&[&x], || Ok(x.tanh()));
    check(&[&x], || Ok(x.clamp(-0.5, 0.5)));
    check(&[&x], || Ok(x.mul_scalar(3.0).add_scalar(1.0).neg()));
    let p = Tensor::parameter(x.data().mapv(|v| v.abs() + 0.5));
    check(&[&p], || Ok(p.log()));
    check(&[&p], || Ok(p.sqrt()));
    check(&[&p], || Ok(p.pow_scalar(3.0)));
}

fn matmul_reference(a: &ArrayD<f32>, b: &ArrayD<f32>) -> Vec<f32> {
    let (m, k) = (a.shape()[0], a.shape()[1]);
    let n = b.shape()[1];
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            out[i * n + j] = (0..k).map(|p| a[[i, p]] * b[[p, j]]).sum();
        }
    }
    out
}

#[test]
fn matmul_values_and_gradients() {
    for &(m, k, n) in &[(1, 1, 1), (3, 4, 5), (7, 17, 9)] {
        let a = rand_param(&[m, k], 7);
        let b = rand_param(&[k, n], 8);
        let y = a.matmul(&b).unwrap();
        let r = matmul_reference(&a.data(), &b.data());
        for (x, y) in y.to_vec().iter().zip(&r) {
            assert!((x - y).abs() < 1e-5, "{x} vs {y}");
        }
        check(&[&a, &b], || a.matmul(&b));
    }
    // Batched times 2-D, batched times batched, and 1-D operands.
    let a = rand_param(&[2, 3, 4], 9);
    let w = rand_param(&[4, 5], 10);
    let bb = rand_param(&[2, 4, 5], 11);
    check(&[&a, &w], || a.matmul(&w));
    check(&[&a, &bb], || a.matmul(&bb));
    let v = rand_param(&[4], 12);
    assert_eq!(a.matmul(&v).unwrap().shape(), vec![2, 3]);
    assert_eq!(v.matmul(&w).unwrap().shape(), vec![5]);
    assert_eq!(v.matmul(&v).unwrap().shape(), Vec::<usize>::new());
    check(&[&v, &w], || v.matmul(&w));
    assert!(a.matmul(&rand_param(&[3, 5], 1)).is_err());
}

#[test]
fn shape_ops_gradients() {
    let x = rand_param(&[2, 3, 4], 13);
    check(&[&x], || x.reshape(&[4, -1]));
    check(&[&x], || x.flatten(1, -1));
    check(&[&x], || x.permute(&[2, 0, 1]));
    check(&[&x], || x.transpose(0, 2));
    check(&[&x], || x.narrow(2, 1, 2));
    let y = rand_param(&[2, 1, 4], 14);
    check(&[&x, &y], || Tensor::cat(&[x.clone(), y.clone()], 1));
    check(&[&x], || Tensor::stack(&[x.clone(), x.clone()], 0));
    assert!(x.reshape(&[5, -1]).is_err());
    assert!(x.permute(&[0, 0, 1]).is_err());
    assert!(Tensor::cat(&[x.clone(), rand_param(&[2, 3, 5], 1)], 1).is_err());
    let p = x.permute(&[2, 0, 1]).unwrap();
    assert_eq!(p.data()[[3, 1, 2]], x.data()[[1, 2, 3]]);
}

#[test]
fn reductions_gradients() {
    let x = rand_param(&[2, 3, 4], 15);
    check(&[&x], || Ok(x.sum()));
    check(&[&x], || Ok(x.mean()));
    check(&[&x], || x.sum_dims(&[0, 2], false));
    check(&[&x], || x.mean_dims(&[-1], true));
    let s = x.sum_dims(&[1], false).unwrap();
    let d = x.data();
    assert_eq!(s.data()[[1, 2]], d[[1, 0, 2]] + d[[1, 1, 2]] + d[[1, 2, 2]]);
}

#[test]
fn gradients_accumulate_over_shared_uses_and_calls() {
    let x = Tensor::parameter(ndarray::arr1(&[2.0f32, -1.0]).into_dyn());
    // y = x*x + x: dy/dx = 2x + 1, the two uses of x summed.
    let y = x.mul(&x).unwrap().add(&x).unwrap().sum();
    y.backward().unwrap();
    assert_eq!(x.grad().unwrap().as_slice().unwrap(), &[5.0, -1.0]);
    // A second backward adds to .grad, as PyTorch.
    x.mul_scalar(2.0).sum().backward().unwrap();
    assert_eq!(x.grad().unwrap().as_slice().unwrap(), &[7.0, 1.0]);
    x.zero_grad();
    assert!(x.grad().is_none());
}

#[test]
fn no_grad_records_nothing_and_errors_are_typed() {
    let x = rand_param(&[3], 16);
    let y = no_grad(|| x.mul_scalar(2.0));
    assert!(!y.requires_grad() && y.grad_fn().is_none());
    assert!(matches!(y.sum().backward(), Err(NnError::NoGrad)));
    let z = x.mul_scalar(2.0);
    assert_eq!(z.grad_fn(), Some("mul_scalar"));
    assert!(matches!(
        z.backward(),
        Err(NnError::NonScalarBackward { .. })
    ));
    assert!(z.set_requires_grad(false).is_err());
    // The graph keeps the values it was built with when a leaf is later updated in place.
    let w = rand_param(&[3], 17);
    let loss = w.mul(&w).unwrap().sum();
    let before = w.to_vec();
    w.update_data(|d| d.fill(100.0));
    loss.backward().unwrap();
    let g: Vec<f32> = w.grad().unwrap().iter().copied().collect();
    let expected: Vec<f32> = before.iter().map(|v| 2.0 * v).collect();
    assert_eq!(g, expected);
}

#[test]
fn deep_chain_does_not_overflow_the_stack() {
    let x = rand_param(&[4], 18);
    let mut y = x.clone();
    for _ in 0..20_000 {
        y = y.add_scalar(0.0);
    }
    y.sum().backward().unwrap();
    assert_eq!(x.grad().unwrap().as_slice().unwrap(), &[1.0; 4]);
}

#[test]
fn custom_ops_from_other_crates() {
    // A straight-through estimator, the way fake quantization defines its gradient.
    let x = Tensor::parameter(ndarray::arr1(&[0.26f32, -1.7, 0.5]).into_dyn());
    let y = Tensor::from_op("round_ste", &[&x], x.data().mapv(f32::round), |g, _| {
        vec![Some(g.clone())]
    });
    assert_eq!(y.to_vec(), [0.0, -2.0, 1.0]);
    assert_eq!(y.grad_fn(), Some("round_ste"));
    y.sum().backward().unwrap();
    assert_eq!(x.grad().unwrap().as_slice().unwrap(), &[1.0, 1.0, 1.0]);
    // A backward with the wrong count or shape is an error naming the op, not a panic.
    let bad = Tensor::from_op("bad_count", &[&x], x.to_array(), |_, _| vec![]);
    let err = bad.sum().backward().unwrap_err();
    assert!(err.to_string().contains("bad_count"), "{err}");
    let bad = Tensor::from_op("bad_shape", &[&x], x.to_array(), |_, _| {
        vec![Some(ndarray::ArrayD::zeros(vec![2]))]
    });
    let err = bad.sum().backward().unwrap_err();
    assert!(
        err.to_string().contains("bad_shape") && err.to_string().contains("[2]"),
        "{err}"
    );
}

#[test]
fn cat_along_a_later_dimension_feeds_kernels_that_need_contiguous_data() {
    let a = Tensor::randn(&[2, 3, 4, 4]);
    let b = Tensor::randn(&[2, 1, 4, 4]);
    let c = Tensor::cat(&[a.clone(), b.clone()], 1).unwrap();
    assert!(c.data().is_standard_layout());
    let p = nn::functional::max_pool2d(&c, &nn::functional::Pool2dOptions::new(2)).unwrap();
    // Channel 3 of the pooled result is b's only channel, pooled.
    let pb = nn::functional::max_pool2d(&b, &nn::functional::Pool2dOptions::new(2)).unwrap();
    let pv = p.to_vec();
    let per = 4;
    for n in 0..2 {
        assert_eq!(
            &pv[(n * 4 + 3) * per..(n * 4 + 4) * per],
            &pb.to_vec()[n * per..(n + 1) * per]
        );
    }
}
