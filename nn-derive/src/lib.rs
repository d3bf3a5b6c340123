//! `#[derive(Module)]` for user structs (see the `nn` crate).
