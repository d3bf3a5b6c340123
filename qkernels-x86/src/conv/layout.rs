//! Cache-blocked, parallel layout changes between NC(S) and N(S)C.

use crate::threads;
use rayon::prelude::*;

/// Runs `f` on every `(index, chunk)` of `out`, in parallel when worthwhile.
fn for_chunks(out: &mut [u8], chunk: usize, f: impl Fn(usize, &mut [u8]) + Sync + Send) {
    if out.is_empty() || chunk == 0 {
        return;
    }
    threads::run(|nt| {
        if nt <= 1 || out.len() < (1 << 16) {
            out.chunks_mut(chunk).enumerate().for_each(|(i, c)| f(i, c));
        } else {
            out.par_chunks_mut(chunk)
                .enumerate()
                .for_each(|(i, c)| f(i, c));
        }
    });
}

/// `[N, C, S]` -> `[N, S, C]`.
pub(crate) fn channels_last(x: &[u8], n: usize, c: usize, s: usize) -> Vec<u8> {
    let mut out = vec![0u8; n * c * s];
    if c == 0 || s == 0 {
        return out;
    }
    // Pixel blocks of about 16 KiB of output.
    let pb = (16 * 1024 / c).clamp(16, s.max(16)).min(s);
    // Chunks must not straddle images: iterate per image.
    for b in 0..n {
        let img = &mut out[b * s * c..(b + 1) * s * c];
        let src = &x[b * c * s..(b + 1) * c * s];
        for_chunks(img, pb * c, |blk, dst| {
            let s0 = blk * pb;
            let len = dst.len() / c;
            let mut ch = 0;
            // Eight channels at a time: one 8-byte store per pixel.
            while ch + 8 <= c {
                let rows: [&[u8]; 8] =
                    std::array::from_fn(|j| &src[(ch + j) * s + s0..(ch + j) * s + s0 + len]);
                for i in 0..len {
                    let v: [u8; 8] = std::array::from_fn(|j| rows[j][i]);
                    dst[i * c + ch..i * c + ch + 8].copy_from_slice(&v);
                }
                ch += 8;
            }
            for ch in ch..c {
                let row = &src[ch * s + s0..ch * s + s0 + len];
                for (i, &v) in row.iter().enumerate() {
                    dst[i * c + ch] = v;
                }
            }
        });
    }
    out
}

/// `[N, S, C]` -> `[N, C, S]`.
pub(crate) fn channels_first(x: &[u8], n: usize, c: usize, s: usize) -> Vec<u8> {
    let mut out = vec![0u8; n * c * s];
    if c == 0 || s == 0 {
        return out;
    }
    const CB: usize = 16;
    const IB: usize = 256;
    for b in 0..n {
        let img = &mut out[b * c * s..(b + 1) * c * s];
        let src = &x[b * s * c..(b + 1) * s * c];
        for_chunks(img, CB * s, |blk, dst| {
            let c0 = blk * CB;
            let cb = dst.len() / s;
            let mut i0 = 0;
            while i0 < s {
                let i1 = (i0 + IB).min(s);
                if cb == CB {
                    let (planes, _) = dst.split_at_mut(CB * s);
                    let mut planes: Vec<&mut [u8]> = planes.chunks_exact_mut(s).collect();
                    for i in i0..i1 {
                        let px: &[u8; CB] = src[i * c + c0..i * c + c0 + CB]
                            .try_into()
                            .unwrap_or(&[0; CB]);
                        for (plane, &v) in planes.iter_mut().zip(px) {
                            plane[i] = v;
                        }
                    }
                } else {
                    for i in i0..i1 {
                        let px = &src[i * c + c0..i * c + c0 + cb];
                        for (cc, &v) in px.iter().enumerate() {
                            dst[cc * s + i] = v;
                        }
                    }
                }
                i0 = i1;
            }
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for &(n, c, s) in &[
            (1, 1, 1),
            (2, 3, 5),
            (1, 64, 3136),
            (3, 17, 1000),
            (1, 300, 7),
        ] {
            let x: Vec<u8> = (0..n * c * s).map(|i| (i * 7 % 251) as u8).collect();
            let cl = channels_last(&x, n, c, s);
            for b in 0..n {
                for ch in 0..c {
                    for i in 0..s {
                        assert_eq!(cl[(b * s + i) * c + ch], x[(b * c + ch) * s + i]);
                    }
                }
            }
            assert_eq!(channels_first(&cl, n, c, s), x);
        }
    }
}
