//! The integer clamp behind `relu` / `relu6`, with per-ISA bodies.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;

use crate::isa::Isa;
use crate::quant::QInt;

/// Portable body: `out[i] = min(max(x[i], lo), hi)`.
pub(crate) fn clamp_scalar<T: QInt>(x: &[T], lo: T, hi: T, out: &mut [T]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v.max(lo).min(hi);
    }
}

/// `out[i] = min(max(x[i], lo), hi)`; `x` and `out` have equal lengths.
pub(crate) fn clamp<T: QInt>(isa: Isa, x: &[T], lo: T, hi: T, out: &mut [T]) {
    debug_assert_eq!(x.len(), out.len());
    #[cfg(target_arch = "x86_64")]
    if isa != Isa::Scalar && isa.is_available() {
        if let (Some(x8), Some(lo8), Some(hi8)) = (
            T::as_u8(x),
            T::as_u8(std::slice::from_ref(&lo)),
            T::as_u8(std::slice::from_ref(&hi)),
        ) {
            let (lo8, hi8) = (lo8[0], hi8[0]);
            if let Some(o8) = T::as_u8_mut(out) {
                match isa {
                    // SAFETY: AVX-512 F/BW and AVX2 were detected above.
                    Isa::Avx512Vnni => unsafe { avx512::clamp_u8(x8, lo8, hi8, o8) },
                    // SAFETY: AVX2 was detected above.
                    _ => unsafe { avx2::clamp_u8(x8, lo8, hi8, o8) },
                }
                return;
            }
        }
    }
    let _ = isa;
    clamp_scalar(x, lo, hi, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn simd_clamp_equals_scalar_on_ragged_lengths() {
        for len in [
            0usize, 1, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 300,
        ] {
            let x: Vec<u8> = (0..len).map(|i| (i * 37 % 256) as u8).collect();
            let mut want = vec![0u8; len];
            clamp_scalar(&x, 40, 200, &mut want);
            for isa in [Isa::Avx2, Isa::Avx512Vnni] {
                if !isa.is_available() {
                    eprintln!("clamp len={len}: {isa:?} not available, skipped");
                    continue;
                }
                let mut got = vec![0u8; len];
                clamp(isa, &x, 40, 200, &mut got);
                assert_eq!(got, want, "{isa:?} len={len}");
            }
        }
    }

    proptest! {
        #[test]
        fn simd_clamp_equals_scalar_on_random_inputs(
            x in proptest::collection::vec(any::<u8>(), 0..400),
            lo in any::<u8>(), hi in any::<u8>(),
        ) {
            let mut want = vec![0u8; x.len()];
            clamp_scalar(&x, lo, hi, &mut want);
            for isa in [Isa::Avx2, Isa::Avx512Vnni].into_iter().filter(|i| i.is_available()) {
                let mut got = vec![0u8; x.len()];
                clamp(isa, &x, lo, hi, &mut got);
                prop_assert_eq!(&got, &want);
            }
        }
    }
}
