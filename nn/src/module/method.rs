//! [`Method`]: the operations of functional modules (`FloatFunctional` and its quantized forms).

use std::fmt;

/// A multi-input operation called through [`crate::Module::call`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Method {
    /// `add(a, b)`.
    Add,
    /// `add_relu(a, b)`: `relu(a + b)`.
    AddRelu,
    /// `mul(a, b)`.
    Mul,
    /// `cat(xs, dim)`.
    Cat {
        /// The dimension to concatenate along.
        dim: isize,
    },
    /// `add_scalar(a, s)`.
    AddScalar(f32),
    /// `mul_scalar(a, s)`.
    MulScalar(f32),
    /// `matmul(a, b)`.
    Matmul,
}

impl Method {
    /// PyTorch's method name (`"add_relu"`).
    pub fn name(&self) -> &'static str {
        match self {
            Method::Add => "add",
            Method::AddRelu => "add_relu",
            Method::Mul => "mul",
            Method::Cat { .. } => "cat",
            Method::AddScalar(_) => "add_scalar",
            Method::MulScalar(_) => "mul_scalar",
            Method::Matmul => "matmul",
        }
    }

    /// How many tensor arguments the method takes (`None` for `cat`: one or more).
    pub fn arity(&self) -> Option<usize> {
        match self {
            Method::Add | Method::AddRelu | Method::Mul | Method::Matmul => Some(2),
            Method::AddScalar(_) | Method::MulScalar(_) => Some(1),
            Method::Cat { .. } => None,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
