//! Spatial operators on NCHW data: `max_pool2d`, `avg_pool2d`,
//! `adaptive_avg_pool2d` and nearest-neighbour `upsample_nearest2d`.
//!
//! All keep the input's quantization parameters (as PyTorch does) and follow
//! the contiguous-NCHW code paths of PyTorch 2.11's quantized CPU operators
//! (`spatial_dilated_max_pooling`, `avg_pool2d_out_frame`,
//! `adaptive_avg_pool_single_out_frame`, `upsample_nearest2d_out_frame`).
//! Pooling is computed separably (rows, then columns); sums and maxima are
//! exact in integers, so the order does not change any result.

mod adaptive;
mod avg_pool;
pub(crate) mod kernels;
mod max_pool;
mod upsample;
mod window;

pub use adaptive::adaptive_avg_pool2d;
pub use avg_pool::avg_pool2d;
pub use max_pool::max_pool2d;
pub use upsample::{upsample_nearest2d, UpsampleSize};
pub use window::{pooling_output_size, AvgPool2d, MaxPool2d};

#[cfg(test)]
mod tests;
