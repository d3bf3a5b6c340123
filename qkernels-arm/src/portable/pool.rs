//! Portable pooling kernels over pixel offsets into an NHWC buffer.

use crate::requant::avgpool_requantize;

/// `dst[c] = max over rows of input[offset + c]`.
pub(crate) fn max(input: &[u8], offsets: &[usize], dst: &mut [u8]) {
    dst.fill(0);
    for &o in offsets {
        for (d, &v) in dst.iter_mut().zip(&input[o..]) {
            *d = (*d).max(v);
        }
    }
}

/// `dst[c] = avgpool_requantize(bias + sum over rows of input[offset + c])`.
pub(crate) fn avg(input: &[u8], offsets: &[usize], bias: i32, scale: f32, zp: u8, dst: &mut [u8]) {
    for (c, d) in dst.iter_mut().enumerate() {
        let acc = offsets
            .iter()
            .fold(bias, |acc, &o| acc.wrapping_add(i32::from(input[o + c])));
        *d = avgpool_requantize(acc, scale, zp, 0, 255);
    }
}
