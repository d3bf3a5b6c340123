//! [`Tensor`]: a float tensor with define-by-run reverse-mode automatic differentiation.
//!
//! A `Tensor` is a cheap handle (`Arc`) to an `ndarray::ArrayD<f32>` value plus, when it was
//! computed from tensors that require grad, the node of the graph that produced it. Calling
//! [`Tensor::backward`] walks that graph in reverse and accumulates gradients into the leaves
//! that require grad (the parameters). Values are immutable snapshots: an op captures the arrays
//! it needs for its backward, so an optimizer updating a parameter in place
//! ([`Tensor::update_data`]) never changes a graph already built.

mod autograd;
mod elementwise;
mod linalg;
mod reduce;
mod shape;

pub(crate) use autograd::BackwardFn;
pub use autograd::{is_grad_enabled, no_grad, NoGradGuard};
pub(crate) use shape::{resolve_dim, resolve_shape};

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use ndarray::{ArrayD, IxDyn};

use crate::error::{NnError, Result};

/// The graph node that produced a non-leaf tensor.
pub(crate) struct Node {
    /// The operation's name (`"add"`, `"conv2d"`, ...): the one place a tracer can hook.
    pub(crate) op: &'static str,
    /// The inputs, in order; `backward` returns one gradient per input.
    pub(crate) inputs: Vec<Tensor>,
    /// Maps the output's gradient to the inputs' gradients (`None` where not needed).
    pub(crate) backward: BackwardFn,
}

struct Inner {
    data: RwLock<Arc<ArrayD<f32>>>,
    grad: Mutex<Option<ArrayD<f32>>>,
    requires_grad: AtomicBool,
    node: Option<Node>,
}

impl Drop for Inner {
    /// Frees the graph behind this tensor iteratively: a recursive drop of a long chain (an
    /// unrolled RNN, thousands of steps) would overflow the stack.
    fn drop(&mut self) {
        let Some(node) = self.node.take() else {
            return;
        };
        let mut stack = node.inputs;
        while let Some(t) = stack.pop() {
            if let Ok(mut inner) = Arc::try_unwrap(t.inner) {
                if let Some(n) = inner.node.take() {
                    stack.extend(n.inputs);
                }
            }
        }
    }
}

/// A float tensor (`torch.Tensor` with dtype float32) with reverse-mode autograd.
///
/// Cloning is cheap and shares the tensor (like assigning a Python variable); parameters are leaf
/// tensors created with [`Tensor::parameter`].
///
/// ```
/// use nn::Tensor;
/// let w = Tensor::parameter(ndarray::arr1(&[1.0f32, 2.0]).into_dyn());
/// let x = Tensor::from_vec(&[2], vec![3.0, 4.0]).unwrap();
/// let y = w.mul(&x).unwrap().sum();
/// y.backward().unwrap();
/// assert_eq!(w.grad().unwrap().as_slice().unwrap(), &[3.0, 4.0]);
/// ```
#[derive(Clone)]
pub struct Tensor {
    inner: Arc<Inner>,
}

impl Tensor {
    fn build(data: Arc<ArrayD<f32>>, requires_grad: bool, node: Option<Node>) -> Tensor {
        Tensor {
            inner: Arc::new(Inner {
                data: RwLock::new(data),
                grad: Mutex::new(None),
                requires_grad: AtomicBool::new(requires_grad),
                node,
            }),
        }
    }

    /// A tensor holding `data` that does not require grad.
    pub fn new(data: ArrayD<f32>) -> Tensor {
        Tensor::build(
            Arc::new(data.as_standard_layout().into_owned()),
            false,
            None,
        )
    }

    /// A leaf tensor that requires grad (an `nn.Parameter`).
    pub fn parameter(data: ArrayD<f32>) -> Tensor {
        let t = Tensor::new(data);
        t.inner.requires_grad.store(true, Ordering::Relaxed);
        t
    }

    /// A tensor of `shape` from row-major values; errors if the count does not match.
    pub fn from_vec(shape: &[usize], values: Vec<f32>) -> Result<Tensor> {
        let n = values.len();
        ArrayD::from_shape_vec(IxDyn(shape), values)
            .map(Tensor::new)
            .map_err(|_| {
                NnError::bad_arg(
                    "Tensor::from_vec",
                    format!("{n} values do not fill shape {shape:?}"),
                )
            })
    }

    /// A 0-dimensional tensor holding `v`.
    pub fn scalar(v: f32) -> Tensor {
        Tensor::new(ArrayD::from_elem(IxDyn(&[]), v))
    }

    /// A tensor of zeros (`torch.zeros`).
    pub fn zeros(shape: &[usize]) -> Tensor {
        Tensor::new(ArrayD::zeros(IxDyn(shape)))
    }

    /// A tensor of ones (`torch.ones`).
    pub fn ones(shape: &[usize]) -> Tensor {
        Tensor::full(shape, 1.0)
    }

    /// A tensor filled with `v` (`torch.full`).
    pub fn full(shape: &[usize], v: f32) -> Tensor {
        Tensor::new(ArrayD::from_elem(IxDyn(shape), v))
    }

    /// Standard-normal values from the crate's seeded generator (`torch.randn`, see [`crate::manual_seed`]).
    pub fn randn(shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        let v = crate::rng::with_rng(|r| (0..n).map(|_| r.normal()).collect());
        Tensor::new(ArrayD::from_shape_vec(IxDyn(shape), v).expect("count matches shape"))
    }

    /// Uniform values in `[low, high)` from the crate's seeded generator (`torch.rand` scaled).
    pub fn rand_uniform(shape: &[usize], low: f32, high: f32) -> Tensor {
        let n = shape.iter().product();
        let v = crate::rng::with_rng(|r| (0..n).map(|_| r.uniform(low, high)).collect());
        Tensor::new(ArrayD::from_shape_vec(IxDyn(shape), v).expect("count matches shape"))
    }

    /// Builds the result of a differentiable operation (`torch.autograd.Function`): `data` is the
    /// forward result computed from `inputs`; `backward(grad_out, needs)` returns one gradient
    /// per input, each of that input's shape, or `None` (always allowed, and expected where
    /// `needs[i]` is false). A graph node is recorded only when grad mode is on and an input
    /// requires grad. Every operation of this crate goes through here, which is the one place a
    /// graph tracer can hook; other crates use it for their own ops (fake quantization ...).
    /// A backward that returns the wrong number or shapes of gradients makes
    /// [`Tensor::backward`] fail with an error naming `op`.
    ///
    /// ```
    /// use nn::Tensor;
    /// // y = 3x with a hand-written gradient.
    /// let x = Tensor::parameter(ndarray::arr1(&[1.0f32, 2.0]).into_dyn());
    /// let y = Tensor::from_op("triple", &[&x], x.data().mapv(|v| 3.0 * v), |g, _| vec![Some(g * 3.0)]);
    /// y.sum().backward().unwrap();
    /// assert_eq!(x.grad().unwrap().as_slice().unwrap(), &[3.0, 3.0]);
    /// ```
    pub fn from_op(
        op: &'static str,
        inputs: &[&Tensor],
        data: ArrayD<f32>,
        backward: impl Fn(&ArrayD<f32>, &[bool]) -> Vec<Option<ArrayD<f32>>> + Send + Sync + 'static,
    ) -> Tensor {
        // Kernels read tensors as contiguous row-major slices.
        let data = if data.is_standard_layout() {
            data
        } else {
            data.as_standard_layout().into_owned()
        };
        let data = Arc::new(data);
        let out = if is_grad_enabled() && inputs.iter().any(|t| t.requires_grad()) {
            let node = Node {
                op,
                inputs: inputs.iter().map(|t| (*t).clone()).collect(),
                backward: Box::new(backward),
            };
            Tensor::build(data, true, Some(node))
        } else {
            Tensor::build(data, false, None)
        };
        crate::trace::unnamed_op(op, inputs, &out);
        out
    }

    /// A snapshot of the values (shared, cheap).
    pub fn data(&self) -> Arc<ArrayD<f32>> {
        self.inner
            .data
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// A copy of the values as an owned array.
    pub fn to_array(&self) -> ArrayD<f32> {
        crate::trace::value_read("to_array");
        (*self.data()).clone()
    }

    /// The values in row-major order.
    pub fn to_vec(&self) -> Vec<f32> {
        crate::trace::value_read("to_vec");
        self.data().iter().copied().collect()
    }

    /// The single value of a one-element tensor (`item()`).
    pub fn item(&self) -> Result<f32> {
        crate::trace::value_read("item");
        let d = self.data();
        if d.len() == 1 {
            Ok(d.iter().copied().next().unwrap_or(0.0))
        } else {
            Err(NnError::bad_arg(
                "item",
                format!(
                    "only one-element tensors have an item, got shape {:?}",
                    d.shape()
                ),
            ))
        }
    }

    /// The shape.
    pub fn shape(&self) -> Vec<usize> {
        self.data().shape().to_vec()
    }

    /// Number of dimensions.
    pub fn ndim(&self) -> usize {
        self.data().ndim()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data().len()
    }

    /// True if the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether gradients flow to or through this tensor.
    pub fn requires_grad(&self) -> bool {
        self.inner.requires_grad.load(Ordering::Relaxed)
    }

    /// Sets `requires_grad` on a leaf tensor (`requires_grad_()`); errors on a non-leaf.
    pub fn set_requires_grad(&self, requires_grad: bool) -> Result<()> {
        if !self.is_leaf() {
            return Err(NnError::bad_arg(
                "requires_grad_",
                "you can only change requires_grad of leaf tensors; use detach()",
            ));
        }
        self.inner
            .requires_grad
            .store(requires_grad, Ordering::Relaxed);
        Ok(())
    }

    /// True for tensors not produced by a recorded operation.
    pub fn is_leaf(&self) -> bool {
        self.inner.node.is_none()
    }

    /// The name of the operation that produced this tensor (`grad_fn`), if recorded.
    pub fn grad_fn(&self) -> Option<&'static str> {
        self.inner.node.as_ref().map(|n| n.op)
    }

    pub(crate) fn node(&self) -> Option<&Node> {
        self.inner.node.as_ref()
    }

    /// The accumulated gradient of a leaf (`.grad`), if any.
    pub fn grad(&self) -> Option<ArrayD<f32>> {
        self.inner
            .grad
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the gradient; errors if its shape differs from the tensor's.
    pub fn set_grad(&self, grad: Option<ArrayD<f32>>) -> Result<()> {
        if let Some(g) = &grad {
            let shape = self.shape();
            if g.shape() != shape.as_slice() {
                return Err(NnError::shapes(
                    "set_grad",
                    &shape,
                    g.shape(),
                    "grad must match",
                ));
            }
        }
        *self.inner.grad.lock().unwrap_or_else(|e| e.into_inner()) = grad;
        Ok(())
    }

    /// Clears the gradient (`grad = None`, PyTorch's default `zero_grad(set_to_none=True)`).
    pub fn zero_grad(&self) {
        *self.inner.grad.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    pub(crate) fn accumulate_grad(&self, g: &ArrayD<f32>) {
        let mut slot = self.inner.grad.lock().unwrap_or_else(|e| e.into_inner());
        match slot.as_mut() {
            Some(acc) => *acc += g,
            None => *slot = Some(g.clone()),
        }
    }

    /// A tensor sharing these values, cut from the graph (`detach()`).
    pub fn detach(&self) -> Tensor {
        Tensor::build(self.data(), false, None)
    }

    /// Replaces the values (`param.data = ...`); errors if the shape differs.
    pub fn set_data(&self, data: ArrayD<f32>) -> Result<()> {
        let shape = self.shape();
        if data.shape() != shape.as_slice() {
            return Err(NnError::shapes(
                "set_data",
                &shape,
                data.shape(),
                "shape must match",
            ));
        }
        self.replace_data(data);
        Ok(())
    }

    /// Replaces the values, whatever their shape (what `load_state_dict` does after checking).
    pub(crate) fn replace_data(&self, data: ArrayD<f32>) {
        let data = Arc::new(data.as_standard_layout().into_owned());
        *self.inner.data.write().unwrap_or_else(|e| e.into_inner()) = data;
    }

    /// Puts back a snapshot taken with [`Tensor::data`].
    pub(crate) fn restore_data(&self, data: Arc<ArrayD<f32>>) {
        *self.inner.data.write().unwrap_or_else(|e| e.into_inner()) = data;
    }

    /// Updates the values in place (optimizer steps); graphs built earlier keep their snapshot.
    pub fn update_data(&self, f: impl FnOnce(&mut ArrayD<f32>)) {
        let mut slot = self.inner.data.write().unwrap_or_else(|e| e.into_inner());
        f(Arc::make_mut(&mut slot));
    }

    /// True if both handles refer to the same tensor.
    pub fn same(&self, other: &Tensor) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// An identity of the shared tensor (equal for handles of the same tensor, as
    /// [`Tensor::same`]); unique among live tensors, so a tracer can map tensors to graph nodes.
    pub fn id(&self) -> usize {
        self.key()
    }

    pub(crate) fn key(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.data();
        write!(f, "tensor({d}")?;
        if let Some(op) = self.grad_fn() {
            write!(f, ", grad_fn={op}")?;
        } else if self.requires_grad() {
            write!(f, ", requires_grad=True")?;
        }
        write!(f, ")")
    }
}

impl From<ArrayD<f32>> for Tensor {
    fn from(a: ArrayD<f32>) -> Tensor {
        Tensor::new(a)
    }
}
