//! The generated `impl Module` and `impl Display`, one function per generated method.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::fields::{fields, Field, Kind};

fn name_of(f: &Field) -> String {
    let s = f.ident.to_string();
    s.strip_prefix("r#").unwrap_or(&s).to_string()
}

fn forward(fs: &[Field]) -> TokenStream {
    let binds = fs.iter().filter(|f| f.kind == Kind::Child).map(|f| {
        let (id, name) = (&f.ident, name_of(f));
        quote! { s.#id.bind_name(#name); }
    });
    quote! {
        fn forward(&mut self, input: ::nn::Value) -> ::nn::Result<::nn::Value> {
            ::nn::transactional(self, |s| {
                #(#binds)*
                <Self as ::nn::Forward>::forward_impl(s, input)
            })
        }
    }
}

fn local_parameters(fs: &[Field]) -> TokenStream {
    let pushes = fs.iter().filter_map(|f| {
        let (id, name) = (&f.ident, name_of(f));
        match f.kind {
            Kind::Param => Some(quote! { v.push((#name.to_string(), self.#id.clone())); }),
            Kind::OptParam => Some(quote! {
                if let Some(t) = &self.#id { v.push((#name.to_string(), t.clone())); }
            }),
            _ => None,
        }
    });
    quote! {
        fn local_parameters(&self) -> ::std::vec::Vec<(::std::string::String, ::nn::Tensor)> {
            #[allow(unused_mut)]
            let mut v = ::std::vec::Vec::new();
            #(#pushes)*
            v
        }
    }
}

fn local_buffers(fs: &[Field]) -> TokenStream {
    let pushes = fs.iter().filter_map(|f| {
        let (id, name) = (&f.ident, name_of(f));
        match f.kind {
            Kind::FloatBuffer => Some(quote! {
                v.push((#name.to_string(), ::nn::Buffer::Float(self.#id.clone())));
            }),
            Kind::IntBuffer => Some(quote! {
                v.push((#name.to_string(), ::nn::Buffer::Int(self.#id.clone())));
            }),
            _ => None,
        }
    });
    quote! {
        fn local_buffers(&self) -> ::std::vec::Vec<(::std::string::String, ::nn::Buffer)> {
            #[allow(unused_mut)]
            let mut v = ::std::vec::Vec::new();
            #(#pushes)*
            v
        }
    }
}

fn children(fs: &[Field]) -> TokenStream {
    let items = fs.iter().filter_map(|f| {
        let (id, name) = (&f.ident, name_of(f));
        match f.kind {
            Kind::Child => Some(quote! { (#name.to_string(), self.#id.module()) }),
            Kind::BoxChild => Some(quote! { (#name.to_string(), self.#id.as_ref()) }),
            _ => None,
        }
    });
    let slots = fs.iter().filter_map(|f| {
        let (id, name) = (&f.ident, name_of(f));
        match f.kind {
            Kind::Child => Some(quote! { (#name.to_string(), self.#id.slot_mut()) }),
            Kind::BoxChild => Some(quote! { (#name.to_string(), &mut self.#id) }),
            _ => None,
        }
    });
    quote! {
        fn children(&self) -> ::std::vec::Vec<(::std::string::String, &dyn ::nn::Module)> {
            ::std::vec![#(#items),*]
        }
        fn child_slots_mut(
            &mut self,
        ) -> ::std::vec::Vec<(::std::string::String, &mut ::std::boxed::Box<dyn ::nn::Module>)> {
            ::std::vec![#(#slots),*]
        }
    }
}

fn training(fs: &[Field]) -> TokenStream {
    match fs.iter().find(|f| f.kind == Kind::Training) {
        Some(f) => {
            let id = &f.ident;
            quote! {
                fn is_training(&self) -> bool { self.#id }
                fn set_training_flag(&mut self, training: bool) { self.#id = training; }
            }
        }
        None => quote! {
            fn is_training(&self) -> bool {
                ::nn::Module::children(self)
                    .first()
                    .map_or(true, |(_, c)| c.is_training())
            }
            fn set_training_flag(&mut self, _training: bool) {}
        },
    }
}

/// The whole expansion for one struct.
pub fn module_impl(input: &DeriveInput) -> syn::Result<TokenStream> {
    let fs = fields(input)?;
    let ident = &input.ident;
    let type_name = ident.to_string();
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let (fwd, params, bufs, kids, train) = (
        forward(&fs),
        local_parameters(&fs),
        local_buffers(&fs),
        children(&fs),
        training(&fs),
    );
    Ok(quote! {
        impl #impl_generics ::nn::Module for #ident #ty_generics #where_clause {
            fn type_name(&self) -> &'static str { #type_name }
            #fwd
            #params
            #bufs
            #kids
            #train
        }

        impl #impl_generics ::std::fmt::Display for #ident #ty_generics #where_clause {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&::nn::Module::repr(self))
            }
        }
    })
}
