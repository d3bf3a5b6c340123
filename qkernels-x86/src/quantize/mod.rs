//! f32 -> u8 quantization of dynamic activations, fbgemm's legacy `Quantize`:
//! `clamp(round_nearest_even(fma(x, 1/scale, zero_point)), 0, 255)`.

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
pub(crate) mod scalar;

use crate::isa::Isa;

/// Quantizes `src` into `dst` with `scale` (as `f32`) and `zero_point` on `isa`.
///
/// # Safety
/// `isa` must be available on this CPU; `dst.len() == src.len()`.
pub(crate) unsafe fn quantize_u8(
    isa: Isa,
    src: &[f32],
    dst: &mut [u8],
    scale: f32,
    zero_point: i32,
) {
    let inv = 1.0f32 / scale;
    match isa {
        // SAFETY: availability is the caller's contract.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => unsafe { avx512::quantize(src, dst, inv, zero_point) },
        // SAFETY: availability is the caller's contract.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2::quantize(src, dst, inv, zero_point) },
        _ => scalar::quantize(src, dst, inv, zero_point),
    }
}
