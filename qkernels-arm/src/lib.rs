//! The qnnpack engine's int8 kernels with QNNPACK's numerics (PyTorch 2.11,
//! `torch.backends.quantized.engine = "qnnpack"`): portable Rust on every target, NEON on
//! aarch64 with a dot-product (`udot`) path, and AVX2 or AVX-512 VNNI on x86-64, chosen at run
//! time. Every path gives the same bits.
//!
//! Kernels are pure functions over slices, shapes and quantization parameters; they know
//! nothing of modules. All of them are methods of [`Kernels`], a value bound to one [`Path`]:
//! [`Kernels::active`] picks the best path once (or the one named by [`PATH_ENV`]),
//! [`Kernels::new`] asks for a specific one.
//!
//! | PyTorch (engine qnnpack) | here | numerics |
//! |---|---|---|
//! | `quantized::linear_prepack`, `linear`, `linear_relu` | [`Kernels::pack_linear`], [`Kernels::linear`] | QNNPACK GEMM |
//! | `quantized::linear_dynamic` | [`Kernels::linear_dynamic`] | QNNPACK `q8gemm_dq` |
//! | `quantized::conv{1,2,3}d(_relu)`, `conv_transpose{1,2}d` | [`Kernels::pack_conv`], [`Kernels::conv`] | QNNPACK conv / dwconv / deconv |
//! | `quantized::add`, `add_relu` | [`Kernels::add`] | QNNPACK fixed point |
//! | `quantized::mul`, `add_scalar`, `mul_scalar`, `cat` | [`Kernels::mul`], [`Kernels::add_scalar`], [`Kernels::mul_scalar`], [`Kernels::cat`] | ATen generic |
//! | `relu`, `relu6` | [`Kernels::relu`], [`Kernels::relu6`] | clamp |
//! | `hardswish`, `sigmoid`, `tanh` | [`Kernels::hardswish`], [`Kernels::sigmoid`], [`Kernels::tanh`] | QNNPACK tables |
//! | `leaky_relu`, `elu` | [`Kernels::leaky_relu`], [`Kernels::elu`] | ATen generic, as tables |
//! | `batch_norm` | [`Kernels::batch_norm`] | ATen generic |
//! | `max_pool2d`, `avg_pool2d`, `adaptive_avg_pool2d` | [`Kernels::max_pool2d`], [`Kernels::avg_pool2d`], [`Kernels::adaptive_avg_pool2d`] | QNNPACK (generic where PyTorch falls back) |
//! | `upsample_nearest2d` | [`Kernels::upsample_nearest2d`] | ATen generic |
//!
//! The numeric rules (fp32 requantization with round-to-nearest-even, the add fixed point, bias
//! quantization, requantization scales) are in [`requant`]; `src/portable/` is the reference
//! implementation, `src/neon/` the aarch64 one and `src/x86/` the x86-64 one (GEMM,
//! convolution, depthwise convolution, dynamic quantization and layout copies; the elementwise,
//! pooling and table kernels run the portable code there).
//!
//! Per-call work that depends only on the shapes or the quantization parameters is kept
//! between calls: a packed convolution remembers the indirection buffer of its last input
//! shape, a packed GEMM the folded bias and requantization scales of its last input and output
//! parameters, and each thread reuses its scratch buffers for the channels-last copies. The
//! kernels run on the calling thread.
//!
//! ```
//! use qkernels_arm::{Kernels, LinearWeights, OutputSpec, QView, U8Quant, WeightQuant};
//! let k = Kernels::active();
//! let wq = WeightQuant::PerTensor { scale: 0.01, zero_point: 0 };
//! let w = [10i8, -20, 30, 40, 50, -60];
//! let packed = k
//!     .pack_linear(&LinearWeights { weight: &w, out_features: 2, in_features: 3, quant: &wq, bias: None })
//!     .unwrap();
//! let x = [130u8, 120, 128];
//! let y = k
//!     .linear(&packed, &QView::new(&x, &[1, 3], U8Quant::new(0.1, 128).unwrap()), OutputSpec::new(U8Quant::new(0.01, 100).unwrap()))
//!     .unwrap();
//! // (x - 128) = [2, -8, 0]; requantization scale 0.1 * 0.01 / 0.01 = 0.1:
//! // 100 + round(0.1 * (2*10 - 8*-20)) = 118 and 100 + round(0.1 * (2*40 - 8*50)) = 68.
//! assert_eq!(y.data, vec![118, 68]);
//! ```

mod conv;
mod dispatch;
mod dwconv;
mod elementwise;
mod error;
mod gemm;
mod linear;
pub mod lut;
mod memo;
#[cfg(target_arch = "aarch64")]
mod neon;
mod norm;
mod params;
mod pool;
mod portable;
pub mod requant;
mod scratch;
mod upsample;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use conv::{ConvParams, ConvWeights, PackedConv};
pub use dispatch::{Kernels, Path, PATH_ENV};
pub use error::KernelError;
pub use linear::{LinearWeights, PackedLinear};
pub use norm::BatchNorm;
pub use params::{Layout, OutputSpec, QBuf, QView, U8Quant, WeightQuant};
pub use pool::Pool2d;
