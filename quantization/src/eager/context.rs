//! [`FromFloatCtx`]: what a float -> quantized constructor (PyTorch's `from_float`) gets to
//! build the quantized module: the observed float module, its qconfig and its activation
//! observer, with PyTorch's steps (`calculate_qparams`, `_quantize_weight`) as methods.

use std::cell::RefCell;

use ndarray::ArrayViewD;
use nn::Module;
use qtensor::{quantize_per_channel, quantize_per_channel_float_qparams, quantize_per_tensor};
use qtensor::{QDType, QScheme, QTensor};

use super::error::{EagerError, Notice};
use super::observer_module::ObserverModule;
use crate::weight_clamp::clamp_weights;
use crate::{DType, PostProcess, QConfig, ZeroPoints};

/// The observed float module handed to a constructor of the convert mapping.
pub struct FromFloatCtx<'a> {
    pub(crate) path: &'a str,
    pub(crate) module: &'a dyn Module,
    pub(crate) qconfig: &'a QConfig,
    pub(crate) activation: Option<&'a ObserverModule>,
    pub(crate) notices: RefCell<Vec<Notice>>,
}

impl<'a> FromFloatCtx<'a> {
    /// A context for `module` at `path` (for calling a constructor directly, e.g. in tests).
    pub fn new(
        path: &'a str,
        module: &'a dyn Module,
        qconfig: &'a QConfig,
        activation: Option<&'a ObserverModule>,
    ) -> FromFloatCtx<'a> {
        FromFloatCtx {
            path,
            module,
            qconfig,
            activation,
            notices: RefCell::new(Vec::new()),
        }
    }

    /// The module's path in the model.
    pub fn path(&self) -> &str {
        self.path
    }

    /// The float module (without its observer).
    pub fn module(&self) -> &'a dyn Module {
        self.module
    }

    /// The module's qconfig.
    pub fn qconfig(&self) -> &QConfig {
        self.qconfig
    }

    /// The activation observer prepare attached, if any.
    pub fn activation(&self) -> Option<&ObserverModule> {
        self.activation
    }

    /// Records a warning for the convert report.
    pub fn notice(&self, message: impl Into<String>) {
        self.notices.borrow_mut().push(Notice {
            path: self.path.to_string(),
            message: message.into(),
        });
    }

    /// The notices recorded so far.
    pub fn take_notices(&self) -> Vec<Notice> {
        std::mem::take(&mut self.notices.borrow_mut())
    }

    /// A convert error for this module.
    pub fn error(&self, reason: impl Into<String>) -> EagerError {
        EagerError::Convert {
            path: self.path.to_string(),
            module: self.module.type_name().to_string(),
            reason: reason.into(),
        }
    }

    /// A qconfig error for this module.
    pub fn qconfig_error(&self, reason: impl Into<String>) -> EagerError {
        EagerError::QConfig {
            path: self.path.to_string(),
            module: self.module.type_name().to_string(),
            reason: reason.into(),
        }
    }

    /// The float module as a `T`, or a convert error.
    pub fn downcast<T: Module>(&self, m: &'a dyn Module) -> Result<&'a T, EagerError> {
        m.downcast_ref::<T>().ok_or_else(|| {
            self.error(format!(
                "expected a {} here, found a {}",
                std::any::type_name::<T>(),
                m.type_name()
            ))
        })
    }

    /// The activation observer's dtype, or an error if prepare attached none.
    pub fn activation_dtype(&self) -> Result<DType, EagerError> {
        Ok(self.observer()?.dtype())
    }

    fn observer(&self) -> Result<&ObserverModule, EagerError> {
        self.activation.ok_or_else(|| {
            self.qconfig_error(
                "no activation observer is attached (the qconfig's activation builds none); \
                 static quantization needs one",
            )
        })
    }

    /// The output scale and zero point from the activation observer (`float(scale)`,
    /// `int(zero_point)`); an observer that saw nothing gives PyTorch's defaults (1.0, 0) and
    /// a notice.
    pub fn output_qparams(&self) -> Result<(f64, i64), EagerError> {
        let obs = self.observer()?;
        if obs.observer().is_dynamic() {
            return Err(self.qconfig_error(
                "the qconfig's activation observer is for dynamic quantization (it has no \
                 output parameters); use a static qconfig such as get_default_qconfig, or \
                 dynamic quantization",
            ));
        }
        let q = obs
            .calculate_qparams()
            .map_err(|source| EagerError::Observer {
                path: format!("{}.activation_post_process", self.path),
                source,
            })?;
        if q.is_fallback() {
            self.notice(
                "the activation observer saw no data (convert before calibration?); \
                 PyTorch's defaults scale=1.0, zero_point=0 are used",
            );
        }
        let zp = match &q.zero_points {
            ZeroPoints::Int(z) => z.first().copied().unwrap_or(0),
            ZeroPoints::Float(z) => z.first().map_or(0, |&v| v as i64),
        };
        Ok((f64::from(q.scales.first().copied().unwrap_or(1.0)), zp))
    }

    /// The static-quantization activation dtype of the quantized conv / linear kernels
    /// (quint8), or a qconfig error naming what the qconfig asks for.
    pub fn require_quint8_activation(&self, op: &str) -> Result<(), EagerError> {
        match self.activation_dtype()? {
            DType::QUInt8 => Ok(()),
            d if !d.is_quantized() => Err(self.qconfig_error(format!(
                "the qconfig's activation dtype is {d}: that is a dynamic / weight-only \
                 configuration; static quantization needs quint8 activations (use a static \
                 qconfig such as get_default_qconfig)"
            ))),
            d => Err(self.qconfig_error(format!(
                "quantized {op} takes quint8 activations on both engines; the qconfig asks for \
                 {d}"
            ))),
        }
    }

    /// PyTorch's `_quantize_weight`: builds a fresh weight observer from the qconfig, observes
    /// `weight`, and quantizes it per tensor or per channel (qint8), or per row with float
    /// parameters (embeddings), its integers clamped to the observer's `quant_min..=quant_max`
    /// when that is narrower than the dtype (`_clamp_weights`). `want` is the dtype the
    /// quantized module takes.
    pub fn quantize_weight(
        &self,
        weight: ArrayViewD<'_, f32>,
        want: DType,
    ) -> Result<QTensor, EagerError> {
        let wpath = format!("{} (weight observer)", self.path);
        let obs_err = |source| EagerError::Observer {
            path: wpath.clone(),
            source,
        };
        let mut obs = match self.qconfig.weight.build().map_err(obs_err)? {
            PostProcess::Observer(o) => o,
            PostProcess::FakeQuantize(f) => {
                return Err(self.qconfig_error(format!(
                    "the qconfig's weight is a fake-quantize module ({}): that is a QAT \
                     configuration; use prepare_qat, or a PTQ qconfig",
                    f.name()
                )))
            }
            PostProcess::Identity => {
                return Err(self.qconfig_error(
                    "the qconfig's weight builds no observer; quantized layers need one",
                ))
            }
        };
        if obs.dtype() != want {
            return Err(self.qconfig_error(format!(
                "weight observer must have dtype {want}, the qconfig's has {}",
                obs.dtype()
            )));
        }
        obs.observe(weight.view()).map_err(obs_err)?;
        let q = obs.calculate_qparams().map_err(obs_err)?;
        let qerr = |e: qtensor::QError| self.error(format!("quantizing the weight: {e}"));
        let qw = match (obs.qscheme(), &q.zero_points) {
            (QScheme::PerTensorAffine | QScheme::PerTensorSymmetric, ZeroPoints::Int(z)) => {
                quantize_per_tensor(weight, f64::from(q.scales[0]), z[0], QDType::QInt8)
            }
            (QScheme::PerChannelAffine | QScheme::PerChannelSymmetric, ZeroPoints::Int(z)) => {
                let scales: Vec<f64> = q.scales.iter().map(|&s| f64::from(s)).collect();
                let axis = obs.ch_axis().unwrap_or(0);
                quantize_per_channel(weight, &scales, z, axis, QDType::QInt8)
            }
            (QScheme::PerChannelAffineFloatQParams, ZeroPoints::Float(z)) => {
                let dtype = want.qdtype().ok_or_else(|| {
                    self.qconfig_error(format!("{want} weights are not supported"))
                })?;
                let axis = obs.ch_axis().unwrap_or(0);
                quantize_per_channel_float_qparams(weight, &q.scales, z, axis, dtype)
            }
            (scheme, _) => {
                return Err(self.qconfig_error(format!(
                    "unexpected weight qscheme {scheme:?} for this module"
                )))
            }
        }
        .map_err(qerr)?;
        clamp_weights(qw, q.quant_min, q.quant_max).map_err(qerr)
    }
}
