//! `quantized::linear`, `linear_relu` and `linear_dynamic` with QNNPACK's numerics.

use qtensor::rounding::{choose_qparams, inv_scale, quantize_val};

use crate::gemm::{run_dynamic, run_quantized, Offsets, PackedGemm, Rows};
use crate::{KernelError, Kernels, OutputSpec, Path, QBuf, QView, U8Quant, WeightQuant};

/// A `qint8` linear weight `(out_features, in_features)`, row-major, with its float bias.
#[derive(Debug, Clone, Copy)]
pub struct LinearWeights<'a> {
    /// `out_features * in_features` values.
    pub weight: &'a [i8],
    /// Rows of the weight.
    pub out_features: usize,
    /// Columns of the weight.
    pub in_features: usize,
    /// Per-tensor or per-output-channel quantization.
    pub quant: &'a WeightQuant,
    /// Optional float bias, `out_features` values.
    pub bias: Option<&'a [f32]>,
}

/// Linear weights packed for one kernel path (weights shifted to `u8`, 8-channel panels, the
/// quantized bias folded into each panel's accumulator start values).
#[derive(Debug, Clone)]
pub struct PackedLinear {
    gemm: PackedGemm,
}

impl PackedLinear {
    /// Rows of the weight.
    pub fn out_features(&self) -> usize {
        self.gemm.n_per_group
    }

    /// Columns of the weight.
    pub fn in_features(&self) -> usize {
        self.gemm.kc
    }

    /// The path whose micro-kernel these weights are packed for.
    pub fn path(&self) -> Path {
        self.gemm.path
    }

    /// Quantizes and folds the bias for inputs with parameters `input` (as PyTorch does on the
    /// first call with a new input scale). Calls with other input parameters still work; they
    /// compute the folded bias on the fly.
    pub fn prepare(&mut self, input: U8Quant) {
        self.gemm.prepare(input);
    }
}

impl Kernels {
    /// Packs a linear weight for these kernels (PyTorch's `linear_prepack`).
    ///
    /// Errors on lengths that do not match the sizes or invalid weight parameters.
    pub fn pack_linear(&self, w: &LinearWeights) -> Result<PackedLinear, KernelError> {
        let (n, k) = (w.out_features, w.in_features);
        check_len("weight", w.weight.len(), n * k)?;
        w.quant.validate(n)?;
        if let Some(b) = w.bias {
            check_len("bias", b.len(), n)?;
        }
        let weight = w.weight;
        let gemm = PackedGemm::pack(
            self.path(),
            1,
            n,
            1,
            k,
            w.quant.clone(),
            w.bias.map(<[f32]>::to_vec),
            |oc, _, c| weight[oc * k + c],
        );
        Ok(PackedLinear { gemm })
    }

    /// `quantized::linear` / `linear_relu`: `x` is `(..., in_features)`; the result is
    /// `(..., out_features)` with `output`'s parameters.
    ///
    /// Errors on a shape mismatch, bad scales, weights packed for another path, or a
    /// requantization scale that is not a normal `f32`.
    pub fn linear(
        &self,
        w: &PackedLinear,
        x: &QView,
        output: OutputSpec,
    ) -> Result<QBuf, KernelError> {
        x.validate("x")?;
        output.quant.validate("output scale")?;
        let (rows, out_shape) = linear_shape(x.shape, w)?;
        let offsets = Offsets::new((0..rows).map(|r| r * w.in_features()).collect());
        let mut out = vec![0u8; rows * w.out_features()];
        let rows = Rows {
            input: x.data,
            offsets: offsets.view(),
            rows,
        };
        run_quantized(*self, &w.gemm, &rows, x.quant, output, &mut out)?;
        Ok(QBuf {
            data: out,
            shape: out_shape,
            quant: output.quant,
            layout: x.layout,
        })
    }

    /// `quantized::linear_dynamic` (`linear_relu_dynamic` with `relu`) as the qnnpack engine
    /// runs it: `x` is quantized to `quint8` with parameters from its min and max over the full
    /// 0..=255 range (QNNPACK ignores `reduce_range`, as PyTorch does with a warning), then the
    /// integer product is scaled to `f32` and the float bias added.
    ///
    /// Errors on a shape mismatch, a NaN in `x`, or weights packed for another path.
    pub fn linear_dynamic(
        &self,
        w: &PackedLinear,
        x: &[f32],
        x_shape: &[usize],
        relu: bool,
    ) -> Result<(Vec<f32>, Vec<usize>), KernelError> {
        check_len("x", x.len(), x_shape.iter().product())?;
        let (rows, out_shape) = linear_shape(x_shape, w)?;
        let (min, max) = if x.is_empty() {
            (0.0, 0.0)
        } else {
            self.range(x).ok_or(KernelError::NaN { arg: "x" })?
        };
        let (scale, zero_point) = choose_qparams(min, max, 0, 255, false, false);
        let quant = U8Quant {
            scale,
            zero_point: zero_point as u8,
        };
        let inv = inv_scale(scale);
        let q = self.quantize_u8(x, inv, quant.zero_point);
        let offsets = Offsets::new((0..rows).map(|r| r * w.in_features()).collect());
        let mut out = vec![0f32; rows * w.out_features()];
        let rows = Rows {
            input: &q,
            offsets: offsets.view(),
            rows,
        };
        run_dynamic(*self, &w.gemm, &rows, quant, &mut out)?;
        if relu {
            out.iter_mut().for_each(|v| *v = v.max(0.0));
        }
        Ok((out, out_shape))
    }
}

impl Kernels {
    /// `(min, max)` of a non-empty `x`, `None` if it holds a NaN.
    fn range(&self, x: &[f32]) -> Option<(f32, f32)> {
        #[cfg(target_arch = "x86_64")]
        if let Some(isa) = crate::x86::Isa::of(self.path()) {
            return crate::x86::quantize::min_max(isa, x);
        }
        let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
        for &v in x {
            if v.is_nan() {
                return None;
            }
            min = min.min(v);
            max = max.max(v);
        }
        Some((min, max))
    }

    /// `quantize_val(x[i], inv, zero_point, 0, 255)` for every value.
    fn quantize_u8(&self, x: &[f32], inv: f32, zero_point: u8) -> Vec<u8> {
        #[cfg(target_arch = "x86_64")]
        if let Some(isa) = crate::x86::Isa::of(self.path()) {
            let mut q = vec![0u8; x.len()];
            crate::x86::quantize::quantize(isa, x, inv, zero_point, &mut q);
            return q;
        }
        x.iter()
            .map(|&v| quantize_val(v, inv, i32::from(zero_point), 0, 255) as u8)
            .collect()
    }
}

/// Rows of a `(..., in_features)` input and the `(..., out_features)` output shape.
fn linear_shape(shape: &[usize], w: &PackedLinear) -> Result<(usize, Vec<usize>), KernelError> {
    match shape.split_last() {
        Some((&k, lead)) if !lead.is_empty() && k == w.in_features() => {
            let mut out = lead.to_vec();
            out.push(w.out_features());
            Ok((lead.iter().product(), out))
        }
        _ => Err(KernelError::BadShape {
            arg: "x",
            reason: format!(
                "linear needs a (..., {}) input of rank >= 2, got {shape:?}",
                w.in_features()
            ),
        }),
    }
}

pub(crate) fn check_len(arg: &'static str, got: usize, expected: usize) -> Result<(), KernelError> {
    if got == expected {
        Ok(())
    } else {
        Err(KernelError::LengthMismatch { arg, expected, got })
    }
}
