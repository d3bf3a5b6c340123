//! Elementwise operators: `add` / `add_relu` (QNNPACK fixed point), `mul`, `add_scalar`,
//! `mul_scalar`, `cat`, `relu`, `relu6`, as PyTorch computes them with the qnnpack engine
//! (`add` and `relu` go to QNNPACK; `mul`, the scalar forms and `cat` to ATen's generic
//! quantized kernels).

use crate::requant::{dequantize_u8, quantize_u8, requantize_from_int, AddParams};
use crate::{KernelError, Kernels, Layout, QBuf, QView, U8Quant};

fn same_shape(a: &QView, b: &QView, op: &'static str) -> Result<(), KernelError> {
    a.validate("a")?;
    b.validate("b")?;
    if a.shape == b.shape && a.layout == b.layout {
        Ok(())
    } else {
        Err(KernelError::Unsupported {
            op,
            reason: format!(
                "operands must have the same shape and layout (QNNPACK does not broadcast): {:?} vs {:?}",
                a.shape, b.shape
            ),
        })
    }
}

fn result(x: &QView, data: Vec<u8>, quant: U8Quant) -> QBuf {
    QBuf {
        data,
        shape: x.shape.to_vec(),
        quant,
        layout: x.layout,
    }
}

impl Kernels {
    /// `quantized::add` (`add_relu` with `relu`): QNNPACK's fixed-point sum of two tensors of
    /// the same shape into parameters `out`.
    ///
    /// Errors on different shapes, bad scales, or scale ratios QNNPACK rejects
    /// (`a.scale / out.scale` or `b.scale / out.scale` outside `[2^-14, 2^8)`).
    pub fn add(&self, a: &QView, b: &QView, out: U8Quant, relu: bool) -> Result<QBuf, KernelError> {
        same_shape(a, b, "add")?;
        out.validate("output scale")?;
        let params = AddParams::new(a.quant, b.quant, out, relu)?;
        let mut y = vec![0u8; a.data.len()];
        match self.path() {
            #[cfg(target_arch = "aarch64")]
            crate::Path::Neon | crate::Path::NeonDot => {
                crate::neon::vadd::add(&params, a.data, b.data, &mut y)
            }
            _ => crate::portable::elementwise::add(&params, a.data, b.data, &mut y),
        }
        Ok(result(a, y, out))
    }

    /// `quantized::mul` (`mul_relu` with `relu`): ATen's generic kernel,
    /// `zp + round((a - a_zp) * (b - b_zp) * (a_scale * b_scale / out_scale))` in `f32`.
    pub fn mul(&self, a: &QView, b: &QView, out: U8Quant, relu: bool) -> Result<QBuf, KernelError> {
        same_shape(a, b, "mul")?;
        out.validate("output scale")?;
        let multiplier = a.quant.scale_f32() * b.quant.scale_f32() * (1.0f32 / out.scale_f32());
        let (az, bz) = (i64::from(a.quant.zero_point), i64::from(b.quant.zero_point));
        let y = a
            .data
            .iter()
            .zip(b.data)
            .map(|(&x, &w)| {
                let r = requantize_from_int(
                    (i64::from(x) - az) * (i64::from(w) - bz),
                    multiplier,
                    out.zero_point,
                );
                if relu {
                    r.max(out.zero_point)
                } else {
                    r
                }
            })
            .collect();
        Ok(result(a, y, out))
    }

    /// `quantized::add_scalar` (`add_scalar_relu`): shifts the zero point by
    /// `round(c / scale)` when it stays in range, else requantizes to parameters that cover the
    /// shifted range (PyTorch's `_add_scalar_out`). The result's parameters are returned in it.
    pub fn add_scalar(&self, a: &QView, c: f64, relu: bool) -> Result<QBuf, KernelError> {
        a.validate("a")?;
        if !c.is_finite() {
            return Err(KernelError::BadParam {
                arg: "scalar",
                reason: format!("must be finite, got {c}"),
            });
        }
        let (s, z) = (a.quant.scale, i64::from(a.quant.zero_point));
        let c_q = (c / s).round_ties_even() as i64;
        let (q_min, q_max) = (0i64, 255i64);
        let shifted = z - c_q;
        let requant = |s_prime: f64, z_prime: i64| -> QBuf {
            let out = U8Quant {
                scale: s_prime,
                zero_point: z_prime as u8,
            };
            let multiplier = a.quant.scale_f32() * (1.0f32 / s_prime as f32);
            let y = a
                .data
                .iter()
                .map(|&x| {
                    let r = requantize_from_int(i64::from(x) - z + c_q, multiplier, out.zero_point);
                    if relu {
                        r.max(out.zero_point)
                    } else {
                        r
                    }
                })
                .collect();
            result(a, y, out)
        };
        Ok(if q_min > shifted {
            requant(
                (q_max as f64 - shifted as f64) / (q_max - q_min) as f64 * s,
                q_min,
            )
        } else if q_max < shifted {
            requant(
                (shifted as f64 - q_min as f64) / (q_max - q_min) as f64 * s,
                q_max,
            )
        } else {
            let zp = shifted as u8;
            let y = a
                .data
                .iter()
                .map(|&x| if relu { x.max(zp) } else { x })
                .collect();
            result(
                a,
                y,
                U8Quant {
                    scale: s,
                    zero_point: zp,
                },
            )
        })
    }

    /// `quantized::mul_scalar` (`mul_scalar_relu`): the values are kept (or mirrored for a
    /// negative scalar, or zeroed for 0) and the parameters changed (PyTorch's
    /// `_mul_scalar_out`). The result's parameters are returned in it.
    pub fn mul_scalar(&self, a: &QView, c: f64, relu: bool) -> Result<QBuf, KernelError> {
        a.validate("a")?;
        if !c.is_finite() {
            return Err(KernelError::BadParam {
                arg: "scalar",
                reason: format!("must be finite, got {c}"),
            });
        }
        let (s, z) = (a.quant.scale, a.quant.zero_point);
        Ok(if c > 0.0 {
            let y = a
                .data
                .iter()
                .map(|&x| if relu { x.max(z) } else { x })
                .collect();
            result(
                a,
                y,
                U8Quant {
                    scale: c * s,
                    zero_point: z,
                },
            )
        } else if c == 0.0 {
            result(
                a,
                vec![0; a.data.len()],
                U8Quant {
                    scale: 1.0,
                    zero_point: 0,
                },
            )
        } else {
            let zp = 255 - z;
            let y = a
                .data
                .iter()
                .map(|&x| {
                    let m = 255 - x;
                    if relu {
                        m.max(zp)
                    } else {
                        m
                    }
                })
                .collect();
            result(
                a,
                y,
                U8Quant {
                    scale: c.abs() * s,
                    zero_point: zp,
                },
            )
        })
    }

    /// `quantized::cat` along `dim`: every input is dequantized and requantized to `out`
    /// (PyTorch's generic path). Inputs must share rank, layout and every other dimension.
    pub fn cat(&self, inputs: &[QView], dim: usize, out: U8Quant) -> Result<QBuf, KernelError> {
        out.validate("output scale")?;
        let first = inputs.first().ok_or(KernelError::BadParam {
            arg: "inputs",
            reason: "cat needs at least one tensor".into(),
        })?;
        let rank = first.shape.len();
        if dim >= rank {
            return Err(KernelError::BadParam {
                arg: "dim",
                reason: format!("{dim} is out of range for rank {rank}"),
            });
        }
        let mut shape = first.shape.to_vec();
        shape[dim] = 0;
        for x in inputs {
            x.validate("inputs")?;
            let fits = x.shape.len() == rank
                && x.layout == first.layout
                && (0..rank).all(|d| d == dim || x.shape[d] == first.shape[d]);
            if !fits {
                return Err(KernelError::BadShape {
                    arg: "inputs",
                    reason: format!(
                        "{:?} cannot be concatenated with {:?} along {dim}",
                        x.shape, first.shape
                    ),
                });
            }
            shape[dim] += x.shape[dim];
        }
        let outer = split_at_dim(&shape, dim, first.layout).0;
        let mut y = Vec::with_capacity(shape.iter().product());
        for o in 0..outer {
            for x in inputs {
                let chunk = split_at_dim(x.shape, dim, x.layout).1;
                for &q in &x.data[o * chunk..(o + 1) * chunk] {
                    y.push(quantize_u8(dequantize_u8(q, x.quant), out));
                }
            }
        }
        Ok(QBuf {
            data: y,
            shape,
            quant: out,
            layout: first.layout,
        })
    }

    /// `relu` on a quantized tensor: `max(q, zero_point)`; parameters unchanged.
    pub fn relu(&self, x: &QView) -> Result<QBuf, KernelError> {
        x.validate("x")?;
        let z = x.quant.zero_point;
        Ok(result(
            x,
            x.data.iter().map(|&q| q.max(z)).collect(),
            x.quant,
        ))
    }

    /// `relu6` (`hardtanh(0, 6)`): `clamp(q, zero_point, quantize(6.0))`; parameters unchanged.
    pub fn relu6(&self, x: &QView) -> Result<QBuf, KernelError> {
        x.validate("x")?;
        let (lo, hi) = (x.quant.zero_point, quantize_u8(6.0, x.quant));
        Ok(result(
            x,
            x.data.iter().map(|&q| q.max(lo).min(hi)).collect(),
            x.quant,
        ))
    }
}

/// In memory order, the number of blocks before `dim` and the elements of one block
/// (`dim`'s extent times everything after it).
fn split_at_dim(shape: &[usize], dim: usize, layout: Layout) -> (usize, usize) {
    let rank = shape.len();
    let (mem, mem_dim): (Vec<usize>, usize) = if layout == Layout::Nhwc && rank >= 3 {
        let mut m = vec![shape[0]];
        m.extend(&shape[2..]);
        m.push(shape[1]);
        let d = match dim {
            0 => 0,
            1 => rank - 1,
            d => d - 1,
        };
        (m, d)
    } else {
        (shape.to_vec(), dim)
    };
    (
        mem[..mem_dim].iter().product(),
        mem[mem_dim..].iter().product(),
    )
}
