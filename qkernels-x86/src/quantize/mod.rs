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

/// Activation rows quantized on the fly while the GEMM packs them (fbgemm's
/// `PackAWithQuantRowOffset`): each task quantizes the rows it uses, so the quantization is
/// spread over the threads and no quantized copy of the whole input is made.
pub(crate) struct QuantizingA<'a> {
    /// Row-major `[rows, k]` floats.
    pub x: &'a [f32],
    /// Number of rows.
    pub rows: usize,
    /// Row length.
    pub k: usize,
    /// Quantization scale (as `f32`) and zero point.
    pub scale: f32,
    /// Zero point.
    pub zero_point: i32,
    /// ISA of the quantization loop.
    pub isa: Isa,
}

impl crate::gemm::ASource for QuantizingA<'_> {
    fn rows(&self) -> usize {
        self.rows
    }
    fn pack_rows(
        &self,
        r0: usize,
        rows: usize,
        kp: usize,
        dst: &mut [u8],
        mut sums: Option<&mut [i32]>,
    ) {
        for r in 0..rows {
            let src = &self.x[(r0 + r) * self.k..(r0 + r + 1) * self.k];
            let d = &mut dst[r * kp..(r + 1) * kp];
            quantize_u8(self.isa, src, &mut d[..self.k], self.scale, self.zero_point);
            d[self.k..].fill(0);
            if let Some(s) = sums.as_deref_mut() {
                s[r] = crate::gemm::row_sum(&d[..self.k]);
            }
        }
    }
}
