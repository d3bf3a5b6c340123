//! The benchmark suite, the same shapes as PyTorch's side (`shared/bench/torch_baseline.py`).

/// Linear shapes `(M, K, N)`: batch, in_features, out_features.
pub const LINEAR: &[(usize, usize, usize)] = &[
    (1, 768, 768),
    (1, 4096, 4096),
    (16, 1024, 1024),
    (64, 768, 3072),
    (128, 1024, 1024),
    (512, 2048, 2048),
];

/// A conv2d case of the suite.
#[derive(Debug, Clone, Copy)]
pub struct ConvCase {
    /// Batch.
    pub n: usize,
    /// Input channels.
    pub c: usize,
    /// Input height.
    pub h: usize,
    /// Input width.
    pub w: usize,
    /// Output channels.
    pub o: usize,
    /// Square kernel size (padding is `k / 2`).
    pub k: usize,
    /// Stride.
    pub stride: usize,
    /// Groups.
    pub groups: usize,
}

impl ConvCase {
    /// Output height and width.
    pub fn out_hw(&self) -> (usize, usize) {
        let pad = self.k / 2;
        (
            (self.h + 2 * pad - self.k) / self.stride + 1,
            (self.w + 2 * pad - self.k) / self.stride + 1,
        )
    }

    /// The suite's shape string, `NxCxHxW->OkKsSgG`.
    pub fn shape(&self) -> String {
        format!(
            "{}x{}x{}x{}->{}k{}s{}g{}",
            self.n, self.c, self.h, self.w, self.o, self.k, self.stride, self.groups
        )
    }

    /// Operations counted per run: `2*N*O*Ho*Wo*(C/groups)*k*k`.
    pub fn ops(&self) -> f64 {
        let (ho, wo) = self.out_hw();
        2.0 * (self.n * self.o * ho * wo * (self.c / self.groups) * self.k * self.k) as f64
    }
}

/// Conv2d cases `(N, C, H, W, O, k, stride, groups)`, as in the baseline script.
const CONV2D_TABLE: &[[usize; 8]] = &[
    [1, 64, 56, 56, 64, 3, 1, 1],
    [1, 256, 14, 14, 256, 3, 1, 1],
    [8, 32, 32, 32, 64, 3, 1, 1],
    [1, 128, 56, 56, 128, 3, 1, 128],
    [1, 128, 28, 28, 256, 1, 1, 1],
    [1, 3, 224, 224, 32, 3, 2, 1],
];

/// The conv2d cases.
pub fn conv2d_cases() -> impl Iterator<Item = ConvCase> {
    CONV2D_TABLE
        .iter()
        .map(|&[n, c, h, w, o, k, stride, groups]| ConvCase {
            n,
            c,
            h,
            w,
            o,
            k,
            stride,
            groups,
        })
}
