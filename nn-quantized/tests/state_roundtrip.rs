//! Save -> load round trips of every quantized module kind: the file gives back exactly the
//! saved state, and a module of the same architecture built with other values (packed on any
//! engine) then computes bit for bit what the saved one computes on the loading engine.

mod state_common;

use nn::Module;
use nn_quantized::state::{
    as_quantized_state, as_quantized_state_mut, QStateTensor, QuantizedStateDict, StateDType,
};
use proptest::prelude::*;
use qtensor::QScheme;
use state_common::{build, engine_lock, engines, run, Arch, KINDS};

fn state_of(m: &dyn Module) -> QuantizedStateDict {
    let q = as_quantized_state(m).expect("every quantized module is registered");
    QuantizedStateDict::from_entries(q.quantized_state()).unwrap()
}

fn arch() -> impl Strategy<Value = Arch> {
    (0..KINDS, proptest::array::uniform6(0usize..4)).prop_map(|(kind, dims)| Arch { kind, dims })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn round_trip_through_the_file_is_exact_and_reproduces_outputs(
        a in arch(),
        seeds in (any::<u64>(), any::<u64>(), any::<u64>()),
        pick in (0usize..2, 0usize..2),
    ) {
        let engines = engines();
        let (packing, loading) = (engines[pick.0 % engines.len()], engines[pick.1 % engines.len()]);
        let _guard = engine_lock(loading);
        let (mut saved, x) = build(&a, seeds.0);
        let want = run(&mut saved, x.clone());
        let sd = state_of(saved.as_ref());

        let bytes = sd.to_safetensors().unwrap();
        let read = QuantizedStateDict::from_safetensors(&bytes).unwrap();
        prop_assert_eq!(&read, &sd);

        qtensor::set_engine(packing).unwrap();
        let (mut other, _) = build(&a, seeds.1);
        qtensor::set_engine(loading).unwrap();
        as_quantized_state_mut(other.as_mut()).unwrap().load_quantized_state(&read).unwrap();
        prop_assert_eq!(&state_of(other.as_ref()), &sd);
        prop_assert_eq!(run(&mut other, x), want, "{} after load", other.type_name());

        // Loading a module's own state changes nothing either.
        let (_, x2) = build(&a, seeds.2);
        let before = run(&mut other, x2.clone());
        let own = state_of(other.as_ref());
        as_quantized_state_mut(other.as_mut()).unwrap().load_quantized_state(&own).unwrap();
        prop_assert_eq!(run(&mut other, x2), before);
    }
}

#[test]
fn names_dtypes_and_schemes_are_pytorchs() {
    let _guard = engine_lock(engines()[0]);
    let expect = [
        (
            1,
            [2, 1, 0, 3, 0, 0],
            vec![
                ("weight", StateDType::QInt8),
                ("bias", StateDType::Float32),
                ("scale", StateDType::Float64),
                ("zero_point", StateDType::Int64),
            ],
        ),
        (
            3,
            [1, 2, 1, 0, 0, 0],
            vec![
                ("weight", StateDType::QInt8),
                ("scale", StateDType::Float64),
                ("zero_point", StateDType::Int64),
            ],
        ),
        (
            6,
            [2, 0, 0, 0, 0, 0],
            vec![
                ("weight", StateDType::Float32),
                ("bias", StateDType::Float32),
                ("running_mean", StateDType::Float32),
                ("running_var", StateDType::Float32),
                ("scale", StateDType::Float64),
                ("zero_point", StateDType::Int64),
            ],
        ),
        (
            0,
            [2, 0, 0, 0, 0, 0],
            vec![
                ("scale", StateDType::Float64),
                ("zero_point", StateDType::Int64),
            ],
        ),
        (19, [2, 2, 0, 0, 0, 0], vec![("weight", StateDType::QUInt8)]),
        (17, [0; 6], vec![]),
    ];
    for (kind, dims, keys) in expect {
        let (m, _) = build(&Arch { kind, dims }, 7);
        let sd = state_of(m.as_ref());
        let got: Vec<(&str, StateDType)> = sd.iter().map(|(k, v)| (k, v.dtype())).collect();
        assert_eq!(got, keys, "{}", m.type_name());
    }
    // Per-channel linear weights keep their axis and scheme; embeddings use float qparams.
    let (lin, _) = build(
        &Arch {
            kind: 1,
            dims: [2, 3, 0, 3, 0, 0],
        },
        3,
    );
    let w = state_of(lin.as_ref()).get("weight").cloned().unwrap();
    assert_eq!(w.qscheme(), Some(QScheme::PerChannelAffine));
    let QStateTensor::Quantized(q) = w else {
        panic!("quantized weight")
    };
    assert_eq!(q.q_per_channel_axis().unwrap(), 0);
    let (emb, _) = build(
        &Arch {
            kind: 20,
            dims: [1, 1, 0, 0, 0, 0],
        },
        3,
    );
    let w = state_of(emb.as_ref()).get("weight").cloned().unwrap();
    assert_eq!(w.qscheme(), Some(QScheme::PerChannelAffineFloatQParams));
}
