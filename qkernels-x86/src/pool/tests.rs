//! Whole pooling operators: every available SIMD path equals the scalar
//! path on ragged shapes wide enough to run the vector loops.

use super::adaptive::adaptive_avg_pool2d_with_isa;
use super::avg_pool::avg_pool2d_with_isa;
use super::max_pool::max_pool2d_with_isa;
use super::{AvgPool2d, MaxPool2d};
use crate::isa::Isa;
use crate::nchw::Nchw;
use crate::quant::{Affine, QView};
use proptest::prelude::*;

fn simd_isas() -> Vec<Isa> {
    [Isa::Avx2, Isa::Avx512Vnni]
        .into_iter()
        .filter(|isa| {
            let ok = isa.is_available();
            if !ok {
                eprintln!("pool ops: {isa:?} not available on this CPU, skipped");
            }
            ok
        })
        .collect()
}

fn data(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_246_822_519).wrapping_add(seed) >> 9) as u8)
        .collect()
}

#[test]
fn pooling_simd_equals_scalar_on_ragged_widths() {
    let q = Affine::new(0.05, 77);
    for w in [1usize, 15, 16, 17, 31, 32, 33, 63, 64, 65, 66, 129, 200] {
        let s = Nchw::new(2, 3, 5, w);
        let x = data(s.numel().unwrap(), w as u32);
        let v = QView::new(&x[..], q);
        let mp = MaxPool2d {
            padding: [1, 1],
            stride: [1, 1],
            ..MaxPool2d::new([3, 3])
        };
        let ap = AvgPool2d {
            padding: [1, 1],
            stride: [1, 1],
            count_include_pad: false,
            ..AvgPool2d::new([3, 3])
        };
        let want_max = max_pool2d_with_isa(Isa::Scalar, v, s, &mp).unwrap();
        let want_avg = avg_pool2d_with_isa(Isa::Scalar, v, s, &ap).unwrap();
        let want_ada = adaptive_avg_pool2d_with_isa(Isa::Scalar, v, s, [1, 1]).unwrap();
        for isa in simd_isas() {
            assert_eq!(
                max_pool2d_with_isa(isa, v, s, &mp).unwrap(),
                want_max,
                "{isa:?} w={w}"
            );
            assert_eq!(
                avg_pool2d_with_isa(isa, v, s, &ap).unwrap(),
                want_avg,
                "{isa:?} w={w}"
            );
            assert_eq!(
                adaptive_avg_pool2d_with_isa(isa, v, s, [1, 1]).unwrap(),
                want_ada,
                "{isa:?} w={w}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn pooling_simd_equals_scalar_on_random_shapes(
        n in 1usize..3, c in 1usize..3, h in 1usize..8, w in 1usize..160,
        k in (1usize..4, 1usize..6), st in (1usize..3, 1usize..4),
        d in (1usize..3, 1usize..3), ceil in any::<bool>(), include_pad in any::<bool>(),
        out in (1usize..4, 1usize..9), zp in 0i32..256, seed in any::<u32>(),
    ) {
        let s = Nchw::new(n, c, h, w);
        let x = data(s.numel().unwrap(), seed);
        let v = QView::new(&x[..], Affine::new(0.1, zp));
        let mp = MaxPool2d {
            kernel: [k.0, k.1], stride: [st.0, st.1], padding: [k.0 / 2, k.1 / 2],
            dilation: [d.0, d.1], ceil_mode: ceil,
        };
        let ap = AvgPool2d {
            kernel: [k.0, k.1], stride: [st.0, st.1], padding: [k.0 / 2, k.1 / 2],
            ceil_mode: ceil, count_include_pad: include_pad, divisor_override: None,
        };
        let want_max = max_pool2d_with_isa(Isa::Scalar, v, s, &mp);
        let want_avg = avg_pool2d_with_isa(Isa::Scalar, v, s, &ap);
        let want_ada = adaptive_avg_pool2d_with_isa(Isa::Scalar, v, s, [out.0, out.1]);
        for isa in [Isa::Avx2, Isa::Avx512Vnni].into_iter().filter(|i| i.is_available()) {
            prop_assert_eq!(&max_pool2d_with_isa(isa, v, s, &mp), &want_max);
            prop_assert_eq!(&avg_pool2d_with_isa(isa, v, s, &ap), &want_avg);
            prop_assert_eq!(&adaptive_avg_pool2d_with_isa(isa, v, s, [out.0, out.1]), &want_ada);
        }
    }
}

/// Max pooling by its definition: every output takes the largest input under its window,
/// padding excluded.
fn reference_max_pool(x: &[u8], s: Nchw, p: &MaxPool2d, oh: usize, ow: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.n * s.c * oh * ow);
    for plane in 0..s.n * s.c {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut m = 0u8;
                for ky in 0..p.kernel[0] {
                    for kx in 0..p.kernel[1] {
                        let iy =
                            (oy * p.stride[0] + ky * p.dilation[0]) as i64 - p.padding[0] as i64;
                        let ix =
                            (ox * p.stride[1] + kx * p.dilation[1]) as i64 - p.padding[1] as i64;
                        if (0..s.h as i64).contains(&iy) && (0..s.w as i64).contains(&ix) {
                            m = m.max(x[(plane * s.h + iy as usize) * s.w + ix as usize]);
                        }
                    }
                }
                out.push(m);
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]
    #[test]
    fn max_pool_equals_its_definition(
        n in 1usize..3, c in 1usize..4, h in 1usize..10, w in 1usize..90,
        k in (1usize..4, 1usize..4), st in (1usize..3, 1usize..4),
        d in (1usize..3, 1usize..3), ceil in any::<bool>(), seed in any::<u32>(),
    ) {
        let s = Nchw::new(n, c, h, w);
        let x = data(s.numel().unwrap(), seed);
        let v = QView::new(&x[..], Affine::new(0.1, 3));
        let mp = MaxPool2d {
            kernel: [k.0, k.1], stride: [st.0, st.1], padding: [k.0 / 2, k.1 / 2],
            dilation: [d.0, d.1], ceil_mode: ceil,
        };
        for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni].into_iter().filter(|i| i.is_available()) {
            if let Ok((shape, got)) = max_pool2d_with_isa(isa, v, s, &mp) {
                prop_assert_eq!(got, reference_max_pool(&x, s, &mp, shape.h, shape.w));
            }
        }
    }
}
