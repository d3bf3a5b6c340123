//! Depthwise convolution (groups == C == O): direct kernels, one file per ISA.
//! [`planar`] works on the NCDHW planes themselves (output columns in the
//! vector lanes, stride 1 or 2 along W); [`interleaved`] handles other strides
//! on a padded channels-last copy (channels in the lanes).
//!
//! Weights are stored per tap and channel as `w - w_zp` (an i16 in the low
//! half of an i32 lane, so `vpmaddwd` / `vpdpwssd` multiply exactly with u8
//! inputs zero-extended to i32). The input is padded with its zero point, so
//! `sum_t x_t (w_t - w_zp) - a_zp * sum_t (w_t - w_zp)` is exactly fbgemm's
//! corrected accumulator; the shared GEMM epilogue finishes the job.

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
pub(crate) mod scalar;

mod interleaved;
mod planar;

pub(crate) use interleaved::{run, DwShape, PaddedInput};
pub(crate) use planar::{run_planar, PlanarShape};

/// Whether `out` outputs of kernel `k`, stride `s`, dilation `d` stay inside a
/// padded input of `padded` elements.
pub(crate) fn covers(out: usize, k: usize, s: usize, d: usize, padded: usize) -> bool {
    out == 0 || (out - 1) * s + (k - 1) * d < padded
}

/// Channel padding of the packed weights and the padded input.
pub(crate) const CHANNEL_ALIGN: usize = 16;

/// Depthwise weights: `taps x cp` lanes plus per-channel column offsets.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DepthwiseWeight {
    pub taps: usize,
    pub c: usize,
    pub cp: usize,
    pub lanes: Vec<i32>,
    /// `sum_t (w_t - w_zp)` per channel.
    pub col_offsets: Vec<i32>,
}

impl DepthwiseWeight {
    /// Packs a `[C, 1, taps]` weight with per-channel zero points `zp`.
    pub fn pack(w: &[i8], c: usize, taps: usize, zp: &[i32]) -> Self {
        let cp = c.div_ceil(CHANNEL_ALIGN) * CHANNEL_ALIGN;
        let mut lanes = vec![0i32; taps * cp];
        let mut col_offsets = vec![0i32; c];
        for ch in 0..c {
            for t in 0..taps {
                let v = w[ch * taps + t] as i32 - zp[ch];
                lanes[t * cp + ch] = v as i16 as u16 as i32;
                col_offsets[ch] += v;
            }
        }
        DepthwiseWeight {
            taps,
            c,
            cp,
            lanes,
            col_offsets,
        }
    }

    /// Recovers the `[C, 1, taps]` weight.
    pub fn unpack(&self, zp: &[i32]) -> Vec<i8> {
        let mut w = vec![0i8; self.c * self.taps];
        for ch in 0..self.c {
            for t in 0..self.taps {
                w[ch * self.taps + t] =
                    (scalar::lane_value(self.lanes[t * self.cp + ch]) + zp[ch]) as i8;
            }
        }
        w
    }
}
