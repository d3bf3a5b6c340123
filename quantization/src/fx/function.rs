//! [`Function`]: the targets of `call_function` nodes, printed with PyTorch's qualified names.

use std::fmt;

macro_rules! functions {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)+) => {
        /// A function a `call_function` node calls (PyTorch's `node.target` for that opcode).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Function {
            $($(#[$doc])* $variant,)+
        }

        impl Function {
            /// Every function, in declaration order.
            pub const ALL: &'static [Function] = &[$(Function::$variant,)+];

            /// PyTorch's qualified name (`"torch.nn.functional.max_pool2d"`).
            pub fn torch_name(self) -> &'static str {
                match self {
                    $(Function::$variant => $name,)+
                }
            }
        }
    };
}

functions! {
    /// `a + b` / `a + scalar`.
    Add => "operator.add",
    /// `a - b`.
    Sub => "operator.sub",
    /// `a * b` / `a * scalar`.
    Mul => "operator.mul",
    /// `a / b`.
    TrueDiv => "operator.truediv",
    /// `-a`.
    Neg => "operator.neg",
    /// `a @ b`.
    MatMulOp => "operator.matmul",
    /// `t[i]`: one element of a tuple.
    GetItem => "operator.getitem",
    /// `torch.add(a, b)`.
    TorchAdd => "torch.add",
    /// `torch.mul(a, b)`.
    TorchMul => "torch.mul",
    /// `torch.matmul(a, b)`.
    TorchMatMul => "torch.matmul",
    /// `torch.cat(tensors, dim)`.
    Cat => "torch.cat",
    /// `torch.flatten(x, start_dim, end_dim)`.
    Flatten => "torch.flatten",
    /// `torch.reshape(x, shape)`.
    Reshape => "torch.reshape",
    /// `torch.sigmoid(x)`.
    Sigmoid => "torch.sigmoid",
    /// `torch.tanh(x)`.
    Tanh => "torch.tanh",
    /// `F.relu(x)`.
    Relu => "torch.nn.functional.relu",
    /// `F.relu6(x)`.
    Relu6 => "torch.nn.functional.relu6",
    /// `F.hardtanh(x, min_val, max_val)`.
    Hardtanh => "torch.nn.functional.hardtanh",
    /// `F.hardswish(x)`.
    Hardswish => "torch.nn.functional.hardswish",
    /// `F.hardsigmoid(x)`.
    Hardsigmoid => "torch.nn.functional.hardsigmoid",
    /// `F.leaky_relu(x, negative_slope)`.
    LeakyRelu => "torch.nn.functional.leaky_relu",
    /// `F.elu(x, alpha)`.
    Elu => "torch.nn.functional.elu",
    /// `F.silu(x)`.
    Silu => "torch.nn.functional.silu",
    /// `F.gelu(x, approximate)`.
    Gelu => "torch.nn.functional.gelu",
    /// `F.softmax(x, dim)`.
    Softmax => "torch.nn.functional.softmax",
    /// `F.dropout(x, p, training)`.
    Dropout => "torch.nn.functional.dropout",
    /// `F.linear(x, weight, bias)`.
    Linear => "torch.nn.functional.linear",
    /// `F.conv1d(x, weight, bias, stride, padding, dilation, groups)`.
    Conv1d => "torch.nn.functional.conv1d",
    /// `F.conv2d(...)`.
    Conv2d => "torch.nn.functional.conv2d",
    /// `F.conv3d(...)`.
    Conv3d => "torch.nn.functional.conv3d",
    /// `F.max_pool2d(x, kernel_size, stride, padding, dilation, ceil_mode)`.
    MaxPool2d => "torch.nn.functional.max_pool2d",
    /// `F.avg_pool2d(x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)`.
    AvgPool2d => "torch.nn.functional.avg_pool2d",
    /// `F.adaptive_avg_pool2d(x, output_size)`.
    AdaptiveAvgPool2d => "torch.nn.functional.adaptive_avg_pool2d",
    /// `torch.quantize_per_tensor(x, scale, zero_point, dtype)`.
    QuantizePerTensor => "torch.quantize_per_tensor",
    /// `torch.ops.quantized.add(a, b, scale, zero_point)`.
    QAdd => "torch.ops.quantized.add",
    /// `torch.ops.quantized.add_relu(a, b, scale, zero_point)`.
    QAddRelu => "torch.ops.quantized.add_relu",
    /// `torch.ops.quantized.mul(a, b, scale, zero_point)`.
    QMul => "torch.ops.quantized.mul",
    /// `torch.ops.quantized.mul_relu(a, b, scale, zero_point)`.
    QMulRelu => "torch.ops.quantized.mul_relu",
    /// `torch.ops.quantized.add_scalar(a, scalar)`.
    QAddScalar => "torch.ops.quantized.add_scalar",
    /// `torch.ops.quantized.mul_scalar(a, scalar)`.
    QMulScalar => "torch.ops.quantized.mul_scalar",
    /// `torch.ops.quantized.cat(tensors, dim, scale, zero_point)`.
    QCat => "torch.ops.quantized.cat",
    /// `torch.ops.quantized.linear(x, packed_weight, scale, zero_point)`.
    QLinear => "torch.ops.quantized.linear",
    /// `torch.ops.quantized.linear_relu(x, packed_weight, scale, zero_point)`.
    QLinearRelu => "torch.ops.quantized.linear_relu",
    /// `torch.ops.quantized.linear_dynamic(x, packed_weight, reduce_range)`.
    QLinearDynamic => "torch.ops.quantized.linear_dynamic",
    /// `torch.ops.quantized.linear_relu_dynamic(x, packed_weight, reduce_range)`.
    QLinearReluDynamic => "torch.ops.quantized.linear_relu_dynamic",
    /// `torch.ops.quantized.conv2d(x, packed_weight, scale, zero_point)` (any rank).
    QConv => "torch.ops.quantized.conv2d",
    /// `torch.ops.quantized.conv2d_relu(x, packed_weight, scale, zero_point)` (any rank).
    QConvRelu => "torch.ops.quantized.conv2d_relu",
    /// `torch.ops.quantized.hardswish(x, scale, zero_point)`.
    QHardswish => "torch.ops.quantized.hardswish",
    /// `torch.ops.quantized.leaky_relu(x, negative_slope, scale, zero_point)`.
    QLeakyRelu => "torch.ops.quantized.leaky_relu",
    /// `torch.ops.quantized.elu(x, scale, zero_point, alpha)`.
    QElu => "torch.ops.quantized.elu",
}

impl Function {
    /// The function named `name` (PyTorch's qualified name), if known.
    pub fn from_torch_name(name: &str) -> Option<Function> {
        Function::ALL
            .iter()
            .copied()
            .find(|f| f.torch_name() == name)
    }

    /// The base of the names of nodes calling it (`"max_pool2d"`, `"add"`).
    pub fn node_name(self) -> &'static str {
        let n = self.torch_name();
        n.rsplit('.').next().unwrap_or(n)
    }

    /// True for the quantized operators (`torch.ops.quantized.*`, `quantize_per_tensor`).
    pub fn is_quantized_op(self) -> bool {
        let n = self.torch_name();
        n.starts_with("torch.ops.quantized.") || self == Function::QuantizePerTensor
    }
}

impl fmt::Display for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.torch_name())
    }
}
