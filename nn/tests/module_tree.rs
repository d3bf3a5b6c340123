//! The module tree: derive on nested user structs, names, replacement, modes, errors, printing.

use ndarray::{ArrayD, IxDyn};
use nn::prelude::*;
use nn::{FloatFunctional, Forward, Identity, ModuleDict, ModuleList, NnError, FIX_DEQUANT};
use qtensor::{quantize_per_tensor, QDType};

/// A hand-written leaf module: `y = x * weight + bias` over the last dimension, counting its
/// calls in a buffer (state that forward changes).
struct Affine {
    weight: Tensor,
    bias: Tensor,
    calls: Tensor,
    training: bool,
}

impl Affine {
    fn new(n: usize, w: f32, b: f32) -> Affine {
        Affine {
            weight: Tensor::parameter(ArrayD::from_elem(IxDyn(&[n]), w)),
            bias: Tensor::parameter(ArrayD::from_elem(IxDyn(&[n]), b)),
            calls: Tensor::zeros(&[]),
            training: true,
        }
    }
}

impl Module for Affine {
    fn type_name(&self) -> &'static str {
        "Affine"
    }
    fn forward(&mut self, input: Value) -> nn::Result<Value> {
        let x = input.into_float("Affine")?;
        let n = self.weight.len();
        if x.shape().last() != Some(&n) {
            return Err(NnError::input_shape(
                "Affine",
                format!("(*, {n})"),
                &x.shape(),
            ));
        }
        self.calls.update_data(|d| d.mapv_inplace(|v| v + 1.0));
        Ok(Value::Float(x.mul(&self.weight)?.add(&self.bias)?))
    }
    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        vec![
            ("weight".into(), self.weight.clone()),
            ("bias".into(), self.bias.clone()),
        ]
    }
    fn local_buffers(&self) -> Vec<(String, Buffer)> {
        vec![("calls".into(), Buffer::Float(self.calls.clone()))]
    }
    fn is_training(&self) -> bool {
        self.training
    }
    fn set_training_flag(&mut self, training: bool) {
        self.training = training;
    }
    fn extra_repr(&self) -> String {
        format!("features={}", self.weight.len())
    }
}

/// A residual block: `y = fc(x); out = skip.add(x, y) * scale`.
#[derive(Module)]
struct Block {
    fc: Child,
    skip: Child,
    scale: Tensor,
    #[module(skip)]
    note: &'static str,
    training: bool,
}

impl Forward for Block {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        let y = self.fc.forward(x.clone())?;
        let sum = self.skip.add(x, y)?.into_float("Block")?;
        Ok(Value::Float(sum.mul(&self.scale)?))
    }
}

/// A model with a nested derived block, a boxed child and an optional parameter.
#[derive(Module)]
struct Net {
    stem: Child,
    block: Child,
    head: Child,
    tail: Box<dyn Module>,
    offset: Option<Tensor>,
    #[module(buffer)]
    seen: IntTensor,
}

impl Forward for Net {
    fn forward_impl(&mut self, x: Value) -> nn::Result<Value> {
        self.seen.add_assign(1);
        let x = self.stem.forward(x)?;
        let x = self.block.forward(x)?;
        let x = self.head.forward(x)?;
        let x = self.tail.forward(x)?.into_float("Net")?;
        match &self.offset {
            Some(o) => Ok(Value::Float(x.add(o)?)),
            None => Ok(Value::Float(x)),
        }
    }
}

fn net() -> Net {
    let block = Block {
        fc: Child::new(Affine::new(3, 2.0, 1.0)),
        skip: Child::new(FloatFunctional::new()),
        scale: Tensor::parameter(ArrayD::from_elem(IxDyn(&[1]), 0.5)),
        note: "residual",
        training: true,
    };
    let head = nn::Sequential::new()
        .with(Identity::new())
        .with(Affine::new(3, -1.0, 0.0));
    Net {
        stem: Child::new(Affine::new(3, 1.0, 0.5)),
        block: Child::new(block),
        head: Child::new(head),
        tail: Box::new(Identity::new()),
        offset: Some(Tensor::parameter(ArrayD::from_elem(IxDyn(&[3]), 0.25))),
        seen: IntTensor::scalar(0),
    }
}

fn input() -> Tensor {
    Tensor::from_vec(&[2, 3], vec![0.5, -1.0, 2.0, 0.0, 1.5, -0.5]).unwrap()
}

#[test]
fn derived_forward_matches_a_hand_computation() {
    let mut m = net();
    let x = input();
    let y = m
        .forward(Value::Float(x.clone()))
        .unwrap()
        .into_float("test")
        .unwrap();
    let expected: Vec<f32> = x
        .to_vec()
        .iter()
        .map(|&v| {
            let s = v * 1.0 + 0.5;
            let b = (s + (s * 2.0 + 1.0)) * 0.5;
            -b + 0.25
        })
        .collect();
    assert_eq!(y.to_vec(), expected);
    assert_eq!(m.seen.value(), 1);
    assert_eq!(
        m.block.module().downcast_ref::<Block>().unwrap().note,
        "residual"
    );
    // Gradients reach the nested parameters through the residual add.
    y.sum().backward().unwrap();
    let scale = m.get_submodule("block").unwrap().local_parameters()[0]
        .1
        .clone();
    assert!(scale.grad().is_some());
}

#[test]
fn names_follow_pytorch() {
    let m = net();
    let modules: Vec<String> = m.named_modules().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        modules,
        [
            "",
            "stem",
            "block",
            "block.fc",
            "block.skip",
            "block.skip.activation_post_process",
            "head",
            "head.0",
            "head.1",
            "tail"
        ]
    );
    let params: Vec<String> = m.named_parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        params,
        [
            "offset",
            "stem.weight",
            "stem.bias",
            "block.scale",
            "block.fc.weight",
            "block.fc.bias",
            "head.1.weight",
            "head.1.bias"
        ]
    );
    let buffers: Vec<String> = m.named_buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        buffers,
        ["seen", "stem.calls", "block.fc.calls", "head.1.calls"]
    );
    assert_eq!(m.get_submodule("block.fc").unwrap().type_name(), "Affine");
    assert_eq!(m.get_submodule("head.1").unwrap().type_name(), "Affine");
    let err = m.get_submodule("block.conv").err().unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("block (Block) has no child 'conv'") && msg.contains("fc, skip"),
        "{msg}"
    );
}

#[test]
fn replace_submodule_swaps_in_place_and_forward_uses_it() {
    let mut m = net();
    let old = m
        .replace_submodule("block.fc", Box::new(Identity::new()))
        .unwrap();
    assert_eq!(old.type_name(), "Affine");
    assert_eq!(m.get_submodule("block.fc").unwrap().type_name(), "Identity");
    let y = m
        .forward(Value::Float(input()))
        .unwrap()
        .into_float("t")
        .unwrap();
    let expected: Vec<f32> = input()
        .to_vec()
        .iter()
        .map(|&v| -((v + 0.5) * 2.0 * 0.5) + 0.25)
        .collect();
    assert_eq!(y.to_vec(), expected);
    assert!(m
        .replace_submodule("block.nope", Box::new(Identity::new()))
        .is_err());
    assert!(m.replace_submodule("", Box::new(Identity::new())).is_err());
    // Mutable access and downcasting.
    let head = m.get_submodule_mut("head").unwrap();
    assert!(head.downcast_mut::<nn::Sequential>().is_some());
}

#[test]
fn train_and_eval_reach_every_module() {
    let mut m = net();
    m.eval();
    assert!(m.named_modules().iter().all(|(_, x)| !x.is_training()));
    m.train(true);
    assert!(m.named_modules().iter().all(|(_, x)| x.is_training()));
    let mut paths = Vec::new();
    m.visit_mut(&mut |p, _| paths.push(p.to_string()));
    assert_eq!(paths.len(), m.named_modules().len());
}

#[test]
fn quantized_input_error_names_path_and_fix_and_leaves_state() {
    let mut m = net();
    let q = quantize_per_tensor(input().to_array().view(), 0.1, 0, QDType::QInt8).unwrap();
    let err = m.forward(Value::Quant(q)).unwrap_err();
    assert_eq!(err.module_path(), Some("stem"));
    assert!(
        matches!(err.root(), NnError::QuantizedInput { module, fix, .. } if module.as_str() == "Affine" && *fix == FIX_DEQUANT)
    );
    let msg = err.to_string();
    assert!(
        msg.contains("'stem'") && msg.contains("DeQuantStub"),
        "{msg}"
    );
    // `seen` was incremented before the failure and is restored.
    assert_eq!(m.seen.value(), 0);

    // A shape error deep inside names the dotted path; earlier buffer updates are undone.
    let bad = Tensor::zeros(&[2, 4]);
    let mut m2 = net();
    m2.replace_submodule("stem", Box::new(Identity::new()))
        .unwrap();
    let err = m2.forward(Value::Float(bad)).unwrap_err();
    assert_eq!(err.module_path(), Some("block.fc"));
    assert!(err.to_string().contains("(*, 3)"), "{err}");
    assert_eq!(m2.seen.value(), 0);

    // A failure in the second layer of a Sequential names its index; the first layer's
    // counter is restored.
    let mut m3 = net();
    let good = m3.forward(Value::Float(input())).unwrap();
    assert!(good.as_float().is_some());
    let calls = |m: &Net| {
        m.named_buffers()
            .iter()
            .map(|(_, b)| b.as_float().map_or(0.0, |t| t.item().unwrap()))
            .sum::<f32>()
    };
    m3.replace_submodule("head.0", Box::new(Affine::new(3, 1.0, 0.0)))
        .unwrap();
    m3.replace_submodule("head.1", Box::new(Affine::new(5, 1.0, 0.0)))
        .unwrap();
    let before = calls(&m3);
    assert!(before > 0.0);
    let err = m3.forward(Value::Float(input())).unwrap_err();
    assert_eq!(err.module_path(), Some("head.1"));
    assert_eq!(calls(&m3), before);
}

#[test]
fn functional_module_errors() {
    let mut ff: Box<dyn Module> = Box::new(FloatFunctional::new());
    assert!(ff.forward(Value::Float(input())).is_err());
    let e = ff
        .add(Value::Float(input()), Value::Float(Tensor::zeros(&[4])))
        .unwrap_err();
    assert!(matches!(e, NnError::ShapeMismatch { .. }));
    let mut id: Box<dyn Module> = Box::new(Identity::new());
    let e = id
        .add(Value::Float(input()), Value::Float(input()))
        .unwrap_err();
    assert!(matches!(e, NnError::UnsupportedMethod { .. }), "{e}");
    let y = ff
        .cat(vec![Value::Float(input()), Value::Float(input())], 0)
        .unwrap();
    assert_eq!(y.shape(), Some(vec![4, 3]));
    let y = ff
        .add_relu(Value::Float(input()), Value::Float(input()))
        .unwrap();
    let expected: Vec<f32> = input()
        .to_vec()
        .iter()
        .map(|v| (2.0 * v).max(0.0))
        .collect();
    assert_eq!(y.as_float().unwrap().to_vec(), expected);
}

#[test]
fn containers_name_and_hold_children() {
    let mut list = ModuleList::new();
    list.push(Box::new(Identity::new()));
    list.push(Box::new(Affine::new(2, 1.0, 0.0)));
    assert_eq!(list.named_parameters()[0].0, "1.weight");
    let e = list
        .get_mut(1)
        .unwrap()
        .forward(Value::Float(Tensor::zeros(&[3])))
        .unwrap_err();
    assert_eq!(e.module_path(), Some("1"));
    let mut dict = ModuleDict::new();
    dict.insert("a", Box::new(Identity::new())).unwrap();
    dict.insert("b", Box::new(Affine::new(2, 1.0, 0.0)))
        .unwrap();
    assert!(dict.insert("x.y", Box::new(Identity::new())).is_err());
    assert_eq!(dict.keys(), ["a", "b"]);
    assert_eq!(dict.named_buffers()[0].0, "b.calls");
    let mut seq = nn::Sequential::new();
    seq.push_named("first", Box::new(Identity::new())).unwrap();
    assert!(seq.push_named("first", Box::new(Identity::new())).is_err());
    assert_eq!(seq.named_modules()[1].0, "first");
}

#[test]
fn prints_like_pytorch() {
    let m = net();
    let expected = "Net(
  (stem): Affine(features=3)
  (block): Block(
    (fc): Affine(features=3)
    (skip): FloatFunctional(
      (activation_post_process): Identity()
    )
  )
  (head): Sequential(
    (0): Identity()
    (1): Affine(features=3)
  )
  (tail): Identity()
)";
    assert_eq!(m.to_string(), expected);
    let boxed: Box<dyn Module> = Box::new(net());
    assert_eq!(format!("{boxed}"), expected);
}

fn assert_send<T: Send>() {}

#[test]
fn modules_are_send() {
    assert_send::<Net>();
    assert_send::<Box<dyn Module>>();
    assert_send::<Tensor>();
}
