//! Classifies a struct's fields into children, parameters, buffers and the training flag.

use syn::{Data, DeriveInput, Fields, GenericArgument, Ident, PathArguments, Type, TypeParamBound};

/// What a field is to the module.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A `Child` slot.
    Child,
    /// A `Box<dyn Module>` slot.
    BoxChild,
    /// A `Tensor` parameter.
    Param,
    /// An `Option<Tensor>` parameter.
    OptParam,
    /// A `#[module(buffer)] Tensor`.
    FloatBuffer,
    /// A `#[module(buffer)] IntTensor`.
    IntBuffer,
    /// `training: bool`.
    Training,
    /// Anything else.
    Ignored,
}

/// A classified field.
pub struct Field {
    pub ident: Ident,
    pub kind: Kind,
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(p) if p.qself.is_none() => p.path.segments.last(),
        _ => None,
    }
}

fn single_generic(seg: &syn::PathSegment) -> Option<&Type> {
    match &seg.arguments {
        PathArguments::AngleBracketed(a) if a.args.len() == 1 => match &a.args[0] {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        },
        _ => None,
    }
}

fn is_named(ty: &Type, name: &str) -> bool {
    last_segment(ty).is_some_and(|s| s.ident == name && s.arguments.is_none())
}

fn is_dyn_module(ty: &Type) -> bool {
    match ty {
        Type::TraitObject(t) => t.bounds.iter().any(|b| match b {
            TypeParamBound::Trait(tb) => {
                tb.path.segments.last().is_some_and(|s| s.ident == "Module")
            }
            _ => false,
        }),
        Type::Paren(p) => is_dyn_module(&p.elem),
        _ => false,
    }
}

fn attr_flags(field: &syn::Field) -> syn::Result<(bool, bool)> {
    let (mut skip, mut buffer) = (false, false);
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("module")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("skip") {
                skip = true;
                Ok(())
            } else if meta.path.is_ident("buffer") {
                buffer = true;
                Ok(())
            } else {
                Err(meta.error("expected `skip` or `buffer`"))
            }
        })?;
    }
    Ok((skip, buffer))
}

fn classify(field: &syn::Field, ident: &Ident) -> syn::Result<Kind> {
    let (skip, buffer) = attr_flags(field)?;
    let ty = &field.ty;
    if skip {
        return Ok(Kind::Ignored);
    }
    if buffer {
        return if is_named(ty, "Tensor") {
            Ok(Kind::FloatBuffer)
        } else if is_named(ty, "IntTensor") {
            Ok(Kind::IntBuffer)
        } else {
            Err(syn::Error::new_spanned(
                ty,
                "a #[module(buffer)] field must be a Tensor or an IntTensor",
            ))
        };
    }
    if ident == "training" && is_named(ty, "bool") {
        return Ok(Kind::Training);
    }
    if is_named(ty, "Child") {
        return Ok(Kind::Child);
    }
    if is_named(ty, "Tensor") {
        return Ok(Kind::Param);
    }
    if let Some(seg) = last_segment(ty) {
        if seg.ident == "Box" && single_generic(seg).is_some_and(is_dyn_module) {
            return Ok(Kind::BoxChild);
        }
        if seg.ident == "Option" && single_generic(seg).is_some_and(|t| is_named(t, "Tensor")) {
            return Ok(Kind::OptParam);
        }
    }
    Ok(Kind::Ignored)
}

/// The struct's fields, classified; errors for enums, unions and tuple structs.
pub fn fields(input: &DeriveInput) -> syn::Result<Vec<Field>> {
    let Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Module)] supports structs with named fields only",
        ));
    };
    let Fields::Named(named) = &data.fields else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(Module)] needs named fields: their names are the children's and parameters' names",
        ));
    };
    named
        .named
        .iter()
        .map(|f| {
            let ident = f.ident.clone().expect("named field");
            let kind = classify(f, &ident)?;
            Ok(Field { ident, kind })
        })
        .collect()
}
