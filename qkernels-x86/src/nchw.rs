//! NCHW shapes for the spatial kernels.

use crate::op_error::OpError;

/// Shape of a dense row-major (contiguous) NCHW tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Nchw {
    /// Batch size.
    pub n: usize,
    /// Channels.
    pub c: usize,
    /// Height.
    pub h: usize,
    /// Width.
    pub w: usize,
}

impl Nchw {
    /// A shape from its four sizes.
    pub const fn new(n: usize, c: usize, h: usize, w: usize) -> Self {
        Nchw { n, c, h, w }
    }

    /// Builds a shape from a 4-element slice such as `[2, 3, 8, 8]`.
    pub fn from_slice(dims: &[usize]) -> Result<Self, OpError> {
        match dims {
            [n, c, h, w] => Ok(Nchw::new(*n, *c, *h, *w)),
            _ => Err(OpError::ShapeMismatch(format!(
                "expected a 4-d NCHW shape, got {dims:?}"
            ))),
        }
    }

    /// The four sizes in order.
    pub const fn dims(&self) -> [usize; 4] {
        [self.n, self.c, self.h, self.w]
    }

    /// Number of elements, or an error if it overflows.
    pub fn numel(&self) -> Result<usize, OpError> {
        self.n
            .checked_mul(self.c)
            .and_then(|v| v.checked_mul(self.h))
            .and_then(|v| v.checked_mul(self.w))
            .ok_or_else(|| OpError::Overflow(format!("{:?}", self.dims())))
    }

    /// Number of `h x w` planes (`n * c`).
    pub fn planes(&self) -> usize {
        self.n * self.c
    }

    /// Checks that `len` equals the element count.
    pub fn check_len(&self, what: &'static str, len: usize) -> Result<(), OpError> {
        let expected = self.numel()?;
        if expected != len {
            return Err(OpError::LengthMismatch {
                what,
                expected,
                actual: len,
            });
        }
        Ok(())
    }
}
