//! Cache-blocked, parallel layout changes between NC(S) and N(S)C, moving
//! 8 x 8 byte blocks with a register (SWAR) transpose.

use qtensor::threads;

/// Runs `f` on every `(index, chunk)` of `out`, in parallel when worthwhile.
fn for_chunks(out: &mut [u8], chunk: usize, f: impl Fn(usize, &mut [u8]) + Sync) {
    if out.len() < (1 << 16) {
        out.chunks_mut(chunk.max(1))
            .enumerate()
            .for_each(|(i, c)| f(i, c));
    } else {
        threads::for_each_chunk_mut(out, chunk, f);
    }
}

/// Transposes an 8 x 8 byte matrix held as 8 little-endian rows.
#[inline(always)]
fn transpose8(mut r: [u64; 8]) -> [u64; 8] {
    const M1: u64 = 0x00ff_00ff_00ff_00ff;
    const M2: u64 = 0x0000_ffff_0000_ffff;
    const M4: u64 = 0x0000_0000_ffff_ffff;
    for (i, j) in [(0, 1), (2, 3), (4, 5), (6, 7)] {
        let t = ((r[i] >> 8) ^ r[j]) & M1;
        r[j] ^= t;
        r[i] ^= t << 8;
    }
    for (i, j) in [(0, 2), (1, 3), (4, 6), (5, 7)] {
        let t = ((r[i] >> 16) ^ r[j]) & M2;
        r[j] ^= t;
        r[i] ^= t << 16;
    }
    for (i, j) in [(0, 4), (1, 5), (2, 6), (3, 7)] {
        let t = ((r[i] >> 32) ^ r[j]) & M4;
        r[j] ^= t;
        r[i] ^= t << 32;
    }
    r
}

#[inline(always)]
fn load8(s: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&s[at..at + 8]);
    u64::from_le_bytes(b)
}

#[inline(always)]
fn store8(d: &mut [u8], at: usize, v: u64) {
    d[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Transposes the `rows x cols` byte matrix at `src` (row stride `ls`) into
/// `dst` (row stride `ld`): `dst[j * ld + i] = src[i * ls + j]`.
fn transpose(src: &[u8], ls: usize, dst: &mut [u8], ld: usize, rows: usize, cols: usize) {
    let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
    for i0 in (0..r8).step_by(8) {
        for j0 in (0..c8).step_by(8) {
            let t = transpose8(std::array::from_fn(|k| load8(src, (i0 + k) * ls + j0)));
            for (k, &v) in t.iter().enumerate() {
                store8(dst, (j0 + k) * ld + i0, v);
            }
        }
        for j in c8..cols {
            for i in i0..i0 + 8 {
                dst[j * ld + i] = src[i * ls + j];
            }
        }
    }
    let rem = rows - r8;
    if rem == 0 {
        return;
    }
    // The last rows (fewer than 8, e.g. the channels of an RGB image): 8 columns at a time,
    // the missing rows read as zeros.
    for j0 in (0..c8).step_by(8) {
        let t = transpose8(std::array::from_fn(|k| {
            if k < rem {
                load8(src, (r8 + k) * ls + j0)
            } else {
                0
            }
        }));
        if ld == rem {
            // Dense destination: the 8 columns' values are one run of 8 * rem bytes.
            let mut run = [0u8; 64];
            for (k, v) in t.iter().enumerate() {
                run[k * rem..(k + 1) * rem].copy_from_slice(&v.to_le_bytes()[..rem]);
            }
            dst[j0 * ld..(j0 + 8) * ld].copy_from_slice(&run[..8 * rem]);
        } else {
            for (k, v) in t.iter().enumerate() {
                let at = (j0 + k) * ld + r8;
                for (d, b) in dst[at..at + rem].iter_mut().zip(v.to_le_bytes()) {
                    *d = b;
                }
            }
        }
    }
    for i in r8..rows {
        for j in c8..cols {
            dst[j * ld + i] = src[i * ls + j];
        }
    }
}

/// Transposes the `rows x cols` byte matrix at `src` (row stride `ls`) to a raw
/// destination: `*dst.add(j * ld + i) = src[i * ls + j]`.
///
/// # Safety
/// Every `dst.add(j * ld + i)` (`i < rows`, `j < cols`) must be valid for
/// writes and not accessed concurrently.
pub(crate) unsafe fn transpose_to_ptr(
    src: &[u8],
    ls: usize,
    dst: *mut u8,
    ld: usize,
    rows: usize,
    cols: usize,
) {
    let (r8, c8) = (rows / 8 * 8, cols / 8 * 8);
    for i0 in (0..r8).step_by(8) {
        for j0 in (0..c8).step_by(8) {
            let t = transpose8(std::array::from_fn(|k| load8(src, (i0 + k) * ls + j0)));
            for (k, &v) in t.iter().enumerate() {
                // SAFETY: 8 bytes at row j0+k, columns i0..i0+8 < rows (caller's contract).
                unsafe { (dst.add((j0 + k) * ld + i0) as *mut u64).write_unaligned(v.to_le()) };
            }
        }
        for j in c8..cols {
            for i in i0..i0 + 8 {
                // SAFETY: in bounds by the caller's contract.
                unsafe { *dst.add(j * ld + i) = src[i * ls + j] };
            }
        }
    }
    for i in r8..rows {
        for j in 0..cols {
            // SAFETY: in bounds by the caller's contract.
            unsafe { *dst.add(j * ld + i) = src[i * ls + j] };
        }
    }
}

/// `[N, C, S]` -> `[N, S, C]` into `out` (`N * C * S` bytes).
pub(crate) fn channels_last(x: &[u8], n: usize, c: usize, s: usize, out: &mut [u8]) {
    if c == 0 || s == 0 {
        return;
    }
    // Pixel blocks of about 16 KiB of output.
    let pb = (16 * 1024 / c).clamp(16, s.max(16)).min(s);
    for b in 0..n {
        let img = &mut out[b * s * c..(b + 1) * s * c];
        let src = &x[b * c * s..(b + 1) * c * s];
        for_chunks(img, pb * c, |blk, dst| {
            let s0 = blk * pb;
            let len = dst.len() / c;
            transpose(&src[s0..], s, dst, c, c, len);
        });
    }
}

/// `[N, C, D, H, W]` -> `[N, D + 2pd, H + 2ph, W + 2pw, C]` into `out` (that many bytes), the
/// borders filled with `fill`: im2col over a padded input never leaves it.
pub(crate) fn channels_last_padded(
    x: &[u8],
    (n, c): (usize, usize),
    sp: [usize; 3],
    pad: [usize; 3],
    fill: u8,
    out: &mut [u8],
) {
    let [d, h, w] = sp;
    let [dp, hp, wp] = [d + 2 * pad[0], h + 2 * pad[1], w + 2 * pad[2]];
    let s = d * h * w;
    debug_assert_eq!(out.len(), n * dp * hp * wp * c);
    if c == 0 || wp == 0 {
        return;
    }
    // Padded rows (fixed image, z, y), about 16 KiB of them per chunk.
    let row = wp * c;
    let per_chunk = (16 * 1024 / row).max(1);
    for_chunks(out, per_chunk * row, |chunk, dst| {
        for (r, dst) in dst.chunks_mut(row).enumerate() {
            let i = chunk * per_chunk + r;
            let (b, zp, yp) = (i / (dp * hp), (i / hp) % dp, i % hp);
            let (Some(z), Some(y)) = (
                zp.checked_sub(pad[0]).filter(|&z| z < d),
                yp.checked_sub(pad[1]).filter(|&y| y < h),
            ) else {
                dst.fill(fill);
                continue;
            };
            let (left, rest) = dst.split_at_mut(pad[2] * c);
            let (body, right) = rest.split_at_mut(w * c);
            left.fill(fill);
            right.fill(fill);
            transpose(&x[b * c * s + (z * h + y) * w..], s, body, c, c, w);
        }
    });
}

/// `[N, S, C]` -> `[N, C, S]` into `out` (`N * C * S` bytes).
pub(crate) fn channels_first(x: &[u8], n: usize, c: usize, s: usize, out: &mut [u8]) {
    if c == 0 || s == 0 {
        return;
    }
    const CB: usize = 16;
    for b in 0..n {
        let img = &mut out[b * c * s..(b + 1) * c * s];
        let src = &x[b * s * c..(b + 1) * s * c];
        for_chunks(img, CB * s, |blk, dst| {
            let c0 = blk * CB;
            let cb = dst.len() / s;
            transpose(&src[c0..], c, dst, s, s, cb);
        });
    }
}

thread_local! {
    static BUFFERS: std::cell::RefCell<Vec<Vec<u8>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A zeroed scratch buffer of `len` bytes, reused across calls on this thread
/// (saves page faults on large intermediate buffers).
pub(crate) fn take_buffer(len: usize) -> Vec<u8> {
    let mut v = BUFFERS.with(|b| b.borrow_mut().pop()).unwrap_or_default();
    v.clear();
    v.resize(len, 0);
    v
}

/// Returns a scratch buffer for reuse (buffers above 64 MiB are freed).
pub(crate) fn give_buffer(v: Vec<u8>) {
    if v.capacity() <= 64 << 20 {
        BUFFERS.with(|b| {
            let mut b = b.borrow_mut();
            if b.len() < 4 {
                b.push(v);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose8_is_a_transpose() {
        let rows: [u64; 8] =
            std::array::from_fn(|i| u64::from_le_bytes(std::array::from_fn(|j| (i * 8 + j) as u8)));
        let t = transpose8(rows);
        for (j, row) in t.iter().enumerate() {
            for (i, b) in row.to_le_bytes().iter().enumerate() {
                assert_eq!(*b as usize, i * 8 + j);
            }
        }
    }

    #[test]
    fn round_trip() {
        for &(n, c, s) in &[
            (1, 1, 1),
            (2, 3, 5),
            (1, 64, 3136),
            (3, 17, 1000),
            (1, 300, 7),
            (2, 8, 9),
        ] {
            let x: Vec<u8> = (0..n * c * s).map(|i| (i * 7 % 251) as u8).collect();
            let mut cl = vec![0; x.len()];
            channels_last(&x, n, c, s, &mut cl);
            for b in 0..n {
                for ch in 0..c {
                    for i in 0..s {
                        assert_eq!(cl[(b * s + i) * c + ch], x[(b * c + ch) * s + i]);
                    }
                }
            }
            let mut back = vec![0; x.len()];
            channels_first(&cl, n, c, s, &mut back);
            assert_eq!(back, x);
        }
    }

    #[test]
    fn padded_channels_last_matches_the_definition() {
        for &(n, c, sp, pad) in &[
            (1, 1, [1, 8, 8], [0, 1, 1]),
            (2, 3, [1, 5, 7], [0, 2, 1]),
            (1, 17, [2, 3, 9], [1, 1, 3]),
            (1, 64, [1, 33, 33], [0, 1, 1]),
        ] {
            let s: usize = sp.iter().product();
            let x: Vec<u8> = (0..n * c * s).map(|i| (i * 7 % 251) as u8).collect();
            let dims = [sp[0] + 2 * pad[0], sp[1] + 2 * pad[1], sp[2] + 2 * pad[2]];
            let mut out = vec![0; n * dims.iter().product::<usize>() * c];
            channels_last_padded(&x, (n, c), sp, pad, 255, &mut out);
            for b in 0..n {
                for z in 0..dims[0] {
                    for y in 0..dims[1] {
                        for xx in 0..dims[2] {
                            for ch in 0..c {
                                let at =
                                    (((b * dims[0] + z) * dims[1] + y) * dims[2] + xx) * c + ch;
                                let src = [z, y, xx]
                                    .iter()
                                    .zip(pad.iter().zip(&sp))
                                    .map(|(&v, (&p, &len))| v.checked_sub(p).filter(|&u| u < len))
                                    .collect::<Option<Vec<_>>>();
                                let want = match src {
                                    Some(v) => {
                                        x[(b * c + ch) * s + (v[0] * sp[1] + v[1]) * sp[2] + v[2]]
                                    }
                                    None => 255,
                                };
                                assert_eq!(out[at], want);
                            }
                        }
                    }
                }
            }
        }
    }
}
