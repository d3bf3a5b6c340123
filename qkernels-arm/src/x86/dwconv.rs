//! AVX-512 depthwise convolution (placeholder).
