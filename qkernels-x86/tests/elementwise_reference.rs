//! add / add_relu / mul / mul_relu / add_scalar / mul_scalar / cat /
//! batch_norm2d against float references, plus input validation.

mod common;

use common::{assert_within_one, bytes, deq, quant};
use proptest::prelude::*;
use qkernels_x86::elementwise::{self, BatchNorm2d, CatInput};
use qkernels_x86::nchw::Nchw;
use qkernels_x86::op_error::OpError;
use qkernels_x86::quant::{Affine, QInt, QView};

fn affine() -> impl Strategy<Value = Affine> {
    (1e-3f64..0.5, 0i32..256).prop_map(|(s, z)| Affine::new(s, z))
}

fn affine_i8() -> impl Strategy<Value = Affine> {
    (1e-3f64..0.5, -128i32..128).prop_map(|(s, z)| Affine::new(s, z))
}

fn binary_reference<T: QInt>(
    a: &[T],
    qa: Affine,
    b: &[T],
    qb: Affine,
    out: Affine,
    f: impl Fn(f64, f64) -> f64,
) -> Vec<T> {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| quant(f(deq(x, qa), deq(y, qb)), out))
        .collect()
}

fn check_binary<T: QInt>(a: &[T], qa: Affine, b: &[T], qb: Affine, out: Affine) -> usize {
    let (va, vb) = (QView::new(a, qa), QView::new(b, qb));
    let mut off = 0;
    off += assert_within_one(
        "add",
        &elementwise::add(va, vb, out).unwrap(),
        &binary_reference(a, qa, b, qb, out, |x, y| x + y),
    );
    off += assert_within_one(
        "add_relu",
        &elementwise::add_relu(va, vb, out).unwrap(),
        &binary_reference(a, qa, b, qb, out, |x, y| (x + y).max(0.0)),
    );
    off += assert_within_one(
        "mul",
        &elementwise::mul(va, vb, out).unwrap(),
        &binary_reference(a, qa, b, qb, out, |x, y| x * y),
    );
    off += assert_within_one(
        "mul_relu",
        &elementwise::mul_relu(va, vb, out).unwrap(),
        &binary_reference(a, qa, b, qb, out, |x, y| (x * y).max(0.0)),
    );
    off
}

proptest! {
    #[test]
    fn binary_ops_match_float_reference_u8(
        ab in (0usize..200).prop_flat_map(|n| (
            proptest::collection::vec(any::<u8>(), n),
            proptest::collection::vec(any::<u8>(), n),
        )),
        qa in affine(), qb in affine(), qo in affine(),
    ) {
        check_binary(&ab.0, qa, &ab.1, qb, qo);
    }

    #[test]
    fn binary_ops_match_float_reference_i8(
        ab in (0usize..100).prop_flat_map(|n| (
            proptest::collection::vec(any::<i8>(), n),
            proptest::collection::vec(any::<i8>(), n),
        )),
        qa in affine_i8(), qb in affine_i8(), qo in affine_i8(),
    ) {
        check_binary(&ab.0, qa, &ab.1, qb, qo);
    }

    #[test]
    fn add_scalar_moves_qparams_and_matches_reference(
        x in proptest::collection::vec(any::<u8>(), 0..64),
        q in affine(),
        c in -20.0f64..20.0,
    ) {
        let r = elementwise::add_scalar(QView::new(&x, q), c).unwrap();
        let c_q = (c / q.scale).round_ties_even() as i64;
        let shifted = i64::from(q.zero_point) - c_q;
        if (0..=255).contains(&shifted) {
            prop_assert_eq!(r.q, Affine::new(q.scale, shifted as i32));
            prop_assert_eq!(&r.data, &x);
        } else if shifted < 0 {
            prop_assert_eq!(r.q.zero_point, 0);
            let s = (255.0 - shifted as f64) / 255.0 * q.scale;
            prop_assert!((r.q.scale - s).abs() <= 1e-12 * s);
        } else {
            prop_assert_eq!(r.q.zero_point, 255);
            let s = (shifted as f64 - 0.0) / 255.0 * q.scale;
            prop_assert!((r.q.scale - s).abs() <= 1e-12 * s);
        }
        // The dequantized output is the dequantized input plus c_q * scale.
        let want: Vec<u8> = x.iter().map(|&v| quant(deq(v, q) + c_q as f64 * q.scale, r.q)).collect();
        assert_within_one("add_scalar", &r.data, &want);
    }

    #[test]
    fn mul_scalar_matches_reference(
        x in proptest::collection::vec(any::<i8>(), 0..64),
        q in affine_i8(),
        c in prop_oneof![Just(0.0f64), -3.0f64..3.0],
    ) {
        let r = elementwise::mul_scalar(QView::new(&x, q), c).unwrap();
        if c == 0.0 {
            prop_assert_eq!(r.q, Affine::new(1.0, 0));
        } else {
            prop_assert!((r.q.scale - c.abs() * q.scale).abs() <= 1e-15);
        }
        let want: Vec<i8> = x.iter().map(|&v| quant(deq(v, q) * c, r.q)).collect();
        // Mirroring maps qmin to qmax, whose real value is one step short of
        // the exact product: allow that one element to clamp.
        assert_within_one("mul_scalar", &r.data, &want);
    }

    #[test]
    fn cat_matches_reference(
        rows in 1usize..4, cols in 1usize..5, depth in 1usize..4,
        split in proptest::collection::vec(0usize..4, 1..4),
        dim in 0usize..3,
        qs in proptest::collection::vec(affine(), 4),
        qo in affine(),
        seed in any::<u64>(),
    ) {
        let base = [rows, cols, depth];
        let shapes: Vec<Vec<usize>> = split.iter().map(|&k| {
            let mut s = base.to_vec();
            s[dim] = k;
            s
        }).collect();
        let datas: Vec<Vec<u8>> = shapes.iter().enumerate()
            .map(|(i, s)| bytes(s.iter().product(), seed ^ i as u64)).collect();
        let inputs: Vec<CatInput<u8>> = shapes.iter().zip(&datas).enumerate()
            .map(|(i, (s, d))| CatInput { data: d, shape: s, q: qs[i] }).collect();
        let r = elementwise::cat(&inputs, dim, qo).unwrap();
        let mut out_shape = base.to_vec();
        out_shape[dim] = split.iter().sum();
        prop_assert_eq!(&r.shape, &out_shape);
        // Reference: walk output indices, find the owning input along `dim`.
        let mut want = Vec::new();
        for i in 0..out_shape[0] {
            for j in 0..out_shape[1] {
                for k in 0..out_shape[2] {
                    let mut idx = [i, j, k];
                    let mut t = 0;
                    while idx[dim] >= shapes[t][dim] {
                        idx[dim] -= shapes[t][dim];
                        t += 1;
                    }
                    let s = &shapes[t];
                    let v = datas[t][(idx[0] * s[1] + idx[1]) * s[2] + idx[2]];
                    want.push(quant::<u8>(deq(v, qs[t]), qo));
                }
            }
        }
        assert_within_one("cat", &r.data, &want);
    }

    #[test]
    fn batch_norm_matches_reference(
        n in 0usize..3, c in 1usize..6, hw in 0usize..300,
        qx in affine(), qo in affine(),
        stats in proptest::collection::vec((0.2f32..2.0, -1.0f32..1.0, -1.0f32..1.0, 0.1f32..3.0), 6),
        seed in any::<u64>(),
        relu in any::<bool>(),
    ) {
        let shape = Nchw::new(n, c, hw, 1);
        let x = bytes(n * c * hw, seed);
        let (w, b, m, v): (Vec<f32>, Vec<f32>, Vec<f32>, Vec<f32>) = (
            stats[..c].iter().map(|s| s.0).collect(),
            stats[..c].iter().map(|s| s.1).collect(),
            stats[..c].iter().map(|s| s.2).collect(),
            stats[..c].iter().map(|s| s.3).collect(),
        );
        let bn = BatchNorm2d { weight: &w, bias: &b, running_mean: &m, running_var: &v, eps: 1e-5 };
        let f = if relu { elementwise::batch_norm2d_relu::<u8> } else { elementwise::batch_norm2d::<u8> };
        let got = f(QView::new(&x, qx), shape, &bn, qo).unwrap();
        let want: Vec<u8> = x.iter().enumerate().map(|(i, &q)| {
            let ch = (i / hw.max(1)) % c;
            let y = (deq(q, qx) - f64::from(m[ch])) / (f64::from(v[ch]) + 1e-5).sqrt()
                * f64::from(w[ch]) + f64::from(b[ch]);
            quant(if relu { y.max(0.0) } else { y }, qo)
        }).collect();
        assert_within_one("batch_norm2d", &got, &want);
    }
}

#[test]
fn binary_ops_rarely_differ_from_reference() {
    // Off-by-one differences come only from f32 rounding near ties (PyTorch
    // dequantizes with a fused multiply-add): they must stay rare.
    let n = 50_000;
    let (a, b) = (bytes(n, 1), bytes(n, 2));
    let off = check_binary(
        &a,
        Affine::new(0.0173, 121),
        &b,
        Affine::new(0.0219, 58),
        Affine::new(0.0411, 90),
    );
    assert!(off * 100 <= 4 * n, "{off} of {} elements off by one", 4 * n);
}

#[test]
fn invalid_inputs_are_typed_errors() {
    let x = [1u8, 2, 3];
    let q = Affine::new(0.1, 3);
    let v = QView::new(&x[..], q);
    let short = QView::new(&x[..2], q);
    assert!(matches!(
        elementwise::add(v, short, q),
        Err(OpError::LengthMismatch { .. })
    ));
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert!(matches!(
            elementwise::mul(v, v, Affine::new(bad, 0)),
            Err(OpError::InvalidScale { .. })
        ));
    }
    assert!(matches!(
        elementwise::add(QView::new(&x[..], Affine::new(0.1, 300)), v, q),
        Err(OpError::ZeroPointOutOfRange { .. })
    ));
    assert!(matches!(
        elementwise::add_scalar(v, f64::NAN),
        Err(OpError::InvalidParameter { .. })
    ));
    assert!(matches!(
        elementwise::add_scalar(v, 1e300),
        Err(OpError::InvalidParameter { .. })
    ));
    assert!(matches!(
        elementwise::mul_scalar(v, 1e308),
        Err(OpError::InvalidScale { .. })
    ));
    let s1 = [1usize, 3];
    let s2 = [2usize, 3];
    let a = CatInput {
        data: &x[..],
        shape: &s1,
        q,
    };
    let b = CatInput {
        data: &x[..],
        shape: &s2,
        q,
    };
    assert!(matches!(
        elementwise::cat(&[a, b], 1, q),
        Err(OpError::ShapeMismatch(_))
    ));
    assert!(matches!(
        elementwise::cat(&[a], 2, q),
        Err(OpError::ShapeMismatch(_))
    ));
    assert!(matches!(
        elementwise::cat::<u8>(&[], 0, q),
        Err(OpError::ShapeMismatch(_))
    ));
    assert!(matches!(
        elementwise::cat(&[b], 0, q),
        Err(OpError::LengthMismatch { .. })
    ));
    let p = [1.0f32];
    let bn = BatchNorm2d {
        weight: &p,
        bias: &p,
        running_mean: &p,
        running_var: &p,
        eps: 1e-5,
    };
    assert!(matches!(
        elementwise::batch_norm2d(v, Nchw::new(1, 3, 1, 1), &bn, q),
        Err(OpError::LengthMismatch { what: "weight", .. })
    ));
    assert!(matches!(
        elementwise::batch_norm2d(v, Nchw::new(1, 1, 2, 1), &bn, q),
        Err(OpError::LengthMismatch { what: "x", .. })
    ));
    let bad_eps = BatchNorm2d {
        eps: f64::NAN,
        ..bn
    };
    assert!(matches!(
        elementwise::batch_norm2d(v, Nchw::new(1, 1, 3, 1), &bad_eps, q),
        Err(OpError::InvalidParameter { name: "eps", .. })
    ));
}
