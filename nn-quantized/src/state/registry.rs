//! Which module types have a [`QuantizedState`]: a table from the concrete type to casts
//! `&dyn Module -> &dyn QuantizedState`, holding this crate's modules from the start; crates
//! above (fused modules, dynamic modules, a user's own) add theirs with
//! [`register_quantized_state`].

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use nn::Module;

use super::module_state::QuantizedState;
use crate::modules as nnq;

type Get = fn(&dyn Module) -> Option<&dyn QuantizedState>;
type GetMut = fn(&mut dyn Module) -> Option<&mut dyn QuantizedState>;

#[derive(Clone, Copy)]
struct Casts {
    get: Get,
    get_mut: GetMut,
}

fn casts<T: Module + QuantizedState>() -> Casts {
    Casts {
        get: |m| m.downcast_ref::<T>().map(|t| t as &dyn QuantizedState),
        get_mut: |m| m.downcast_mut::<T>().map(|t| t as &mut dyn QuantizedState),
    }
}

fn table() -> &'static RwLock<HashMap<TypeId, Casts>> {
    static TABLE: OnceLock<RwLock<HashMap<TypeId, Casts>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = HashMap::new();
        macro_rules! builtin {
            ($($ty:ty),+ $(,)?) => {
                $(t.insert(TypeId::of::<$ty>(), casts::<$ty>());)+
            };
        }
        builtin!(
            nnq::Quantize,
            nnq::DeQuantize,
            nnq::Linear,
            nnq::Conv1d,
            nnq::Conv2d,
            nnq::Conv3d,
            nnq::ConvTranspose2d,
            nnq::BatchNorm2d,
            nnq::BatchNorm3d,
            nnq::LayerNorm,
            nnq::GroupNorm,
            nnq::InstanceNorm1d,
            nnq::InstanceNorm2d,
            nnq::InstanceNorm3d,
            nnq::ReLU6,
            nnq::Hardswish,
            nnq::ELU,
            nnq::LeakyReLU,
            nnq::Sigmoid,
            nnq::Tanh,
            nnq::Dropout,
            nnq::QFunctional,
            nnq::Embedding,
            nnq::EmbeddingBag,
        );
        RwLock::new(t)
    })
}

fn lookup(id: TypeId) -> Option<Casts> {
    table()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .copied()
}

/// Makes modules of type `T` part of a model's quantized state (for
/// [`quantized_state_dict`](crate::state::quantized_state_dict) and the loaders). This crate's
/// modules are registered already; fused and dynamic quantized modules register themselves
/// when constructed. Registering twice is harmless.
pub fn register_quantized_state<T: Module + QuantizedState>() {
    let id = TypeId::of::<T>();
    if lookup(id).is_none() {
        table()
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, casts::<T>());
    }
}

/// The module's quantized state interface, if its type is registered.
pub fn as_quantized_state(m: &dyn Module) -> Option<&dyn QuantizedState> {
    (lookup(Any::type_id(m.as_any()))?.get)(m)
}

/// The module's quantized state interface, mutably, if its type is registered.
pub fn as_quantized_state_mut(m: &mut dyn Module) -> Option<&mut dyn QuantizedState> {
    let casts = lookup(Any::type_id(m.as_any()))?;
    (casts.get_mut)(m)
}
