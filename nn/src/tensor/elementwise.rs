//! Element-wise operations with NumPy/PyTorch broadcasting, and their gradients.

use ndarray::{ArrayD, Axis, IxDyn, Zip};

use super::Tensor;
use crate::error::{NnError, Result};

/// The broadcast shape of two shapes (`torch.broadcast_shapes`), or `None` if incompatible.
pub(crate) fn broadcast_shape(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return None,
        };
    }
    Some(out)
}

/// Sums `grad` down to `shape` (the reverse of broadcasting `shape` up to `grad`'s shape).
pub(crate) fn sum_to_shape(grad: &ArrayD<f32>, shape: &[usize]) -> ArrayD<f32> {
    if grad.shape() == shape {
        return grad.clone();
    }
    let mut g = grad.clone();
    while g.ndim() > shape.len() {
        g = g.sum_axis(Axis(0));
    }
    for (i, &d) in shape.iter().enumerate() {
        if d == 1 && g.shape()[i] != 1 {
            g = g.sum_axis(Axis(i)).insert_axis(Axis(i));
        }
    }
    g.into_shape_with_order(IxDyn(shape))
        .expect("reduced gradient has the input's shape")
}

fn broadcast_to(a: &ArrayD<f32>, shape: &[usize]) -> ArrayD<f32> {
    a.broadcast(IxDyn(shape))
        .expect("shape checked by broadcast_shape")
        .to_owned()
}

/// Applies `f` element-wise over the broadcast of `a` and `b`.
fn zip_broadcast(
    op: &'static str,
    a: &ArrayD<f32>,
    b: &ArrayD<f32>,
    f: impl Fn(f32, f32) -> f32,
) -> Result<ArrayD<f32>> {
    let shape = broadcast_shape(a.shape(), b.shape())
        .ok_or_else(|| NnError::shapes(op, a.shape(), b.shape(), "cannot broadcast"))?;
    let av = a.broadcast(IxDyn(&shape)).expect("checked");
    let bv = b.broadcast(IxDyn(&shape)).expect("checked");
    Ok(Zip::from(&av).and(&bv).map_collect(|&x, &y| f(x, y)))
}

impl Tensor {
    /// `self + other` with broadcasting (`torch.add`).
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        crate::trace::function(
            "operator.add",
            &[Some(self), Some(other)],
            crate::trace::no_args,
            || {
                let (a, b) = (self.data(), other.data());
                let out = zip_broadcast("add", &a, &b, |x, y| x + y)?;
                let (sa, sb) = (a.shape().to_vec(), b.shape().to_vec());
                Ok(Tensor::from_op("add", &[self, other], out, move |g, _| {
                    vec![Some(sum_to_shape(g, &sa)), Some(sum_to_shape(g, &sb))]
                }))
            },
        )
    }

    /// `self - other` with broadcasting (`torch.sub`).
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        crate::trace::function(
            "operator.sub",
            &[Some(self), Some(other)],
            crate::trace::no_args,
            || {
                let (a, b) = (self.data(), other.data());
                let out = zip_broadcast("sub", &a, &b, |x, y| x - y)?;
                let (sa, sb) = (a.shape().to_vec(), b.shape().to_vec());
                Ok(Tensor::from_op("sub", &[self, other], out, move |g, _| {
                    vec![Some(sum_to_shape(g, &sa)), Some(sum_to_shape(&-g, &sb))]
                }))
            },
        )
    }

    /// `self * other` element-wise with broadcasting (`torch.mul`).
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        crate::trace::function(
            "operator.mul",
            &[Some(self), Some(other)],
            crate::trace::no_args,
            || {
                let (a, b) = (self.data(), other.data());
                let out = zip_broadcast("mul", &a, &b, |x, y| x * y)?;
                let shape = out.shape().to_vec();
                Ok(Tensor::from_op(
                    "mul",
                    &[self, other],
                    out,
                    move |g, need| {
                        let ga = need[0]
                            .then(|| sum_to_shape(&(g * &broadcast_to(&b, &shape)), a.shape()));
                        let gb = need[1]
                            .then(|| sum_to_shape(&(g * &broadcast_to(&a, &shape)), b.shape()));
                        vec![ga, gb]
                    },
                ))
            },
        )
    }

    /// `self / other` element-wise with broadcasting (`torch.div`).
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        crate::trace::function(
            "operator.truediv",
            &[Some(self), Some(other)],
            crate::trace::no_args,
            || {
                let (a, b) = (self.data(), other.data());
                let out = zip_broadcast("div", &a, &b, |x, y| x / y)?;
                let shape = out.shape().to_vec();
                Ok(Tensor::from_op(
                    "div",
                    &[self, other],
                    out,
                    move |g, need| {
                        let bb = broadcast_to(&b, &shape);
                        let ga = need[0].then(|| sum_to_shape(&(g / &bb), a.shape()));
                        let gb = need[1].then(|| {
                            let ab = broadcast_to(&a, &shape);
                            let d = Zip::from(g)
                                .and(&ab)
                                .and(&bb)
                                .map_collect(|&g, &x, &y| -g * x / (y * y));
                            sum_to_shape(&d, b.shape())
                        });
                        vec![ga, gb]
                    },
                ))
            },
        )
    }

    /// Applies a differentiable element-wise function: `f` the value, `df(x, y)` the derivative
    /// at input `x` with output `y`.
    pub(crate) fn unary(
        &self,
        op: &'static str,
        f: impl Fn(f32) -> f32,
        df: impl Fn(f32, f32) -> f32 + Send + Sync + 'static,
    ) -> Tensor {
        let x = self.data();
        let y = x.mapv(f);
        let y_saved = std::sync::Arc::new(y.clone());
        Tensor::from_op(op, &[self], y, move |g, _| {
            let d = Zip::from(g)
                .and(&*x)
                .and(&*y_saved)
                .map_collect(|&g, &x, &y| g * df(x, y));
            vec![Some(d)]
        })
    }

    /// `-self`.
    pub fn neg(&self) -> Tensor {
        crate::trace::function("operator.neg", &[Some(self)], crate::trace::no_args, || {
            self.mul_scalar(-1.0)
        })
    }

    /// `self + c` for a scalar `c`.
    pub fn add_scalar(&self, c: f32) -> Tensor {
        crate::trace::function(
            "operator.add",
            &[Some(self)],
            || vec![("other", c.into())],
            || self.unary("add_scalar", move |x| x + c, |_, _| 1.0),
        )
    }

    /// `self * c` for a scalar `c`.
    pub fn mul_scalar(&self, c: f32) -> Tensor {
        crate::trace::function(
            "operator.mul",
            &[Some(self)],
            || vec![("other", c.into())],
            || self.unary("mul_scalar", move |x| x * c, move |_, _| c),
        )
    }

    /// `self ** p` for a scalar exponent.
    pub fn pow_scalar(&self, p: f32) -> Tensor {
        crate::trace::method(
            "pow",
            &[Some(self)],
            || vec![("exponent", p.into())],
            || self.unary("pow", move |x| x.powf(p), move |x, _| p * x.powf(p - 1.0)),
        )
    }

    /// `max(self, 0)` (`torch.relu`); NaN stays NaN and the gradient at 0 is 0, as PyTorch's.
    pub fn relu(&self) -> Tensor {
        crate::trace::method("relu", &[Some(self)], crate::trace::no_args, || {
            self.unary(
                "relu",
                |x| x.max(0.0),
                |_, y| if y > 0.0 { 1.0 } else { 0.0 },
            )
        })
    }

    /// `exp(self)`.
    pub fn exp(&self) -> Tensor {
        crate::trace::method("exp", &[Some(self)], crate::trace::no_args, || {
            self.unary("exp", f32::exp, |_, y| y)
        })
    }

    /// Natural logarithm.
    pub fn log(&self) -> Tensor {
        crate::trace::method("log", &[Some(self)], crate::trace::no_args, || {
            self.unary("log", f32::ln, |x, _| 1.0 / x)
        })
    }

    /// Square root.
    pub fn sqrt(&self) -> Tensor {
        crate::trace::method("sqrt", &[Some(self)], crate::trace::no_args, || {
            self.unary("sqrt", f32::sqrt, |_, y| 0.5 / y)
        })
    }

    /// Logistic sigmoid `1 / (1 + exp(-x))`.
    pub fn sigmoid(&self) -> Tensor {
        crate::trace::method("sigmoid", &[Some(self)], crate::trace::no_args, || {
            self.unary("sigmoid", sigmoid, |_, y| y * (1.0 - y))
        })
    }

    /// Hyperbolic tangent.
    pub fn tanh(&self) -> Tensor {
        crate::trace::method("tanh", &[Some(self)], crate::trace::no_args, || {
            self.unary("tanh", f32::tanh, |_, y| 1.0 - y * y)
        })
    }

    /// Clamps into `[min, max]` (`torch.clamp`); the gradient is 1 strictly inside, else 0
    /// (PyTorch passes it at the bounds too: `min <= x <= max`).
    pub fn clamp(&self, min: f32, max: f32) -> Tensor {
        crate::trace::method(
            "clamp",
            &[Some(self)],
            || vec![("min", min.into()), ("max", max.into())],
            || {
                self.unary(
                    "clamp",
                    move |x| crate::functional::clip(x, min, max),
                    move |x, _| if x >= min && x <= max { 1.0 } else { 0.0 },
                )
            },
        )
    }
}

/// Numerically safe logistic function.
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}
