//! `#[derive(Module)]`: makes a user's struct a module of the `nn` crate.
//!
//! Fields are classified by their type:
//!
//! | field | becomes |
//! |---|---|
//! | `Child` or `Box<dyn Module>` | a child named after the field (passes can swap it in place) |
//! | `Tensor` | a parameter named after the field |
//! | `Option<Tensor>` | an optional parameter (absent while `None`) |
//! | `#[module(buffer)] Tensor` / `IntTensor` | a buffer |
//! | `training: bool` | the module's training flag |
//! | anything else, or `#[module(skip)]` | plain data, ignored |
//!
//! The struct's forward is written in an `impl nn::Forward for Model` block (method
//! `forward_impl`); the generated
//! `Module::forward` binds each `Child` to its field name (so errors name the path), runs that
//! forward, and restores the model's buffers if it fails. A `Display` impl prints the tree as
//! PyTorch does.

mod fields;
mod generate;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives `nn::Module` for a struct with named fields (see the crate docs for the field rules).
#[proc_macro_derive(Module, attributes(module))]
pub fn derive_module(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match generate::module_impl(&input) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}
