//! `{expr}` templates for messages, pointers and patch paths.
//!
//! `{expr}` is a CEL expression (braces inside it may nest, and quoted strings may hold any
//! character); `{{` and `}}` outside expressions are literal braces.

use std::collections::BTreeSet;

use crate::engine::cel::compile::{CompileError, CompiledExpr};

/// A parsed template.
#[derive(Debug)]
pub struct Template {
    /// Literal text and expressions, in order.
    pub segments: Vec<Segment>,
}

/// One piece of a template.
#[derive(Debug)]
pub enum Segment {
    /// Text copied as is.
    Literal(String),
    /// An expression whose value is inserted.
    Expr(Box<CompiledExpr>),
}

/// Why a template was refused.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// A `{` without its `}` or a lone `}`.
    #[error("unbalanced brace at byte {offset}")]
    Unbalanced {
        /// Byte offset in the template.
        offset: usize,
    },
    /// An embedded expression does not compile.
    #[error("in {{{expression}}}: {source}")]
    Cel {
        /// The expression text.
        expression: String,
        /// Why it failed.
        #[source]
        source: CompileError,
    },
}

impl Template {
    /// Parses `text`, compiling each `{expr}` with `compile`.
    pub fn parse(
        text: &str,
        mut compile: impl FnMut(&str) -> Result<CompiledExpr, CompileError>,
    ) -> Result<Template, TemplateError> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'{' if bytes.get(i + 1) == Some(&b'{') => {
                    literal.push('{');
                    i += 2;
                }
                b'}' if bytes.get(i + 1) == Some(&b'}') => {
                    literal.push('}');
                    i += 2;
                }
                b'}' => return Err(TemplateError::Unbalanced { offset: i }),
                b'{' => {
                    let end = expression_end(bytes, i + 1).ok_or(TemplateError::Unbalanced { offset: i })?;
                    let source = &text[i + 1..end];
                    let expr = compile(source).map_err(|source_err| TemplateError::Cel {
                        expression: source.to_owned(),
                        source: source_err,
                    })?;
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    segments.push(Segment::Expr(Box::new(expr)));
                    i = end + 1;
                }
                _ => {
                    // Copy one UTF-8 character.
                    let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
                    literal.push_str(&text[i..i + ch_len]);
                    i += ch_len;
                }
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Template { segments })
    }

    /// True when the template has no expressions.
    pub fn is_literal(&self) -> bool {
        self.segments.iter().all(|s| matches!(s, Segment::Literal(_)))
    }

    /// Pack variables read by its expressions.
    pub fn pack_variables(&self) -> BTreeSet<String> {
        self.segments
            .iter()
            .filter_map(|s| match s {
                Segment::Expr(e) => Some(e.pack_variables.iter().cloned()),
                Segment::Literal(_) => None,
            })
            .flatten()
            .collect()
    }

    /// True when one of its expressions reads `variables` other than by name.
    pub fn reads_all_variables(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, Segment::Expr(e) if e.reads_all_variables()))
    }

    /// Renders the template: `eval` appends each expression's text to the text so far.
    pub fn render(&self, mut eval: impl FnMut(&CompiledExpr, &mut String)) -> String {
        // Sized for the literal text and a short value per expression, so that most messages
        // are written without growing.
        let capacity = self
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => l.len(),
                Segment::Expr(_) => EXPRESSION_TEXT_GUESS,
            })
            .sum();
        let mut out = String::with_capacity(capacity);
        for s in &self.segments {
            match s {
                Segment::Literal(l) => out.push_str(l),
                Segment::Expr(e) => eval(e, &mut out),
            }
        }
        out
    }
}

/// Bytes a rendered template reserves for each expression's text.
const EXPRESSION_TEXT_GUESS: usize = 48;

/// Index of the `}` closing an expression starting at `start`, skipping nested braces and quotes.
fn expression_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut i = start;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(q) = quote {
            if b == b'\\' {
                i += 1;
            } else if b == q {
                quote = None;
            }
        } else {
            match b {
                b'\'' | b'"' => quote = Some(b),
                b'{' => depth += 1,
                b'}' if depth == 0 => return Some(i),
                b'}' => depth -= 1,
                _ => {}
            }
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::cel::compile::{compile, environment};

    fn parse(text: &str) -> Result<Template, TemplateError> {
        let env = environment();
        Template::parse(text, |s| compile(&env, s))
    }

    #[test]
    fn literal_braces_and_nested_expressions() {
        let t = parse("a {{b}} {object.x} { {'k': '}'}['k']} c").expect("parses");
        assert_eq!(t.segments.len(), 5);
        assert!(matches!(&t.segments[0], Segment::Literal(l) if l == "a {b} "));
        assert!(matches!(&t.segments[4], Segment::Literal(l) if l == " c"));
    }

    #[test]
    fn unbalanced_is_refused() {
        assert!(matches!(
            parse("a {object.x"),
            Err(TemplateError::Unbalanced { offset: 2 })
        ));
        assert!(matches!(parse("a } b"), Err(TemplateError::Unbalanced { offset: 2 })));
    }

    #[test]
    fn bad_cel_names_the_expression() {
        assert!(
            matches!(parse("x {object.}"), Err(TemplateError::Cel { ref expression, .. }) if expression == "object.")
        );
    }
}
