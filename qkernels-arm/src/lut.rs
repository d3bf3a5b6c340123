//! Per-value activations as 256-entry lookup tables: `hardswish`, `sigmoid` and `tanh` with
//! QNNPACK's table formulas (the qnnpack engine runs QNNPACK's operators for them), and
//! `leaky_relu` and `elu` with ATen's generic per-value formulas (which the qnnpack engine
//! uses for those two). Any function of one `u8` is exactly a table, so every path applies
//! the same table.

use crate::{KernelError, Kernels, QBuf, QView, U8Quant};

/// A lookup table from input integer to output integer.
pub type Lut = [u8; 256];

/// Clamps a scaled value to the output range and rounds it as QNNPACK's tables do.
fn table_entry(scaled: f32) -> u8 {
    scaled.clamp(0.0, 255.0).round_ties_even() as u8
}

/// QNNPACK's `hardswish` table (`pytorch_qnnp_create_hardswish_nc_q8`).
pub fn hardswish_lut(input: U8Quant, output: U8Quant) -> Lut {
    let (si, zi) = (input.scale_f32(), i32::from(input.zero_point));
    let inv_output_scale = 1.0f32 / output.scale_f32();
    let zo = f32::from(output.zero_point);
    std::array::from_fn(|i| {
        let x = si * (i as i32 - zi) as f32;
        let x2 = (x + 3.0).clamp(0.0, 6.0);
        let y = x * x2 / 6.0;
        table_entry(inv_output_scale * y + zo)
    })
}

/// QNNPACK's `sigmoid` table (output scale 1/256, zero point 0).
pub fn sigmoid_lut(input: U8Quant) -> Lut {
    let (si, zi) = (input.scale_f32(), i32::from(input.zero_point));
    std::array::from_fn(|i| {
        let x = si * (i as i32 - zi) as f32;
        table_entry(256.0f32 / (1.0f32 + (-x).exp()))
    })
}

/// QNNPACK's `tanh` table (output scale 2/256, zero point 128); `tanh` in `f64` as C's
/// `tanh` on a promoted `float`.
pub fn tanh_lut(input: U8Quant) -> Lut {
    let (si, zi) = (input.scale_f32(), i32::from(input.zero_point));
    std::array::from_fn(|i| {
        let x = si * (i as i32 - zi) as f32;
        table_entry((128.0 * f64::from(x).tanh() + 128.0) as f32)
    })
}

/// ATen's vectorised dequantization: `fma(scale, q, -(scale * zero_point))`.
fn dequantize_fma(q: u8, quant: U8Quant) -> f32 {
    let s = quant.scale_f32();
    let premul = s * -f32::from(quant.zero_point);
    s.mul_add(f32::from(q), premul)
}

/// ATen's generic `leaky_relu` (`leaky_qrelu_out_kernel`) as a table.
pub fn leaky_relu_lut(input: U8Quant, slope: f32, output: U8Quant) -> Lut {
    std::array::from_fn(|i| {
        let x = dequantize_fma(i as u8, input);
        let y = if x > 0.0 { x } else { x * slope };
        crate::requant::quantize_u8(y, output)
    })
}

/// ATen's generic `elu` (`qelu_kernel`, scale and input scale 1) as a table.
pub fn elu_lut(input: U8Quant, alpha: f32, output: U8Quant) -> Lut {
    std::array::from_fn(|i| {
        let x = dequantize_fma(i as u8, input);
        let y = if x > 0.0 { x } else { (x.exp() - 1.0) * alpha };
        crate::requant::quantize_u8(y, output)
    })
}

impl Kernels {
    /// Applies a lookup table to every element (QNNPACK's `x8lut`).
    pub fn apply_lut(&self, lut: &Lut, x: &[u8]) -> Vec<u8> {
        let mut y = vec![0u8; x.len()];
        match self.path() {
            #[cfg(target_arch = "aarch64")]
            crate::Path::Neon | crate::Path::NeonDot => crate::neon::lut::apply(lut, x, &mut y),
            _ => crate::portable::elementwise::apply_lut(lut, x, &mut y),
        }
        y
    }

    fn lut_op(&self, x: &QView, lut: &Lut, out: U8Quant) -> Result<QBuf, KernelError> {
        Ok(QBuf {
            data: self.apply_lut(lut, x.data),
            shape: x.shape.to_vec(),
            quant: out,
            layout: x.layout,
        })
    }

    /// `quantized::hardswish` with output parameters `out` (QNNPACK table).
    pub fn hardswish(&self, x: &QView, out: U8Quant) -> Result<QBuf, KernelError> {
        x.validate("x")?;
        out.validate("output scale")?;
        self.lut_op(x, &hardswish_lut(x.quant, out), out)
    }

    /// `sigmoid` of a `quint8` tensor (QNNPACK table). QNNPACK supports only the output
    /// parameters PyTorch picks, scale 1/256 and zero point 0; others are an error.
    pub fn sigmoid(&self, x: &QView, out: U8Quant) -> Result<QBuf, KernelError> {
        x.validate("x")?;
        if out.scale as f32 != 1.0 / 256.0 || out.zero_point != 0 {
            return Err(KernelError::Unsupported {
                op: "sigmoid",
                reason: format!("output must be scale 1/256, zero point 0; got {out:?}"),
            });
        }
        self.lut_op(x, &sigmoid_lut(x.quant), out)
    }

    /// `tanh` of a `quint8` tensor (QNNPACK table); the output has scale 2/256 and zero
    /// point 128, as in PyTorch.
    pub fn tanh(&self, x: &QView) -> Result<QBuf, KernelError> {
        x.validate("x")?;
        let out = U8Quant {
            scale: 2.0 / 256.0,
            zero_point: 128,
        };
        self.lut_op(x, &tanh_lut(x.quant), out)
    }

    /// `leaky_relu` with output parameters `out` (ATen's generic formula).
    pub fn leaky_relu(
        &self,
        x: &QView,
        negative_slope: f64,
        out: U8Quant,
    ) -> Result<QBuf, KernelError> {
        x.validate("x")?;
        out.validate("output scale")?;
        self.lut_op(x, &leaky_relu_lut(x.quant, negative_slope as f32, out), out)
    }

    /// `elu` with output parameters `out` (ATen's generic formula).
    pub fn elu(&self, x: &QView, alpha: f64, out: U8Quant) -> Result<QBuf, KernelError> {
        x.validate("x")?;
        out.validate("output scale")?;
        self.lut_op(x, &elu_lut(x.quant, alpha as f32, out), out)
    }
}
