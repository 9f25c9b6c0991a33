//! The compiler: the `cel` crate's expression tree (macros expanded, celgate's rewrites done, as
//! [`crate::engine::cel::compile::CompiledExpr::expr`] holds it) into [`Node`]s. Names become slots,
//! literal regexes are compiled, operators are chosen, constant subtrees are folded.

use std::collections::BTreeSet;
use std::sync::Arc;

use cel::common::ast::{operators, EntryExpr, Expr, IdedExpr, LiteralValue};
use cel::Env;

use super::bridge::{self, Bridge, Receiver};
use super::builtins::Builtin;
use super::ir::{ArithOp, CmpOp, EqConst, Loop, LoopShape, Node, OptChain, OptEnd, OptStep, Root};
use super::{fold, Layout, Unsupported, Value};

/// Compiler state for one expression.
pub(crate) struct Lowerer<'a> {
    pub env: &'a Arc<Env>,
    pub layout: &'a Layout,
    /// Comprehension variables in scope, innermost last.
    pub scope: Vec<(String, usize)>,
    /// Slots allocated.
    pub slots: usize,
    /// Whether calls may go to the interpreter.
    pub allow_bridge: bool,
    /// Functions handed to the interpreter.
    pub bridged: BTreeSet<String>,
}

fn boxed(node: Node) -> Box<Node> {
    Box::new(node)
}

fn literal_str(e: &IdedExpr) -> Option<Arc<str>> {
    match &e.expr {
        Expr::Literal(LiteralValue::String(s)) => Some(Arc::from(s.inner())),
        _ => None,
    }
}

impl Lowerer<'_> {
    fn local(&self, name: &str) -> Option<usize> {
        self.scope.iter().rev().find(|(n, _)| n == name).map(|(_, s)| *s)
    }

    /// A name that is a variable (not a namespace or type name).
    fn is_variable(&self, name: &str) -> bool {
        self.local(name).is_some()
            || Root::of(name).is_some()
            || name == "itemPointer"
            || name == "variables"
            || self.extra_root(name).is_some()
    }

    /// The index of an extra root variable named `name`.
    fn extra_root(&self, name: &str) -> Option<usize> {
        self.layout.extra_roots.iter().position(|r| r == name)
    }

    fn bridge(&mut self, function: &str, receiver: Receiver, arity: usize) -> Result<Bridge, Unsupported> {
        if !self.allow_bridge {
            return Err(Unsupported::new(format!("function '{function}'")));
        }
        self.bridged.insert(function.to_owned());
        Ok(Bridge::new(function, receiver, arity))
    }

    fn all(&mut self, exprs: &[IdedExpr]) -> Result<Vec<Node>, Unsupported> {
        exprs.iter().map(|e| self.lower(e)).collect()
    }

    /// Compiles `e`.
    pub fn lower(&mut self, e: &IdedExpr) -> Result<Node, Unsupported> {
        let node = match &e.expr {
            Expr::Literal(lit) => return Ok(self.literal(e, lit)),
            Expr::Ident(name) => {
                if let Some(slot) = self.local(name) {
                    Node::Local(slot)
                } else if let Some(index) = self.extra_root(name) {
                    // An extra root shadows a root of the same name, as a binding does.
                    Node::Extra(index)
                } else if let Some(root) = Root::of(name) {
                    Node::Root(root)
                } else if name == "itemPointer" {
                    Node::ItemPointer
                } else if name == "variables" {
                    return Err(Unsupported::new("the whole `variables` map"));
                } else {
                    constant(fold(self.env, e))
                }
            }
            Expr::Select(select) => {
                if let Expr::Ident(base) = &select.operand.expr {
                    if base == "variables" && self.local(base).is_none() && self.extra_root(base).is_none() {
                        if select.test {
                            return Err(Unsupported::new("has(variables.x)"));
                        }
                        return Ok(match self.layout.variables.iter().position(|v| *v == select.field) {
                            Some(i) => Node::Var(i),
                            None => Node::Fail(super::EvalError::NoSuchKey(Arc::from(select.field.as_str()))),
                        });
                    }
                }
                if !self.rooted(&select.operand) {
                    return Ok(constant(fold(self.env, e)));
                }
                let operand = self.lower(&select.operand)?;
                let field = Arc::from(select.field.as_str());
                chain(operand, field, select.test)
            }
            Expr::Call(call) => self.call(e, call)?,
            Expr::Comprehension(c) => self.comprehension(c)?,
            Expr::List(list) => Node::List(self.all(&list.elements)?, list.optional_indices.clone()),
            Expr::Map(map) => {
                let mut entries = Vec::with_capacity(map.entries.len());
                for entry in &map.entries {
                    let EntryExpr::MapEntry(m) = &entry.expr else {
                        return Err(Unsupported::new("struct field in a map literal"));
                    };
                    entries.push((self.lower(&m.key)?, self.lower(&m.value)?, m.optional));
                }
                Node::Map(entries)
            }
            Expr::Struct(s) => {
                // A message built from constants is a constant (the interpreter builds it once);
                // one built from variables is not supported (Kubernetes' CEL has no messages).
                for entry in &s.entries {
                    let value = match &entry.expr {
                        EntryExpr::StructField(f) => &f.value,
                        EntryExpr::MapEntry(m) => &m.value,
                    };
                    if !matches!(self.lower(value)?, Node::Const(_) | Node::Fail(_)) {
                        return Err(Unsupported::new(format!(
                            "struct literal '{}' with computed fields",
                            s.type_name
                        )));
                    }
                }
                return Ok(constant(fold(self.env, e)));
            }
            Expr::Unspecified => return Err(Unsupported::new("unspecified expression")),
        };
        Ok(fold_node(self.env, node))
    }

    /// Whether a select chain starts from a variable (rather than spelling a qualified name).
    fn rooted(&self, e: &IdedExpr) -> bool {
        match &e.expr {
            Expr::Ident(name) => self.is_variable(name),
            Expr::Select(s) => self.rooted(&s.operand),
            _ => true,
        }
    }

    fn literal(&self, e: &IdedExpr, lit: &LiteralValue) -> Node {
        Node::Const(match lit {
            LiteralValue::Boolean(b) => Value::Bool(*b.inner()),
            LiteralValue::Int(i) => Value::Int(*i.inner()),
            LiteralValue::UInt(u) => Value::UInt(*u.inner()),
            LiteralValue::Double(d) => Value::Double(*d.inner()),
            LiteralValue::Null => Value::Null,
            LiteralValue::String(s) => Value::string(s.inner()),
            LiteralValue::Bytes(_) => return constant(fold(self.env, e)),
        })
    }

    fn call(&mut self, e: &IdedExpr, call: &cel::common::ast::CallExpr) -> Result<Node, Unsupported> {
        let name = call.func_name.as_str();
        let args = &call.args;
        // A receiver that is not a variable is a namespace: `celgate.isDuration(x)`.
        if let Some(target) = call.target.as_deref() {
            if let Expr::Ident(ns) = &target.expr {
                if !self.is_variable(ns) {
                    let qualified = format!("{ns}.{name}");
                    let lowered = self.all(args)?;
                    let receiver = Receiver::Namespace(target.clone());
                    let bridge = Box::new(Bridge::new(name, receiver, args.len()));
                    if let Some(b) = Builtin::resolve(&qualified, false, args.len()) {
                        return Ok(Node::Call(b, lowered, self.allow_bridge.then_some(bridge)));
                    }
                    if !self.allow_bridge {
                        return Err(Unsupported::new(format!("function '{qualified}'")));
                    }
                    self.bridged.insert(qualified);
                    return Ok(Node::Bridge(bridge, lowered));
                }
            }
        }
        if call.target.is_none() {
            if let Some(node) = self.operator(e, name, args)? {
                return Ok(node);
            }
        }
        let member = call.target.is_some();
        let mut lowered = Vec::with_capacity(args.len() + 1);
        if let Some(t) = &call.target {
            lowered.push(self.lower(t)?);
        }
        lowered.extend(self.all(args)?);
        let receiver = if member { Receiver::Value } else { Receiver::None };
        match Builtin::resolve(name, member, args.len()) {
            // `chain.orValue(d)`: the chain's end.
            Some(Builtin::OrValue) if matches!(lowered.first(), Some(Node::OptChain(c)) if c.end.is_none()) => {
                let default = lowered.pop();
                match (lowered.pop(), default) {
                    (Some(Node::OptChain(mut chain)), Some(default)) => {
                        chain.end = Some(OptEnd {
                            default,
                            default_first: false,
                        });
                        chain.counted += 1;
                        Ok(Node::OptChain(chain))
                    }
                    _ => Err(Unsupported::new("orValue without its receiver")),
                }
            }
            Some(b) => {
                let fallback = if self.allow_bridge {
                    Some(Box::new(Bridge::new(name, receiver, args.len())))
                } else {
                    None
                };
                Ok(Node::Call(b, lowered, fallback))
            }
            None => Ok(Node::Bridge(
                Box::new(self.bridge(name, receiver, args.len())?),
                lowered,
            )),
        }
    }

    /// Operators and the functions celgate's rewrites introduce; `None` for other functions.
    fn operator(&mut self, e: &IdedExpr, name: &str, args: &[IdedExpr]) -> Result<Option<Node>, Unsupported> {
        use crate::engine::cel::equality;
        let two = |s: &mut Self| -> Result<(Box<Node>, Box<Node>), Unsupported> {
            Ok((boxed(s.lower(&args[0])?), boxed(s.lower(&args[1])?)))
        };
        let node = match (name, args.len()) {
            (operators::LOGICAL_AND, 2) => two(self).map(|(a, b)| Node::And(a, b))?,
            (operators::LOGICAL_OR, 2) => two(self).map(|(a, b)| Node::Or(a, b))?,
            (operators::LOGICAL_NOT, 1) => Node::Not(boxed(self.lower(&args[0])?)),
            (operators::NEGATE, 1) => Node::Neg(boxed(self.lower(&args[0])?)),
            (operators::NOT_STRICTLY_FALSE, 1) => Node::NotStrictlyFalse(boxed(self.lower(&args[0])?)),
            (operators::CONDITIONAL, 3) => {
                let [c, t, f] = [&args[0], &args[1], &args[2]].map(|a| self.lower(a));
                Node::Cond(Box::new([c?, t?, f?]))
            }
            (operators::EQUALS | equality::EQUALS, 2) => two(self).map(|(a, b)| equality_node(*a, *b, false))?,
            (operators::NOT_EQUALS | equality::NOT_EQUALS, 2) => two(self).map(|(a, b)| equality_node(*a, *b, true))?,
            (operators::IN | equality::IN, 2) => two(self).map(|(a, b)| Node::In(a, b))?,
            (operators::LESS, 2) => two(self).map(|(a, b)| Node::Cmp(CmpOp::Lt, a, b))?,
            (operators::LESS_EQUALS, 2) => two(self).map(|(a, b)| Node::Cmp(CmpOp::Le, a, b))?,
            (operators::GREATER, 2) => two(self).map(|(a, b)| Node::Cmp(CmpOp::Gt, a, b))?,
            (operators::GREATER_EQUALS, 2) => two(self).map(|(a, b)| Node::Cmp(CmpOp::Ge, a, b))?,
            (operators::ADD, 2) => two(self).map(|(a, b)| add_node(*a, *b))?,
            (operators::SUBSTRACT, 2) => two(self).map(|(a, b)| Node::Arith(ArithOp::Sub, a, b))?,
            (operators::MULTIPLY, 2) => two(self).map(|(a, b)| Node::Arith(ArithOp::Mul, a, b))?,
            (operators::DIVIDE, 2) => two(self).map(|(a, b)| Node::Arith(ArithOp::Div, a, b))?,
            (operators::MODULO, 2) => two(self).map(|(a, b)| Node::Arith(ArithOp::Rem, a, b))?,
            (operators::INDEX, 2) => two(self).map(|(a, b)| Node::Index(a, b))?,
            (operators::OPT_INDEX, 2) => {
                let operand = self.lower(&args[0])?;
                let index = self.lower(&args[1])?;
                opt_step(operand, OptStep::Index(index))
            }
            (operators::OPT_SELECT, 2) => match literal_str(&args[1]) {
                Some(field) => opt_step(self.lower(&args[0])?, OptStep::Field(field)),
                None => return Ok(None),
            },
            (crate::engine::cel::opt_chain::OPT_OR, n) if n >= 3 => match self.opt_or(args)? {
                Some(node) => node,
                None => return Ok(None),
            },
            ("__celgate_matches", 2) => match literal_str(&args[1]) {
                Some(pattern) => {
                    let text = boxed(self.lower(&args[0])?);
                    match crate::engine::cel::k8s::regex::re2(&pattern) {
                        Ok(re) => Node::Matches(text, Arc::new(re)),
                        Err(err) => {
                            let _ = e;
                            Node::Fail(super::EvalError::Regex(err.to_string().into()))
                        }
                    }
                }
                None => return Ok(None),
            },
            _ => return Ok(None),
        };
        Ok(Some(fold_node(self.env, node)))
    }

    /// A fused `__celgate_opt_or(d, x, 'f1', ...)` (fields as literals; `None` otherwise): a
    /// chain ending in the default, which is evaluated first.
    fn opt_or(&mut self, args: &[IdedExpr]) -> Result<Option<Node>, Unsupported> {
        let fields: Option<Vec<Arc<str>>> = args[2..].iter().map(literal_str).collect();
        let Some(fields) = fields else {
            return Ok(None);
        };
        let default = self.lower(&args[0])?;
        // The fused call counts once for all its fields: it extends a chain its operand
        // ends (`x[?i]`) by one step, or is a chain of its own that counts nothing more.
        let (mut chain, counted) = match self.lower(&args[1])? {
            Node::OptChain(chain) if chain.end.is_none() => (chain, 1),
            operand => (
                Box::new(OptChain {
                    operand,
                    steps: Vec::new(),
                    end: None,
                    counted: 0,
                }),
                0,
            ),
        };
        chain.steps.extend(fields.into_iter().map(OptStep::Field));
        chain.end = Some(OptEnd {
            default,
            default_first: true,
        });
        chain.counted += counted;
        Ok(Some(Node::OptChain(chain)))
    }

    fn comprehension(&mut self, c: &cel::common::ast::ComprehensionExpr) -> Result<Node, Unsupported> {
        if c.iter_var2.is_some() {
            return Err(Unsupported::new("two-variable comprehension in the parsed tree"));
        }
        let range = self.lower(&c.iter_range)?;
        let init = self.lower(&c.accu_init)?;
        let iter_slot = self.slots;
        let accu_slot = self.slots + 1;
        self.slots += 2;
        let depth = self.scope.len();
        self.scope.push((c.iter_var.clone(), iter_slot));
        self.scope.push((c.accu_var.clone(), accu_slot));
        let lowered = (|| {
            let cond = self.lower(&c.loop_cond)?;
            let step = self.lower(&c.loop_step)?;
            let result = self.lower(&c.result)?;
            let shape = self.shape(c)?;
            Ok((cond, step, result, shape))
        })();
        self.scope.truncate(depth);
        let (cond, step, result, shape) = lowered?;
        Ok(Node::Loop(Box::new(Loop {
            range,
            iter_slot,
            accu_slot,
            init,
            cond,
            step,
            result,
            shape,
        })))
    }

    /// Whether `c` is `all` (`or` false) or `exists` as the macros expand them (see
    /// [`LoopShape::Quantifier`]); its step is known to be `accu && pred` or `accu || pred`.
    fn is_quantifier(c: &cel::common::ast::ComprehensionExpr, or: bool) -> bool {
        let accu = c.accu_var.as_str();
        let is_accu = |e: &IdedExpr| matches!(&e.expr, Expr::Ident(n) if n == accu);
        let init = matches!(&c.accu_init.expr, Expr::Literal(LiteralValue::Boolean(b)) if *b.inner() != or);
        let cond = match &c.loop_cond.expr {
            Expr::Call(call) if call.func_name == operators::NOT_STRICTLY_FALSE && call.target.is_none() => {
                match (call.args.as_slice(), or) {
                    ([arg], false) => is_accu(arg),
                    ([arg], true) => matches!(&arg.expr, Expr::Call(not)
                        if not.func_name == operators::LOGICAL_NOT && not.target.is_none()
                            && not.args.len() == 1 && is_accu(&not.args[0])),
                    _ => false,
                }
            }
            _ => false,
        };
        init && cond && is_accu(&c.result)
    }

    /// The fast shape of a comprehension, recognised as the interpreter recognises it.
    fn shape(&mut self, c: &cel::common::ast::ComprehensionExpr) -> Result<LoopShape, Unsupported> {
        let accu = c.accu_var.as_str();
        let is_accu = |e: &IdedExpr| matches!(&e.expr, Expr::Ident(n) if n == accu);
        if let Expr::Call(call) = &c.loop_step.expr {
            let folds = call.target.is_none() && call.args.first().is_some_and(is_accu);
            let or = match call.func_name.as_str() {
                operators::LOGICAL_AND if folds => Some(false),
                operators::LOGICAL_OR if folds => Some(true),
                _ => None,
            };
            if let (Some(or), [_, pred]) = (or, call.args.as_slice()) {
                if Self::is_quantifier(c, or) {
                    let pred = self.lower(pred)?;
                    return Ok(LoopShape::Quantifier { or, pred });
                }
                return Ok(LoopShape::Fold { or });
            }
        }
        let items_of = |e: &IdedExpr| match &e.expr {
            Expr::Call(call) if call.func_name == operators::ADD && call.target.is_none() => match call.args.as_slice()
            {
                [lhs, rhs] if is_accu(lhs) && matches!(rhs.expr, Expr::List(_)) => Some(rhs.clone()),
                _ => None,
            },
            _ => None,
        };
        if !is_accu(&c.result) || !matches!(c.loop_cond.expr, Expr::Literal(_)) {
            return Ok(LoopShape::General);
        }
        let (guard, items) = match &c.loop_step.expr {
            Expr::Call(call) if call.func_name == operators::CONDITIONAL && call.target.is_none() => {
                match call.args.as_slice() {
                    [guard, step, otherwise] if is_accu(otherwise) => match items_of(step) {
                        Some(items) => (Some(guard.clone()), items),
                        None => return Ok(LoopShape::General),
                    },
                    _ => return Ok(LoopShape::General),
                }
            }
            _ => match items_of(&c.loop_step) {
                Some(items) => (None, items),
                None => return Ok(LoopShape::General),
            },
        };
        let guard = guard.map(|g| self.lower(&g)).transpose()?;
        let items = self.lower(&items)?;
        Ok(LoopShape::Append { guard, items })
    }
}

/// `operand.field` (or `has(...)` when `test`), merged with the selects below it into one
/// path node.
fn chain(operand: Node, field: Arc<str>, test: bool) -> Node {
    let (base, mut fields) = match operand {
        Node::Select(base, f) => (base, vec![f]),
        Node::Path(base, fs) => (base, fs.into_vec()),
        other if test => return Node::Has(boxed(other), field),
        other => return Node::Select(boxed(other), field),
    };
    if test {
        Node::HasPath(base, fields.into_boxed_slice(), field)
    } else {
        fields.push(field);
        Node::Path(base, fields.into_boxed_slice())
    }
}

/// `a == b` (`!=` when `negate`): with the constant compared in place when one side is one (and
/// the other is not: then it folds).
fn equality_node(a: Node, b: Node, negate: bool) -> Node {
    match (a, b) {
        (Node::Const(constant), operand) if !matches!(operand, Node::Const(_)) => Node::EqConst(Box::new(EqConst {
            operand,
            constant,
            constant_left: true,
            negate,
        })),
        (operand, Node::Const(constant)) if !matches!(operand, Node::Const(_)) => Node::EqConst(Box::new(EqConst {
            operand,
            constant,
            constant_left: false,
            negate,
        })),
        (a, b) => Node::Eq(Box::new(a), Box::new(b), negate),
    }
}

/// `operand` followed by the optional `step`: a step of the chain `operand` is (one without an
/// end), or a new chain.
fn opt_step(operand: Node, step: OptStep) -> Node {
    match operand {
        Node::OptChain(mut chain) if chain.end.is_none() => {
            chain.steps.push(step);
            chain.counted += 1;
            Node::OptChain(chain)
        }
        operand => Node::OptChain(Box::new(OptChain {
            operand,
            steps: vec![step],
            end: None,
            counted: 0,
        })),
    }
}

/// A node for a value (or error) known at compile time.
fn constant(result: Result<Value<'static>, super::EvalError>) -> Node {
    match result {
        Ok(v) => Node::Const(v),
        Err(e) => Node::Fail(e),
    }
}

/// `a + b`: a chain when `a` is itself a sum that was not folded (`x + '/' + y` is one node).
fn add_node(a: Node, b: Node) -> Node {
    match a {
        Node::Arith(ArithOp::Add, x, y) => Node::AddChain(x, vec![*y, b]),
        Node::AddChain(first, mut added) => {
            added.push(b);
            Node::AddChain(first, added)
        }
        a => Node::Arith(ArithOp::Add, Box::new(a), Box::new(b)),
    }
}

/// The direct operands of `node` when they are all constants.
fn all_const(node: &Node) -> bool {
    let c = |n: &Node| matches!(n, Node::Const(_));
    match node {
        Node::Select(a, _)
        | Node::Has(a, _)
        | Node::Path(a, _)
        | Node::HasPath(a, _, _)
        | Node::Not(a)
        | Node::Neg(a)
        | Node::Matches(a, _) => c(a),
        Node::Index(a, b)
        | Node::Eq(a, b, _)
        | Node::In(a, b)
        | Node::Cmp(_, a, b)
        | Node::Arith(_, a, b)
        | Node::And(a, b)
        | Node::Or(a, b) => c(a) && c(b),
        Node::Cond(parts) => parts.iter().all(c),
        Node::AddChain(first, added) => c(first) && added.iter().all(c),
        Node::List(items, _) => items.iter().all(c),
        Node::Map(entries) => entries.iter().all(|(k, v, _)| c(k) && c(v)),
        Node::Call(_, args, _) | Node::Bridge(_, args) => args.iter().all(c),
        Node::EqConst(eq) => c(&eq.operand),
        Node::OptChain(chain) => {
            c(&chain.operand)
                && chain.steps.iter().all(|s| match s {
                    OptStep::Field(_) => true,
                    OptStep::Index(i) => c(i),
                })
                && chain.end.as_ref().is_none_or(|end| c(&end.default))
        }
        _ => false,
    }
}

/// Replaces a node whose operands are constants by its value (a node that fails is kept, so it
/// fails when it runs).
fn fold_node(env: &Arc<Env>, node: Node) -> Node {
    if !all_const(&node) {
        return node;
    }
    match super::run_constant(env, &node) {
        Ok(v) => Node::Const(v),
        Err(_) => node,
    }
}

/// Evaluates a variable-free expression with the interpreter.
pub(crate) fn fold_expr(env: &Arc<Env>, e: &IdedExpr) -> Result<Value<'static>, super::EvalError> {
    bridge::fold(env, e)
}
