//! f32 -> u8 quantization of dynamic activations, fbgemm's legacy `Quantize`:
//! `clamp(round_nearest_even(fma(x, 1/scale, zero_point)), 0, 255)`.

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
pub(crate) mod scalar;

use crate::isa::Isa;

/// Quantizes `src` into `dst` with `scale` (as `f32`) and `zero_point` on
/// `isa` (the scalar path if `isa` is not available on this CPU).
pub(crate) fn quantize_u8(isa: Isa, src: &[f32], dst: &mut [u8], scale: f32, zero_point: i32) {
    let inv = 1.0f32 / scale;
    let isa = if isa.is_available() { isa } else { Isa::Scalar };
    let n = src.len().min(dst.len());
    let (src, dst) = (&src[..n], &mut dst[..n]);
    match isa {
        // SAFETY: availability checked above; lengths are equal.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512Vnni => unsafe { avx512::quantize(src, dst, inv, zero_point) },
        // SAFETY: availability checked above; lengths are equal.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => unsafe { avx2::quantize(src, dst, inv, zero_point) },
        _ => scalar::quantize(src, dst, inv, zero_point),
    }
}

/// [`quantize_u8`] split across the workspace's threads when `src` is long (elementwise, so
/// the split changes no value).
pub(crate) fn quantize_u8_parallel(
    isa: Isa,
    src: &[f32],
    dst: &mut [u8],
    scale: f32,
    zero_point: i32,
) {
    const PART: usize = 1 << 15;
    let n = src.len().min(dst.len());
    if n < 2 * PART {
        return quantize_u8(isa, src, dst, scale, zero_point);
    }
    qtensor::threads::for_each_chunk_mut(&mut dst[..n], PART, |i, d| {
        quantize_u8(
            isa,
            &src[i * PART..i * PART + d.len()],
            d,
            scale,
            zero_point,
        );
    });
}
