//! Bad input gives a typed error, never a panic.

use qkernels_arm::{
    ConvParams, ConvWeights, KernelError, Kernels, LinearWeights, OutputSpec, Path, Pool2d, QView,
    U8Quant, WeightQuant,
};

fn q(scale: f64, zero_point: u8) -> U8Quant {
    U8Quant { scale, zero_point }
}

const WQ: WeightQuant = WeightQuant::PerTensor {
    scale: 0.01,
    zero_point: 0,
};

#[test]
fn scales_must_be_positive_normal_floats() {
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300] {
        assert!(
            matches!(U8Quant::new(bad, 0), Err(KernelError::BadScale { .. })),
            "{bad}"
        );
    }
    let k = Kernels::active();
    let x = [1u8, 2, 3];
    assert!(matches!(
        k.relu(&QView::new(&x, &[3], q(0.0, 0))),
        Err(KernelError::BadScale { .. })
    ));
}

#[test]
fn lengths_and_shapes_are_checked() {
    let k = Kernels::active();
    let w = [1i8; 6];
    let lw = |n, kk| LinearWeights {
        weight: &w,
        out_features: n,
        in_features: kk,
        quant: &WQ,
        bias: None,
    };
    assert!(matches!(
        k.pack_linear(&lw(4, 2)),
        Err(KernelError::LengthMismatch { .. })
    ));
    let packed = k.pack_linear(&lw(2, 3)).unwrap();
    let x = [0u8; 8];
    let out = OutputSpec::new(q(0.1, 0));
    assert!(matches!(
        k.linear(&packed, &QView::new(&x, &[2, 4], q(0.1, 0)), out),
        Err(KernelError::BadShape { .. })
    ));
    assert!(matches!(
        k.linear(&packed, &QView::new(&x[..5], &[2, 3], q(0.1, 0)), out),
        Err(KernelError::LengthMismatch { .. })
    ));
    assert!(matches!(
        k.linear_dynamic(&packed, &[f32::NAN, 0.0, 1.0], &[1, 3], false),
        Err(KernelError::NaN { .. })
    ));
    let per_channel = WeightQuant::PerChannel {
        scales: vec![0.1],
        zero_points: vec![0],
    };
    let lw = LinearWeights {
        weight: &w,
        out_features: 2,
        in_features: 3,
        quant: &per_channel,
        bias: None,
    };
    assert!(matches!(
        k.pack_linear(&lw),
        Err(KernelError::LengthMismatch { .. })
    ));
}

#[test]
fn conv_rejects_bad_geometry() {
    let k = Kernels::active();
    let w = [1i8; 2 * 3 * 3 * 3];
    let cw = ConvWeights {
        weight: &w,
        shape: &[2, 3, 3, 3],
        quant: &WQ,
        bias: None,
    };
    assert!(matches!(
        k.pack_conv(&cw, &ConvParams::new(&[1], &[0], &[1], 1)),
        Err(KernelError::BadParam { .. })
    ));
    assert!(matches!(
        k.pack_conv(&cw, &ConvParams::new(&[0, 1], &[0, 0], &[1, 1], 1)),
        Err(KernelError::BadParam { .. })
    ));
    assert!(matches!(
        k.pack_conv(&cw, &ConvParams::new(&[1, 1], &[0, 0], &[1, 1], 3)),
        Err(KernelError::BadShape { .. })
    ));
    let packed = k
        .pack_conv(&cw, &ConvParams::new(&[1, 1], &[0, 0], &[1, 1], 1))
        .unwrap();
    let x = [0u8; 3 * 2 * 2];
    let out = OutputSpec::new(q(0.1, 0));
    // A 2x2 input is smaller than the 3x3 kernel.
    assert!(matches!(
        k.conv(&packed, &QView::new(&x, &[1, 3, 2, 2], q(0.1, 0)), out),
        Err(KernelError::BadShape { .. })
    ));
    assert!(matches!(
        k.conv(&packed, &QView::new(&x, &[1, 4, 3, 1], q(0.1, 0)), out),
        Err(KernelError::BadShape { .. })
    ));
    let wt = [1i8; 3 * 2 * 3 * 3];
    let ct = ConvWeights {
        weight: &wt,
        shape: &[3, 2, 3, 3],
        quant: &WQ,
        bias: None,
    };
    let packed = k
        .pack_conv(
            &ct,
            &ConvParams::transposed(&[2, 2], &[0, 0], &[1, 1], &[1, 1], 1),
        )
        .unwrap();
    let x = [0u8; 3 * 4];
    let relu = OutputSpec::relu(q(0.1, 0));
    assert!(matches!(
        k.conv(&packed, &QView::new(&x, &[1, 3, 2, 2], q(0.1, 0)), relu),
        Err(KernelError::Unsupported { .. })
    ));
    assert!(k
        .pack_conv(
            &ct,
            &ConvParams::transposed(&[2, 2], &[0, 0], &[2, 0], &[1, 1], 1)
        )
        .is_err());
}

#[test]
fn qnnpack_limits_are_errors() {
    let k = Kernels::active();
    let x = [0u8; 16];
    let v = QView::new(&x, &[1, 1, 4, 4], q(0.1, 0));
    // QNNPACK add: scale ratios must lie in [2^-14, 2^8).
    assert!(matches!(
        k.add(&v, &v, q(1e-6, 0), false),
        Err(KernelError::Unsupported { .. })
    ));
    // Different shapes are not broadcast.
    let w = QView::new(&x[..8], &[1, 1, 2, 4], q(0.1, 0));
    assert!(matches!(
        k.add(&v, &w, q(0.1, 0), false),
        Err(KernelError::Unsupported { .. })
    ));
    assert!(matches!(
        k.sigmoid(&v, q(0.1, 0)),
        Err(KernelError::Unsupported { .. })
    ));
    assert!(matches!(
        k.avg_pool2d(&v, &Pool2d::new([1, 1], [1, 1], [0, 0])),
        Err(KernelError::Unsupported { .. })
    ));
    assert!(matches!(
        k.max_pool2d(&v, &Pool2d::new([3, 3], [1, 1], [2, 2])),
        Err(KernelError::BadParam { .. })
    ));
    assert!(matches!(
        k.cat(&[], 0, q(0.1, 0)),
        Err(KernelError::BadParam { .. })
    ));
    assert!(matches!(
        k.cat(&[v, w], 3, q(0.1, 0)),
        Err(KernelError::BadShape { .. })
    ));
}

#[test]
fn unavailable_paths_are_reported() {
    for path in Path::ALL {
        match Kernels::new(path) {
            Ok(k) => assert_eq!(k.path(), path),
            Err(e) => assert_eq!(e, KernelError::PathUnavailable { path }),
        }
        assert_eq!(Path::from_name(path.name()), Some(path));
    }
    assert_eq!(Path::from_name("avx"), None);
}
