//! `fuse_modules` / `fuse_modules_qat` (`torch.ao.quantization.fuse_modules`).

use std::any::TypeId;

use nn::{Identity, Module};

use super::error::EagerError;
use super::mappings::{default_fusion_patterns, FusionPattern};
use super::prepared::Prepared;

fn known(patterns: &[FusionPattern]) -> String {
    patterns
        .iter()
        .map(|p| format!("({})", p.names.join(", ")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Fuses each group of module paths into one module, in place (PyTorch's `fuse_modules(model,
/// groups, inplace=True)`): the first path gets the fused module, the others `Identity`.
///
/// Patterns: conv-bn, conv-bn-relu, conv-relu (1d/2d/3d), linear-bn, linear-relu, bn-relu
/// (2d/3d), convtranspose-bn. Conv / linear followed by a batch norm need eval mode (the batch
/// norm is folded into the weights, PyTorch's formula); in training mode that is an error
/// naming the fix ([`fuse_modules_qat`] keeps the batch norm for QAT).
///
/// Groups are fused in order. Errors (a missing path, an unknown pattern, mixed train / eval
/// modes, mismatched channels, a non-positive variance) leave the model as it was.
pub fn fuse_modules<M: Module + ?Sized>(
    model: &mut M,
    groups: &[&[&str]],
) -> Result<(), EagerError> {
    fuse(model.as_module_mut(), groups, false)
}

/// The QAT form of [`fuse_modules`] (`fuse_modules_qat`): conv-bn(-relu) and linear-bn become
/// the fused `ConvBn*d`, `ConvBnReLU*d`, `LinearBn1d` modules that keep the batch norm.
pub fn fuse_modules_qat<M: Module + ?Sized>(
    model: &mut M,
    groups: &[&[&str]],
) -> Result<(), EagerError> {
    fuse(model.as_module_mut(), groups, true)
}

fn fuse(model: &mut dyn Module, groups: &[&[&str]], is_qat: bool) -> Result<(), EagerError> {
    let patterns = default_fusion_patterns();
    // (path, the module it replaced), in order, to undo on a later failure.
    let mut undo: Vec<(String, Box<dyn Module>)> = Vec::new();
    for group in groups {
        if let Err(e) = fuse_group(model, group, is_qat, &patterns, &mut undo) {
            for (path, old) in undo.into_iter().rev() {
                // The path held a module a moment ago, so putting the original back succeeds.
                let _ = model.replace_submodule(&path, old);
            }
            return Err(e);
        }
    }
    Ok(())
}

fn fuse_group(
    model: &mut dyn Module,
    group: &[&str],
    is_qat: bool,
    patterns: &[FusionPattern],
    undo: &mut Vec<(String, Box<dyn Module>)>,
) -> Result<(), EagerError> {
    let paths: Vec<String> = group.iter().map(|s| s.to_string()).collect();
    let fused = {
        let mods = group
            .iter()
            .map(|p| model.get_submodule(p))
            .collect::<Result<Vec<&dyn Module>, _>>()
            .map_err(EagerError::NoSuchModule)?;
        if mods.iter().any(|m| m.is::<Prepared>()) {
            return Err(EagerError::Fusion {
                paths,
                reason: "the model has observers attached; fuse before prepare".into(),
            });
        }
        let ids: Vec<TypeId> = mods.iter().map(|m| m.as_any().type_id()).collect();
        let Some(pattern) = patterns.iter().find(|p| p.types == ids) else {
            return Err(EagerError::UnsupportedFusion {
                paths,
                types: mods.iter().map(|m| m.type_name().to_string()).collect(),
                known: known(patterns),
            });
        };
        let fused = (pattern.fuser)(is_qat, &mods).map_err(|reason| EagerError::Fusion {
            paths: paths.clone(),
            reason,
        })?;
        let training = mods[0].is_training();
        let rest: Vec<Box<dyn Module>> = (1..mods.len())
            .map(|_| {
                let mut id = Identity::new();
                id.set_training_flag(training);
                Box::new(id) as Box<dyn Module>
            })
            .collect();
        (fused, rest)
    };
    let (first, rest) = fused;
    let replacements = std::iter::once(first).chain(rest);
    for (path, new) in paths.iter().zip(replacements) {
        let old = model
            .replace_submodule(path, new)
            .map_err(EagerError::NoSuchModule)?;
        undo.push((path.clone(), old));
    }
    Ok(())
}
