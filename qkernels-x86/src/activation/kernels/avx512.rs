//! AVX-512 BW body of the `u8` clamp (64 bytes per step, the last partial
//! step masked).

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
    while i < n {
        let len = n - i;
        let m: __mmask64 = if len >= 64 {
            u64::MAX
        } else {
            (1u64 << len) - 1
        };
        // SAFETY: the mask selects bytes below n - i, inside both slices;
        // masked-off bytes are not accessed.
        unsafe {
            let v = _mm512_maskz_loadu_epi8(m, x.as_ptr().add(i).cast());
            let r = _mm512_min_epu8(_mm512_max_epu8(v, vlo), vhi);
            _mm512_mask_storeu_epi8(out.as_mut_ptr().add(i).cast(), m, r);
        }
        i += 64;
    }
}
