//! Pooling and resizing of quantized NCHW tensors; outputs keep the input's parameters.

use qkernels_x86::nchw::Nchw;
use qkernels_x86::pool as x86;
use qkernels_x86::quant::QView;
use qtensor::QTensor;

use super::operand::{affine, build, by_dtype, kernel_err, values, Act};
use super::QOpError;

pub use qkernels_x86::pool::{AvgPool2d, MaxPool2d, UpsampleSize};

fn nchw(op: &'static str, x: &QTensor) -> Result<Nchw, QOpError> {
    Nchw::from_slice(x.shape()).map_err(kernel_err(op))
}

macro_rules! pool_op {
    ($(#[$doc:meta])* $name:ident, $kernel:ident, $param:ty) => {
        $(#[$doc])*
        pub fn $name(x: &QTensor, params: $param) -> Result<QTensor, QOpError> {
            const OP: &str = stringify!($name);
            fn go<T: Act>(x: &QTensor, params: $param) -> Result<QTensor, QOpError> {
                let q = affine(OP, "input", x)?;
                let v = QView::new(values::<T>(OP, "input", x)?, q);
                let (shape, out) = x86::$kernel(v, nchw(OP, x)?, params).map_err(kernel_err(OP))?;
                build(&shape.dims(), out, q)
            }
            by_dtype!(OP, x, go(x, params))
        }
    };
}

pool_op!(
    /// 2-d max pooling over an NCHW tensor.
    max_pool2d, max_pool2d, &MaxPool2d
);
pool_op!(
    /// 2-d average pooling over an NCHW tensor.
    avg_pool2d, avg_pool2d, &AvgPool2d
);
pool_op!(
    /// Adaptive average pooling to `[out_h, out_w]`.
    adaptive_avg_pool2d, adaptive_avg_pool2d, [usize; 2]
);
pool_op!(
    /// Nearest-neighbour resizing (`upsample_nearest2d`).
    upsample_nearest2d, upsample_nearest2d, UpsampleSize
);
