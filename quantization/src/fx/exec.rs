//! Running `call_function` and `call_method` nodes: float tensors through `nn`'s operations
//! (autograd included), quantized tensors through `nn-quantized`'s operators for the current
//! engine.

use nn::functional as F;
use nn::{NnError, Tensor, Value};
use nn_quantized::functional as qf;
use qtensor::QTensor;

use super::function::Function;
use super::runtime::{bad, CallArgs, Rt};

type R = nn::Result<Rt>;

fn qerr(op: &str) -> impl Fn(nn_quantized::QOpError) -> NnError + '_ {
    move |e| bad(op, e.to_string())
}

fn float(t: Tensor) -> Rt {
    Rt::V(Value::Float(t))
}

fn quant(q: QTensor) -> Rt {
    Rt::V(Value::Quant(q))
}

fn resolve_dim(op: &str, dim: i64, ndim: usize) -> nn::Result<usize> {
    let d = if dim < 0 { dim + ndim as i64 } else { dim };
    if d < 0 || d as usize >= ndim.max(1) {
        return Err(bad(
            op,
            format!("dimension {dim} out of range for rank {ndim}"),
        ));
    }
    Ok(d as usize)
}

fn per_tensor(op: &str, q: &QTensor) -> nn::Result<(f64, i64)> {
    Ok((
        q.q_scale().map_err(|e| bad(op, e.to_string()))?,
        q.q_zero_point().map_err(|e| bad(op, e.to_string()))?,
    ))
}

fn binary(
    c: &CallArgs<'_>,
    f: fn(&Tensor, &Tensor) -> nn::Result<Tensor>,
    scalar: fn(&Tensor, f32) -> Tensor,
) -> R {
    let a = c.req(0, "input")?;
    let b = c.req(1, "other")?;
    match (a.is_tensor(), b.is_tensor()) {
        (true, true) => Ok(float(f(&a.float_tensor(c.op)?, &b.float_tensor(c.op)?)?)),
        (true, false) => Ok(float(scalar(&a.float_tensor(c.op)?, b.f64(c.op)? as f32))),
        (false, true) => Ok(float(scalar(&b.float_tensor(c.op)?, a.f64(c.op)? as f32))),
        _ => Err(bad(c.op, "needs a tensor operand")),
    }
}

fn flatten(x: &Rt, start: i64, end: i64, op: &str) -> R {
    match x {
        Rt::V(Value::Quant(q)) => {
            let n = q.ndim();
            let (s, e) = (resolve_dim(op, start, n)?, resolve_dim(op, end, n)?);
            Ok(quant(qf::flatten(q, s, e).map_err(qerr(op))?))
        }
        other => Ok(float(
            other
                .float_tensor(op)?
                .flatten(start as isize, end as isize)?,
        )),
    }
}

fn reshape(x: &Rt, shape: &[i64], op: &str) -> R {
    let shape: Vec<isize> = shape.iter().map(|&d| d as isize).collect();
    Ok(Rt::V(x.value(op)?.reshape(&shape)?))
}

fn pool_options(c: &CallArgs<'_>) -> nn::Result<F::Pool2dOptions> {
    let k = c.req(1, "kernel_size")?.sizes::<2>(c.op)?;
    let mut o = F::Pool2dOptions::new(1);
    o.kernel_size = k;
    o.stride = match c.opt(2, "stride") {
        Some(s) if !matches!(s, Rt::List(v) if v.is_empty()) => s.sizes::<2>(c.op)?,
        _ => k,
    };
    o.padding = c
        .opt(3, "padding")
        .map_or(Ok([0, 0]), |p| p.sizes::<2>(c.op))?;
    Ok(o)
}

fn max_pool2d(c: &CallArgs<'_>) -> R {
    let mut o = pool_options(c)?;
    o.dilation = c
        .opt(4, "dilation")
        .map_or(Ok([1, 1]), |p| p.sizes::<2>(c.op))?;
    o.ceil_mode = c.opt(5, "ceil_mode").map_or(Ok(false), |b| b.bool(c.op))?;
    match c.req(0, "input")? {
        Rt::V(Value::Quant(q)) => Ok(quant(nn::quant_ops::max_pool2d(q, &o)?)),
        x => Ok(float(F::max_pool2d(&x.float_tensor(c.op)?, &o)?)),
    }
}

fn avg_pool2d(c: &CallArgs<'_>) -> R {
    let mut o = pool_options(c)?;
    o.ceil_mode = c.opt(4, "ceil_mode").map_or(Ok(false), |b| b.bool(c.op))?;
    o.count_include_pad = c
        .opt(5, "count_include_pad")
        .map_or(Ok(true), |b| b.bool(c.op))?;
    o.divisor_override = c
        .opt(6, "divisor_override")
        .map(|d| d.i64(c.op).map(|d| d.max(0) as usize))
        .transpose()?;
    match c.req(0, "input")? {
        Rt::V(Value::Quant(q)) => {
            let p = qf::AvgPool2d {
                kernel: o.kernel_size,
                stride: o.stride,
                padding: o.padding,
                ceil_mode: o.ceil_mode,
                count_include_pad: o.count_include_pad,
                divisor_override: o.divisor_override,
            };
            Ok(quant(qf::avg_pool2d(q, &p).map_err(qerr(c.op))?))
        }
        x => Ok(float(F::avg_pool2d(&x.float_tensor(c.op)?, &o)?)),
    }
}

fn adaptive_avg_pool2d(c: &CallArgs<'_>) -> R {
    let size = c.req(1, "output_size")?.sizes::<2>(c.op)?;
    match c.req(0, "input")? {
        Rt::V(Value::Quant(q)) => Ok(quant(qf::adaptive_avg_pool2d(q, size).map_err(qerr(c.op))?)),
        x => Ok(float(F::adaptive_avg_pool2d(&x.float_tensor(c.op)?, size)?)),
    }
}

fn conv_options(c: &CallArgs<'_>, rank: usize) -> nn::Result<F::ConvOptions> {
    let mut o = F::ConvOptions::new(rank);
    let get = |i: usize, key: &str, default: usize| -> nn::Result<Vec<usize>> {
        match c.opt(i, key) {
            None => Ok(vec![default; rank]),
            Some(v) => {
                let v = v.ints(c.op)?;
                let v = if v.len() == 1 { vec![v[0]; rank] } else { v };
                v.iter()
                    .map(|&x| usize::try_from(x).map_err(|_| bad(c.op, format!("negative {key}"))))
                    .collect()
            }
        }
    };
    o.stride = get(3, "stride", 1)?;
    o.padding = get(4, "padding", 0)?;
    o.dilation = get(5, "dilation", 1)?;
    o.groups = c.opt(6, "groups").map_or(Ok(1), |g| g.i64(c.op))?.max(1) as usize;
    Ok(o)
}

fn conv(c: &CallArgs<'_>, rank: usize) -> R {
    let x = c.req(0, "input")?.float_tensor(c.op)?;
    let w = c.req(1, "weight")?.float_tensor(c.op)?;
    let b = c.opt(2, "bias").map(|b| b.float_tensor(c.op)).transpose()?;
    let o = conv_options(c, rank)?;
    Ok(float(F::conv(&x, &w, b.as_ref(), rank, &o)?))
}

/// An element-wise activation: float through `nn`, quantized through the matching operator.
fn activation(c: &CallArgs<'_>, f: Function) -> R {
    let x = c.req(0, "input")?;
    if let Rt::V(Value::Quant(q)) = x {
        let op = c.op;
        let out = match f {
            Function::Relu => nn::quant_ops::quantized_relu(q)?,
            Function::Relu6 => qf::relu6(q).map_err(qerr(op))?,
            Function::Hardtanh => {
                let (lo, hi) = hardtanh_bounds(c)?;
                let (s, z) = per_tensor(op, q)?;
                // Clamping the integers to the quantized bounds is exact.
                let lo_q = ((lo / s).round() as i64 + z) as f32;
                let hi_q = ((hi / s).round() as i64 + z) as f32;
                let ints = Tensor::new(q.int_repr().to_i64().mapv(|v| v as f32));
                let clamped = ints.clamp(lo_q, hi_q).to_array();
                let data = match q.dtype() {
                    qtensor::QDType::QUInt8 => qtensor::QData::QUInt8(clamped.mapv(|v| v as u8)),
                    qtensor::QDType::QInt8 => qtensor::QData::QInt8(clamped.mapv(|v| v as i8)),
                    qtensor::QDType::QInt32 => qtensor::QData::QInt32(clamped.mapv(|v| v as i32)),
                };
                QTensor::from_int_repr(data, q.qparams().clone())
                    .map_err(|e| bad(op, e.to_string()))?
            }
            Function::Sigmoid => qf::sigmoid(q, 1.0 / 256.0, 0).map_err(qerr(op))?,
            Function::Tanh => qf::tanh(q).map_err(qerr(op))?,
            Function::Hardswish => {
                let (s, z) = per_tensor(op, q)?;
                qf::hardswish(q, s, z).map_err(qerr(op))?
            }
            Function::Dropout => q.clone(),
            _ => {
                return Err(NnError::QuantizedInput {
                    module: f.torch_name().into(),
                    dtype: q.dtype(),
                    fix: nn::FIX_DEQUANT,
                })
            }
        };
        return Ok(quant(out));
    }
    let t = x.float_tensor(c.op)?;
    let y = match f {
        Function::Relu => F::relu(&t),
        Function::Relu6 => F::relu6(&t),
        Function::Hardtanh => {
            let (lo, hi) = hardtanh_bounds(c)?;
            F::hardtanh(&t, lo as f32, hi as f32)
        }
        Function::Hardswish => F::hardswish(&t),
        Function::Hardsigmoid => F::hardsigmoid(&t),
        Function::Sigmoid => F::sigmoid(&t),
        Function::Tanh => F::tanh(&t),
        Function::Silu => F::silu(&t),
        Function::LeakyRelu => F::leaky_relu(
            &t,
            c.opt(1, "negative_slope")
                .map_or(Ok(0.01), |v| v.f64(c.op))? as f32,
        ),
        Function::Elu => F::elu(
            &t,
            c.opt(1, "alpha").map_or(Ok(1.0), |v| v.f64(c.op))? as f32,
        ),
        Function::Gelu => {
            let approx = match c.opt(1, "approximate") {
                Some(Rt::Str(s)) if s == "tanh" => F::GeluApproximate::Tanh,
                _ => F::GeluApproximate::None,
            };
            F::gelu(&t, approx)
        }
        Function::Softmax => F::softmax(&t, c.req(1, "dim")?.i64(c.op)? as isize)?,
        Function::Dropout => F::dropout(
            &t,
            c.opt(1, "p").map_or(Ok(0.5), |v| v.f64(c.op))? as f32,
            c.opt(2, "training").map_or(Ok(true), |v| v.bool(c.op))?,
        )?,
        other => return Err(bad(c.op, format!("{other} is not an activation"))),
    };
    Ok(float(y))
}

fn hardtanh_bounds(c: &CallArgs<'_>) -> nn::Result<(f64, f64)> {
    Ok((
        c.opt(1, "min_val").map_or(Ok(-1.0), |v| v.f64(c.op))?,
        c.opt(2, "max_val").map_or(Ok(1.0), |v| v.f64(c.op))?,
    ))
}

fn qparams(c: &CallArgs<'_>, i: usize) -> nn::Result<(f64, i64)> {
    Ok((
        c.req(i, "scale")?.f64(c.op)?,
        c.req(i + 1, "zero_point")?.f64(c.op)? as i64,
    ))
}

fn cat(c: &CallArgs<'_>) -> R {
    let items = c.req(0, "tensors")?.list(c.op)?;
    let dim = c.opt(1, "dim").map_or(Ok(0), |d| d.i64(c.op))?;
    if let Some(Rt::V(Value::Quant(first))) = items.first() {
        let qs: Vec<QTensor> = items
            .iter()
            .map(|i| i.qtensor(c.op))
            .collect::<nn::Result<_>>()?;
        let refs: Vec<&QTensor> = qs.iter().collect();
        let d = resolve_dim(c.op, dim, first.ndim())?;
        let (s, z) = per_tensor(c.op, first)?;
        return Ok(quant(qf::cat(&refs, d, s, z).map_err(qerr(c.op))?));
    }
    let ts: Vec<Tensor> = items
        .iter()
        .map(|i| i.float_tensor(c.op))
        .collect::<nn::Result<_>>()?;
    Ok(float(Tensor::cat(&ts, dim as isize)?))
}

/// Runs a `call_function` node's function on resolved arguments.
pub(crate) fn call_function(f: Function, c: &CallArgs<'_>) -> R {
    use Function::*;
    let op = c.op;
    match f {
        Add | TorchAdd => binary(c, F::add, |t, s| t.add_scalar(s)),
        Mul | TorchMul => binary(c, F::mul, |t, s| t.mul_scalar(s)),
        Sub => binary(c, |a, b| a.sub(b), |t, s| t.add_scalar(-s)),
        TrueDiv => binary(c, |a, b| a.div(b), |t, s| t.mul_scalar(1.0 / s)),
        Neg => Ok(float(c.req(0, "input")?.float_tensor(op)?.neg())),
        MatMulOp | TorchMatMul => Ok(float(
            c.req(0, "input")?
                .float_tensor(op)?
                .matmul(&c.req(1, "other")?.float_tensor(op)?)?,
        )),
        GetItem => {
            let i = c.req(1, "index")?.i64(op)?;
            match c.req(0, "input")? {
                Rt::V(Value::Tuple(items)) => items
                    .get(i.max(0) as usize)
                    .cloned()
                    .map(Rt::V)
                    .ok_or_else(|| bad(op, format!("index {i} out of range"))),
                Rt::List(items) => items
                    .get(i.max(0) as usize)
                    .cloned()
                    .ok_or_else(|| bad(op, format!("index {i} out of range"))),
                other => Err(bad(op, format!("cannot index {}", other.kind()))),
            }
        }
        Cat => cat(c),
        Flatten => flatten(
            c.req(0, "input")?,
            c.opt(1, "start_dim").map_or(Ok(0), |v| v.i64(op))?,
            c.opt(2, "end_dim").map_or(Ok(-1), |v| v.i64(op))?,
            op,
        ),
        Reshape => reshape(c.req(0, "input")?, &c.req(1, "shape")?.ints(op)?, op),
        Relu | Relu6 | Hardtanh | Hardswish | Hardsigmoid | Sigmoid | Tanh | Silu | LeakyRelu
        | Elu | Gelu | Softmax | Dropout => activation(c, f),
        Linear => {
            let x = c.req(0, "input")?.float_tensor(op)?;
            let w = c.req(1, "weight")?.float_tensor(op)?;
            let b = c.opt(2, "bias").map(|b| b.float_tensor(op)).transpose()?;
            Ok(float(F::linear(&x, &w, b.as_ref())?))
        }
        Conv1d => conv(c, 1),
        Conv2d => conv(c, 2),
        Conv3d => conv(c, 3),
        MaxPool2d => max_pool2d(c),
        AvgPool2d => avg_pool2d(c),
        AdaptiveAvgPool2d => adaptive_avg_pool2d(c),
        QuantizePerTensor => {
            let x = c.req(0, "input")?.float_tensor(op)?;
            let (s, z) = qparams(c, 1)?;
            let dtype = c.req(3, "dtype")?.dtype(op)?;
            let q = qtensor::quantize_per_tensor(x.data().view(), s, z, dtype)?;
            Ok(quant(q))
        }
        QAdd | QAddRelu | QMul | QMulRelu => {
            let a = c.req(0, "qa")?.qtensor(op)?;
            let b = c.req(1, "qb")?.qtensor(op)?;
            let (s, z) = qparams(c, 2)?;
            let run = match f {
                QAdd => qf::add,
                QAddRelu => qf::add_relu,
                QMul => qf::mul,
                _ => qf::mul_relu,
            };
            Ok(quant(run(&a, &b, s, z).map_err(qerr(op))?))
        }
        QAddScalar | QMulScalar => {
            let a = c.req(0, "qa")?.qtensor(op)?;
            let s = c.req(1, "b")?.f64(op)?;
            let run = if f == QAddScalar {
                qf::add_scalar
            } else {
                qf::mul_scalar
            };
            Ok(quant(run(&a, s).map_err(qerr(op))?))
        }
        QCat => {
            let items = c.req(0, "qx")?.list(op)?;
            let qs: Vec<QTensor> = items
                .iter()
                .map(|i| i.qtensor(op))
                .collect::<nn::Result<_>>()?;
            let refs: Vec<&QTensor> = qs.iter().collect();
            let dim = c.req(1, "dim")?.i64(op)?;
            let d = resolve_dim(op, dim, qs.first().map_or(1, QTensor::ndim))?;
            let (s, z) = qparams(c, 2)?;
            Ok(quant(qf::cat(&refs, d, s, z).map_err(qerr(op))?))
        }
        QLinear | QLinearRelu | QConv | QConvRelu => {
            let x = c.req(0, "X")?.qtensor(op)?;
            let w = c.req(1, "W_prepack")?.packed(op)?;
            let (s, z) = qparams(c, 2)?;
            let relu = matches!(f, QLinearRelu | QConvRelu);
            let y = if matches!(f, QLinear | QLinearRelu) {
                qf::linear(&x, &w, s, z, relu)
            } else {
                qf::conv(&x, &w, s, z, relu)
            };
            Ok(quant(y.map_err(qerr(op))?))
        }
        QLinearDynamic | QLinearReluDynamic => {
            let x = c.req(0, "X")?.float_tensor(op)?;
            let w = c.req(1, "W_prepack")?.packed(op)?;
            let reduce = c.opt(2, "reduce_range").map_or(Ok(false), |v| v.bool(op))?;
            let relu = f == QLinearReluDynamic;
            let y = qf::linear_dynamic(x.data().view(), &w, reduce, relu).map_err(qerr(op))?;
            Ok(float(Tensor::new(y)))
        }
        QHardswish => {
            let x = c.req(0, "input")?.qtensor(op)?;
            let (s, z) = qparams(c, 1)?;
            Ok(quant(qf::hardswish(&x, s, z).map_err(qerr(op))?))
        }
        QLeakyRelu => {
            let x = c.req(0, "input")?.qtensor(op)?;
            let slope = c.req(1, "negative_slope")?.f64(op)?;
            let (s, z) = qparams(c, 2)?;
            Ok(quant(qf::leaky_relu(&x, slope, s, z).map_err(qerr(op))?))
        }
        QElu => {
            let x = c.req(0, "input")?.qtensor(op)?;
            let (s, z) = qparams(c, 1)?;
            let alpha = c.opt(3, "alpha").map_or(Ok(1.0), |v| v.f64(op))?;
            Ok(quant(qf::elu(&x, alpha, s, z).map_err(qerr(op))?))
        }
    }
}

/// The tensor methods a `call_method` node may call.
pub const METHODS: &[&str] = &[
    "dequantize",
    "relu",
    "sigmoid",
    "tanh",
    "exp",
    "log",
    "sqrt",
    "flatten",
    "reshape",
    "view",
    "unsqueeze",
    "permute",
    "transpose",
    "clamp",
    "pow",
    "sum",
    "mean",
    "contiguous",
    "detach",
];

/// Runs a `call_method` node's method on resolved arguments (the object first).
pub(crate) fn call_method(name: &str, c: &CallArgs<'_>) -> R {
    let op = c.op;
    let x = c.req(0, "self")?;
    if let Rt::V(Value::Quant(q)) = x {
        return match name {
            "dequantize" => Ok(float(Tensor::new(q.dequantize()))),
            "relu" => Ok(quant(nn::quant_ops::quantized_relu(q)?)),
            "sigmoid" => Ok(quant(qf::sigmoid(q, 1.0 / 256.0, 0).map_err(qerr(op))?)),
            "tanh" => Ok(quant(qf::tanh(q).map_err(qerr(op))?)),
            "flatten" => flatten(
                x,
                c.opt(1, "start_dim").map_or(Ok(0), |v| v.i64(op))?,
                c.opt(2, "end_dim").map_or(Ok(-1), |v| v.i64(op))?,
                op,
            ),
            "reshape" | "view" => reshape(x, &c.req(1, "shape")?.ints(op)?, op),
            "contiguous" | "detach" => Ok(x.clone()),
            _ => Err(NnError::QuantizedInput {
                module: format!("Tensor.{name}"),
                dtype: q.dtype(),
                fix: nn::FIX_DEQUANT,
            }),
        };
    }
    if name == "dequantize" {
        return Ok(x.clone());
    }
    let t = x.float_tensor(op)?;
    let int = |i: usize, key: &str| -> nn::Result<i64> { c.req(i, key)?.i64(op) };
    let y = match name {
        "relu" => t.relu(),
        "sigmoid" => t.sigmoid(),
        "tanh" => t.tanh(),
        "exp" => t.exp(),
        "log" => t.log(),
        "sqrt" => t.sqrt(),
        "flatten" => {
            return flatten(
                x,
                c.opt(1, "start_dim").map_or(Ok(0), |v| v.i64(op))?,
                c.opt(2, "end_dim").map_or(Ok(-1), |v| v.i64(op))?,
                op,
            )
        }
        "reshape" | "view" => return reshape(x, &c.req(1, "shape")?.ints(op)?, op),
        "unsqueeze" => t.unsqueeze(int(1, "dim")? as isize)?,
        "permute" => {
            let dims = c.req(1, "dims")?.ints(op)?;
            t.permute(&dims.iter().map(|&d| d.max(0) as usize).collect::<Vec<_>>())?
        }
        "transpose" => t.transpose(int(1, "dim0")? as isize, int(2, "dim1")? as isize)?,
        "clamp" => t.clamp(
            c.opt(1, "min")
                .map_or(Ok(f64::NEG_INFINITY), |v| v.f64(op))? as f32,
            c.opt(2, "max").map_or(Ok(f64::INFINITY), |v| v.f64(op))? as f32,
        ),
        "pow" => t.pow_scalar(c.req(1, "exponent")?.f64(op)? as f32),
        "sum" | "mean" => match c.opt(1, "dim") {
            None => {
                if name == "sum" {
                    t.sum()
                } else {
                    t.mean()
                }
            }
            Some(d) => {
                let dims: Vec<isize> = d.ints(op)?.iter().map(|&v| v as isize).collect();
                let keep = c.opt(2, "keepdim").map_or(Ok(false), |v| v.bool(op))?;
                if name == "sum" {
                    t.sum_dims(&dims, keep)?
                } else {
                    t.mean_dims(&dims, keep)?
                }
            }
        },
        "contiguous" => t,
        "detach" => t.detach(),
        other => {
            return Err(bad(
                op,
                format!("the tensor method '{other}' is not supported"),
            ))
        }
    };
    Ok(float(y))
}
