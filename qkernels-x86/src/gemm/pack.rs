//! Weight packing for the u8 x s8 GEMM (done once, at convert time).
//!
//! Layout: the `N` output columns are cut into panels of [`NR`] columns (the
//! last panel may be narrower). Inside a panel of width `w`, `K` is padded to
//! a multiple of 4 (`kp`) and stored as `kp / 4` groups; group `g` holds, for
//! each column `c` of the panel, the 4 weights `k = 4g..4g+4` of that column
//! next to each other (`w * 4` bytes). This is the operand layout of
//! `vpdpbusd`: one 512-bit load gives 16 columns x 4 consecutive `k`.
//! Panel `p` starts at byte `p * NR * kp`; the buffer is 64-byte aligned.
//! The packed size is `N * kp` bytes plus `4 * N` bytes of column offsets.

use crate::error::{KernelError, Result};
use crate::quant::WeightQuant;

/// Panel width (output columns per packed panel).
pub const NR: usize = 64;
/// Consecutive `k` values interleaved per column.
pub const KGROUP: usize = 4;

/// Rounds `k` up to a multiple of [`KGROUP`].
pub(crate) fn padded_k(k: usize) -> usize {
    k.div_ceil(KGROUP) * KGROUP
}

/// An int8 weight `[N, K]` (PyTorch Linear layout) packed for the GEMM, with
/// its quantization and the column offsets that fold zero points away.
#[derive(Debug, Clone)]
pub struct PackedWeight {
    n: usize,
    k: usize,
    kp: usize,
    /// Packed panels at `buf[start..]`; `start` makes them 64-byte aligned when packed.
    buf: Vec<i8>,
    start: usize,
    col_offsets: Vec<i32>,
    quant: WeightQuant,
}

impl PackedWeight {
    /// Packs a row-major int8 weight of shape `[n, k]` (out_features x in_features).
    ///
    /// Errors: `weight.len() != n * k`, invalid scales/zero points, or per-channel
    /// parameters whose length is not `n`.
    pub fn pack(weight: &[i8], n: usize, k: usize, quant: WeightQuant) -> Result<Self> {
        let nk = n
            .checked_mul(k)
            .ok_or(KernelError::Overflow("weight n * k"))?;
        if weight.len() != nk {
            return Err(KernelError::LengthMismatch {
                what: "weight",
                expected: nk,
                got: weight.len(),
            });
        }
        if k > (i32::MAX as usize) / 256 {
            return Err(KernelError::Overflow("weight k"));
        }
        quant.validate(n)?;
        let kp = padded_k(k);
        let bytes = n
            .checked_mul(kp)
            .ok_or(KernelError::Overflow("packed weight size"))?;
        let mut buf = vec![0i8; bytes + 63];
        let start = buf.as_ptr().align_offset(64).min(63);
        {
            let data = &mut buf[start..start + bytes];
            for (j, row) in weight.chunks_exact(k.max(1)).take(n).enumerate() {
                let (base, width, c) = panel_coords(j, n, kp);
                for (kk, &v) in row.iter().enumerate() {
                    data[base + (kk / KGROUP) * width * KGROUP + c * KGROUP + kk % KGROUP] = v;
                }
            }
        }
        let col_offsets = col_offsets(weight, n, k, &quant);
        Ok(PackedWeight {
            n,
            k,
            kp,
            buf,
            start,
            col_offsets,
            quant,
        })
    }

    /// Output columns (`N`, out_features).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Reduction length (`K`, in_features).
    pub fn k(&self) -> usize {
        self.k
    }

    /// `K` rounded up to a multiple of 4 (the packed reduction length).
    pub fn padded_k(&self) -> usize {
        self.kp
    }

    /// The weight's quantization parameters.
    pub fn quant(&self) -> &WeightQuant {
        &self.quant
    }

    /// PyTorch's column offsets: `sum_k w[j, k] - w_zp[j] * K` for every column `j`.
    pub fn col_offsets(&self) -> &[i32] {
        &self.col_offsets
    }

    /// Bytes used by the packed weights and column offsets (excluding alignment slack).
    pub fn packed_bytes(&self) -> usize {
        self.n * self.kp + 4 * self.col_offsets.len()
    }

    /// The packed panels (64-byte aligned).
    pub(crate) fn data(&self) -> &[i8] {
        &self.buf[self.start..self.start + self.n * self.kp]
    }

    /// The packed bytes of panel `p` and its width.
    pub(crate) fn panel(&self, p: usize) -> (&[i8], usize) {
        let c0 = p * NR;
        let width = NR.min(self.n - c0);
        let base = c0 * self.kp;
        (&self.data()[base..base + width * self.kp], width)
    }

    /// Number of panels.
    pub(crate) fn panels(&self) -> usize {
        self.n.div_ceil(NR)
    }

    /// Weight zero point per column.
    pub(crate) fn zero_points(&self) -> Vec<i32> {
        (0..self.n).map(|j| self.quant.zero_point(j)).collect()
    }

    /// Recovers the original row-major `[n, k]` int8 weight.
    pub fn unpack(&self) -> Vec<i8> {
        let data = self.data();
        let mut out = vec![0i8; self.n * self.k];
        for j in 0..self.n {
            let (base, width, c) = panel_coords(j, self.n, self.kp);
            for kk in 0..self.k {
                out[j * self.k + kk] =
                    data[base + (kk / KGROUP) * width * KGROUP + c * KGROUP + kk % KGROUP];
            }
        }
        out
    }
}

impl PartialEq for PackedWeight {
    fn eq(&self, other: &Self) -> bool {
        self.n == other.n
            && self.k == other.k
            && self.quant == other.quant
            && self.col_offsets == other.col_offsets
            && self.data() == other.data()
    }
}

/// Panel base offset, panel width and column inside the panel for column `j`.
fn panel_coords(j: usize, n: usize, kp: usize) -> (usize, usize, usize) {
    let p = j / NR;
    let c0 = p * NR;
    (c0 * kp, NR.min(n - c0), j - c0)
}

/// PyTorch's `calc_col_offsets_transpose`: per output row of the `[n, k]` weight,
/// the sum of its entries minus its zero point times `k` (wrapping like fbgemm).
fn col_offsets(weight: &[i8], n: usize, k: usize, quant: &WeightQuant) -> Vec<i32> {
    (0..n)
        .map(|j| {
            let sum = weight[j * k..(j + 1) * k]
                .iter()
                .fold(0i32, |s, &v| s.wrapping_add(v as i32));
            sum.wrapping_sub(quant.zero_point(j).wrapping_mul(k as i32))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weight(n: usize, k: usize) -> Vec<i8> {
        (0..n * k)
            .map(|i| ((i * 37 + 11) % 256) as u8 as i8)
            .collect()
    }

    #[test]
    fn round_trip_ragged() {
        for &(n, k) in &[
            (0, 5),
            (1, 1),
            (3, 17),
            (64, 64),
            (65, 3),
            (130, 33),
            (17, 0),
        ] {
            let w = weight(n, k);
            let q = WeightQuant::PerTensor {
                scale: 0.1,
                zero_point: 3,
            };
            let p = PackedWeight::pack(&w, n, k, q).unwrap();
            assert_eq!(p.unpack(), w, "n={n} k={k}");
            assert_eq!(p.data().len(), n * padded_k(k));
        }
    }

    #[test]
    fn col_offsets_fold_zero_points() {
        let (n, k) = (3, 5);
        let w = weight(n, k);
        let zps = vec![0, -4, 9];
        let q = WeightQuant::PerChannel {
            scales: vec![0.1; 3],
            zero_points: zps.clone(),
        };
        let p = PackedWeight::pack(&w, n, k, q).unwrap();
        for j in 0..n {
            let expect: i32 = w[j * k..(j + 1) * k]
                .iter()
                .map(|&v| v as i32 - zps[j])
                .sum();
            assert_eq!(p.col_offsets()[j], expect);
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let q = WeightQuant::PerTensor {
            scale: 0.1,
            zero_point: 0,
        };
        assert!(PackedWeight::pack(&[0; 5], 2, 3, q.clone()).is_err());
        let bad = WeightQuant::PerTensor {
            scale: 0.0,
            zero_point: 0,
        };
        assert!(PackedWeight::pack(&[0; 6], 2, 3, bad).is_err());
        let bad = WeightQuant::PerChannel {
            scales: vec![0.1],
            zero_points: vec![0],
        };
        assert!(PackedWeight::pack(&[0; 6], 2, 3, bad).is_err());
        let bad = WeightQuant::PerTensor {
            scale: 0.1,
            zero_point: 200,
        };
        assert!(PackedWeight::pack(&[0; 6], 2, 3, bad).is_err());
    }

    #[test]
    fn packed_size_is_close_to_n_times_k() {
        let (n, k) = (256, 300);
        let q = WeightQuant::PerTensor {
            scale: 0.1,
            zero_point: 0,
        };
        let p = PackedWeight::pack(&weight(n, k), n, k, q).unwrap();
        let ideal = (n * k + 4 * n) as f64;
        assert!((p.packed_bytes() as f64) <= ideal * 1.05);
    }
}
