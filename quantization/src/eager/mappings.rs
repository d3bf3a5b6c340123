//! Every table of the eager passes in one place (PyTorch's `fuser_method_mappings.py` and
//! `quantization_mappings.py`): the fusion patterns, the float -> quantized module mapping,
//! and which modules get observers.

use std::any::TypeId;
use std::sync::Arc;

use nn::{
    BatchNorm1d, BatchNorm2d, BatchNorm3d, Conv1d, Conv2d, Conv3d, ConvTranspose2d, DeQuantStub,
    Dropout, FloatFunctional, Linear, Module, QuantStub, ReLU, Sequential,
};
use nn_intrinsic as nni;

use super::context::FromFloatCtx;
use super::error::EagerError;
use super::from_float as ff;
use super::fusers::{self, FuseResult};

/// A fuser method: builds the fused module from the group's modules (`is_qat` selects the QAT
/// form), or says why they cannot be fused.
pub type Fuser = fn(is_qat: bool, mods: &[&dyn Module]) -> FuseResult;

/// One fusion pattern: module types in order and the fuser that combines them.
#[derive(Clone)]
pub struct FusionPattern {
    /// The types, in the order the group lists them.
    pub types: Vec<TypeId>,
    /// Their names, for messages.
    pub names: Vec<&'static str>,
    /// The fuser method.
    pub fuser: Fuser,
}

macro_rules! pattern {
    ([$($t:ty),+], $f:expr) => {
        FusionPattern {
            types: vec![$(TypeId::of::<$t>()),+],
            names: vec![$(stringify!($t)),+],
            fuser: $f,
        }
    };
}

/// PyTorch's `_DEFAULT_OP_LIST_TO_FUSER_METHOD` (for the layer types `nn` has).
pub fn default_fusion_patterns() -> Vec<FusionPattern> {
    use fusers::{
        conv_bn, conv_bn_relu, convtranspose_bn, copy_bn_s, copy_conv_s, copy_linear_s, with_relu,
    };
    vec![
        pattern!([Conv1d, BatchNorm1d], |q, m| conv_bn::<
            Conv1d,
            BatchNorm1d,
            _,
        >(
            q, m, nni::ConvBn1d::new
        )),
        pattern!([Conv1d, BatchNorm1d, ReLU], |q, m| {
            conv_bn_relu::<Conv1d, BatchNorm1d, _, _>(
                q,
                m,
                nni::ConvReLU1d::new,
                nni::ConvBnReLU1d::new,
            )
        }),
        pattern!([Conv2d, BatchNorm2d], |q, m| conv_bn::<
            Conv2d,
            BatchNorm2d,
            _,
        >(
            q, m, nni::ConvBn2d::new
        )),
        pattern!([Conv2d, BatchNorm2d, ReLU], |q, m| {
            conv_bn_relu::<Conv2d, BatchNorm2d, _, _>(
                q,
                m,
                nni::ConvReLU2d::new,
                nni::ConvBnReLU2d::new,
            )
        }),
        pattern!([Conv3d, BatchNorm3d], |q, m| conv_bn::<
            Conv3d,
            BatchNorm3d,
            _,
        >(
            q, m, nni::ConvBn3d::new
        )),
        pattern!([Conv3d, BatchNorm3d, ReLU], |q, m| {
            conv_bn_relu::<Conv3d, BatchNorm3d, _, _>(
                q,
                m,
                nni::ConvReLU3d::new,
                nni::ConvBnReLU3d::new,
            )
        }),
        pattern!([Conv1d, ReLU], |_, m| with_relu(
            m,
            copy_conv_s::<Conv1d>,
            nni::ConvReLU1d::new
        )),
        pattern!([Conv2d, ReLU], |_, m| with_relu(
            m,
            copy_conv_s::<Conv2d>,
            nni::ConvReLU2d::new
        )),
        pattern!([Conv3d, ReLU], |_, m| with_relu(
            m,
            copy_conv_s::<Conv3d>,
            nni::ConvReLU3d::new
        )),
        pattern!([Linear, BatchNorm1d], fusers::linear_bn),
        pattern!([Linear, ReLU], |_, m| with_relu(
            m,
            copy_linear_s,
            nni::LinearReLU::new
        )),
        pattern!([BatchNorm2d, ReLU], |_, m| with_relu(
            m,
            copy_bn_s::<BatchNorm2d>,
            nni::BNReLU2d::new
        )),
        pattern!([BatchNorm3d, ReLU], |_, m| with_relu(
            m,
            copy_bn_s::<BatchNorm3d>,
            nni::BNReLU3d::new
        )),
        pattern!(
            [ConvTranspose2d, BatchNorm2d],
            convtranspose_bn::<ConvTranspose2d, BatchNorm2d>
        ),
    ]
}

/// A float -> quantized constructor (PyTorch's `QuantizedModule.from_float`).
pub type FromFloatFn =
    Arc<dyn Fn(&FromFloatCtx<'_>) -> Result<Box<dyn Module>, EagerError> + Send + Sync>;

/// One entry of a [`QuantMapping`].
#[derive(Clone)]
pub struct MappingEntry {
    type_id: TypeId,
    float_name: &'static str,
    from_float: FromFloatFn,
    custom: bool,
}

impl MappingEntry {
    /// The float module's type name.
    pub fn float_name(&self) -> &'static str {
        self.float_name
    }

    /// True for entries added with [`QuantMapping::insert`]: such modules are observed and
    /// swapped as one unit (their children are not visited), as PyTorch's custom modules.
    pub fn is_custom(&self) -> bool {
        self.custom
    }

    /// Runs the constructor.
    pub fn build(&self, ctx: &FromFloatCtx<'_>) -> Result<Box<dyn Module>, EagerError> {
        (self.from_float)(ctx)
    }
}

/// Which float module type becomes which quantized module (PyTorch's
/// `DEFAULT_STATIC_QUANT_MODULE_MAPPINGS`), extendable with a user's own types.
#[derive(Clone, Default)]
pub struct QuantMapping {
    entries: Vec<MappingEntry>,
}

impl QuantMapping {
    /// No entries.
    pub fn empty() -> QuantMapping {
        QuantMapping::default()
    }

    fn builtin<F: Module>(
        &mut self,
        f: fn(&FromFloatCtx<'_>) -> Result<Box<dyn Module>, EagerError>,
    ) {
        self.entries.push(MappingEntry {
            type_id: TypeId::of::<F>(),
            float_name: short_name::<F>(),
            from_float: Arc::new(f),
            custom: false,
        });
    }

    /// PyTorch's default static mapping, for the float types `nn` has: `QuantStub`,
    /// `DeQuantStub`, `Linear`, `Conv1d/2d/3d`, `ConvTranspose2d`, `BatchNorm2d/3d`, `Dropout`,
    /// `FloatFunctional`, `ReLU6`, `Hardswish`, `ELU`, `LeakyReLU`, `LayerNorm`, `GroupNorm`,
    /// `InstanceNorm2d`, `Embedding`, `EmbeddingBag` and the fused `ConvReLU1d/2d/3d`,
    /// `LinearReLU`, `BNReLU2d/3d`.
    pub fn default_static() -> QuantMapping {
        let mut m = QuantMapping::empty();
        m.builtin::<QuantStub>(ff::quant_stub);
        m.builtin::<DeQuantStub>(ff::dequant_stub);
        m.builtin::<BatchNorm2d>(ff::batch_norm2d);
        m.builtin::<BatchNorm3d>(ff::batch_norm3d);
        m.builtin::<Dropout>(ff::dropout);
        m.builtin::<Conv1d>(ff::conv1d);
        m.builtin::<Conv2d>(ff::conv2d);
        m.builtin::<Conv3d>(ff::conv3d);
        m.builtin::<ConvTranspose2d>(ff::conv_transpose2d);
        m.builtin::<Linear>(ff::linear);
        m.builtin::<FloatFunctional>(ff::float_functional);
        m.builtin::<nni::BNReLU2d>(ff::bn_relu2d);
        m.builtin::<nni::BNReLU3d>(ff::bn_relu3d);
        m.builtin::<nni::ConvReLU1d>(ff::conv_relu1d);
        m.builtin::<nni::ConvReLU2d>(ff::conv_relu2d);
        m.builtin::<nni::ConvReLU3d>(ff::conv_relu3d);
        m.builtin::<nni::LinearReLU>(ff::linear_relu);
        m.builtin::<nn::ReLU6>(ff::relu6);
        m.builtin::<nn::Hardswish>(ff::hardswish);
        m.builtin::<nn::ELU>(ff::elu);
        m.builtin::<nn::LeakyReLU>(ff::leaky_relu);
        m.builtin::<nn::LayerNorm>(ff::layer_norm);
        m.builtin::<nn::GroupNorm>(ff::group_norm);
        m.builtin::<nn::InstanceNorm2d>(ff::instance_norm2d);
        m.builtin::<nn::Embedding>(ff::embedding);
        m.builtin::<nn::EmbeddingBag>(ff::embedding_bag);
        m
    }

    /// Adds (or replaces) the constructor for float type `F`: convert hands it the observed `F`
    /// and puts what it returns in its place. A user's own types are observed and swapped as
    /// one unit.
    pub fn insert<F: Module>(
        &mut self,
        from_float: impl Fn(&FromFloatCtx<'_>) -> Result<Box<dyn Module>, EagerError>
            + Send
            + Sync
            + 'static,
    ) -> &mut QuantMapping {
        let id = TypeId::of::<F>();
        self.entries.retain(|e| e.type_id != id);
        self.entries.push(MappingEntry {
            type_id: id,
            float_name: short_name::<F>(),
            from_float: Arc::new(from_float),
            custom: true,
        });
        self
    }

    /// The entry for `m`'s concrete type.
    pub fn get(&self, m: &dyn Module) -> Option<&MappingEntry> {
        let id = m.as_any().type_id();
        self.entries.iter().find(|e| e.type_id == id)
    }

    /// The float type names mapped.
    pub fn float_names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|e| e.float_name).collect()
    }
}

fn short_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

/// PyTorch's `get_default_qconfig_propagation_list`: module types that get an observer when
/// they are leaves (the mapping's keys, the QAT and dynamic mappings' keys, `Sequential`).
pub fn in_propagation_list(mapping: &QuantMapping, m: &dyn Module) -> bool {
    mapping.get(m).is_some() || nni::is_fused(m) || m.is::<Sequential>()
}

/// Modules that carry a qconfig but get no observer: `DeQuantStub` (PyTorch skips it) and
/// `Dropout` (skipped "until the codebase is stable").
pub fn never_observed(m: &dyn Module) -> bool {
    m.is::<DeQuantStub>() || m.is::<Dropout>()
}

/// Modules whose own `activation_post_process` slot receives the observer
/// (`FloatFunctional`).
pub fn observes_itself(m: &dyn Module) -> bool {
    m.is::<FloatFunctional>()
}
