//! Shared helpers for the save / load tests: a deterministic generator, random quantized
//! modules of every kind (two of the same architecture with different values), a way to run
//! any of them, and the engine lock.
#![allow(dead_code)]

use std::sync::{Mutex, MutexGuard};

use ndarray::{ArrayD, IxDyn};
use nn::{Method, Module, Tensor, Value};
use nn_quantized::functional::{BagMode, ConvOptions};
use nn_quantized::modules as nnq;
use qtensor::{
    quantize_per_channel, quantize_per_channel_float_qparams, quantize_per_tensor, Engine, QDType,
    QTensor,
};

/// Serializes the tests of one binary that set the process-wide engine.
pub fn engine_lock(engine: Engine) -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    qtensor::set_engine(engine).unwrap();
    guard
}

/// The engines this build runs.
pub fn engines() -> Vec<Engine> {
    qtensor::supported_engines().to_vec()
}

/// A small deterministic generator (64-bit LCG).
pub struct Lcg(pub u64);

impl Lcg {
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// An integer in 0..n.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.unit() * n as f32) as usize).min(n.saturating_sub(1))
    }

    /// A tensor of values in [-spread, spread).
    pub fn array(&mut self, shape: &[usize], spread: f32) -> ArrayD<f32> {
        let n = shape.iter().product();
        let v = (0..n).map(|_| self.range(-spread, spread)).collect();
        ArrayD::from_shape_vec(IxDyn(shape), v).unwrap()
    }

    /// `n` values in [lo, hi).
    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.range(lo, hi)).collect()
    }

    /// A qint8 weight, per-channel along axis 0 when `per_channel`.
    pub fn weight(&mut self, shape: &[usize], per_channel: bool) -> QTensor {
        let w = self.array(shape, 1.0);
        if per_channel {
            let scales: Vec<f64> = (0..shape[0])
                .map(|_| f64::from(self.range(0.002, 0.02)))
                .collect();
            let zps: Vec<i64> = (0..shape[0]).map(|_| self.below(5) as i64 - 2).collect();
            quantize_per_channel(w.view(), &scales, &zps, 0, QDType::QInt8).unwrap()
        } else {
            let zp = self.below(5) as i64 - 2;
            quantize_per_tensor(
                w.view(),
                f64::from(self.range(0.004, 0.02)),
                zp,
                QDType::QInt8,
            )
            .unwrap()
        }
    }

    /// Output parameters (scale, quint8 zero point).
    pub fn out(&mut self) -> (f64, i64) {
        (f64::from(self.range(0.01, 0.2)), self.below(256) as i64)
    }

    /// A quint8 activation.
    pub fn input(&mut self, shape: &[usize]) -> QTensor {
        let x = self.array(shape, 2.0);
        quantize_per_tensor(x.view(), 0.02, 120 + self.below(16) as i64, QDType::QUInt8).unwrap()
    }
}

/// The architecture of a random quantized module: the kind and its sizes.
#[derive(Debug, Clone)]
pub struct Arch {
    /// Which module.
    pub kind: usize,
    /// Sizes and switches (channels, features, groups, bias, per-channel ...).
    pub dims: [usize; 6],
}

/// Number of module kinds [`build`] knows.
pub const KINDS: usize = 22;

fn conv_opts(dims: usize, d: &[usize; 6], transposed: bool) -> ConvOptions {
    let mut o = ConvOptions::new(dims);
    o.stride = vec![1 + d[4] % 2; dims];
    o.padding = vec![d[5] % 2; dims];
    o.groups = 1 + d[3] % 2;
    if transposed {
        o.transposed = Some(vec![0; dims]);
    }
    o
}

/// A module of architecture `a` with values drawn from `seed`, and an input for it.
pub fn build(a: &Arch, seed: u64) -> (Box<dyn Module>, Value) {
    let mut g = Lcg(seed);
    let d = &a.dims;
    let (c, f) = (1 + d[0], 1 + d[1]);
    let bias = d[2].is_multiple_of(2);
    let per_channel = d[3] >= 2;
    let q = |g: &mut Lcg, shape: &[usize]| Value::Quant(g.input(shape));
    match a.kind {
        0 => {
            let dtype = if bias { QDType::QUInt8 } else { QDType::QInt8 };
            let zp = g.below(100) as i64 + if bias { 0 } else { -50 };
            let m = nnq::Quantize::new(f64::from(g.range(0.01, 0.1)), zp, dtype).unwrap();
            (
                Box::new(m),
                Value::Float(Tensor::new(g.array(&[2, c], 3.0))),
            )
        }
        1 => {
            let w = g.weight(&[f, c], per_channel);
            let b = g.vec(f, -1.0, 1.0);
            let (s, z) = g.out();
            let m = nnq::Linear::new(&w, bias.then_some(&b[..]), s, z).unwrap();
            (Box::new(m), q(&mut g, &[1 + d[4], c]))
        }
        k @ 2..=5 => {
            let (dims, transposed) = [(1, false), (2, false), (3, false), (2, true)][k - 2];
            let o = conv_opts(dims, d, transposed);
            let (cin, cout) = (c * o.groups, f * o.groups);
            let ks = 1 + d[4] % 3;
            let mut shape = if transposed {
                vec![cin, cout / o.groups]
            } else {
                vec![cout, cin / o.groups]
            };
            shape.extend(std::iter::repeat_n(ks, dims));
            let w = g.weight(&shape, per_channel && !transposed);
            let b = g.vec(cout, -1.0, 1.0);
            let (s, z) = g.out();
            let bias = bias.then_some(&b[..]);
            let m: Box<dyn Module> = match k {
                2 => Box::new(nnq::Conv1d::new(&w, bias, o, s, z).unwrap()),
                3 => Box::new(nnq::Conv2d::new(&w, bias, o, s, z).unwrap()),
                4 => Box::new(nnq::Conv3d::new(&w, bias, o, s, z).unwrap()),
                _ => Box::new(nnq::ConvTranspose2d::new(&w, bias, o, s, z).unwrap()),
            };
            let mut xs = vec![1, cin];
            xs.extend(std::iter::repeat_n(ks + 2, dims));
            (m, q(&mut g, &xs))
        }
        k @ 6..=7 => {
            let stats = nnq::BatchNormStats {
                weight: g.vec(c, 0.5, 1.5),
                bias: g.vec(c, -0.5, 0.5),
                running_mean: g.vec(c, -0.5, 0.5),
                running_var: g.vec(c, 0.5, 2.0),
                eps: 1e-5,
            };
            let (s, z) = g.out();
            if k == 6 {
                let m = nnq::BatchNorm2d::new(stats, s, z).unwrap();
                (Box::new(m), q(&mut g, &[2, c, 3, 2]))
            } else {
                let m = nnq::BatchNorm3d::new(stats, s, z).unwrap();
                (Box::new(m), q(&mut g, &[1, c, 2, 2, 3]))
            }
        }
        8 => {
            let shape = [c, f];
            let (w, b) = (g.vec(c * f, 0.5, 1.5), g.vec(c * f, -0.5, 0.5));
            let (s, z) = g.out();
            let (w, b) = if bias {
                (Some(w), Some(b))
            } else {
                (None, None)
            };
            let m = nnq::LayerNorm::new(&shape, w, b, 1e-5, s, z).unwrap();
            (Box::new(m), q(&mut g, &[2, c, f]))
        }
        9 => {
            let groups = 1 + d[3] % 2;
            let ch = c * groups;
            let (w, b) = (g.vec(ch, 0.5, 1.5), g.vec(ch, -0.5, 0.5));
            let (s, z) = g.out();
            let (w, b) = if bias {
                (Some(w), Some(b))
            } else {
                (None, None)
            };
            let m = nnq::GroupNorm::new(groups, ch, w, b, 1e-5, s, z).unwrap();
            (Box::new(m), q(&mut g, &[2, ch, 3]))
        }
        k @ 10..=12 => {
            let (w, b) = (g.vec(c, 0.5, 1.5), g.vec(c, -0.5, 0.5));
            let (s, z) = g.out();
            let (w, b) = if bias {
                (Some(w), Some(b))
            } else {
                (None, None)
            };
            match k {
                10 => (
                    Box::new(nnq::InstanceNorm1d::new(c, w, b, 1e-5, s, z).unwrap()),
                    q(&mut g, &[2, c, 4]),
                ),
                11 => (
                    Box::new(nnq::InstanceNorm2d::new(c, w, b, 1e-5, s, z).unwrap()),
                    q(&mut g, &[2, c, 3, 2]),
                ),
                _ => (
                    Box::new(nnq::InstanceNorm3d::new(c, w, b, 1e-5, s, z).unwrap()),
                    q(&mut g, &[1, c, 2, 2, 2]),
                ),
            }
        }
        k @ 13..=16 => {
            let (s, z) = g.out();
            let m: Box<dyn Module> = match k {
                13 => Box::new(nnq::Hardswish::new(s, z).unwrap()),
                // qnnpack runs sigmoid with its fixed output parameters only.
                14 => Box::new(nnq::Sigmoid::new(1.0 / 256.0, 0).unwrap()),
                15 => Box::new(nnq::ELU::new(s, z, 0.5 + d[4] as f64).unwrap()),
                _ => Box::new(nnq::LeakyReLU::new(s, z, 0.01 * (1 + d[4]) as f64).unwrap()),
            };
            (m, q(&mut g, &[2, c]))
        }
        17 => {
            let m: Box<dyn Module> = match d[4] % 4 {
                0 => Box::new(nnq::ReLU6::new()),
                1 => Box::new(nnq::Tanh::new()),
                2 => Box::new(nnq::Dropout::new(0.5)),
                _ => Box::new(nnq::DeQuantize::new()),
            };
            (m, q(&mut g, &[2, c]))
        }
        18 => {
            let (s, z) = g.out();
            (
                Box::new(nnq::QFunctional::new(s, z).unwrap()),
                q(&mut g, &[2, c]),
            )
        }
        k @ 19..=21 => {
            let rows = f + 1;
            let table = g.array(&[rows, c], 1.0);
            let scales = g.vec(rows, 0.004, 0.01);
            let zps = g.vec(rows, 100.0, 150.0);
            let w =
                quantize_per_channel_float_qparams(table.view(), &scales, &zps, 0, QDType::QUInt8)
                    .unwrap();
            let idx: Vec<f32> = (0..2 * (1 + d[4])).map(|_| g.below(rows) as f32).collect();
            let x = Value::Float(Tensor::new(
                ArrayD::from_shape_vec(IxDyn(&[2, 1 + d[4]]), idx).unwrap(),
            ));
            let m: Box<dyn Module> = match k {
                19 => Box::new(nnq::Embedding::new(&w).unwrap()),
                20 => Box::new(nnq::EmbeddingBag::new(&w, false).unwrap()),
                _ => Box::new(
                    nnq::EmbeddingBag::new(&w, false)
                        .unwrap()
                        .with_mode(BagMode::Mean),
                ),
            };
            (m, x)
        }
        k => panic!("no module kind {k}"),
    }
}

/// The output of `m` on `x` as comparable integers: quantized values with the bits of their
/// parameters, or the bits of float values.
pub fn run(m: &mut Box<dyn Module>, x: Value) -> Vec<i64> {
    let y = if m.type_name() == "QFunctional" {
        m.call(Method::Add, vec![x.clone(), x]).unwrap()
    } else {
        m.forward(x).unwrap()
    };
    bits(&y)
}

/// A value as comparable integers.
pub fn bits(y: &Value) -> Vec<i64> {
    match y {
        Value::Quant(q) => {
            let mut v: Vec<i64> = q.int_repr().to_i64().iter().copied().collect();
            v.push(q.q_scale().unwrap().to_bits() as i64);
            v.push(q.q_zero_point().unwrap());
            v
        }
        Value::Float(t) => t.to_vec().iter().map(|f| i64::from(f.to_bits())).collect(),
        Value::Tuple(_) => panic!("tuple output"),
    }
}
