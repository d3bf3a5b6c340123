//! `QConfigMapping` precedence (PyTorch's: global < object type < module name regex < module
//! name < module name + object type + index), the `qconfig_dict` form, the default mappings,
//! and the qconfig each node of a traced model gets.

use quantization::fx::{
    get_default_qat_qconfig_mapping, get_default_qconfig_mapping, Function, ObjectType,
    QConfigDict, QConfigMapping,
};
use quantization::qconfig::{
    default_dynamic_qconfig, default_per_channel_qconfig, default_qconfig,
};
use quantization::{get_default_qconfig, Backend, QConfig, QConfigEntry};

fn q(i: usize) -> QConfig {
    [
        default_qconfig(),
        default_per_channel_qconfig(),
        get_default_qconfig(Backend::Qnnpack),
        default_dynamic_qconfig(),
    ][i]
        .clone()
}

#[test]
fn precedence_is_pytorchs() {
    let m = QConfigMapping::new().set_global(Some(q(0)));
    assert_eq!(m.module_qconfig("a.b", "Linear"), Some(q(0)));
    let m = m.set_object_type(ObjectType::module("Linear"), Some(q(1)));
    assert_eq!(m.module_qconfig("a.b", "Linear"), Some(q(1)));
    assert_eq!(m.module_qconfig("a.c", "Conv2d"), Some(q(0)));
    let m = m.set_module_name_regex("a\\.", Some(q(2))).unwrap();
    assert_eq!(
        m.module_qconfig("a.b", "Linear"),
        Some(q(2)),
        "regex beats object type"
    );
    assert_eq!(
        m.module_qconfig("xa.b", "Linear"),
        Some(q(1)),
        "regex matches from the start"
    );
    let m = m.set_module_name("a", None);
    assert_eq!(
        m.module_qconfig("a.b", "Linear"),
        None,
        "a parent's module name beats regex"
    );
    let m = m.set_module_name("a.b", Some(q(3)));
    assert_eq!(
        m.module_qconfig("a.b", "Linear"),
        Some(q(3)),
        "the closest module name wins"
    );
    // Module name + object type + index beats everything, for that call only.
    let m = m.set_module_name_object_type_order("a", ObjectType::module("Linear"), 1, Some(q(0)));
    assert_eq!(m.module_qconfig_at("a.b", "Linear", 0), Some(q(3)));
    assert_eq!(m.module_qconfig_at("a.b", "Linear", 1), Some(q(0)));
}

#[test]
fn functions_use_their_module_scope() {
    let add = ObjectType::Function(Function::Add);
    let m = QConfigMapping::new()
        .set_global(Some(q(0)))
        .set_object_type(Function::Add, Some(q(1)));
    assert_eq!(m.function_qconfig(&add, "", "Net", 0), Some(q(1)));
    assert_eq!(
        m.function_qconfig(&ObjectType::Function(Function::Cat), "", "Net", 0),
        Some(q(0))
    );
    // The enclosing module's name (and type) override the function's type.
    let m = m.set_module_name("block", None);
    assert_eq!(m.function_qconfig(&add, "block", "Block", 0), None);
    assert_eq!(m.function_qconfig(&add, "", "Net", 0), Some(q(1)));
    let m = m.set_object_type(ObjectType::module("Block2"), Some(q(2)));
    assert_eq!(m.function_qconfig(&add, "b2", "Block2", 0), Some(q(2)));
    // By call index within the module.
    let m = m.set_module_name_object_type_order("", Function::Add, 2, None);
    assert_eq!(m.function_qconfig(&add, "", "Net", 1), Some(q(1)));
    assert_eq!(m.function_qconfig(&add, "", "Net", 2), None);
    // Methods by name.
    let m = m.set_object_type(ObjectType::method("reshape"), None);
    assert_eq!(m.method_qconfig("reshape", "", "Net"), None);
    assert_eq!(m.method_qconfig("flatten", "", "Net"), Some(q(0)));
}

#[test]
fn later_entries_replace_earlier_ones_and_the_dict_form_round_trips() {
    let m = QConfigMapping::new()
        .set_global(Some(q(0)))
        .set_object_type(ObjectType::module("Linear"), Some(q(1)))
        .set_object_type(ObjectType::module("Linear"), Some(q(2)))
        .set_module_name_regex("x.*", None)
        .unwrap()
        .set_module_name("fc", Some(q(3)))
        .set_module_name_object_type_order("", Function::Add, 0, None);
    assert_eq!(m.module_qconfig("lin", "Linear"), Some(q(2)));
    let d = m.to_qconfig_dict();
    assert_eq!(d.object_type.len(), 1);
    let back = QConfigMapping::from_qconfig_dict(&d).unwrap();
    assert_eq!(back, m);
    let bad = QConfigDict {
        module_name_regex: vec![("(".into(), None)],
        ..QConfigDict::default()
    };
    assert!(QConfigMapping::from_qconfig_dict(&bad).is_err());
    assert!(QConfigMapping::new()
        .set_module_name_regex("[a-", None)
        .is_err());
}

#[test]
fn default_mappings_have_fixed_qparams_and_backend_specifics() {
    let fb = get_default_qconfig_mapping(Backend::Fbgemm);
    assert_eq!(fb.global(), Some(&get_default_qconfig(Backend::Fbgemm)));
    let sig = fb
        .function_qconfig(&ObjectType::Function(Function::Sigmoid), "", "Net", 0)
        .unwrap();
    match &sig.activation {
        QConfigEntry::Observer(s) => assert_eq!(s.class_name(), "FixedQParamsObserver"),
        other => panic!("{other:?}"),
    }
    // fbgemm's transposed convolutions get per-tensor weights.
    let t = fb.module_qconfig("up", "ConvTranspose2d").unwrap();
    assert_ne!(t.weight, get_default_qconfig(Backend::Fbgemm).weight);
    let qn = get_default_qconfig_mapping(Backend::Qnnpack);
    assert_eq!(
        qn.module_qconfig("up", "ConvTranspose2d"),
        Some(get_default_qconfig(Backend::Qnnpack))
    );
    let qat = get_default_qat_qconfig_mapping(Backend::Fbgemm);
    assert!(matches!(
        qat.global().unwrap().activation,
        QConfigEntry::FakeQuantize(_)
    ));
    let tanh = qat.method_qconfig("tanh", "", "Net").unwrap();
    assert!(matches!(tanh.activation, QConfigEntry::FakeQuantize(_)));
}
