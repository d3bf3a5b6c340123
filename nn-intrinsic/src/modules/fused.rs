//! The fused float modules (`torch.ao.nn.intrinsic`): sequences of layers that fusion puts
//! into one module so that quantization treats them as one unit. Each is a sequential
//! container with children `"0"`, `"1"` (and `"2"`), printed as PyTorch prints them, whose
//! forward runs the children in order.

use nn::{
    BatchNorm1d, BatchNorm2d, BatchNorm3d, Child, Conv1d, Conv2d, Conv3d, Linear, Module, NnError,
    ReLU, Result, Value,
};

/// A fused module built from modules of the wrong types (PyTorch's "Incorrect types for input
/// modules").
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{fused}: incorrect types for input modules: expected ({expected}), got ({got})")]
pub struct FusedTypeError {
    /// The fused module being built.
    pub fused: &'static str,
    /// The types it takes, in order.
    pub expected: String,
    /// The types given.
    pub got: String,
}

macro_rules! fused_module {
    ($name:ident, $doc:literal, $($field:ident: $ty:ident),+) => {
        #[doc = $doc]
        pub struct $name {
            children: Vec<Child>,
            training: bool,
        }

        impl $name {
            /// Fuses the given modules (moved in as children `"0"`, `"1"`, ...).
            pub fn new($($field: $ty),+) -> $name {
                let mods: Vec<Box<dyn Module>> = vec![$(Box::new($field)),+];
                $name::assemble(mods)
            }

            fn assemble(mods: Vec<Box<dyn Module>>) -> $name {
                let training = mods[0].is_training();
                let children = mods
                    .into_iter()
                    .enumerate()
                    .map(|(i, m)| {
                        let mut c = Child::from_box(m);
                        c.bind_name(&i.to_string());
                        c
                    })
                    .collect();
                $name { children, training }
            }

            /// Fuses boxed modules after checking their types (what `fuse_modules` calls);
            /// the modules are handed back with the error if a type is wrong.
            #[allow(clippy::result_large_err)]
            pub fn from_modules(
                mods: Vec<Box<dyn Module>>,
            ) -> std::result::Result<$name, (FusedTypeError, Vec<Box<dyn Module>>)> {
                let expected: Vec<&str> = vec![$(stringify!($ty)),+];
                let ok = mods.len() == expected.len() && {
                    let mut it = mods.iter();
                    true $(&& it.next().is_some_and(|m| m.is::<$ty>()))+
                };
                if !ok {
                    let got: Vec<&str> = mods.iter().map(|m| m.type_name()).collect();
                    let e = FusedTypeError {
                        fused: stringify!($name),
                        expected: expected.join(", "),
                        got: got.join(", "),
                    };
                    return Err((e, mods));
                }
                Ok($name::assemble(mods))
            }

            /// The child at `index` (`self[index]` in PyTorch).
            pub fn get(&self, index: usize) -> Option<&dyn Module> {
                self.children.get(index).map(|c| c.module())
            }

            /// The children, giving up the container.
            pub fn into_modules(self) -> Vec<Box<dyn Module>> {
                self.children.into_iter().map(Child::into_inner).collect()
            }
        }

        impl Module for $name {
            fn type_name(&self) -> &'static str {
                stringify!($name)
            }

            fn forward(&mut self, input: Value) -> Result<Value> {
                nn::transactional(self, |s| {
                    let mut x = input;
                    for c in &mut s.children {
                        x = c.forward(x)?;
                    }
                    Ok(x)
                })
            }

            fn children(&self) -> Vec<(String, &dyn Module)> {
                self.children
                    .iter()
                    .map(|c| (c.name().to_string(), c.module()))
                    .collect()
            }

            fn child_slots_mut(&mut self) -> Vec<(String, &mut Box<dyn Module>)> {
                self.children
                    .iter_mut()
                    .map(|c| (c.name().to_string(), c.slot_mut()))
                    .collect()
            }

            fn is_training(&self) -> bool {
                self.training
            }

            fn set_training_flag(&mut self, training: bool) {
                self.training = training;
            }
        }
    };
}

fused_module!(ConvReLU1d, "`Conv1d` then `ReLU` (`nni.ConvReLU1d`).", conv: Conv1d, relu: ReLU);
fused_module!(ConvReLU2d, "`Conv2d` then `ReLU` (`nni.ConvReLU2d`).", conv: Conv2d, relu: ReLU);
fused_module!(ConvReLU3d, "`Conv3d` then `ReLU` (`nni.ConvReLU3d`).", conv: Conv3d, relu: ReLU);
fused_module!(ConvBn1d, "`Conv1d` then `BatchNorm1d` (`nni.ConvBn1d`), for QAT.", conv: Conv1d, bn: BatchNorm1d);
fused_module!(ConvBn2d, "`Conv2d` then `BatchNorm2d` (`nni.ConvBn2d`), for QAT.", conv: Conv2d, bn: BatchNorm2d);
fused_module!(ConvBn3d, "`Conv3d` then `BatchNorm3d` (`nni.ConvBn3d`), for QAT.", conv: Conv3d, bn: BatchNorm3d);
fused_module!(
    ConvBnReLU1d,
    "`Conv1d`, `BatchNorm1d`, `ReLU` (`nni.ConvBnReLU1d`), for QAT.",
    conv: Conv1d,
    bn: BatchNorm1d,
    relu: ReLU
);
fused_module!(
    ConvBnReLU2d,
    "`Conv2d`, `BatchNorm2d`, `ReLU` (`nni.ConvBnReLU2d`), for QAT.",
    conv: Conv2d,
    bn: BatchNorm2d,
    relu: ReLU
);
fused_module!(
    ConvBnReLU3d,
    "`Conv3d`, `BatchNorm3d`, `ReLU` (`nni.ConvBnReLU3d`), for QAT.",
    conv: Conv3d,
    bn: BatchNorm3d,
    relu: ReLU
);
fused_module!(LinearReLU, "`Linear` then `ReLU` (`nni.LinearReLU`).", linear: Linear, relu: ReLU);
fused_module!(LinearBn1d, "`Linear` then `BatchNorm1d` (`nni.LinearBn1d`), for QAT.", linear: Linear, bn: BatchNorm1d);
fused_module!(BNReLU2d, "`BatchNorm2d` then `ReLU` (`nni.BNReLU2d`).", bn: BatchNorm2d, relu: ReLU);
fused_module!(BNReLU3d, "`BatchNorm3d` then `ReLU` (`nni.BNReLU3d`).", bn: BatchNorm3d, relu: ReLU);

/// True if `m` is one of the fused float modules of this crate (PyTorch's `_FusedModule`).
pub fn is_fused(m: &dyn Module) -> bool {
    m.is::<ConvReLU1d>()
        || m.is::<ConvReLU2d>()
        || m.is::<ConvReLU3d>()
        || m.is::<ConvBn1d>()
        || m.is::<ConvBn2d>()
        || m.is::<ConvBn3d>()
        || m.is::<ConvBnReLU1d>()
        || m.is::<ConvBnReLU2d>()
        || m.is::<ConvBnReLU3d>()
        || m.is::<LinearReLU>()
        || m.is::<LinearBn1d>()
        || m.is::<BNReLU2d>()
        || m.is::<BNReLU3d>()
}

/// The first child of a fused module, for `from_float` (PyTorch's `mod[0]`); errors if `m`
/// has no children.
pub fn first_child(m: &dyn Module) -> Result<&dyn Module> {
    m.children()
        .into_iter()
        .next()
        .map(|(_, c)| c)
        .ok_or_else(|| NnError::bad_arg(m.type_name(), "a fused module needs at least one child"))
}
