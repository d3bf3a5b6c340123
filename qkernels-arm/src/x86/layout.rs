//! NCHW <-> NHWC copies (placeholder).
