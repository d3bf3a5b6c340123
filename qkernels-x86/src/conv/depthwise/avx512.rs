//! AVX-512 VNNI depthwise tile: 16 channels per step, u8 zero-extended to i32
//! lanes and multiplied with i16 weights by `vpdpwssd` (exact). For 3x3
//! kernels the 9 weight vectors stay in registers across the pixels of a tile.

use crate::gemm::{Tile, TILE_LD};
use std::arch::x86_64::*;

/// See `scalar::tile`.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI; every read
/// `base + p * pix_stride + taps[t] + c0 + 0..nch.div_ceil(16) * 16` must lie
/// inside `xp`, `w` must hold `taps.len() * cp` lanes with
/// `c0 + nch.div_ceil(16) * 16 <= cp`, `np <= MR_MAX`, `nch <= 64`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn tile(
    xp: &[u8],
    base: usize,
    pix_stride: usize,
    np: usize,
    taps: &[usize],
    w: &[i32],
    cp: usize,
    c0: usize,
    nch: usize,
    acc: &mut Tile,
) {
    let (xptr, wptr, aptr) = (xp.as_ptr(), w.as_ptr(), acc.as_mut_ptr());
    for v in 0..nch.div_ceil(16) {
        let c = c0 + v * 16;
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            if taps.len() == 9 {
                let t9: &[usize; 9] = taps.try_into().unwrap_or(&[0; 9]);
                fixed9(
                    xptr,
                    base,
                    pix_stride,
                    np,
                    t9,
                    wptr,
                    cp,
                    c,
                    aptr.add(v * 16),
                );
            } else {
                for p in 0..np {
                    let pix = base + p * pix_stride + c;
                    let mut s = _mm512_setzero_si512();
                    for (t, &off) in taps.iter().enumerate() {
                        let x = _mm512_cvtepu8_epi32(_mm_loadu_si128(
                            xptr.add(pix + off) as *const __m128i
                        ));
                        let wv = _mm512_loadu_si512(wptr.add(t * cp + c) as *const __m512i);
                        s = _mm512_dpwssd_epi32(s, x, wv);
                    }
                    _mm512_storeu_si512(aptr.add(p * TILE_LD + v * 16) as *mut __m512i, s);
                }
            }
        }
    }
}

/// 9 taps with the weights held in registers.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn fixed9(
    xptr: *const u8,
    base: usize,
    pix_stride: usize,
    np: usize,
    taps: &[usize; 9],
    wptr: *const i32,
    cp: usize,
    c: usize,
    out: *mut i32,
) {
    // SAFETY: forwarded from `tile`'s contract.
    unsafe {
        let wv: [__m512i; 9] =
            std::array::from_fn(|t| _mm512_loadu_si512(wptr.add(t * cp + c) as *const __m512i));
        for p in 0..np {
            let pix = xptr.add(base + p * pix_stride + c);
            let mut s0 = _mm512_setzero_si512();
            let mut s1 = _mm512_setzero_si512();
            for t in 0..9 {
                let x = _mm512_cvtepu8_epi32(_mm_loadu_si128(pix.add(taps[t]) as *const __m128i));
                if t % 2 == 0 {
                    s0 = _mm512_dpwssd_epi32(s0, x, wv[t]);
                } else {
                    s1 = _mm512_dpwssd_epi32(s1, x, wv[t]);
                }
            }
            _mm512_storeu_si512(
                out.add(p * TILE_LD) as *mut __m512i,
                _mm512_add_epi32(s0, s1),
            );
        }
    }
}

/// Planar tile (see `scalar::plane_tile`), 4 x 16 output columns per row;
/// `sw` must be 1 or 2. 3x3 kernels keep the 9 broadcast weights in registers.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI; reads reach `base + (rows - 1) *
/// row_stride + max(taps) + 64 * sw + 16` bytes, which must lie inside `plane`;
/// `rows <= MR_MAX`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn plane_tile(
    plane: &[u8],
    base: usize,
    row_stride: usize,
    sw: usize,
    rows: usize,
    cols: usize,
    taps: &[usize],
    w: &[i32],
    acc: &mut Tile,
) {
    let _ = cols; // all 64 lanes are computed; the epilogue stores only `cols`.
                  // SAFETY: forwarded from the caller's contract.
    unsafe {
        match (taps.len(), sw) {
            (9, 1) => plane_fixed::<9, 1>(
                plane.as_ptr(),
                base,
                row_stride,
                rows,
                taps,
                w,
                acc.as_mut_ptr(),
            ),
            (9, _) => plane_fixed::<9, 2>(
                plane.as_ptr(),
                base,
                row_stride,
                rows,
                taps,
                w,
                acc.as_mut_ptr(),
            ),
            (_, 1) => plane_dyn::<1>(
                plane.as_ptr(),
                base,
                row_stride,
                rows,
                taps,
                w,
                acc.as_mut_ptr(),
            ),
            _ => plane_dyn::<2>(
                plane.as_ptr(),
                base,
                row_stride,
                rows,
                taps,
                w,
                acc.as_mut_ptr(),
            ),
        }
    }
}

/// 16 zero-extended inputs for output columns `p, p + SW, ...`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn load16<const SW: usize>(p: *const u8) -> __m512i {
    // SAFETY: the caller guarantees 16 * SW readable bytes at `p`.
    unsafe {
        if SW == 1 {
            _mm512_cvtepu8_epi32(_mm_loadu_si128(p as *const __m128i))
        } else {
            let x = _mm512_cvtepu16_epi32(_mm256_loadu_si256(p as *const __m256i));
            _mm512_and_si512(x, _mm512_set1_epi32(0xff))
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn plane_fixed<const T: usize, const SW: usize>(
    plane: *const u8,
    base: usize,
    row_stride: usize,
    rows: usize,
    taps: &[usize],
    w: &[i32],
    acc: *mut i32,
) {
    let wv: [__m512i; T] = std::array::from_fn(|t| _mm512_set1_epi32(w[t] as i16 as u16 as i32));
    let offs: [usize; T] = std::array::from_fn(|t| taps[t]);
    for r in 0..rows {
        let mut s = [_mm512_setzero_si512(); 4];
        // SAFETY: reads stay inside the plane (caller's contract).
        unsafe {
            let row = plane.add(base + r * row_stride);
            for t in 0..T {
                for (v, sv) in s.iter_mut().enumerate() {
                    let x = load16::<SW>(row.add(offs[t] + v * 16 * SW));
                    *sv = _mm512_dpwssd_epi32(*sv, x, wv[t]);
                }
            }
            for (v, sv) in s.iter().enumerate() {
                _mm512_storeu_si512(acc.add(r * TILE_LD + v * 16) as *mut __m512i, *sv);
            }
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
#[allow(clippy::too_many_arguments)]
unsafe fn plane_dyn<const SW: usize>(
    plane: *const u8,
    base: usize,
    row_stride: usize,
    rows: usize,
    taps: &[usize],
    w: &[i32],
    acc: *mut i32,
) {
    for r in 0..rows {
        let mut s = [_mm512_setzero_si512(); 4];
        // SAFETY: reads stay inside the plane (caller's contract).
        unsafe {
            let row = plane.add(base + r * row_stride);
            for (&off, &wt) in taps.iter().zip(w) {
                let wv = _mm512_set1_epi32(wt as i16 as u16 as i32);
                for (v, sv) in s.iter_mut().enumerate() {
                    let x = load16::<SW>(row.add(off + v * 16 * SW));
                    *sv = _mm512_dpwssd_epi32(*sv, x, wv);
                }
            }
            for (v, sv) in s.iter().enumerate() {
                _mm512_storeu_si512(acc.add(r * TILE_LD + v * 16) as *mut __m512i, *sv);
            }
        }
    }
}
