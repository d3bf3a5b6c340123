//! One packed linear of a dynamic module: qint8 weights packed for the engine current at build
//! time (`linear_prepack`), or float16 weights; applied to float rows.

use half::f16;
use ndarray::ArrayView2;
use nn_quantized::functional::{linear_dynamic, linear_prepack, PackedWeight};
use qtensor::Engine;

use crate::error::{DynamicError, Result};
use crate::fp16::Fp16Linear;
use crate::weight::DynamicWeight;

#[derive(Debug)]
enum Kind {
    QInt8(Box<PackedWeight>),
    Float16(Fp16Linear),
}

/// A weight (and bias) packed once, applied to any number of rows of float input.
#[derive(Debug)]
pub(crate) struct LinearOp {
    kind: Kind,
    weight: DynamicWeight,
    bias: Option<Vec<f32>>,
    out_features: usize,
    in_features: usize,
}

impl LinearOp {
    /// Packs `weight` `(out, in)` with `bias` `(out)` for `module`'s weight `name`.
    pub(crate) fn new(
        module: &'static str,
        name: &str,
        weight: DynamicWeight,
        bias: Option<Vec<f32>>,
    ) -> Result<LinearOp> {
        crate::quantized_state::register();
        let shape = weight.shape().to_vec();
        let [out_features, in_features] = shape[..] else {
            return Err(DynamicError::WeightShape {
                module,
                name: name.to_string(),
                expected: vec![0, 0],
                got: shape,
            });
        };
        if let Some(b) = &bias {
            if b.len() != out_features {
                return Err(DynamicError::WeightShape {
                    module,
                    name: name.replacen("weight", "bias", 1),
                    expected: vec![out_features],
                    got: vec![b.len()],
                });
            }
            if b.iter().any(|v| !v.is_finite()) {
                return Err(DynamicError::NonFinite {
                    module,
                    arg: format!("bias of '{name}'"),
                });
            }
        }
        let kind = match &weight {
            DynamicWeight::QInt8(q) => Kind::QInt8(Box::new(
                linear_prepack(q, bias.as_deref())
                    .map_err(|source| DynamicError::Op { module, source })?,
            )),
            DynamicWeight::Float16(a) => {
                let values: Vec<f16> = a.iter().copied().collect();
                Kind::Float16(Fp16Linear::new(
                    values,
                    bias.clone(),
                    out_features,
                    in_features,
                ))
            }
        };
        Ok(LinearOp {
            kind,
            weight,
            bias,
            out_features,
            in_features,
        })
    }

    /// Output features.
    pub(crate) fn out_features(&self) -> usize {
        self.out_features
    }

    /// Input features.
    pub(crate) fn in_features(&self) -> usize {
        self.in_features
    }

    /// The stored weight.
    pub(crate) fn weight(&self) -> &DynamicWeight {
        &self.weight
    }

    /// The float bias.
    pub(crate) fn bias(&self) -> Option<&[f32]> {
        self.bias.as_deref()
    }

    /// The engine the qint8 weight was packed for (`None` for float16 weights).
    pub(crate) fn engine(&self) -> Option<Engine> {
        match &self.kind {
            Kind::QInt8(p) => Some(p.engine()),
            Kind::Float16(_) => None,
        }
    }

    /// `x W^T + b` for `rows` rows of `x` (`rows * in_features` finite values, checked by the
    /// caller), then `max(0, .)` if `relu`. qint8: `x` is quantized per call from its own min /
    /// max (`reduce_range` as PyTorch's dynamic modules pass it: fbgemm uses 0..=127, qnnpack
    /// ignores it).
    pub(crate) fn apply(
        &self,
        module: &'static str,
        x: &[f32],
        rows: usize,
        reduce_range: bool,
        relu: bool,
    ) -> Result<Vec<f32>> {
        debug_assert_eq!(x.len(), rows * self.in_features);
        if rows == 0 {
            return Ok(Vec::new());
        }
        match &self.kind {
            Kind::QInt8(p) => {
                let view = ArrayView2::from_shape((rows, self.in_features), x).map_err(|e| {
                    DynamicError::InputShape {
                        module,
                        expected: format!("{rows} rows of {}: {e}", self.in_features),
                        got: vec![x.len()],
                    }
                })?;
                let y = linear_dynamic(view.into_dyn(), p, reduce_range, relu)
                    .map_err(|source| DynamicError::Op { module, source })?;
                Ok(if y.is_standard_layout() {
                    y.into_raw_vec_and_offset().0
                } else {
                    y.iter().copied().collect()
                })
            }
            Kind::Float16(f) => {
                let mut y = f.apply(x, rows);
                if relu {
                    y.iter_mut().for_each(|v| *v = v.max(0.0));
                }
                Ok(y)
            }
        }
    }
}
