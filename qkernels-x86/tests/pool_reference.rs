//! max_pool2d / avg_pool2d / adaptive_avg_pool2d / upsample_nearest2d against
//! direct float references, plus input validation.

mod common;

use common::{assert_within_one, bytes, deq, quant};
use proptest::prelude::*;
use qkernels_x86::nchw::Nchw;
use qkernels_x86::op_error::OpError;
use qkernels_x86::pool::{self, AvgPool2d, MaxPool2d, UpsampleSize};
use qkernels_x86::quant::{Affine, QInt, QView};

fn at<T: QInt>(x: &[T], s: Nchw, n: usize, c: usize, y: usize, z: usize) -> T {
    x[((n * s.c + c) * s.h + y) * s.w + z]
}

/// Input positions of the dilated window taps along one axis.
fn taps(o: usize, stride: usize, pad: usize, k: usize, dil: usize, len: usize) -> Vec<usize> {
    (0..k)
        .map(|j| (o * stride + j * dil) as i64 - pad as i64)
        .filter(|&t| t >= 0 && (t as usize) < len)
        .map(|t| t as usize)
        .collect()
}

fn max_pool_reference<T: QInt>(x: &[T], s: Nchw, q: Affine, p: &MaxPool2d, o: Nchw) -> Vec<T> {
    let mut out = Vec::new();
    for n in 0..s.n {
        for c in 0..s.c {
            for oy in 0..o.h {
                for ox in 0..o.w {
                    let mut best: Option<f64> = None;
                    for &y in &taps(
                        oy,
                        p.stride[0],
                        p.padding[0],
                        p.kernel[0],
                        p.dilation[0],
                        s.h,
                    ) {
                        for &z in &taps(
                            ox,
                            p.stride[1],
                            p.padding[1],
                            p.kernel[1],
                            p.dilation[1],
                            s.w,
                        ) {
                            let v = deq(at(x, s, n, c, y, z), q);
                            best = Some(best.map_or(v, |b: f64| b.max(v)));
                        }
                    }
                    out.push(best.map_or(T::from_i32_sat(T::QMIN), |b| quant(b, q)));
                }
            }
        }
    }
    out
}

fn avg_pool_reference<T: QInt>(x: &[T], s: Nchw, q: Affine, p: &AvgPool2d, o: Nchw) -> Vec<T> {
    let mut out = Vec::new();
    let axis = |o: usize, k: usize, st: usize, pad: usize, len: usize| {
        let start = (o * st) as i64 - pad as i64;
        let end = (start + k as i64).min((len + pad) as i64);
        (
            start.max(0) as usize,
            end.min(len as i64) as usize,
            (end - start) as usize,
        )
    };
    for n in 0..s.n {
        for c in 0..s.c {
            for oy in 0..o.h {
                let (y0, y1, py) = axis(oy, p.kernel[0], p.stride[0], p.padding[0], s.h);
                for ox in 0..o.w {
                    let (z0, z1, pz) = axis(ox, p.kernel[1], p.stride[1], p.padding[1], s.w);
                    let mut total = 0.0;
                    for y in y0..y1 {
                        for z in z0..z1 {
                            total += deq(at(x, s, n, c, y, z), q);
                        }
                    }
                    let divisor = match p.divisor_override {
                        Some(d) => d,
                        None if p.count_include_pad => py * pz,
                        None => (y1 - y0) * (z1 - z0),
                    };
                    out.push(quant(total / divisor as f64, q));
                }
            }
        }
    }
    out
}

fn adaptive_reference<T: QInt>(x: &[T], s: Nchw, q: Affine, o: Nchw) -> Vec<T> {
    let axis = |o: usize, out: usize, len: usize| (o * len / out, ((o + 1) * len).div_ceil(out));
    let mut res = Vec::new();
    for n in 0..s.n {
        for c in 0..s.c {
            for oy in 0..o.h {
                let (y0, y1) = axis(oy, o.h, s.h);
                for ox in 0..o.w {
                    let (z0, z1) = axis(ox, o.w, s.w);
                    let mut total = 0.0;
                    for y in y0..y1 {
                        for z in z0..z1 {
                            total += deq(at(x, s, n, c, y, z), q);
                        }
                    }
                    res.push(quant(total / ((y1 - y0) * (z1 - z0)) as f64, q));
                }
            }
        }
    }
    res
}

fn shape() -> impl Strategy<Value = Nchw> {
    (0usize..3, 1usize..4, 1usize..12, 1usize..12).prop_map(|(n, c, h, w)| Nchw::new(n, c, h, w))
}

proptest! {
    #[test]
    fn max_pool_matches_reference(
        s in shape(),
        k in (1usize..5, 1usize..5), st in (1usize..4, 1usize..4),
        pf in (0usize..3, 0usize..3), d in (1usize..3, 1usize..3),
        ceil in any::<bool>(), q in (1e-3f64..1.0, 0i32..256), seed in any::<u64>(),
    ) {
        let p = MaxPool2d {
            kernel: [k.0, k.1], stride: [st.0, st.1],
            padding: [pf.0.min(k.0 / 2), pf.1.min(k.1 / 2)], dilation: [d.0, d.1], ceil_mode: ceil,
        };
        let q = Affine::new(q.0, q.1);
        let x = bytes(s.numel().unwrap(), seed);
        match pool::max_pool2d(QView::new(&x, q), s, &p) {
            Ok((o, y)) => prop_assert_eq!(y, max_pool_reference(&x, s, q, &p, o)),
            Err(e) => prop_assert!(matches!(e, OpError::EmptyOutput(_)), "{e}"),
        }
    }

    #[test]
    fn avg_pool_matches_reference(
        s in shape(),
        k in (1usize..5, 1usize..5), st in (1usize..4, 1usize..4), pf in (0usize..3, 0usize..3),
        ceil in any::<bool>(), include_pad in any::<bool>(),
        divisor in prop_oneof![Just(None), (1usize..20).prop_map(Some)],
        q in (1e-3f64..1.0, 0i32..256), seed in any::<u64>(),
    ) {
        let p = AvgPool2d {
            kernel: [k.0, k.1], stride: [st.0, st.1],
            padding: [pf.0.min(k.0 / 2), pf.1.min(k.1 / 2)], ceil_mode: ceil,
            count_include_pad: include_pad, divisor_override: divisor,
        };
        let q = Affine::new(q.0, q.1);
        let x = bytes(s.numel().unwrap(), seed);
        match pool::avg_pool2d(QView::new(&x, q), s, &p) {
            Ok((o, y)) => { assert_within_one("avg_pool2d", &y, &avg_pool_reference(&x, s, q, &p, o)); }
            Err(e) => prop_assert!(matches!(e, OpError::EmptyOutput(_)), "{e}"),
        }
    }

    #[test]
    fn adaptive_avg_pool_matches_reference(
        s in shape(), out in (1usize..6, 1usize..6),
        q in (1e-3f64..1.0, -128i32..128), seed in any::<u64>(),
    ) {
        let q = Affine::new(q.0, q.1);
        let x: Vec<i8> = bytes(s.numel().unwrap(), seed).into_iter().map(|b| b as i8).collect();
        let (o, y) = pool::adaptive_avg_pool2d(QView::new(&x, q), s, [out.0, out.1]).unwrap();
        prop_assert_eq!(o, Nchw::new(s.n, s.c, out.0, out.1));
        assert_within_one("adaptive_avg_pool2d", &y, &adaptive_reference(&x, s, q, o));
    }

    #[test]
    fn upsample_nearest_matches_integer_ratio_reference(
        s in shape(), kh in 1usize..4, kw in 1usize..4, by_size in any::<bool>(), seed in any::<u64>(),
    ) {
        let q = Affine::new(0.1, 3);
        let x = bytes(s.numel().unwrap(), seed);
        let size = if by_size {
            UpsampleSize::Size { h: s.h * kh, w: s.w * kw }
        } else {
            UpsampleSize::ScaleFactor { h: kh as f64, w: kw as f64 }
        };
        let (o, y) = pool::upsample_nearest2d(QView::new(&x, q), s, size).unwrap();
        prop_assert_eq!(o, Nchw::new(s.n, s.c, s.h * kh, s.w * kw));
        let mut want = Vec::new();
        for n in 0..s.n { for c in 0..s.c { for oy in 0..o.h { for ox in 0..o.w {
            want.push(at(&x, s, n, c, oy / kh, ox / kw));
        }}}}
        prop_assert_eq!(y, want);
    }
}

#[test]
fn upsample_by_size_can_downsample() {
    let s = Nchw::new(1, 2, 6, 9);
    let x = bytes(s.numel().unwrap(), 11);
    let q = Affine::new(0.1, 3);
    let (o, y) =
        pool::upsample_nearest2d(QView::new(&x, q), s, UpsampleSize::Size { h: 3, w: 3 }).unwrap();
    let mut want = Vec::new();
    for c in 0..2 {
        for oy in 0..3 {
            for ox in 0..3 {
                want.push(at(&x, s, 0, c, oy * 2, ox * 3));
            }
        }
    }
    assert_eq!((o, y), (Nchw::new(1, 2, 3, 3), want));
}

#[test]
fn invalid_inputs_are_typed_errors() {
    let s = Nchw::new(1, 1, 4, 4);
    let x = bytes(16, 1);
    let q = Affine::new(0.1, 3);
    let v = QView::new(&x[..], q);
    let bad = |p: MaxPool2d| pool::max_pool2d(v, s, &p);
    assert!(matches!(
        bad(MaxPool2d::new([0, 2])),
        Err(OpError::InvalidWindow(_))
    ));
    assert!(matches!(
        bad(MaxPool2d {
            stride: [0, 1],
            ..MaxPool2d::new([2, 2])
        }),
        Err(OpError::InvalidWindow(_))
    ));
    assert!(matches!(
        bad(MaxPool2d {
            dilation: [1, 0],
            ..MaxPool2d::new([2, 2])
        }),
        Err(OpError::InvalidWindow(_))
    ));
    assert!(matches!(
        bad(MaxPool2d {
            padding: [2, 0],
            ..MaxPool2d::new([3, 3])
        }),
        Err(OpError::InvalidWindow(_))
    ));
    assert!(matches!(
        bad(MaxPool2d::new([5, 5])),
        Err(OpError::EmptyOutput(_))
    ));
    assert!(matches!(
        pool::max_pool2d(QView::new(&x[..15], q), s, &MaxPool2d::new([2, 2])),
        Err(OpError::LengthMismatch { .. })
    ));
    assert!(matches!(
        pool::avg_pool2d(
            v,
            s,
            &AvgPool2d {
                divisor_override: Some(0),
                ..AvgPool2d::new([2, 2])
            }
        ),
        Err(OpError::InvalidWindow(_))
    ));
    assert!(matches!(
        pool::avg_pool2d(v, s, &AvgPool2d::new([0, 1])),
        Err(OpError::InvalidWindow(_))
    ));
    assert!(matches!(
        pool::avg_pool2d(
            QView::new(&x[..], Affine::new(-1.0, 0)),
            s,
            &AvgPool2d::new([2, 2])
        ),
        Err(OpError::InvalidScale { .. })
    ));
    assert!(matches!(
        pool::adaptive_avg_pool2d(v, s, [0, 1]),
        Err(OpError::EmptyOutput(_))
    ));
    assert!(matches!(
        pool::adaptive_avg_pool2d(QView::new(&x[..0], q), Nchw::new(1, 1, 0, 4), [1, 1]),
        Err(OpError::ShapeMismatch(_))
    ));
    assert!(matches!(
        pool::upsample_nearest2d(v, s, UpsampleSize::ScaleFactor { h: 0.0, w: 1.0 }),
        Err(OpError::InvalidParameter { .. })
    ));
    assert!(matches!(
        pool::upsample_nearest2d(v, s, UpsampleSize::ScaleFactor { h: 0.1, w: 1.0 }),
        Err(OpError::EmptyOutput(_))
    ));
    assert!(matches!(
        pool::upsample_nearest2d(v, s, UpsampleSize::Size { h: 2, w: 0 }),
        Err(OpError::EmptyOutput(_))
    ));
}

#[test]
fn wide_rows_through_the_fast_paths_match_reference() {
    // Widths past the vector lengths, so the public entry points run the
    // detected SIMD path on most of each row.
    for w in [33usize, 64, 100, 131] {
        let s = Nchw::new(1, 2, 7, w);
        let x = bytes(s.numel().unwrap(), w as u64);
        let q = Affine::new(0.037, 61);
        let v = QView::new(&x[..], q);
        let mp = MaxPool2d {
            padding: [1, 1],
            stride: [2, 1],
            ..MaxPool2d::new([3, 3])
        };
        let (o, y) = pool::max_pool2d(v, s, &mp).unwrap();
        assert_eq!(y, max_pool_reference(&x, s, q, &mp, o), "max w={w}");
        let ap = AvgPool2d {
            padding: [1, 1],
            stride: [1, 2],
            ..AvgPool2d::new([3, 3])
        };
        let (o, y) = pool::avg_pool2d(v, s, &ap).unwrap();
        assert_within_one("avg", &y, &avg_pool_reference(&x, s, q, &ap, o));
        let (o, y) = pool::adaptive_avg_pool2d(v, s, [1, 1]).unwrap();
        assert_within_one("adaptive", &y, &adaptive_reference(&x, s, q, o));
    }
}
