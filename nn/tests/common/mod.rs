//! Helpers shared by the integration tests: seeded random tensors and gradient checks.
#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};
use nn::{gradcheck, GradCheckOptions, Rng, Tensor};

/// A tensor of uniform values in [-1, 1) from `seed`.
pub fn rand(shape: &[usize], seed: u64) -> Tensor {
    let mut r = Rng::new(seed);
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| r.uniform(-1.0, 1.0)).collect();
    Tensor::new(ArrayD::from_shape_vec(IxDyn(shape), v).unwrap())
}

/// Like [`rand`] but a leaf that requires grad.
pub fn param(shape: &[usize], seed: u64) -> Tensor {
    Tensor::parameter(rand(shape, seed).to_array())
}

/// Asserts that backward agrees with finite differences for every leaf.
pub fn check_grad(leaves: &[&Tensor], f: impl FnMut() -> nn::Result<Tensor>) {
    let leaves: Vec<Tensor> = leaves.iter().map(|t| (*t).clone()).collect();
    let report = gradcheck(&leaves, f, GradCheckOptions::default()).unwrap();
    assert!(report.is_ok(), "{report}");
    assert!(report.checked > 0);
}

/// Asserts element-wise closeness: `|a - b| <= tol * (1 + |b|)`.
pub fn assert_close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len(), "length");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= tol * (1.0 + y.abs()),
            "element {i}: {x} vs {y}"
        );
    }
}
