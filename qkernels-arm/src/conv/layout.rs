//! NCHW <-> NHWC copies (QNNPACK computes in channels-last order). The x86 path transposes
//! 16x16 blocks with SIMD; every path gives the same bytes.

use crate::Path;

/// `(n, c, s)` -> `(n, s, c)`, with `extra` trailing `fill` bytes, by the path's copy, into
/// `out` (cleared first).
pub(crate) fn to_nhwc_into(
    path: Path,
    x: &[u8],
    (n, c, s): (usize, usize, usize),
    extra: usize,
    fill: u8,
    out: &mut Vec<u8>,
) {
    out.clear();
    out.resize(n * s * c + extra, fill);
    match path {
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 | Path::Avx512Vnni => {
            let isa = crate::x86::Isa::of(path).expect("an x86 path");
            let m = crate::x86::layout::Mat {
                rows: c,
                cols: s,
                stride: s,
            };
            for b in 0..n {
                let dst = &mut out[b * s * c..][..s * c];
                crate::x86::layout::transpose(isa, &x[b * c * s..][..c * s], m, dst, c);
            }
        }
        _ => {
            for b in 0..n {
                for ch in 0..c {
                    let src = &x[(b * c + ch) * s..][..s];
                    for (p, &v) in src.iter().enumerate() {
                        out[(b * s + p) * c + ch] = v;
                    }
                }
            }
        }
    }
}

/// `x` in NHWC order with `extra` trailing `fill` bytes, into `out` (cleared first).
#[allow(clippy::too_many_arguments)]
pub(crate) fn nhwc_into(
    path: Path,
    x: &[u8],
    nchw: bool,
    (n, c, s): (usize, usize, usize),
    extra: usize,
    fill: u8,
    out: &mut Vec<u8>,
) {
    if nchw {
        to_nhwc_into(path, x, (n, c, s), extra, fill, out);
    } else {
        out.clear();
        out.extend_from_slice(x);
        out.resize(x.len() + extra, fill);
    }
}

/// `(n, s, c)` -> `(n, c, s)` by the path's copy.
pub(crate) fn to_nchw_on(path: Path, x: &[u8], n: usize, c: usize, s: usize) -> Vec<u8> {
    match path {
        #[cfg(target_arch = "x86_64")]
        Path::Avx2 | Path::Avx512Vnni => {
            let isa = crate::x86::Isa::of(path).expect("an x86 path");
            let mut out = vec![0u8; n * s * c];
            let m = crate::x86::layout::Mat {
                rows: s,
                cols: c,
                stride: c,
            };
            for b in 0..n {
                let dst = &mut out[b * s * c..][..s * c];
                crate::x86::layout::transpose(isa, &x[b * s * c..][..s * c], m, dst, s);
            }
            out
        }
        _ => to_nchw(x, n, c, s),
    }
}

/// `(n, s, c)` -> `(n, c, s)`.
pub(crate) fn to_nchw(x: &[u8], n: usize, c: usize, s: usize) -> Vec<u8> {
    let mut out = vec![0u8; n * s * c];
    for b in 0..n {
        for p in 0..s {
            let src = &x[(b * s + p) * c..][..c];
            for (ch, &v) in src.iter().enumerate() {
                out[(b * c + ch) * s + p] = v;
            }
        }
    }
    out
}

/// `x` in NHWC order with `extra` trailing `fill` bytes, copying only if it is NCHW.
#[allow(clippy::too_many_arguments)]
pub(crate) fn nhwc_with_extra(
    path: Path,
    x: &[u8],
    nchw: bool,
    n: usize,
    c: usize,
    s: usize,
    extra: usize,
    fill: u8,
) -> Vec<u8> {
    let mut v = Vec::new();
    nhwc_into(path, x, nchw, (n, c, s), extra, fill, &mut v);
    v
}
