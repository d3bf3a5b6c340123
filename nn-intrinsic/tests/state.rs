//! The fused quantized modules save and load their state under the unfused modules' names:
//! round trips are exact and reproduce the outputs on every engine, and a fused module is not
//! mistaken for the plain one.

use std::sync::{Mutex, MutexGuard};

use ndarray::{ArrayD, IxDyn};
use nn::prelude::*;
use nn_intrinsic::quantized as nniq;
use nn_quantized::functional::ConvOptions;
use nn_quantized::modules as nnq;
use nn_quantized::state::{
    as_quantized_state, load_quantized_state_dict, quantized_state_dict, QuantizedStateDict,
    StateError,
};
use proptest::prelude::*;
use qtensor::{quantize_per_channel, quantize_per_tensor, Engine, QDType, QTensor};

fn engine_lock(engine: Engine) -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    qtensor::set_engine(engine).unwrap();
    guard
}

struct Lcg(u64);

impl Lcg {
    fn unit(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
    fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| lo + (hi - lo) * self.unit()).collect()
    }
    fn array(&mut self, shape: &[usize]) -> ArrayD<f32> {
        let n = shape.iter().product();
        ArrayD::from_shape_vec(IxDyn(shape), self.vec(n, -1.0, 1.0)).unwrap()
    }
    fn weight(&mut self, shape: &[usize], per_channel: bool) -> QTensor {
        let w = self.array(shape);
        if per_channel {
            let s: Vec<f64> = self
                .vec(shape[0], 0.004, 0.02)
                .into_iter()
                .map(f64::from)
                .collect();
            quantize_per_channel(w.view(), &s, &vec![0; shape[0]], 0, QDType::QInt8).unwrap()
        } else {
            quantize_per_tensor(
                w.view(),
                f64::from(0.004 + self.unit() * 0.01),
                1,
                QDType::QInt8,
            )
            .unwrap()
        }
    }
    fn out(&mut self) -> (f64, i64) {
        (
            f64::from(0.02 + self.unit() * 0.1),
            (self.unit() * 255.0) as i64,
        )
    }
    fn input(&mut self, shape: &[usize]) -> Value {
        let x = self.array(shape).mapv(|v| v * 2.0);
        Value::Quant(quantize_per_tensor(x.view(), 0.02, 128, QDType::QUInt8).unwrap())
    }
}

/// A fused module of `kind` (0..6) with channels `c`, values from `seed`, and an input.
fn fused(kind: usize, c: usize, per_channel: bool, seed: u64) -> (Box<dyn Module>, Value) {
    let mut g = Lcg(seed);
    let (s, z) = g.out();
    match kind {
        0..=2 => {
            let dims = kind + 1;
            let mut shape = vec![c + 1, c];
            shape.extend(std::iter::repeat_n(2, dims));
            let w = g.weight(&shape, per_channel);
            let b = g.vec(c + 1, -0.5, 0.5);
            let core = nnq::ConvCore::new(&w, Some(&b), ConvOptions::new(dims), s, z).unwrap();
            let m: Box<dyn Module> = match kind {
                0 => Box::new(nniq::ConvReLU1d::new(core)),
                1 => Box::new(nniq::ConvReLU2d::new(core)),
                _ => Box::new(nniq::ConvReLU3d::new(core)),
            };
            let mut xs = vec![1, c];
            xs.extend(std::iter::repeat_n(3, dims));
            (m, g.input(&xs))
        }
        3 => {
            let w = g.weight(&[c + 2, c], per_channel);
            let lin = nnq::Linear::new(&w, None, s, z).unwrap();
            (Box::new(nniq::LinearReLU::new(lin)), g.input(&[3, c]))
        }
        _ => {
            let stats = nnq::BatchNormStats {
                weight: g.vec(c, 0.5, 1.5),
                bias: g.vec(c, -0.5, 0.5),
                running_mean: g.vec(c, -0.3, 0.3),
                running_var: g.vec(c, 0.5, 2.0),
                eps: 1e-5,
            };
            let core = nnq::BatchNormCore::new(stats, s, z).unwrap();
            if kind == 4 {
                (Box::new(nniq::BNReLU2d::new(core)), g.input(&[2, c, 2, 3]))
            } else {
                (
                    Box::new(nniq::BNReLU3d::new(core)),
                    g.input(&[1, c, 2, 2, 2]),
                )
            }
        }
    }
}

fn out_ints(m: &mut Box<dyn Module>, x: Value) -> Vec<i64> {
    let y = m.forward(x).unwrap();
    let q = y.as_quant().unwrap();
    let mut v: Vec<i64> = q.int_repr().to_i64().iter().copied().collect();
    v.push(q.q_scale().unwrap().to_bits() as i64);
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn fused_modules_round_trip_exactly_on_every_engine(
        kind in 0usize..6,
        c in 1usize..5,
        per_channel in any::<bool>(),
        seeds in (any::<u64>(), any::<u64>()),
        pick in (0usize..2, 0usize..2),
    ) {
        let engines = qtensor::supported_engines();
        let (packing, loading) = (engines[pick.0 % engines.len()], engines[pick.1 % engines.len()]);
        let _guard = engine_lock(loading);
        let (mut saved, x) = fused(kind, c, per_channel, seeds.0);
        let want = out_ints(&mut saved, x.clone());
        let sd = quantized_state_dict(saved.as_ref()).unwrap();
        let read = QuantizedStateDict::from_safetensors(&sd.to_safetensors().unwrap()).unwrap();
        prop_assert_eq!(&read, &sd);

        qtensor::set_engine(packing).unwrap();
        let (mut other, _) = fused(kind, c, per_channel, seeds.1);
        qtensor::set_engine(loading).unwrap();
        load_quantized_state_dict(other.as_mut(), &read).unwrap();
        prop_assert_eq!(quantized_state_dict(other.as_ref()).unwrap(), sd);
        prop_assert_eq!(out_ints(&mut other, x), want);
    }
}

#[derive(Module)]
struct Net {
    conv: Child,
}

impl nn::Forward for Net {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        self.conv.forward(x)
    }
}

#[test]
fn fused_modules_use_the_plain_names_but_keep_their_type() {
    let _guard = engine_lock(qtensor::default_engine());
    let (fused_conv, _) = fused(1, 2, true, 3);
    let keys: Vec<String> = as_quantized_state(fused_conv.as_ref())
        .unwrap()
        .quantized_state()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["weight", "bias", "scale", "zero_point"]);

    let fused_net = Net {
        conv: Child::from_box(fused_conv),
    };
    let sd = quantized_state_dict(&fused_net).unwrap();
    assert_eq!(
        sd.module_types(),
        [("conv".to_string(), "QuantizedConvReLU2d".to_string())]
    );
    // The same keys in a plain convolution: refused, the relu would silently be lost.
    let mut g = Lcg(4);
    let w = g.weight(&[3, 2, 2, 2], true);
    let plain = nnq::Conv2d::new(&w, Some(&[0.0; 3]), ConvOptions::new(2), 0.1, 3).unwrap();
    let mut plain_net = Net {
        conv: Child::new(plain),
    };
    let before = quantized_state_dict(&plain_net).unwrap();
    let err = load_quantized_state_dict(&mut plain_net, &sd).unwrap_err();
    assert!(matches!(err, StateError::Mismatch { .. }), "{err}");
    assert!(err.to_string().contains("QuantizedConvReLU2d"), "{err}");
    assert_eq!(quantized_state_dict(&plain_net).unwrap(), before);
}
