//! A small regular-expression matcher for `module_name_regex` entries, with Python's
//! `re.match` semantics (anchored at the start, not at the end): literals, `.`, classes
//! (`[a-z0-9_]`, `[^.]`), escapes (`\d \w \s \.`), groups with alternation (`(a|b)`),
//! quantifiers `* + ?` (greedy, with backtracking) and `^` / `$`.

use super::error::{FxError, Result};

#[derive(Debug, Clone, PartialEq)]
enum Atom {
    Char(char),
    Any,
    Class {
        ranges: Vec<(char, char)>,
        negated: bool,
    },
    Group(Vec<Vec<Piece>>),
    Start,
    End,
}

#[derive(Debug, Clone, PartialEq)]
struct Piece {
    atom: Atom,
    min: usize,
    max: Option<usize>,
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Regex {
    alternatives: Vec<Vec<Piece>>,
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    src: &'a str,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> FxError {
        FxError::Mapping(format!(
            "module_name_regex '{}': {what} at position {}",
            self.src, self.pos
        ))
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn alternatives(&mut self) -> Result<Vec<Vec<Piece>>> {
        let mut alts = vec![self.sequence()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            alts.push(self.sequence()?);
        }
        Ok(alts)
    }

    fn sequence(&mut self) -> Result<Vec<Piece>> {
        let mut seq = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            let (min, max) = match self.peek() {
                Some('*') => (0, None),
                Some('+') => (1, None),
                Some('?') => (0, Some(1)),
                _ => (1, Some(1)),
            };
            if (min, max) != (1, Some(1)) {
                self.pos += 1;
                if matches!(atom, Atom::Start | Atom::End) {
                    return Err(self.err("nothing to repeat"));
                }
            }
            seq.push(Piece { atom, min, max });
        }
        Ok(seq)
    }

    fn escape(&mut self) -> Result<Atom> {
        let c = self.peek().ok_or_else(|| self.err("trailing backslash"))?;
        self.pos += 1;
        let class = |ranges: Vec<(char, char)>, negated| Atom::Class { ranges, negated };
        Ok(match c {
            'd' => class(vec![('0', '9')], false),
            'D' => class(vec![('0', '9')], true),
            'w' => class(word(), false),
            'W' => class(word(), true),
            's' => class(vec![(' ', ' '), ('\t', '\r')], false),
            'S' => class(vec![(' ', ' '), ('\t', '\r')], true),
            other => Atom::Char(other),
        })
    }

    fn atom(&mut self) -> Result<Atom> {
        let c = self.peek().ok_or_else(|| self.err("unexpected end"))?;
        self.pos += 1;
        Ok(match c {
            '.' => Atom::Any,
            '^' => Atom::Start,
            '$' => Atom::End,
            '\\' => self.escape()?,
            '(' => {
                if self.chars.get(self.pos..self.pos + 2) == Some(&['?', ':']) {
                    self.pos += 2;
                }
                let alts = self.alternatives()?;
                if self.peek() != Some(')') {
                    return Err(self.err("missing ')'"));
                }
                self.pos += 1;
                Atom::Group(alts)
            }
            '[' => self.class()?,
            '*' | '+' | '?' => return Err(self.err("nothing to repeat")),
            ')' => return Err(self.err("unbalanced ')'")),
            other => Atom::Char(other),
        })
    }

    fn class(&mut self) -> Result<Atom> {
        let negated = self.peek() == Some('^');
        if negated {
            self.pos += 1;
        }
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let c = self.peek().ok_or_else(|| self.err("missing ']'"))?;
            self.pos += 1;
            if c == ']' && !first {
                break;
            }
            first = false;
            let lo = if c == '\\' {
                match self.escape()? {
                    Atom::Char(ch) => ch,
                    Atom::Class {
                        ranges: r,
                        negated: false,
                    } => {
                        ranges.extend(r);
                        continue;
                    }
                    _ => return Err(self.err("unsupported escape in a class")),
                }
            } else {
                c
            };
            if self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|&n| n != ']') {
                let hi = self.chars[self.pos + 1];
                self.pos += 2;
                if hi < lo {
                    return Err(self.err("bad character range"));
                }
                ranges.push((lo, hi));
            } else {
                ranges.push((lo, lo));
            }
        }
        Ok(Atom::Class { ranges, negated })
    }
}

fn word() -> Vec<(char, char)> {
    vec![('a', 'z'), ('A', 'Z'), ('0', '9'), ('_', '_')]
}

impl Regex {
    /// Compiles `pattern`; errors name what is wrong.
    pub(crate) fn new(pattern: &str) -> Result<Regex> {
        let mut p = Parser {
            chars: pattern.chars().collect(),
            pos: 0,
            src: pattern,
        };
        let alternatives = p.alternatives()?;
        if p.pos != p.chars.len() {
            return Err(p.err("unbalanced ')'"));
        }
        Ok(Regex { alternatives })
    }

    /// Python's `re.match(pattern, text) is not None`: a match starting at the beginning.
    pub(crate) fn is_match_at_start(&self, text: &str) -> bool {
        let chars: Vec<char> = text.chars().collect();
        let mut done = |_: usize| true;
        match_alts(&self.alternatives, &chars, 0, &mut done)
    }
}

fn match_alts(
    alts: &[Vec<Piece>],
    s: &[char],
    pos: usize,
    k: &mut dyn FnMut(usize) -> bool,
) -> bool {
    alts.iter().any(|seq| match_seq(seq, s, pos, k))
}

fn match_seq(seq: &[Piece], s: &[char], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    let Some((first, rest)) = seq.split_first() else {
        return k(pos);
    };
    match_piece(first, 0, s, pos, &mut |p| match_seq(rest, s, p, k))
}

/// Matches `piece` (already matched `count` times) greedily, then the continuation.
fn match_piece(
    piece: &Piece,
    count: usize,
    s: &[char],
    pos: usize,
    k: &mut dyn FnMut(usize) -> bool,
) -> bool {
    let can_more = piece.max.is_none_or(|m| count < m);
    if can_more {
        let mut more = |p: usize| {
            // An empty optional iteration would loop forever; required ones (anchors) are fine.
            (p != pos || count < piece.min) && match_piece(piece, count + 1, s, p, k)
        };
        if match_atom(&piece.atom, s, pos, &mut more) {
            return true;
        }
    }
    count >= piece.min && k(pos)
}

fn match_atom(atom: &Atom, s: &[char], pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    match atom {
        Atom::Char(c) => s.get(pos) == Some(c) && k(pos + 1),
        Atom::Any => s.get(pos).is_some_and(|&c| c != '\n') && k(pos + 1),
        Atom::Class { ranges, negated } => {
            s.get(pos)
                .is_some_and(|&c| ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated)
                && k(pos + 1)
        }
        Atom::Group(alts) => match_alts(alts, s, pos, k),
        Atom::Start => pos == 0 && k(pos),
        Atom::End => pos == s.len() && k(pos),
    }
}

#[cfg(test)]
mod tests {
    use super::Regex;

    fn m(p: &str, t: &str) -> bool {
        Regex::new(p).unwrap().is_match_at_start(t)
    }

    #[test]
    fn python_re_match_semantics() {
        assert!(m("conv", "conv1"));
        assert!(!m("conv", "block.conv1"));
        assert!(m("block\\.conv\\d+$", "block.conv12"));
        assert!(!m("block\\.conv\\d+$", "block.conv12x"));
        assert!(m(".*conv", "block.conv1"));
        assert!(m("(fc|head)\\.[0-9]+", "head.3"));
        assert!(!m("(fc|head)\\.[0-9]+", "body.3"));
        assert!(m("layer[^.]*\\.0", "layer12.0"));
        assert!(!m("layer[^.]*\\.0", "layer1.x.0"));
        assert!(m("a?b+c*$", "bbb"));
        assert!(m("(a|ab)c", "abc"), "backtracks into the group");
        assert!(m("(?:x)*y", "xxy"));
        assert!(!m("^$", "a"));
        assert!(m("", "anything"));
    }

    #[test]
    fn bad_patterns_are_errors() {
        for p in ["(", "a)", "[a-", "*a", "a**", "[z-a]"] {
            assert!(Regex::new(p).is_err(), "{p}");
        }
    }
}
