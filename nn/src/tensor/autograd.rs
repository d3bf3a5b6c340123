//! The backward pass: topological order over recorded nodes, gradient accumulation into leaves,
//! and the grad-mode switch (`torch.no_grad`).

use std::cell::Cell;
use std::collections::HashMap;

use ndarray::{ArrayD, IxDyn};

use super::Tensor;
use crate::error::{NnError, Result};

/// A node's backward function: output gradient and "which inputs need a gradient" to one
/// gradient per input.
pub(crate) type BackwardFn =
    Box<dyn Fn(&ArrayD<f32>, &[bool]) -> Vec<Option<ArrayD<f32>>> + Send + Sync>;

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// True unless inside [`no_grad`] (`torch.is_grad_enabled()`).
pub fn is_grad_enabled() -> bool {
    GRAD_ENABLED.with(Cell::get)
}

/// Disables graph recording until dropped (`with torch.no_grad():`), restoring the previous mode.
pub struct NoGradGuard {
    previous: bool,
}

impl NoGradGuard {
    /// Turns recording off for this thread.
    pub fn new() -> NoGradGuard {
        let previous = GRAD_ENABLED.with(|g| g.replace(false));
        NoGradGuard { previous }
    }
}

impl Default for NoGradGuard {
    fn default() -> Self {
        NoGradGuard::new()
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.previous));
    }
}

/// Runs `f` with graph recording off (`torch.no_grad()`).
pub fn no_grad<T>(f: impl FnOnce() -> T) -> T {
    let _guard = NoGradGuard::new();
    f()
}

impl Tensor {
    /// Computes gradients of this one-element tensor with respect to every leaf that requires
    /// grad, accumulating them into the leaves' `.grad` (`loss.backward()`).
    pub fn backward(&self) -> Result<()> {
        if self.len() != 1 {
            return Err(NnError::NonScalarBackward {
                shape: self.shape(),
            });
        }
        let seed = ArrayD::from_elem(IxDyn(&self.shape()), 1.0f32);
        self.backward_with(seed)
    }

    /// Backward pass seeded with `grad` (`tensor.backward(gradient)`); `grad` must have this
    /// tensor's shape.
    pub fn backward_with(&self, grad: ArrayD<f32>) -> Result<()> {
        if !self.requires_grad() {
            return Err(NnError::NoGrad);
        }
        let shape = self.shape();
        if grad.shape() != shape.as_slice() {
            return Err(NnError::shapes(
                "backward",
                &shape,
                grad.shape(),
                "the gradient must have the output's shape",
            ));
        }
        let order = topological_order(self);
        let mut grads: HashMap<usize, ArrayD<f32>> = HashMap::new();
        grads.insert(self.key(), grad);
        for t in order.iter().rev() {
            let Some(g) = grads.remove(&t.key()) else {
                continue;
            };
            match t.node() {
                None => {
                    if t.requires_grad() {
                        t.accumulate_grad(&g);
                    }
                }
                Some(node) => {
                    let needs: Vec<bool> = node.inputs.iter().map(Tensor::requires_grad).collect();
                    let input_grads = (node.backward)(&g, &needs);
                    if input_grads.len() != node.inputs.len() {
                        return Err(NnError::bad_arg(
                            node.op,
                            format!(
                                "backward returned {} gradients for {} inputs",
                                input_grads.len(),
                                node.inputs.len()
                            ),
                        ));
                    }
                    for ((input, ig), need) in node.inputs.iter().zip(input_grads).zip(needs) {
                        let Some(ig) = ig else { continue };
                        if !need {
                            continue;
                        }
                        let shape = input.shape();
                        if ig.shape() != shape.as_slice() {
                            return Err(NnError::bad_arg(
                                node.op,
                                format!("backward returned a gradient of shape {:?} for an input of shape {shape:?}", ig.shape()),
                            ));
                        }
                        match grads.get_mut(&input.key()) {
                            Some(acc) => *acc += &ig,
                            None => {
                                grads.insert(input.key(), ig);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Tensors reachable from `root` that require grad, inputs before the outputs that use them.
fn topological_order(root: &Tensor) -> Vec<Tensor> {
    let mut order = Vec::new();
    let mut visited = std::collections::HashSet::new();
    // Iterative post-order DFS: (tensor, next input index to visit).
    let mut stack: Vec<(Tensor, usize)> = vec![(root.clone(), 0)];
    visited.insert(root.key());
    while let Some((t, i)) = stack.pop() {
        let next = t.node().and_then(|n| n.inputs.get(i)).cloned();
        match next {
            Some(child) => {
                stack.push((t, i + 1));
                if child.requires_grad() && visited.insert(child.key()) {
                    stack.push((child, 0));
                }
            }
            None => order.push(t),
        }
    }
    order
}
