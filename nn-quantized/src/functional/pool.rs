//! Pooling and resizing of quantized NCHW tensors; outputs keep the input's parameters.

use qkernels_x86::nchw::Nchw;
use qkernels_x86::pool as x86;
use qkernels_x86::quant::QView;
use qtensor::QTensor;

use super::operand::{affine, build, by_dtype, kernel_err, values, Act};
use super::{qnnpack, QOpError};

pub use qkernels_x86::pool::{AvgPool2d, MaxPool2d, UpsampleSize};

fn nchw(op: &'static str, x: &QTensor) -> Result<Nchw, QOpError> {
    Nchw::from_slice(x.shape()).map_err(kernel_err(op))
}

macro_rules! pool_op {
    ($(#[$doc:meta])* $name:ident, $kernel:ident, $param:ty) => {
        $(#[$doc])*
        pub fn $name(x: &QTensor, params: $param) -> Result<QTensor, QOpError> {
            const OP: &str = stringify!($name);
            if qtensor::engine() == qtensor::Engine::Qnnpack {
                let v = qnnpack::view(OP, "input", x)?;
                return qnnpack::finish(OP, arm::$name(&qnnpack::kernels(), &v, params));
            }
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

/// Parameter translation to the qnnpack kernels.
mod arm {
    use qkernels_arm::{KernelError, Kernels, Pool2d, QBuf, QView};

    use super::{AvgPool2d, MaxPool2d, UpsampleSize};

    fn unsupported(op: &'static str, what: &str) -> KernelError {
        KernelError::Unsupported {
            op,
            reason: what.to_string(),
        }
    }

    pub fn max_pool2d(k: &Kernels, x: &QView, p: &MaxPool2d) -> Result<QBuf, KernelError> {
        if p.ceil_mode {
            return Err(unsupported("max_pool2d", "ceil_mode"));
        }
        let mut pool = Pool2d::new(p.kernel, p.stride, p.padding);
        pool.dilation = p.dilation;
        k.max_pool2d(x, &pool)
    }

    pub fn avg_pool2d(k: &Kernels, x: &QView, p: &AvgPool2d) -> Result<QBuf, KernelError> {
        if p.ceil_mode || !p.count_include_pad || p.divisor_override.is_some() {
            return Err(unsupported(
                "avg_pool2d",
                "ceil_mode, count_include_pad=false or divisor_override",
            ));
        }
        k.avg_pool2d(x, &Pool2d::new(p.kernel, p.stride, p.padding))
    }

    pub fn adaptive_avg_pool2d(
        k: &Kernels,
        x: &QView,
        out: [usize; 2],
    ) -> Result<QBuf, KernelError> {
        k.adaptive_avg_pool2d(x, out)
    }

    pub fn upsample_nearest2d(
        k: &Kernels,
        x: &QView,
        size: UpsampleSize,
    ) -> Result<QBuf, KernelError> {
        let (h, w) = (
            x.shape.get(2).copied().unwrap_or(0),
            x.shape.get(3).copied().unwrap_or(0),
        );
        match size {
            UpsampleSize::Size { h: oh, w: ow } => k.upsample_nearest2d(x, [oh, ow], None),
            UpsampleSize::ScaleFactor { h: fh, w: fw } => {
                let out = [
                    (h as f64 * fh).floor() as usize,
                    (w as f64 * fw).floor() as usize,
                ];
                k.upsample_nearest2d(x, out, Some([fh, fw]))
            }
        }
    }
}
