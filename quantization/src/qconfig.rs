//! `QConfig` (`torch.ao.quantization.qconfig`): how to observe a layer's activation and weight,
//! as factories that build fresh observers or fake-quantize modules, and PyTorch's named
//! configurations.
//!
//! Users build their own from [`ObserverSpec`] / [`FakeQuantizeSpec`] (e.g. 4-bit weights with
//! `UniformOptions::quant_range(-8, 7)`), or from any closure with [`QConfigEntry::custom`]
//! (e.g. a percentile observer implementing [`Observer`]).
//!
//! ```
//! use qtensor::QScheme;
//! use quantization::{qconfig, DType, ObserverSpec, QConfig, QConfigEntry, UniformOptions};
//! let four_bit = QConfig {
//!     activation: qconfig::default_qconfig().activation,
//!     weight: QConfigEntry::Observer(ObserverSpec::MinMax(
//!         UniformOptions::per_tensor()
//!             .dtype(DType::QInt8)
//!             .qscheme(QScheme::PerTensorSymmetric)
//!             .quant_range(-8, 7),
//!     )),
//! };
//! let w = four_bit.weight.build().unwrap();
//! assert_eq!(w.quant_range(), Some((-8, 7)));
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use qtensor::Engine;

use crate::fake_quantize::defaults as fq;
use crate::fake_quantize::{FakeQuantizeSpec, FakeQuantizer};
use crate::observer::defaults as obs;
use crate::observer::{Observer, ObserverSpec, PlaceholderObserver, UniformOptions};
use crate::{DType, QuantError};

/// What a qconfig entry builds: an observer, a fake-quantize module, or nothing
/// (`torch.nn.Identity`).
#[derive(Debug)]
pub enum PostProcess {
    /// An observer (post-training quantization).
    Observer(Box<dyn Observer>),
    /// A fake-quantize module (quantization-aware training).
    FakeQuantize(Box<dyn FakeQuantizer>),
    /// No observation (`torch.nn.Identity`).
    Identity,
}

impl PostProcess {
    /// The integer range of what was built, if it has one.
    pub fn quant_range(&self) -> Option<(i64, i64)> {
        match self {
            PostProcess::Observer(o) => o.quant_range(),
            PostProcess::FakeQuantize(f) => Some(f.quant_range()),
            PostProcess::Identity => None,
        }
    }

    /// The target dtype of what was built (`None` for Identity).
    pub fn dtype(&self) -> Option<DType> {
        match self {
            PostProcess::Observer(o) => Some(o.dtype()),
            PostProcess::FakeQuantize(f) => Some(f.dtype()),
            PostProcess::Identity => None,
        }
    }
}

/// The closure type of a custom qconfig entry.
pub type FactoryFn = dyn Fn() -> Result<PostProcess, QuantError> + Send + Sync;

/// A user-supplied factory with a name (for printing and comparison).
#[derive(Clone)]
pub struct CustomFactory {
    name: String,
    make: Arc<FactoryFn>,
}

impl CustomFactory {
    /// The factory's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Debug for CustomFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CustomFactory({})", self.name)
    }
}

/// One side of a [`QConfig`]: a factory of fresh observers / fake-quantize modules.
#[derive(Debug, Clone)]
pub enum QConfigEntry {
    /// Builds an observer.
    Observer(ObserverSpec),
    /// Builds a fake-quantize module.
    FakeQuantize(FakeQuantizeSpec),
    /// Builds nothing (`torch.nn.Identity`).
    Identity,
    /// Builds whatever the closure returns.
    Custom(CustomFactory),
}

impl PartialEq for QConfigEntry {
    /// Specs compare by value, custom factories by identity (PyTorch's `qconfig_equals`
    /// compares partials by their arguments).
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (QConfigEntry::Observer(a), QConfigEntry::Observer(b)) => a == b,
            (QConfigEntry::FakeQuantize(a), QConfigEntry::FakeQuantize(b)) => a == b,
            (QConfigEntry::Identity, QConfigEntry::Identity) => true,
            (QConfigEntry::Custom(a), QConfigEntry::Custom(b)) => Arc::ptr_eq(&a.make, &b.make),
            _ => false,
        }
    }
}

impl QConfigEntry {
    /// A custom entry from a closure.
    pub fn custom(
        name: impl Into<String>,
        make: impl Fn() -> Result<PostProcess, QuantError> + Send + Sync + 'static,
    ) -> Self {
        QConfigEntry::Custom(CustomFactory {
            name: name.into(),
            make: Arc::new(make),
        })
    }

    /// Builds a fresh instance.
    pub fn build(&self) -> Result<PostProcess, QuantError> {
        match self {
            QConfigEntry::Observer(s) => Ok(PostProcess::Observer(s.build()?)),
            QConfigEntry::FakeQuantize(s) => Ok(PostProcess::FakeQuantize(s.build()?)),
            QConfigEntry::Identity => Ok(PostProcess::Identity),
            QConfigEntry::Custom(f) => (f.make)(),
        }
    }

    /// The target dtype, known without building for the spec entries.
    pub fn dtype(&self) -> Option<DType> {
        match self {
            QConfigEntry::Observer(s) => Some(s.dtype()),
            QConfigEntry::FakeQuantize(s) => Some(s.dtype()),
            QConfigEntry::Identity | QConfigEntry::Custom(_) => None,
        }
    }

    /// True for placeholders / observers of dynamic quantization.
    pub fn is_dynamic(&self) -> bool {
        match self {
            QConfigEntry::Observer(ObserverSpec::Placeholder(p)) => p.is_dynamic,
            QConfigEntry::Observer(ObserverSpec::MovingAverageMinMax { is_dynamic, .. }) => {
                *is_dynamic
            }
            QConfigEntry::FakeQuantize(s) => matches!(
                s.observer(),
                ObserverSpec::MovingAverageMinMax {
                    is_dynamic: true,
                    ..
                }
            ),
            _ => false,
        }
    }
}

/// How to quantize a layer: the activation's and the weight's observer factories
/// (`QConfig(activation, weight)`).
#[derive(Debug, Clone, PartialEq)]
pub struct QConfig {
    /// For the layer's output (and inputs where the pass inserts observers).
    pub activation: QConfigEntry,
    /// For the layer's weight.
    pub weight: QConfigEntry,
}

impl QConfig {
    /// A qconfig from two entries.
    pub fn new(activation: QConfigEntry, weight: QConfigEntry) -> Self {
        QConfig { activation, weight }
    }

    /// Observer specs on both sides.
    pub fn observers(activation: ObserverSpec, weight: ObserverSpec) -> Self {
        Self::new(
            QConfigEntry::Observer(activation),
            QConfigEntry::Observer(weight),
        )
    }

    /// Fake-quantize specs on both sides.
    pub fn fake_quantizers(activation: FakeQuantizeSpec, weight: FakeQuantizeSpec) -> Self {
        Self::new(
            QConfigEntry::FakeQuantize(activation),
            QConfigEntry::FakeQuantize(weight),
        )
    }
}

/// The backends PyTorch's `get_default_qconfig` knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// `fbgemm` (x86, 7-bit activations, per-channel weights).
    Fbgemm,
    /// `x86` (same choices as fbgemm).
    X86,
    /// `qnnpack` (ARM; full-range activations, per-tensor weights).
    Qnnpack,
    /// `onednn` (full-range activations, per-channel weights).
    Onednn,
}

impl FromStr for Backend {
    type Err = QuantError;

    /// Parses `fbgemm`, `x86`, `qnnpack` or `onednn`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fbgemm" => Ok(Backend::Fbgemm),
            "x86" => Ok(Backend::X86),
            "qnnpack" => Ok(Backend::Qnnpack),
            "onednn" => Ok(Backend::Onednn),
            _ => Err(QuantError::UnknownBackend { name: s.into() }),
        }
    }
}

impl From<Engine> for Backend {
    fn from(e: Engine) -> Self {
        match e {
            Engine::Fbgemm => Backend::Fbgemm,
            Engine::Qnnpack => Backend::Qnnpack,
        }
    }
}

fn observer(s: ObserverSpec) -> QConfigEntry {
    QConfigEntry::Observer(s)
}

fn fake(s: FakeQuantizeSpec) -> QConfigEntry {
    QConfigEntry::FakeQuantize(s)
}

fn placeholder(dtype: DType, is_dynamic: bool) -> QConfigEntry {
    observer(ObserverSpec::Placeholder(PlaceholderObserver::new(
        dtype, is_dynamic,
    )))
}

fn histogram(options: UniformOptions) -> ObserverSpec {
    ObserverSpec::histogram().with_options(options)
}

/// `default_qconfig`: activation MinMax quint8 0..=127, weight MinMax qint8 symmetric.
pub fn default_qconfig() -> QConfig {
    QConfig::observers(obs::default_observer(), obs::default_weight_observer())
}

/// `default_debug_qconfig`: activation RecordingObserver, weight as default.
pub fn default_debug_qconfig() -> QConfig {
    QConfig::observers(
        obs::default_debug_observer(),
        obs::default_weight_observer(),
    )
}

/// `default_per_channel_qconfig`: as default with per-channel symmetric weights.
pub fn default_per_channel_qconfig() -> QConfig {
    QConfig::observers(
        obs::default_observer(),
        obs::default_per_channel_weight_observer(),
    )
}

/// `default_dynamic_qconfig`: dynamic quint8 placeholder, MinMax qint8 symmetric weight.
pub fn default_dynamic_qconfig() -> QConfig {
    QConfig::observers(
        obs::default_dynamic_quant_observer(),
        obs::default_weight_observer(),
    )
}

/// `float16_dynamic_qconfig`: float16 placeholders (activation dynamic).
pub fn float16_dynamic_qconfig() -> QConfig {
    QConfig::new(
        placeholder(DType::Float16, true),
        placeholder(DType::Float16, false),
    )
}

/// `float16_static_qconfig`: float16 placeholders.
pub fn float16_static_qconfig() -> QConfig {
    QConfig::new(
        placeholder(DType::Float16, false),
        placeholder(DType::Float16, false),
    )
}

/// `per_channel_dynamic_qconfig`: dynamic placeholder, per-channel symmetric qint8 weights.
pub fn per_channel_dynamic_qconfig() -> QConfig {
    QConfig::observers(
        obs::default_dynamic_quant_observer(),
        obs::default_per_channel_weight_observer(),
    )
}

/// `float_qparams_weight_only_qconfig`: placeholder activation, float-qparams quint8 weights
/// (embeddings).
pub fn float_qparams_weight_only_qconfig() -> QConfig {
    QConfig::observers(
        obs::default_placeholder_observer(),
        obs::default_float_qparams_observer(),
    )
}

/// `float_qparams_weight_only_qconfig_4bit`: as above with quint4x2 weights.
pub fn float_qparams_weight_only_qconfig_4bit() -> QConfig {
    QConfig::observers(
        obs::default_placeholder_observer(),
        obs::default_float_qparams_observer_4bit(),
    )
}

/// `default_qat_qconfig`: FakeQuantize with moving averages (activation quint8 0..=127,
/// weight qint8 symmetric).
pub fn default_qat_qconfig() -> QConfig {
    QConfig::fake_quantizers(fq::default_fake_quant(), fq::default_weight_fake_quant())
}

/// `default_dynamic_qat_qconfig`.
pub fn default_dynamic_qat_qconfig() -> QConfig {
    QConfig::fake_quantizers(
        fq::default_dynamic_fake_quant(),
        fq::default_weight_fake_quant(),
    )
}

/// `default_weight_only_qconfig`: Identity activation, weight fake quant.
pub fn default_weight_only_qconfig() -> QConfig {
    QConfig::new(
        QConfigEntry::Identity,
        fake(fq::default_weight_fake_quant()),
    )
}

/// `default_activation_only_qconfig`: activation fake quant, Identity weight.
pub fn default_activation_only_qconfig() -> QConfig {
    QConfig::new(fake(fq::default_fake_quant()), QConfigEntry::Identity)
}

/// `default_qat_qconfig_v2`: the fused versions of `default_qat_qconfig`.
pub fn default_qat_qconfig_v2() -> QConfig {
    QConfig::fake_quantizers(
        fq::default_fused_act_fake_quant(),
        fq::default_fused_wt_fake_quant(),
    )
}

fn signed_histogram() -> ObserverSpec {
    histogram(
        UniformOptions::per_tensor()
            .dtype(DType::QInt8)
            .eps(2f32.powi(-12)),
    )
}

/// `default_symmetric_qnnpack_qconfig`: qint8 histogram activations (eps 2^-12), weights
/// symmetric over -127..=127.
pub fn default_symmetric_qnnpack_qconfig() -> QConfig {
    QConfig::observers(
        signed_histogram(),
        obs::weight_observer_range_neg_127_to_127(),
    )
}

/// `default_per_channel_symmetric_qnnpack_qconfig`: as above with per-channel weights.
pub fn default_per_channel_symmetric_qnnpack_qconfig() -> QConfig {
    QConfig::observers(
        signed_histogram(),
        obs::per_channel_weight_observer_range_neg_127_to_127(),
    )
}

fn signed_fused_act() -> FakeQuantizeSpec {
    FakeQuantizeSpec::Fused(ObserverSpec::MovingAverageMinMax {
        averaging_constant: 0.01,
        options: UniformOptions::per_tensor()
            .dtype(DType::QInt8)
            .quant_range(-128, 127)
            .eps(2f32.powi(-12)),
        is_dynamic: false,
    })
}

/// `default_symmetric_qnnpack_qat_qconfig`.
pub fn default_symmetric_qnnpack_qat_qconfig() -> QConfig {
    QConfig::fake_quantizers(
        signed_fused_act(),
        fq::fused_wt_fake_quant_range_neg_127_to_127(),
    )
}

/// `default_per_channel_symmetric_qnnpack_qat_qconfig`.
pub fn default_per_channel_symmetric_qnnpack_qat_qconfig() -> QConfig {
    QConfig::fake_quantizers(
        signed_fused_act(),
        fq::fused_per_channel_wt_fake_quant_range_neg_127_to_127(),
    )
}

/// `default_embedding_qat_qconfig`: float32 no-op activation, float-qparams weight fake quant.
pub fn default_embedding_qat_qconfig() -> QConfig {
    QConfig::new(
        observer(ObserverSpec::Noop(DType::Float32)),
        fake(fq::default_embedding_fake_quant()),
    )
}

/// `default_embedding_qat_qconfig_4bit`.
pub fn default_embedding_qat_qconfig_4bit() -> QConfig {
    QConfig::new(
        observer(ObserverSpec::Noop(DType::Float32)),
        fake(fq::default_embedding_fake_quant_4bit()),
    )
}

/// `default_quint8_weight_qconfig`: histogram activation, MinMax quint8 weight.
pub fn default_quint8_weight_qconfig() -> QConfig {
    QConfig::observers(ObserverSpec::histogram(), ObserverSpec::min_max())
}

/// `get_default_qconfig(backend)`: histogram activations (reduce_range for fbgemm / x86) and
/// per-channel symmetric weights, except qnnpack: full-range activations and per-tensor
/// symmetric weights.
pub fn get_default_qconfig(backend: impl Into<Backend>) -> QConfig {
    let act = |reduce| histogram(UniformOptions::per_tensor().reduce_range(reduce));
    match backend.into() {
        Backend::Fbgemm | Backend::X86 => {
            QConfig::observers(act(true), obs::default_per_channel_weight_observer())
        }
        Backend::Qnnpack => QConfig::observers(act(false), obs::default_weight_observer()),
        Backend::Onednn => {
            QConfig::observers(act(false), obs::default_per_channel_weight_observer())
        }
    }
}

/// `get_default_qat_qconfig(backend)` (version 1, PyTorch's default): fused moving-average
/// fake quant; activations quint8 0..=255 with reduce_range for fbgemm / x86; per-channel
/// symmetric weights except qnnpack (per-tensor symmetric).
pub fn get_default_qat_qconfig(backend: impl Into<Backend>) -> QConfig {
    let backend = backend.into();
    let act = FakeQuantizeSpec::Fused(ObserverSpec::MovingAverageMinMax {
        averaging_constant: 0.01,
        options: UniformOptions::per_tensor()
            .quant_range(0, 255)
            .reduce_range(matches!(backend, Backend::Fbgemm | Backend::X86)),
        is_dynamic: false,
    });
    let weight = match backend {
        Backend::Qnnpack => fq::default_fused_wt_fake_quant(),
        _ => fq::default_fused_per_channel_wt_fake_quant(),
    };
    QConfig::fake_quantizers(act, weight)
}

/// `get_default_qat_qconfig(backend, version)`: version 1 as [`get_default_qat_qconfig`];
/// version 0 the unfused `FakeQuantize` equivalents. Other versions are an error.
pub fn get_default_qat_qconfig_version(
    backend: impl Into<Backend>,
    version: u32,
) -> Result<QConfig, QuantError> {
    let backend = backend.into();
    match version {
        1 => Ok(get_default_qat_qconfig(backend)),
        0 => {
            let reduce = matches!(backend, Backend::Fbgemm | Backend::X86);
            let act = FakeQuantizeSpec::FakeQuantize(ObserverSpec::MovingAverageMinMax {
                averaging_constant: 0.01,
                options: UniformOptions::per_tensor()
                    .quant_range(0, 255)
                    .reduce_range(reduce),
                is_dynamic: false,
            });
            let weight = match backend {
                Backend::Qnnpack => fq::default_weight_fake_quant(),
                _ => fq::default_per_channel_weight_fake_quant(),
            };
            Ok(QConfig::fake_quantizers(act, weight))
        }
        v => Err(QuantError::BadArgument {
            observer: "get_default_qat_qconfig",
            arg: "version",
            value: v.to_string(),
            reason: "must be 0 or 1",
        }),
    }
}
