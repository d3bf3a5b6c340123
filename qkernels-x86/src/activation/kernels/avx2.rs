//! AVX2 body of the `u8` clamp (32 bytes per step).

use std::arch::x86_64::*;

/// `out[i] = min(max(x[i], lo), hi)`.
///
/// # Safety
/// AVX2 must be available; `x` and `out` have equal lengths.
#[target_feature(enable = "avx2")]
pub(super) unsafe fn clamp_u8(x: &[u8], lo: u8, hi: u8, out: &mut [u8]) {
    let n = x.len().min(out.len());
    let (vlo, vhi) = (_mm256_set1_epi8(lo as i8), _mm256_set1_epi8(hi as i8));
    let mut i = 0;
    while i + 32 <= n {
        // SAFETY: i + 32 <= n bounds both slices; loads and stores are unaligned.
        unsafe {
            let v = _mm256_loadu_si256(x.as_ptr().add(i).cast());
            let r = _mm256_min_epu8(_mm256_max_epu8(v, vlo), vhi);
            _mm256_storeu_si256(out.as_mut_ptr().add(i).cast(), r);
        }
        i += 32;
    }
    super::clamp_scalar(&x[i..n], lo, hi, &mut out[i..n]);
}
