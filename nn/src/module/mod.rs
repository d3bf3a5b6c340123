//! The [`Module`] trait and tree (`torch.nn.Module`): children by name, recursive names with
//! PyTorch's dots, train/eval mode, in-place replacement of a child, the multi-input method
//! entry of functional modules.

mod buffer;
mod child;
mod display;
mod method;
mod transaction;
mod value;

use std::any::Any;

pub use buffer::{Buffer, IntTensor};
pub use child::{Child, FunctionalExt};
pub use method::Method;
pub use transaction::transactional;
pub use value::Value;

use crate::error::{NnError, Result};
use crate::tensor::Tensor;

/// Casts between a concrete module and `dyn Module` / `dyn Any`; implemented for every module.
pub trait ModuleCast {
    /// `self` as a module trait object.
    fn as_module(&self) -> &dyn Module;
    /// `self` as a mutable module trait object.
    fn as_module_mut(&mut self) -> &mut dyn Module;
    /// `self` as `Any`, for downcasting to the concrete type.
    fn as_any(&self) -> &dyn Any;
    /// `self` as mutable `Any`, for downcasting to the concrete type.
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// The boxed module as `Box<dyn Any>`, for taking ownership of the concrete type.
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
}

impl<T: Module> ModuleCast for T {
    fn as_module(&self) -> &dyn Module {
        self
    }
    fn as_module_mut(&mut self) -> &mut dyn Module {
        self
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }
}

/// The forward of a user's own model: implement it next to `#[derive(Module)]`, whose
/// generated [`Module::forward`] calls it. (It is not named `forward` so that calling
/// `model.forward(x)` is never ambiguous when both traits are in scope.)
pub trait Forward {
    /// Computes the model's output (call the children's `forward` by field).
    fn forward_impl(&mut self, input: Value) -> Result<Value>;
}

/// A neural-network module (`torch.nn.Module`).
///
/// Required: [`Module::type_name`], [`Module::forward`], [`Module::is_training`] and
/// [`Module::set_training_flag`]; modules with parameters, buffers or children also implement
/// the matching `local_*` / `children` / `child_slots_mut` methods. Everything else is provided.
pub trait Module: Any + Send + ModuleCast {
    /// The class name PyTorch prints (`"Conv2d"`).
    fn type_name(&self) -> &'static str;

    /// Runs the module on one input.
    fn forward(&mut self, input: Value) -> Result<Value>;

    /// The entry of multi-input functional modules (`FloatFunctional.add(a, b)` ...); other
    /// modules answer [`NnError::UnsupportedMethod`].
    fn call(&mut self, method: Method, args: Vec<Value>) -> Result<Value> {
        let _ = args;
        Err(NnError::UnsupportedMethod {
            module: self.type_name().to_string(),
            method: method.name().to_string(),
        })
    }

    /// This module's own parameters by local name (`"weight"`, `"bias"`), not its children's.
    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// This module's own buffers by local name (`"running_mean"`), not its children's.
    fn local_buffers(&self) -> Vec<(String, Buffer)> {
        Vec::new()
    }

    /// The direct children by name, in registration order.
    fn children(&self) -> Vec<(String, &dyn Module)> {
        Vec::new()
    }

    /// The slots holding the direct children, so a pass can swap a child in place.
    fn child_slots_mut(&mut self) -> Vec<(String, &mut Box<dyn Module>)> {
        Vec::new()
    }

    /// The slot of the direct child `name`.
    fn child_slot_mut(&mut self, name: &str) -> Option<&mut Box<dyn Module>> {
        self.child_slots_mut()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, slot)| slot)
    }

    /// True in training mode (`module.training`).
    fn is_training(&self) -> bool;

    /// Sets this module's own training flag (not its children's; see [`Module::train`]).
    fn set_training_flag(&mut self, training: bool);

    /// The text inside the parentheses of this module's printed form (`extra_repr`).
    fn extra_repr(&self) -> String {
        String::new()
    }

    /// Every module of the tree with its dotted path, this one first as `""` (`named_modules`).
    fn named_modules(&self) -> Vec<(String, &dyn Module)> {
        let mut out = Vec::new();
        collect_modules(self.as_module(), String::new(), &mut out);
        out
    }

    /// Every parameter with its dotted name (`named_parameters`); a tensor shared by two
    /// modules is listed once, under its first name.
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = Vec::new();
        for (path, m) in self.named_modules() {
            for (name, t) in m.local_parameters() {
                if !out.iter().any(|(_, seen)| seen.same(&t)) {
                    out.push((join(&path, &name), t));
                }
            }
        }
        out
    }

    /// Every parameter (`parameters()`), for an optimizer.
    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters()
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    /// Every buffer with its dotted name (`named_buffers`).
    fn named_buffers(&self) -> Vec<(String, Buffer)> {
        let mut out = Vec::new();
        for (path, m) in self.named_modules() {
            for (name, b) in m.local_buffers() {
                out.push((join(&path, &name), b));
            }
        }
        out
    }

    /// The direct children by name (`named_children`).
    fn named_children(&self) -> Vec<(String, &dyn Module)> {
        self.children()
    }

    /// The module at a dotted path (`get_submodule("layer1.0.conv1")`); `""` is this module.
    fn get_submodule(&self, path: &str) -> Result<&dyn Module> {
        let mut cur = self.as_module();
        if path.is_empty() {
            return Ok(cur);
        }
        for (i, seg) in path.split('.').enumerate() {
            let next = cur.children().into_iter().find(|(n, _)| n == seg);
            cur = match next {
                Some((_, m)) => m,
                None => return Err(no_such_module(path, i, cur)),
            };
        }
        Ok(cur)
    }

    /// Mutable access to the module at a dotted path.
    fn get_submodule_mut(&mut self, path: &str) -> Result<&mut dyn Module> {
        let mut cur = self.as_module_mut();
        if path.is_empty() {
            return Ok(cur);
        }
        for (i, seg) in path.split('.').enumerate() {
            if cur.child_slot_mut(seg).is_none() {
                return Err(no_such_module(path, i, cur));
            }
            cur = cur.child_slot_mut(seg).expect("checked above").as_mut();
        }
        Ok(cur)
    }

    /// Puts `new` at the dotted path, returning the module it replaces (what fuse / prepare /
    /// convert do); errors without changing anything if there is no such child.
    fn replace_submodule(&mut self, path: &str, new: Box<dyn Module>) -> Result<Box<dyn Module>> {
        let (parent, name) = match path.rsplit_once('.') {
            Some((p, n)) => (p, n),
            None => ("", path),
        };
        if name.is_empty() {
            return Err(NnError::NoSuchModule {
                path: path.to_string(),
                detail: "; the root module cannot be replaced in place".into(),
            });
        }
        let parent_module = self.get_submodule_mut(parent)?;
        match parent_module.child_slot_mut(name) {
            Some(slot) => Ok(std::mem::replace(slot, new)),
            None => Err(no_such_module(
                path,
                path.split('.').count() - 1,
                parent_module,
            )),
        }
    }

    /// Sets training mode on this module and every descendant (`train(mode)`).
    fn train(&mut self, mode: bool) {
        self.set_training_flag(mode);
        for (_, slot) in self.child_slots_mut() {
            slot.train(mode);
        }
    }

    /// Evaluation mode (`eval()`), the same as `train(false)`.
    fn eval(&mut self) {
        self.train(false);
    }

    /// Clears the gradients of every parameter (`zero_grad()`).
    fn zero_grad(&self) {
        for p in self.parameters() {
            p.zero_grad();
        }
    }

    /// The model's parameters and buffers by dotted name (`state_dict()`), in PyTorch's order.
    fn state_dict(&self) -> crate::StateDict {
        crate::state_dict::state_dict(self.as_module())
    }

    /// Copies a state dict into the model (`load_state_dict(sd, strict)`). Shapes must match;
    /// with `strict`, missing and unexpected keys are errors too. Every problem is reported in
    /// one [`NnError::StateDict`] and the model is left unchanged on error; a non-strict load
    /// returns the keys it skipped.
    fn load_state_dict(
        &mut self,
        sd: &crate::StateDict,
        strict: bool,
    ) -> Result<crate::LoadReport> {
        crate::state_dict::load_state_dict(self.as_module(), sd, strict)
    }

    /// Calls `f` on every module of the tree with its dotted path, parents before children.
    fn visit_mut(&mut self, f: &mut dyn FnMut(&str, &mut dyn Module)) {
        visit_modules_mut(self.as_module_mut(), String::new(), f);
    }

    /// The tree printed as PyTorch prints a module.
    fn repr(&self) -> String {
        display::repr(self.as_module())
    }
}

impl std::fmt::Display for dyn Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.repr())
    }
}

impl std::fmt::Debug for dyn Module {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.repr())
    }
}

impl dyn Module {
    /// The concrete module, if it is a `T`.
    pub fn downcast_ref<T: Module>(&self) -> Option<&T> {
        self.as_any().downcast_ref()
    }

    /// The concrete module, mutably, if it is a `T`.
    pub fn downcast_mut<T: Module>(&mut self) -> Option<&mut T> {
        self.as_any_mut().downcast_mut()
    }

    /// True if the module is a `T`.
    pub fn is<T: Module>(&self) -> bool {
        self.as_any().is::<T>()
    }
}

/// Joins a module path and a local name with a dot (`""` + `"weight"` = `"weight"`).
pub fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn collect_modules<'a>(m: &'a dyn Module, path: String, out: &mut Vec<(String, &'a dyn Module)>) {
    let children = m.children();
    out.push((path.clone(), m));
    for (name, c) in children {
        collect_modules(c, join(&path, &name), out);
    }
}

fn visit_modules_mut(m: &mut dyn Module, path: String, f: &mut dyn FnMut(&str, &mut dyn Module)) {
    f(&path, m);
    for (name, slot) in m.child_slots_mut() {
        visit_modules_mut(slot.as_mut(), join(&path, &name), f);
    }
}

fn no_such_module(path: &str, failed_segment: usize, at: &dyn Module) -> NnError {
    let segs: Vec<&str> = path.split('.').collect();
    let parent = segs[..failed_segment].join(".");
    let names: Vec<String> = at.children().into_iter().map(|(n, _)| n).collect();
    NnError::NoSuchModule {
        path: path.to_string(),
        detail: format!(
            "; {} ({}) has no child '{}'; its children are [{}]",
            if parent.is_empty() {
                "the model"
            } else {
                &parent
            },
            at.type_name(),
            segs[failed_segment],
            names.join(", ")
        ),
    }
}
