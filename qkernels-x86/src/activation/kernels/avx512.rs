//! AVX-512 BW body of the `u8` clamp (64 bytes per step).

use std::arch::x86_64::*;

/// `out[i] = min(max(x[i], lo), hi)`.
///
/// # Safety
/// AVX-512 F/BW must be available; `x` and `out` have equal lengths.
#[target_feature(enable = "avx512f,avx512bw")]
pub(super) unsafe fn clamp_u8(x: &[u8], lo: u8, hi: u8, out: &mut [u8]) {
    let n = x.len().min(out.len());
    let (vlo, vhi) = (_mm512_set1_epi8(lo as i8), _mm512_set1_epi8(hi as i8));
    let mut i = 0;
    while i + 64 <= n {
        // SAFETY: i + 64 <= n bounds both slices; loads and stores are unaligned.
        unsafe {
            let v = _mm512_loadu_si512(x.as_ptr().add(i).cast());
            let r = _mm512_min_epu8(_mm512_max_epu8(v, vlo), vhi);
            _mm512_storeu_si512(out.as_mut_ptr().add(i).cast(), r);
        }
        i += 64;
    }
    super::clamp_scalar(&x[i..n], lo, hi, &mut out[i..n]);
}
