//! Portable depthwise micro-kernel: one output pixel, every channel.

use crate::dwconv::{DwArgs, CR};
use crate::requant::requantize;

/// `out[c] = requantize(init[c] + sum_s (x[s][c] - az) * (w[c][s] - wz[c]))`.
pub(crate) fn pixel(t: &DwArgs, out: &mut [u8]) {
    debug_assert!(t.in_bounds());
    let ks = t.offsets.len();
    let az = i32::from(t.input_zp);
    for (c, o) in out.iter_mut().enumerate().take(t.channels) {
        let (blk, n) = (c / CR, c % CR);
        let wz = i32::from(t.wzp[c]);
        let mut acc = t.init[c];
        for (s, &off) in t.offsets.iter().enumerate() {
            let a = i32::from(t.input[off + c]) - az;
            let w = i32::from(t.weights[(blk * ks + s) * CR + n]) - wz;
            acc = acc.wrapping_add(a * w);
        }
        *o = requantize(acc, t.scales[c], t.output_zp, t.min, t.max);
    }
}
