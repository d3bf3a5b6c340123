//! AArch64 NEON kernels (`std::arch::aarch64`). Each body is a `#[target_feature]` `unsafe fn`
//! behind a safe wrapper that checks every bound the body relies on; results equal the
//! portable reference bit for bit.
//!
//! Expected throughput of the 8x8 GEMM micro-kernels (checked in the generated inner loops):
//!
//! - `gemm` (plain NEON, QNNPACK's scheme): per reduction index, 16 `smlal`/`smlal2` (8 rows x
//!   8 channels = 64 MACs) plus one `usubl` for the weights; per 8 indices, 8 `ld1` + 8 `usubl`
//!   for the activations. That is 4 MACs per instruction; on a core with two 128-bit SIMD
//!   pipes (Cortex-A76 class) about 8 int8 MACs per cycle.
//! - `gemm_dot` (`udot`): per 8 reduction indices, 32 `udot` (512 MACs) plus 4 `udot` for the
//!   row sums, 4 `ldr q` for the weights and 8 `ldr d` + 4 lane moves for the activations: 16
//!   MACs per `udot`, about 32 MACs per cycle on two pipes, 4x the plain path. The zero-point
//!   terms cost one `mls` per 4 outputs per tile, independent of the reduction length.

pub(crate) mod dwconv;
pub(crate) mod gemm;
pub(crate) mod gemm_dot;
pub(crate) mod lut;
pub(crate) mod pool;
pub(crate) mod requant;
pub(crate) mod vadd;
