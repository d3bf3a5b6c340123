//! PyTorch's printed form of a module tree.

use super::Module;

/// `Name(extra)` for a leaf, `Name(\n  (child): ...\n)` with children, as `nn.Module.__repr__`.
pub(crate) fn repr(m: &dyn Module) -> String {
    let extra = m.extra_repr();
    let children = m.children();
    let mut lines: Vec<String> = Vec::new();
    if !extra.is_empty() {
        lines.extend(extra.split('\n').map(str::to_string));
    }
    let extra_only = lines.len() == 1 && children.is_empty();
    for (name, c) in &children {
        lines.push(format!("({name}): {}", indent(&repr(*c), 2)));
    }
    let mut s = format!("{}(", m.type_name());
    if extra_only {
        s.push_str(&lines[0]);
    } else if !lines.is_empty() {
        s.push_str("\n  ");
        s.push_str(&lines.join("\n  "));
        s.push('\n');
    }
    s.push(')');
    s
}

/// Indents every line but the first by `n` spaces (`_addindent`).
fn indent(s: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    let mut lines = s.split('\n');
    let mut out = lines.next().unwrap_or("").to_string();
    for l in lines {
        out.push('\n');
        out.push_str(&pad);
        out.push_str(l);
    }
    out
}
