//! Binary elementwise kernels (add, mul) with per-ISA bodies.
//!
//! `scalar` defines the numerics; `avx2` and `avx512` must equal it bit for
//! bit (tested below on ragged lengths). SIMD bodies exist for `u8`
//! (quint8, the fbgemm activation type); `i8` runs the scalar body.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
pub(crate) mod scalar;

use crate::isa::Isa;
use crate::quant::QInt;

/// Constants of `qadd_kernel`: both inputs dequantized with the fused form,
/// summed in `f32`, optionally clamped at 0, quantized with `inv_out`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AddParams {
    pub a_scale: f32,
    pub a_premul: f32,
    pub b_scale: f32,
    pub b_premul: f32,
    pub inv_out: f32,
    pub out_zp: i32,
    pub relu: bool,
}

/// Constants of `qmul_kernel`: integer product of the zero-point-shifted
/// inputs, requantized with `multiplier = a_scale * b_scale * (1 / out_scale)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MulParams {
    pub a_zp: i32,
    pub b_zp: i32,
    pub multiplier: f32,
    pub out_zp: i32,
    pub relu: bool,
}

/// `out[i] = add(a[i], b[i])`; the three slices have equal lengths.
pub(crate) fn add<T: QInt>(isa: Isa, p: &AddParams, a: &[T], b: &[T], out: &mut [T]) {
    debug_assert!(a.len() == out.len() && b.len() == out.len());
    #[cfg(target_arch = "x86_64")]
    if isa != Isa::Scalar && isa.is_available() {
        if let (Some(a8), Some(b8)) = (T::as_u8(a), T::as_u8(b)) {
            if let Some(o8) = T::as_u8_mut(out) {
                match isa {
                    // SAFETY: AVX-512 F/BW/VL, AVX2 and FMA were detected above.
                    Isa::Avx512Vnni => unsafe { avx512::add_u8(p, a8, b8, o8) },
                    // SAFETY: AVX2 and FMA were detected above.
                    _ => unsafe { avx2::add_u8(p, a8, b8, o8) },
                }
                return;
            }
        }
    }
    let _ = isa;
    scalar::add(p, a, b, out);
}

/// `out[i] = mul(a[i], b[i])`; the three slices have equal lengths.
pub(crate) fn mul<T: QInt>(isa: Isa, p: &MulParams, a: &[T], b: &[T], out: &mut [T]) {
    debug_assert!(a.len() == out.len() && b.len() == out.len());
    #[cfg(target_arch = "x86_64")]
    if isa != Isa::Scalar && isa.is_available() {
        if let (Some(a8), Some(b8)) = (T::as_u8(a), T::as_u8(b)) {
            if let Some(o8) = T::as_u8_mut(out) {
                match isa {
                    // SAFETY: AVX-512 F/BW/VL, AVX2 and FMA were detected above.
                    Isa::Avx512Vnni => unsafe { avx512::mul_u8(p, a8, b8, o8) },
                    // SAFETY: AVX2 and FMA were detected above.
                    _ => unsafe { avx2::mul_u8(p, a8, b8, o8) },
                }
                return;
            }
        }
    }
    let _ = isa;
    scalar::mul(p, a, b, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RAGGED: [usize; 14] = [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 200];

    fn pattern(len: usize, seed: u32) -> Vec<u8> {
        (0..len as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
            .collect()
    }

    fn add_params(relu: bool) -> AddParams {
        AddParams {
            a_scale: 0.0166,
            a_premul: 0.0166 * -121.0,
            b_scale: 0.0171,
            b_premul: 0.0171 * -58.0,
            inv_out: 1.0 / 0.05f32,
            out_zp: 50,
            relu,
        }
    }

    fn check_all_isas<F: Fn(Isa) -> Vec<u8>>(name: &str, run: F) {
        let want = run(Isa::Scalar);
        for isa in [Isa::Avx2, Isa::Avx512Vnni] {
            if !isa.is_available() {
                eprintln!("{name}: {isa:?} not available on this CPU, skipped");
                continue;
            }
            assert_eq!(run(isa), want, "{name}: {isa:?} differs from scalar");
        }
    }

    #[test]
    fn simd_add_equals_scalar_on_ragged_lengths() {
        for len in RAGGED {
            for relu in [false, true] {
                let (a, b) = (pattern(len, 1), pattern(len, 99));
                check_all_isas(&format!("add len={len} relu={relu}"), |isa| {
                    let mut out = vec![0u8; len];
                    add(isa, &add_params(relu), &a, &b, &mut out);
                    out
                });
            }
        }
    }

    #[test]
    fn simd_mul_equals_scalar_on_ragged_lengths() {
        for len in RAGGED {
            for relu in [false, true] {
                let (a, b) = (pattern(len, 5), pattern(len, 77));
                let p = MulParams {
                    a_zp: 120,
                    b_zp: 63,
                    multiplier: 0.0166 * 0.0159 * (1.0 / 0.05f32),
                    out_zp: 50,
                    relu,
                };
                check_all_isas(&format!("mul len={len} relu={relu}"), |isa| {
                    let mut out = vec![0u8; len];
                    mul(isa, &p, &a, &b, &mut out);
                    out
                });
            }
        }
    }

    proptest! {
        #[test]
        fn simd_add_and_mul_equal_scalar_on_random_inputs(
            ab in (0usize..300).prop_flat_map(|n| (
                proptest::collection::vec(any::<u8>(), n),
                proptest::collection::vec(any::<u8>(), n),
            )),
            sa in 1e-3f32..1.0, sb in 1e-3f32..1.0, so in 1e-3f32..1.0,
            za in 0i32..256, zb in 0i32..256, zo in 0i32..256,
            relu in any::<bool>(),
        ) {
            let (a, b) = ab;
            let pa = AddParams {
                a_scale: sa, a_premul: sa * -(za as f32),
                b_scale: sb, b_premul: sb * -(zb as f32),
                inv_out: 1.0 / so, out_zp: zo, relu,
            };
            let pm = MulParams { a_zp: za, b_zp: zb, multiplier: sa * sb * (1.0 / so), out_zp: zo, relu };
            let mut want_add = vec![0u8; a.len()];
            let mut want_mul = vec![0u8; a.len()];
            scalar::add(&pa, &a, &b, &mut want_add);
            scalar::mul(&pm, &a, &b, &mut want_mul);
            for isa in [Isa::Avx2, Isa::Avx512Vnni].into_iter().filter(|i| i.is_available()) {
                let mut got = vec![0u8; a.len()];
                add(isa, &pa, &a, &b, &mut got);
                prop_assert_eq!(&got, &want_add);
                mul(isa, &pm, &a, &b, &mut got);
                prop_assert_eq!(&got, &want_mul);
            }
        }
    }
}
