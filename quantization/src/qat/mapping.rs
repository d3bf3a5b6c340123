//! [`QatMapping`]: which float module type becomes which QAT module (PyTorch's
//! `DEFAULT_QAT_MODULE_MAPPINGS`, `get_embedding_qat_module_mappings`), extendable with a
//! user's own types.

use std::any::TypeId;
use std::sync::Arc;

use nn::{Module, NnError};
use nn_intrinsic as nni;
use nn_intrinsic::qat as nniqat;
use qtensor::QScheme;

use super::FakeQuantizeModule;
use crate::eager::EagerError;
use crate::QConfig;

/// What a float -> QAT constructor gets: the float module, its path and its qconfig.
pub struct QatCtx<'a> {
    /// The module's path in the model.
    pub path: &'a str,
    /// The float module.
    pub module: &'a dyn Module,
    /// Its qconfig.
    pub qconfig: &'a QConfig,
}

impl QatCtx<'_> {
    /// A fresh weight fake-quant from the qconfig (`qconfig.weight()`), as a module.
    pub fn weight_fake_quant(&self) -> Result<Box<dyn Module>, EagerError> {
        FakeQuantizeModule::from_entry(&self.qconfig.weight).map_err(|source| {
            EagerError::Observer {
                path: format!("{}.weight_fake_quant", self.path),
                source,
            }
        })
    }

    /// The float module as a `T`.
    pub fn downcast<T: Module>(&self) -> Result<&T, EagerError> {
        self.module.downcast_ref::<T>().ok_or_else(|| {
            self.error(format!(
                "expected a {}, found a {}",
                std::any::type_name::<T>(),
                self.module.type_name()
            ))
        })
    }

    /// A qconfig error for this module.
    pub fn error(&self, reason: impl Into<String>) -> EagerError {
        EagerError::QConfig {
            path: self.path.to_string(),
            module: self.module.type_name().to_string(),
            reason: reason.into(),
        }
    }

    /// Maps a constructor's `nn` error to an error for this module.
    pub fn nn_error(&self, e: NnError) -> EagerError {
        self.error(e.to_string())
    }
}

/// A float -> QAT constructor (PyTorch's QAT `from_float`).
pub type QatCtor = Arc<dyn Fn(&QatCtx<'_>) -> Result<Box<dyn Module>, EagerError> + Send + Sync>;

#[derive(Clone)]
struct Entry {
    type_id: TypeId,
    float_name: &'static str,
    ctor: QatCtor,
}

/// The float -> QAT swap table of `prepare_qat`.
#[derive(Clone, Default)]
pub struct QatMapping {
    entries: Vec<Entry>,
}

fn short_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

macro_rules! ctor {
    ($float:ty, |$ctx:ident, $m:ident, $fq:ident| $build:expr) => {
        |$ctx: &QatCtx<'_>| -> Result<Box<dyn Module>, EagerError> {
            let $m = $ctx.downcast::<$float>()?;
            let $fq = $ctx.weight_fake_quant()?;
            Ok(Box::new($build.map_err(|e| $ctx.nn_error(e))?))
        }
    };
}

/// The weight fake-quant of an embedding: PyTorch requires per-row float qparams.
fn embedding_fake_quant(ctx: &QatCtx<'_>) -> Result<Box<dyn Module>, EagerError> {
    let fq = ctx.weight_fake_quant()?;
    let scheme = fq
        .downcast_ref::<FakeQuantizeModule>()
        .map(|m| m.observer_ref().qscheme());
    if scheme != Some(QScheme::PerChannelAffineFloatQParams) {
        return Err(ctx.error(format!(
            "Embedding weights requires a qscheme of per_channel_affine_float_qparams, got \
             {scheme:?}; use default_embedding_qat_qconfig"
        )));
    }
    Ok(fq)
}

impl QatMapping {
    /// No entries.
    pub fn empty() -> QatMapping {
        QatMapping::default()
    }

    fn builtin<F: Module>(
        &mut self,
        ctor: impl Fn(&QatCtx<'_>) -> Result<Box<dyn Module>, EagerError> + Send + Sync + 'static,
    ) {
        self.entries.push(Entry {
            type_id: TypeId::of::<F>(),
            float_name: short_name::<F>(),
            ctor: Arc::new(ctor),
        });
    }

    /// PyTorch's `DEFAULT_QAT_MODULE_MAPPINGS`: `Conv2d`, `Conv3d`, `Linear` and the fused
    /// `ConvBn1d/2d/3d`, `ConvBnReLU1d/2d/3d`, `ConvReLU2d/3d`, `LinearReLU`, `LinearBn1d`.
    /// (As in PyTorch, `Conv1d` and `ConvReLU1d` are not in it; [`QatMapping::with_conv1d`]
    /// adds them.)
    pub fn default_qat() -> QatMapping {
        let mut m = QatMapping::empty();
        m.builtin::<nn::Conv2d>(ctor!(nn::Conv2d, |c, f, fq| nn_qat::Conv2d::from_float(
            f, fq
        )));
        m.builtin::<nn::Conv3d>(ctor!(nn::Conv3d, |c, f, fq| nn_qat::Conv3d::from_float(
            f, fq
        )));
        m.builtin::<nn::Linear>(ctor!(nn::Linear, |c, f, fq| nn_qat::Linear::from_float(
            f, fq
        )));
        m.builtin::<nni::ConvBn1d>(ctor!(nni::ConvBn1d, |c, f, fq| {
            nniqat::ConvBn1d::from_float(f, fq)
        }));
        m.builtin::<nni::ConvBn2d>(ctor!(nni::ConvBn2d, |c, f, fq| {
            nniqat::ConvBn2d::from_float(f, fq)
        }));
        m.builtin::<nni::ConvBn3d>(ctor!(nni::ConvBn3d, |c, f, fq| {
            nniqat::ConvBn3d::from_float(f, fq)
        }));
        m.builtin::<nni::ConvBnReLU1d>(ctor!(nni::ConvBnReLU1d, |c, f, fq| {
            nniqat::ConvBnReLU1d::from_float(f, fq)
        }));
        m.builtin::<nni::ConvBnReLU2d>(ctor!(nni::ConvBnReLU2d, |c, f, fq| {
            nniqat::ConvBnReLU2d::from_float(f, fq)
        }));
        m.builtin::<nni::ConvBnReLU3d>(ctor!(nni::ConvBnReLU3d, |c, f, fq| {
            nniqat::ConvBnReLU3d::from_float(f, fq)
        }));
        m.builtin::<nni::ConvReLU2d>(ctor!(nni::ConvReLU2d, |c, f, fq| {
            nniqat::ConvReLU2d::from_float(f, fq)
        }));
        m.builtin::<nni::ConvReLU3d>(ctor!(nni::ConvReLU3d, |c, f, fq| {
            nniqat::ConvReLU3d::from_float(f, fq)
        }));
        m.builtin::<nni::LinearReLU>(ctor!(nni::LinearReLU, |c, f, fq| {
            nniqat::LinearReLU::from_float(f, fq)
        }));
        m.builtin::<nni::LinearBn1d>(ctor!(nni::LinearBn1d, |c, f, fq| {
            nniqat::LinearBn1d::from_float(f, fq)
        }));
        m
    }

    /// Adds `Conv1d` and the fused `ConvReLU1d` (QAT modules exist for both; PyTorch's default
    /// table leaves them out).
    pub fn with_conv1d(mut self) -> QatMapping {
        self.builtin::<nn::Conv1d>(ctor!(nn::Conv1d, |c, f, fq| nn_qat::Conv1d::from_float(
            f, fq
        )));
        self.builtin::<nni::ConvReLU1d>(ctor!(nni::ConvReLU1d, |c, f, fq| {
            nniqat::ConvReLU1d::from_float(f, fq)
        }));
        self
    }

    /// Adds `Embedding` and `EmbeddingBag` (PyTorch's `get_embedding_qat_module_mappings`);
    /// their qconfig's weight must use per-row float qparams.
    pub fn with_embeddings(mut self) -> QatMapping {
        self.builtin::<nn::Embedding>(|ctx: &QatCtx<'_>| -> Result<Box<dyn Module>, EagerError> {
            let m = ctx.downcast::<nn::Embedding>()?;
            let q = nn_qat::Embedding::from_float(m, embedding_fake_quant(ctx)?);
            Ok(Box::new(q.map_err(|e| ctx.nn_error(e))?))
        });
        self.builtin::<nn::EmbeddingBag>(
            |ctx: &QatCtx<'_>| -> Result<Box<dyn Module>, EagerError> {
                let m = ctx.downcast::<nn::EmbeddingBag>()?;
                let q = nn_qat::EmbeddingBag::from_float(m, embedding_fake_quant(ctx)?);
                Ok(Box::new(q.map_err(|e| ctx.nn_error(e))?))
            },
        );
        self
    }

    /// Adds (or replaces) the constructor for float type `F`.
    pub fn insert<F: Module>(
        &mut self,
        ctor: impl Fn(&QatCtx<'_>) -> Result<Box<dyn Module>, EagerError> + Send + Sync + 'static,
    ) -> &mut QatMapping {
        let id = TypeId::of::<F>();
        self.entries.retain(|e| e.type_id != id);
        self.builtin::<F>(ctor);
        self
    }

    /// The constructor for `m`'s concrete type.
    pub fn get(&self, m: &dyn Module) -> Option<&QatCtor> {
        let id = m.as_any().type_id();
        self.entries
            .iter()
            .find(|e| e.type_id == id)
            .map(|e| &e.ctor)
    }

    /// The float type names mapped.
    pub fn float_names(&self) -> Vec<&'static str> {
        self.entries.iter().map(|e| e.float_name).collect()
    }
}
