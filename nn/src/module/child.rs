//! [`Child`]: a named slot holding a child module, and [`FunctionalExt`] for calling functional
//! modules the way PyTorch code reads (`self.skip.add(y, z)?`).

use std::ops::{Deref, DerefMut};

use super::{Method, Module, Value};
use crate::error::Result;

/// A child module held by a user's model: a `Box<dyn Module>` slot that knows its field name,
/// so errors from inside it name their path (`"in module 'block.conv1': ..."`), and that passes
/// can swap in place (fuse, prepare, convert).
pub struct Child {
    name: String,
    module: Box<dyn Module>,
}

impl Child {
    /// Wraps a module; `#[derive(Module)]` binds the field name before each forward.
    pub fn new(module: impl Module) -> Child {
        Child::from_box(Box::new(module))
    }

    /// Wraps an already boxed module.
    pub fn from_box(module: Box<dyn Module>) -> Child {
        Child {
            name: String::new(),
            module,
        }
    }

    /// Wraps a module under a known name.
    pub fn named(name: &str, module: impl Module) -> Child {
        let mut c = Child::new(module);
        c.bind_name(name);
        c
    }

    /// The name errors are reported under (the field name once bound).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets the name errors are reported under.
    pub fn bind_name(&mut self, name: &str) {
        if self.name != name {
            self.name = name.to_string();
        }
    }

    /// Runs the child, naming it in any error.
    pub fn forward(&mut self, input: impl Into<Value>) -> Result<Value> {
        let name = &self.name;
        let out = if crate::trace::is_tracing() {
            crate::trace::module_call(name, self.module.as_mut(), input.into())
        } else {
            self.module.forward(input.into())
        };
        out.map_err(|e| if name.is_empty() { e } else { e.in_child(name) })
    }

    /// Calls a functional method of the child, naming it in any error.
    pub fn call(&mut self, method: Method, args: Vec<Value>) -> Result<Value> {
        let name = &self.name;
        let out = if crate::trace::is_tracing() {
            crate::trace::method_call(name, self.module.as_mut(), |m| m.call(method, args))
        } else {
            self.module.call(method, args)
        };
        out.map_err(|e| if name.is_empty() { e } else { e.in_child(name) })
    }

    /// The module inside.
    pub fn module(&self) -> &dyn Module {
        self.module.as_ref()
    }

    /// The module inside, mutably.
    pub fn module_mut(&mut self) -> &mut dyn Module {
        self.module.as_mut()
    }

    /// The slot itself, for in-place replacement.
    pub fn slot_mut(&mut self) -> &mut Box<dyn Module> {
        &mut self.module
    }

    /// Puts `new` in the slot and returns the previous module.
    pub fn replace(&mut self, new: Box<dyn Module>) -> Box<dyn Module> {
        std::mem::replace(&mut self.module, new)
    }

    /// The boxed module, giving up the slot.
    pub fn into_inner(self) -> Box<dyn Module> {
        self.module
    }
}

impl Deref for Child {
    type Target = dyn Module;
    fn deref(&self) -> &(dyn Module + 'static) {
        self.module.as_ref()
    }
}

impl DerefMut for Child {
    fn deref_mut(&mut self) -> &mut (dyn Module + 'static) {
        self.module.as_mut()
    }
}

impl<M: Module> From<M> for Child {
    fn from(m: M) -> Child {
        Child::new(m)
    }
}

/// Calls of functional modules that read like PyTorch: `self.skip.add(y, z)?`.
///
/// Implemented for [`Child`] and `Box<dyn Module>`; each method goes through
/// [`Module::call`] with the matching [`Method`].
pub trait FunctionalExt {
    /// The underlying call.
    fn call_method(&mut self, method: Method, args: Vec<Value>) -> Result<Value>;

    /// `a + b`.
    fn add(&mut self, a: Value, b: Value) -> Result<Value> {
        self.call_method(Method::Add, vec![a, b])
    }
    /// `relu(a + b)`.
    fn add_relu(&mut self, a: Value, b: Value) -> Result<Value> {
        self.call_method(Method::AddRelu, vec![a, b])
    }
    /// `a * b`.
    fn mul(&mut self, a: Value, b: Value) -> Result<Value> {
        self.call_method(Method::Mul, vec![a, b])
    }
    /// `torch.cat(xs, dim)`.
    fn cat(&mut self, xs: Vec<Value>, dim: isize) -> Result<Value> {
        self.call_method(Method::Cat { dim }, xs)
    }
    /// `a + s` for a scalar `s`.
    fn add_scalar(&mut self, a: Value, s: f32) -> Result<Value> {
        self.call_method(Method::AddScalar(s), vec![a])
    }
    /// `a * s` for a scalar `s`.
    fn mul_scalar(&mut self, a: Value, s: f32) -> Result<Value> {
        self.call_method(Method::MulScalar(s), vec![a])
    }
    /// `a @ b`.
    fn matmul(&mut self, a: Value, b: Value) -> Result<Value> {
        self.call_method(Method::Matmul, vec![a, b])
    }
}

impl FunctionalExt for Child {
    fn call_method(&mut self, method: Method, args: Vec<Value>) -> Result<Value> {
        self.call(method, args)
    }
}

impl FunctionalExt for Box<dyn Module> {
    fn call_method(&mut self, method: Method, args: Vec<Value>) -> Result<Value> {
        self.as_mut().call(method, args)
    }
}
