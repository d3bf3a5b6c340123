//! fbgemm-style int8 kernels for x86: GEMM, linear, convolution, elementwise, activations and
//! pooling.
//!
//! Pure functions over slices, shapes and quantization parameters; no tensors,
//! no modules. Numerics are PyTorch's fbgemm path (as its vectorised x86 code
//! computes them); every ISA path equals the scalar reference bit for bit.
//!
//! # Example
//!
//! ```
//! use qkernels_x86::*;
//!
//! // Linear(3 -> 2): int8 weight [out, in], packed once.
//! let quant = WeightQuant::PerTensor { scale: 0.1, zero_point: 0 };
//! let w = PackedWeight::pack(&[1, 2, 3, -1, 0, 4], 2, 3, quant)?;
//! // One row of quint8 activations (real values 0.5, 1.0, 1.5).
//! let x = QuantizedMatrix { data: &[10, 20, 30], rows: 1, cols: 3, qparams: QParams::new(0.05, 0) };
//! let y = quantized_linear(x, &w, Some(&[0.5, -0.5]), QParams::new(0.1, 128), Activation::Relu)?;
//! // 0.5*0.1 + 1.0*0.2 + 1.5*0.3 + 0.5 = 1.2 -> 1.2 / 0.1 + 128
//! assert_eq!(y[0], 140);
//!
//! // A 3x3 convolution, NCHW, padding 1.
//! let params = ConvParams { padding: vec![1, 1], ..ConvParams::new(2) };
//! let cw = PackedConvWeight::pack(&[1i8; 2 * 1 * 3 * 3], &[2, 1, 3, 3],
//!     WeightQuant::PerTensor { scale: 0.1, zero_point: 0 }, params)?;
//! let img = QuantizedTensorView { data: &[7u8; 16], shape: &[1, 1, 4, 4], qparams: QParams::new(0.1, 5) };
//! let out = quantized_conv(img, &cw, None, QParams::new(0.05, 0), Activation::Identity)?;
//! assert_eq!(out.shape, vec![1, 2, 4, 4]);
//! # Ok::<(), KernelError>(())
//! ```
//!
//! # Map
//!
//! | module | holds | PyTorch / fbgemm name |
//! |---|---|---|
//! | [`isa`] | ISA detection, `QKERNELS_X86_ISA` override | `fbgemmInstructionSet` |
//! | [`set_num_threads`] | the thread count (the workspace-wide pool of `qtensor::threads`) | `torch.set_num_threads` |
//! | [`quant`] | [`QParams`], [`WeightQuant`], [`choose_qparams`] | `ChooseQuantizationParams` |
//! | [`output`] | the fused output pipeline as data | `ReQuantizeOutput`, `ReQuantizeForFloat` |
//! | [`gemm`] | [`PackedWeight`] and the u8 x s8 GEMM (scalar, AVX2, AVX-512 VNNI) | `PackBMatrix`, `fbgemmPacked` |
//! | [`linear`] | [`quantized_linear`], [`dynamic_linear`], raw GEMM entries | `quantized::linear`, `linear_dynamic` |
//! | [`conv`] | [`PackedConvWeight`], [`quantized_conv`]: conv1d/2d/3d, groups, depthwise, transposed | `quantized::conv2d`, `fbgemmConv`, depthwise kernels |
//! | [`reference`](mod@reference) | slow definitions of the numerics | `RefImplementations` |
//! | [`elementwise`] | add, add_relu, mul, mul_relu, add_scalar, mul_scalar, cat, batch_norm2d | `quantized::add` ... |
//! | [`activation`] | relu, relu6, hardswish, sigmoid, tanh, leaky_relu, elu | `quantized::hardswish` ... |
//! | [`pool`] | max_pool2d, avg_pool2d, adaptive_avg_pool2d, upsample_nearest2d | `quantized::max_pool2d` ... |
//! | [`nchw`], [`op_error`] | NCHW shapes and the error of the elementwise/pooling kernels | |
//!
//! The elementwise, activation and pooling kernels follow ATen's quantized CPU kernels (what
//! PyTorch runs for them with the fbgemm engine): fused multiply-add where PyTorch fuses, inverse
//! scales computed in `f32` or `f64` exactly as PyTorch does, round-half-to-even.
//!
//! # ISA selection
//!
//! The fastest available path is detected once. The environment variable
//! `QKERNELS_X86_ISA=scalar|avx2|avx512vnni` forces a path; an unknown or
//! unavailable value falls back to the best available one and
//! [`isa::isa_selection`] reports it. Every kernel also has a `..._with_isa`
//! entry (it returns [`KernelError::IsaUnavailable`] for a path the CPU lacks),
//! and [`isa::available_isas`] lists the paths this CPU runs.
//!
//! # Exactness and `reduce_range`
//!
//! fbgemm's AVX2 kernels multiply u8 x s8 with `vpmaddubsw`, which adds two
//! products into a *saturating* 16-bit integer; 255 * 127 * 2 overflows it.
//! That is why PyTorch's fbgemm qconfigs quantize activations to 7 bits
//! (`reduce_range=True`). This crate never saturates: the AVX2 path widens to
//! 16 bits and uses `vpmaddwd` (exact i32 pair sums), the VNNI path uses
//! `vpdpbusd` (exact), and the scalar path uses i32. All accumulate with
//! wrapping i32 additions, so every path returns the same bits for all 8-bit
//! inputs, with or without `reduce_range`.
//!
//! # Output numerics
//!
//! See [`output`] for the exact per-element formula (float bias divided by
//! `act_scale * w_scale`, multiplier, round-half-even, zero point, clamp).
//! The conformance fixtures (PyTorch 2.11, fbgemm engine) for linear,
//! linear_relu, linear_dynamic, conv1d/2d/3d, conv2d_relu and
//! conv_transpose2d are matched exactly on every ISA.
//!
//! # Known differences from PyTorch
//!
//! - PyTorch's fbgemm AVX2 kernels saturate u8 x s8 pair sums to i16; ours do
//!   not, so on AVX2-only CPUs results differ from PyTorch's when activations
//!   use the full 8-bit range (not with `reduce_range`, PyTorch's default).
//! - fbgemm's depthwise kernel requantizes the last `C % 8` channels with a
//!   scalar loop that divides the bias instead of multiplying by a reciprocal
//!   and does not fuse the multiply-add; for per-tensor weights that can move
//!   a value by one quantum in rare ties. We use the vector formula for every
//!   channel.
//! - Per-channel quantization of a transposed convolution weight is taken
//!   along the output channels (`O` scales).
//! - Bias, scales and dynamic activations must be finite (an error otherwise);
//!   PyTorch would propagate NaN/Inf.

pub mod activation;
pub mod conv;
pub mod elementwise;
pub mod error;
pub mod gemm;
pub mod isa;
pub mod linear;
pub mod nchw;
pub mod op_error;
pub mod output;
pub mod peak;
pub mod pool;
pub mod quant;
mod quantize;
pub mod reference;

pub use conv::{
    quantized_conv, quantized_conv_with_isa, ConvParams, PackedConvWeight, QuantizedOutput,
    QuantizedTensorView,
};
pub use error::{KernelError, Result};
pub use gemm::PackedWeight;
pub use isa::{active_isa, available_isas, isa_selection, Isa};
pub use linear::{
    dynamic_linear, dynamic_linear_with_isa, gemm_u8s8_f32, gemm_u8s8_f32_with_isa, gemm_u8s8_i32,
    gemm_u8s8_i32_with_isa, gemm_u8s8_requant, gemm_u8s8_requant_with_isa, quantize_dynamic,
    quantize_dynamic_with_isa, quantized_linear, quantized_linear_with_isa, DynamicOptions,
    QuantizedMatrix,
};
pub use output::{Activation, BiasScaling, FloatPipeline, Granular, OutputPipeline, PipelineBias};
pub use qtensor::threads::{num_threads, parallel_for};
pub use quant::{choose_qparams, find_min_max, QParams, WeightQuant};

/// Sets the number of threads the kernels (and the whole workspace) use, as
/// `torch.set_num_threads`.
pub fn set_num_threads(n: usize) -> Result<()> {
    qtensor::threads::set_num_threads(n).map_err(|e| KernelError::ThreadPool(e.0))
}
