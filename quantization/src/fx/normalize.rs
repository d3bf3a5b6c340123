//! From a traced operation ([`OpRecord`]) to a node's opcode, target and arguments, laid out
//! as PyTorch records the same call (positional and keyword arguments of its signature).

use nn::trace::{OpKind, OpRecord, TraceArg};

use super::exec::METHODS;
use super::function::Function;
use super::graph::{Arg, OpCode, Target};
use super::tracer::trace_arg;

type Normalized = (OpCode, Target, Vec<Arg>, Vec<(String, Arg)>);

fn get<'a>(r: &'a OpRecord<'_>, key: &str) -> Option<&'a TraceArg> {
    r.args.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
}

fn arg(r: &OpRecord<'_>, key: &str) -> Arg {
    get(r, key).map_or(Arg::None, trace_arg)
}

/// An int list whose entries are all equal is written as one int, as a user writes
/// `max_pool2d(x, 2)`.
fn collapsed(r: &OpRecord<'_>, key: &str) -> Arg {
    match get(r, key) {
        Some(TraceArg::Ints(v)) if !v.is_empty() && v.iter().all(|&x| x == v[0]) => Arg::Int(v[0]),
        Some(TraceArg::Ints(v)) => Arg::Tuple(v.iter().map(|&x| Arg::Int(x)).collect()),
        Some(a) => trace_arg(a),
        None => Arg::None,
    }
}

fn kw(pairs: Vec<(&str, Arg)>) -> Vec<(String, Arg)> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn inplace() -> (&'static str, Arg) {
    ("inplace", Arg::Bool(false))
}

/// The node for `r` whose tensor arguments are `inputs` (in `r.tensors` order), or `None` if
/// graph mode cannot run the operation.
pub(crate) fn normalize(r: &OpRecord<'_>, inputs: Vec<Arg>) -> Option<Normalized> {
    match r.kind {
        OpKind::Function => function(r, inputs),
        OpKind::Method => method(r, inputs),
    }
}

fn function(r: &OpRecord<'_>, mut inputs: Vec<Arg>) -> Option<Normalized> {
    use Function::*;
    let f = Function::from_torch_name(r.name)?;
    if f.is_quantized_op() {
        return None;
    }
    let x = inputs.first().cloned().unwrap_or(Arg::None);
    let (args, kwargs): (Vec<Arg>, Vec<(String, Arg)>) = match f {
        Add | Mul | Sub | TrueDiv if inputs.len() == 1 => (vec![x, arg(r, "other")], vec![]),
        Add | Mul | Sub | TrueDiv | MatMulOp | TorchAdd | TorchMul | TorchMatMul => {
            (inputs, vec![])
        }
        Neg | Sigmoid | Tanh => (vec![x], vec![]),
        Cat => (vec![Arg::List(inputs), arg(r, "dim")], vec![]),
        Flatten => {
            let mut a = vec![x, arg(r, "start_dim")];
            if get(r, "end_dim") != Some(&TraceArg::Int(-1)) {
                a.push(arg(r, "end_dim"));
            }
            (a, vec![])
        }
        Reshape => {
            let shape = match get(r, "shape") {
                Some(TraceArg::Ints(v)) => Arg::Tuple(v.iter().map(|&d| Arg::Int(d)).collect()),
                _ => return None,
            };
            (vec![x, shape], vec![])
        }
        Relu | Relu6 | Hardswish | Hardsigmoid | Silu => (vec![x], kw(vec![inplace()])),
        Hardtanh => (
            vec![x],
            kw(vec![
                ("min_val", arg(r, "min_val")),
                ("max_val", arg(r, "max_val")),
                inplace(),
            ]),
        ),
        LeakyRelu => (
            vec![x],
            kw(vec![
                ("negative_slope", arg(r, "negative_slope")),
                inplace(),
            ]),
        ),
        Elu => (vec![x], kw(vec![("alpha", arg(r, "alpha")), inplace()])),
        Gelu => (vec![x], kw(vec![("approximate", arg(r, "approximate"))])),
        Softmax => (vec![x], kw(vec![("dim", arg(r, "dim"))])),
        Dropout => (
            vec![x],
            kw(vec![
                ("p", arg(r, "p")),
                ("training", arg(r, "training")),
                inplace(),
            ]),
        ),
        Linear => {
            if inputs.get(2) == Some(&Arg::None) {
                inputs.truncate(2);
            }
            (inputs, vec![])
        }
        Conv1d | Conv2d | Conv3d => {
            inputs.resize(3, Arg::None);
            inputs.extend([
                collapsed(r, "stride"),
                collapsed(r, "padding"),
                collapsed(r, "dilation"),
                arg(r, "groups"),
            ]);
            (inputs, vec![])
        }
        MaxPool2d | AvgPool2d => {
            let kernel = collapsed(r, "kernel_size");
            let stride = if get(r, "stride") == get(r, "kernel_size") {
                Arg::None
            } else {
                collapsed(r, "stride")
            };
            let mut k = vec![("stride", stride), ("padding", collapsed(r, "padding"))];
            if f == MaxPool2d {
                k.push(("dilation", collapsed(r, "dilation")));
                k.push(("ceil_mode", arg(r, "ceil_mode")));
                k.push(("return_indices", Arg::Bool(false)));
            } else {
                k.push(("ceil_mode", arg(r, "ceil_mode")));
                k.push(("count_include_pad", arg(r, "count_include_pad")));
                k.push(("divisor_override", arg(r, "divisor_override")));
            }
            (vec![x, kernel], kw(k))
        }
        AdaptiveAvgPool2d => (vec![x, collapsed(r, "output_size")], vec![]),
        GetItem | QuantizePerTensor | QAdd | QAddRelu | QMul | QMulRelu | QAddScalar
        | QMulScalar | QCat | QLinear | QLinearRelu | QLinearDynamic | QLinearReluDynamic
        | QConv | QConvRelu | QHardswish | QLeakyRelu | QElu => return None,
    };
    Some((OpCode::CallFunction, Target::Function(f), args, kwargs))
}

fn method(r: &OpRecord<'_>, inputs: Vec<Arg>) -> Option<Normalized> {
    if !METHODS.contains(&r.name) {
        return None;
    }
    let x = inputs.first().cloned()?;
    let tuple = |key: &str| match get(r, key) {
        Some(TraceArg::Ints(v)) => Arg::Tuple(v.iter().map(|&d| Arg::Int(d)).collect()),
        Some(a) => trace_arg(a),
        None => Arg::None,
    };
    let (args, kwargs) = match r.name {
        "flatten" => {
            let mut a = vec![x, arg(r, "start_dim")];
            if get(r, "end_dim") != Some(&TraceArg::Int(-1)) {
                a.push(arg(r, "end_dim"));
            }
            (a, vec![])
        }
        "reshape" => (vec![x, tuple("shape")], vec![]),
        "unsqueeze" => (vec![x, arg(r, "dim")], vec![]),
        "permute" => (vec![x, tuple("dims")], vec![]),
        "transpose" => (vec![x, arg(r, "dim0"), arg(r, "dim1")], vec![]),
        "clamp" => (
            vec![x],
            kw(vec![("min", arg(r, "min")), ("max", arg(r, "max"))]),
        ),
        "pow" => (vec![x, arg(r, "exponent")], vec![]),
        "sum" | "mean" if get(r, "dim").is_some() => {
            (vec![x, tuple("dim"), arg(r, "keepdim")], vec![])
        }
        _ => (vec![x], vec![]),
    };
    Some((
        OpCode::CallMethod,
        Target::Name(r.name.to_string()),
        args,
        kwargs,
    ))
}
