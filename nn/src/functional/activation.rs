//! Element-wise activations (`F.relu6`, `F.hardswish`, `F.gelu`, ...) with PyTorch's gradients.

use crate::tensor::Tensor;

/// `v` limited to `[min, max]`; NaN stays NaN (as PyTorch), and bad bounds cannot panic.
#[inline]
pub(crate) fn clip(v: f32, min: f32, max: f32) -> f32 {
    if v < min {
        min
    } else if v > max {
        max
    } else {
        v
    }
}

/// `F.hardtanh(x, min, max)`: clamp; the gradient passes strictly inside `(min, max)`.
pub fn hardtanh(x: &Tensor, min: f32, max: f32) -> Tensor {
    crate::trace::function(
        "torch.nn.functional.hardtanh",
        &[Some(x)],
        || vec![("min_val", min.into()), ("max_val", max.into())],
        || {
            x.unary(
                "hardtanh",
                move |v| v.max(min).min(max),
                move |v, _| if v > min && v < max { 1.0 } else { 0.0 },
            )
        },
    )
}

/// `F.relu6`: `hardtanh(x, 0, 6)`.
pub fn relu6(x: &Tensor) -> Tensor {
    crate::trace::function(
        "torch.nn.functional.relu6",
        &[Some(x)],
        crate::trace::no_args,
        || hardtanh(x, 0.0, 6.0),
    )
}

/// `F.hardswish`: `x * relu6(x + 3) / 6`.
pub fn hardswish(x: &Tensor) -> Tensor {
    crate::trace::function(
        "torch.nn.functional.hardswish",
        &[Some(x)],
        crate::trace::no_args,
        || {
            x.unary(
                "hardswish",
                |v| v * clip(v + 3.0, 0.0, 6.0) / 6.0,
                |v, _| {
                    if v < -3.0 {
                        0.0
                    } else if v <= 3.0 {
                        v / 3.0 + 0.5
                    } else {
                        1.0
                    }
                },
            )
        },
    )
}

/// `F.hardsigmoid`: `relu6(x + 3) / 6`.
pub fn hardsigmoid(x: &Tensor) -> Tensor {
    crate::trace::function(
        "torch.nn.functional.hardsigmoid",
        &[Some(x)],
        crate::trace::no_args,
        || {
            x.unary(
                "hardsigmoid",
                |v| clip(v + 3.0, 0.0, 6.0) / 6.0,
                |v, _| if v > -3.0 && v < 3.0 { 1.0 / 6.0 } else { 0.0 },
            )
        },
    )
}

/// `torch.sigmoid`.
pub fn sigmoid(x: &Tensor) -> Tensor {
    crate::trace::function("torch.sigmoid", &[Some(x)], crate::trace::no_args, || {
        x.sigmoid()
    })
}

/// `torch.tanh`.
pub fn tanh(x: &Tensor) -> Tensor {
    crate::trace::function("torch.tanh", &[Some(x)], crate::trace::no_args, || x.tanh())
}

/// `F.leaky_relu(x, negative_slope)`.
pub fn leaky_relu(x: &Tensor, negative_slope: f32) -> Tensor {
    crate::trace::function(
        "torch.nn.functional.leaky_relu",
        &[Some(x)],
        || vec![("negative_slope", negative_slope.into())],
        || {
            x.unary(
                "leaky_relu",
                move |v| if v > 0.0 { v } else { v * negative_slope },
                move |v, _| if v > 0.0 { 1.0 } else { negative_slope },
            )
        },
    )
}

/// `F.elu(x, alpha)`: `x` for `x > 0`, else `alpha * (exp(x) - 1)`.
pub fn elu(x: &Tensor, alpha: f32) -> Tensor {
    crate::trace::function(
        "torch.nn.functional.elu",
        &[Some(x)],
        || vec![("alpha", alpha.into())],
        || {
            x.unary(
                "elu",
                move |v| if v > 0.0 { v } else { alpha * v.exp_m1() },
                move |v, _| if v > 0.0 { 1.0 } else { alpha * v.exp() },
            )
        },
    )
}

/// `F.silu`: `x * sigmoid(x)`.
pub fn silu(x: &Tensor) -> Tensor {
    crate::trace::function(
        "torch.nn.functional.silu",
        &[Some(x)],
        crate::trace::no_args,
        || {
            x.unary(
                "silu",
                |v| v / (1.0 + (-v).exp()),
                |v, _| {
                    let s = 1.0 / (1.0 + (-v).exp());
                    s * (1.0 + v * (1.0 - s))
                },
            )
        },
    )
}

/// How [`gelu`] computes the Gaussian CDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GeluApproximate {
    /// The exact `0.5 * (1 + erf(x / sqrt(2)))` (PyTorch's default, `"none"`).
    #[default]
    None,
    /// The tanh approximation (`"tanh"`).
    Tanh,
}

/// `F.gelu(x, approximate)`.
pub fn gelu(x: &Tensor, approximate: GeluApproximate) -> Tensor {
    crate::trace::function(
        "torch.nn.functional.gelu",
        &[Some(x)],
        || {
            vec![(
                "approximate",
                crate::trace::TraceArg::Str(
                    match approximate {
                        GeluApproximate::None => "none",
                        GeluApproximate::Tanh => "tanh",
                    }
                    .into(),
                ),
            )]
        },
        || match approximate {
            GeluApproximate::None => x.unary(
                "gelu",
                |v| {
                    let v = f64::from(v);
                    (0.5 * v * (1.0 + erf(v / std::f64::consts::SQRT_2))) as f32
                },
                |v, _| {
                    let v = f64::from(v);
                    let cdf = 0.5 * (1.0 + erf(v / std::f64::consts::SQRT_2));
                    let pdf = (-0.5 * v * v).exp() / (2.0 * std::f64::consts::PI).sqrt();
                    (cdf + v * pdf) as f32
                },
            ),
            GeluApproximate::Tanh => x.unary(
                "gelu",
                |v| {
                    let k = (2.0f32 / std::f32::consts::PI).sqrt();
                    0.5 * v * (1.0 + (k * (v + 0.044715 * v * v * v)).tanh())
                },
                |v, _| {
                    let k = (2.0f32 / std::f32::consts::PI).sqrt();
                    let inner = k * (v + 0.044715 * v * v * v);
                    let t = inner.tanh();
                    0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * v * v)
                },
            ),
        },
    )
}

/// The error function in double precision: its Maclaurin series for `|x| <= 2.5`, and
/// `1 - erfc(x)` with erfc's continued fraction beyond (both converge to ~1e-15 there).
pub(crate) fn erf(x: f64) -> f64 {
    let ax = x.abs();
    let r = if ax <= 2.5 {
        let mut sum = 0.0f64;
        let mut term = ax;
        let mut n = 0;
        while term.abs() > 1e-17 * sum.abs().max(1e-300) || n < 3 {
            sum += term / f64::from(2 * n + 1);
            term *= -ax * ax / f64::from(n + 1);
            n += 1;
            if n > 200 {
                break;
            }
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else if ax >= 6.0 {
        1.0
    } else {
        // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + ...))))),
        // evaluated bottom-up with enough terms for x > 2.5.
        let mut f = ax;
        for k in (1..=60).rev() {
            f = ax + f64::from(k) / 2.0 / f;
        }
        1.0 - (-ax * ax).exp() / std::f64::consts::PI.sqrt() / f
    };
    if x < 0.0 {
        -r
    } else {
        r
    }
}

#[cfg(test)]
mod tests {
    use super::erf;

    #[test]
    fn erf_matches_tables() {
        // Tabulated values (Abramowitz & Stegun, and erfc tables).
        let table = [
            (0.1, 0.112_462_916_018_284_9),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (2.5, 0.999_593_047_982_555),
        ];
        for (x, v) in table {
            assert!((erf(x) - v).abs() < 1e-14, "erf({x})");
            assert!((erf(-x) + v).abs() < 1e-14);
        }
        // erfc(3) = 2.209049699858544e-05, erfc(4) = 1.541725790028002e-08.
        assert!((1.0 - erf(3.0) - 2.209_049_699_858_544e-5).abs() < 1e-14);
        assert!((1.0 - erf(4.0) - 1.541_725_790_028_002e-8).abs() < 1e-14);
        // Continuity where the two methods meet.
        assert!((erf(2.5 - 1e-12) - erf(2.5 + 1e-12)).abs() < 1e-12);
        assert_eq!(erf(7.0), 1.0);
        assert_eq!(erf(-7.0), -1.0);
    }
}
