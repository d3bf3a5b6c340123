//! Portable elementwise kernels: QNNPACK's fixed-point add and table lookup.

use crate::lut::Lut;
use crate::requant::AddParams;

/// `y[i] = add(a[i], b[i])`.
pub(crate) fn add(p: &AddParams, a: &[u8], b: &[u8], y: &mut [u8]) {
    for ((y, &a), &b) in y.iter_mut().zip(a).zip(b) {
        *y = p.apply(a, b);
    }
}

/// `y[i] = lut[x[i]]`.
pub(crate) fn apply_lut(lut: &Lut, x: &[u8], y: &mut [u8]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = lut[usize::from(x)];
    }
}
