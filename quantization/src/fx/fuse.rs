//! `fuse_fx`'s pattern matching on the graph: chains of modules (and a functional relu) that
//! the eager fusion table fuses, conv-bn-relu, conv-bn, conv-relu, linear-relu, linear-bn,
//! bn-relu, convtranspose-bn, replaced by the fused module at the first module's path.

use std::any::TypeId;

use nn::Module;

use super::error::{FxError, Result};
use super::graph::{NodeId, OpCode};
use super::graph_module::{GraphModule, Stage};
use super::patterns::is_relu;
use crate::eager::mappings::{default_fusion_patterns, FusionPattern};

/// The original modules a fusion replaced, by path, to put back if a later step fails.
pub(crate) type Stash = Vec<(String, Box<dyn Module>)>;

struct Match {
    nodes: Vec<NodeId>,
    fused: Box<dyn Module>,
}

fn module_of(gm: &GraphModule, id: NodeId) -> Option<&dyn Module> {
    let n = gm.graph.node(id);
    if n.op != OpCode::CallModule {
        return None;
    }
    gm.get_submodule(n.target_name()?).ok()
}

/// How many `call_module` nodes call the module at `path`.
fn calls(gm: &GraphModule, path: &str) -> usize {
    gm.graph
        .nodes()
        .filter(|n| n.op == OpCode::CallModule && n.target_name() == Some(path))
        .count()
}

fn node_matches(gm: &GraphModule, id: NodeId, ty: TypeId) -> bool {
    if let Some(m) = module_of(gm, id) {
        let path = gm.graph.node(id).target_name().unwrap_or_default();
        return m.as_any().type_id() == ty && calls(gm, path) == 1;
    }
    ty == TypeId::of::<nn::ReLU>() && is_relu(gm.graph.node(id), gm)
}

/// The chain of `len` nodes starting at `start`, each the only user of the previous one.
fn chain(gm: &GraphModule, start: NodeId, len: usize) -> Option<Vec<NodeId>> {
    let mut nodes = vec![start];
    while nodes.len() < len {
        let users = gm.graph.users(*nodes.last()?);
        if users.len() != 1 {
            return None;
        }
        nodes.push(users[0]);
    }
    Some(nodes)
}

fn try_pattern(
    gm: &GraphModule,
    start: NodeId,
    p: &FusionPattern,
    is_qat: bool,
) -> Result<Option<Match>> {
    let Some(nodes) = chain(gm, start, p.types.len()) else {
        return Ok(None);
    };
    if !nodes
        .iter()
        .zip(&p.types)
        .all(|(&n, &t)| node_matches(gm, n, t))
    {
        return Ok(None);
    }
    // Every node after the first must read only the previous one.
    for w in nodes.windows(2) {
        if gm.graph.node(w[1]).inputs() != vec![w[0]] {
            return Ok(None);
        }
    }
    // A functional relu is fused as a ReLU module in the first module's mode.
    let mut relu = nn::ReLU::new();
    relu.set_training_flag(module_of(gm, nodes[0]).is_some_and(|m| m.is_training()));
    let mods: Vec<&dyn Module> = nodes
        .iter()
        .map(|&n| module_of(gm, n).unwrap_or(&relu))
        .collect();
    match (p.fuser)(is_qat, &mods) {
        Ok(fused) => Ok(Some(Match { nodes, fused })),
        Err(reason) => Err(FxError::Unsupported {
            node: gm.graph.node(start).name.clone(),
            reason: format!("cannot fuse ({}): {reason}", p.names.join(", ")),
        }),
    }
}

/// Fuses every matching chain of `gm` in place (`_fuse_fx`); nothing changes on error.
/// Returns the replaced modules.
pub(crate) fn fuse_graph(gm: &mut GraphModule, is_qat: bool) -> Result<Stash> {
    let mut patterns = default_fusion_patterns();
    // Longest patterns first (conv-bn-relu before conv-bn).
    patterns.sort_by_key(|p| std::cmp::Reverse(p.types.len()));
    let mut matches: Vec<Match> = Vec::new();
    for id in gm.graph.node_ids() {
        if matches.iter().any(|m| m.nodes.contains(&id)) {
            continue;
        }
        for p in &patterns {
            if let Some(m) = try_pattern(gm, id, p, is_qat)? {
                if !m
                    .nodes
                    .iter()
                    .any(|n| matches.iter().any(|o| o.nodes.contains(n)))
                {
                    matches.push(m);
                }
                break;
            }
        }
    }
    let mut stash = Stash::new();
    for m in matches {
        let first = m.nodes[0];
        let path = gm
            .graph
            .node(first)
            .target_name()
            .unwrap_or_default()
            .to_string();
        let last = *m.nodes.last().unwrap_or(&first);
        gm.graph.replace_all_uses_with(last, first);
        for &n in m.nodes[1..].iter().rev() {
            let node = gm.graph.erase_node(n)?;
            if node.op == OpCode::CallModule {
                let p = node.target_name().unwrap_or_default().to_string();
                if calls(gm, &p) == 0 {
                    if let Ok(old) = gm.take_submodule(&p) {
                        stash.push((p, old));
                    }
                }
            }
        }
        let old = gm
            .replace_submodule(&path, m.fused)
            .map_err(|e| FxError::Graph(e.to_string()))?;
        stash.push((path, old));
    }
    gm.lint()?;
    if gm.stage == Stage::Traced {
        gm.stage = Stage::Fused;
    }
    Ok(stash)
}

/// Puts the modules of a stash back (undoing a fusion whose graph was restored).
pub(crate) fn unstash(gm: &mut GraphModule, stash: Stash) {
    for (path, m) in stash.into_iter().rev() {
        let _ = gm.add_submodule(&path, m);
    }
}
