//! Our model of a gate function: its name, doc, parameters and return kind,
//! borrowing the `ItemFn` for spans.

use syn::{FnArg, Ident, ItemFn, Path, ReturnType, Type};

use super::attr::GateAttr;
use crate::util::{Errors, doc_text};

/// One `#[gate]` function.
pub(crate) struct Gate<'a> {
    /// The function as written.
    pub(crate) original: &'a ItemFn,
    /// Its name (also the companion's and the gate's).
    pub(crate) ident: &'a Ident,
    /// Its doc comment, the gate's description.
    pub(crate) description: String,
    /// The variants it is limited to.
    pub(crate) filter: Vec<Path>,
    /// Whether its machine may leave it out of `gates(..)` (`unlisted`).
    pub(crate) unlisted: bool,
    /// Root path of the runtime crate.
    pub(crate) krate: Path,
    /// The parameters, in order.
    pub(crate) params: Vec<&'a FnArg>,
}

/// What a gate returns.
pub(crate) enum Returns {
    /// `bool`: `false` is a generated denial.
    Bool,
    /// `Result<(), Denial>`.
    Result,
}

impl<'a> Gate<'a> {
    /// Reads the function into the model (never fails: rules are in
    /// `check.rs`).
    pub(crate) fn from_syn(
        original: &'a ItemFn,
        attr: GateAttr,
        _errors: &mut Errors,
    ) -> Option<Self> {
        Some(Self {
            original,
            ident: &original.sig.ident,
            description: doc_text(&original.attrs),
            filter: attr.filter,
            unlisted: attr.unlisted,
            krate: attr.krate,
            params: original.sig.inputs.iter().collect(),
        })
    }

    /// The type behind a `&T` parameter, if it is one.
    pub(crate) fn referent(arg: &FnArg) -> Option<&Type> {
        match arg {
            FnArg::Typed(typed) => match &*typed.ty {
                Type::Reference(r) if r.mutability.is_none() => Some(&r.elem),
                _ => None,
            },
            FnArg::Receiver(_) => None,
        }
    }

    /// The context type: the first parameter's referent, or its type when
    /// taken by value.
    pub(crate) fn context(&self) -> Option<&Type> {
        let first = self.params.first()?;
        Self::referent(first).or_else(|| Self::ty(first))
    }

    /// Whether the context is taken by value (a copy).
    pub(crate) fn context_by_value(&self) -> bool {
        self.params
            .first()
            .is_some_and(|p| Self::referent(p).is_none())
    }

    /// The event type (last parameter's referent).
    pub(crate) fn event(&self) -> Option<&Type> {
        if self.params.len() < 2 {
            return None;
        }
        self.params.last().and_then(|p| Self::referent(p))
    }

    /// The parameters between the context and the event: the state and
    /// the data, each told apart by its type when the companion is
    /// compiled (see `GateArg`).
    pub(crate) fn middle(&self) -> &[&'a FnArg] {
        match self.params.len() {
            0..=2 => &[],
            n => &self.params[1..n - 1],
        }
    }

    /// A parameter's type as written.
    pub(crate) fn ty(arg: &FnArg) -> Option<&Type> {
        match arg {
            FnArg::Typed(typed) => Some(&typed.ty),
            FnArg::Receiver(_) => None,
        }
    }

    /// `bool`, `Result<..>`, or `None` for anything else.
    pub(crate) fn returns(&self) -> Option<Returns> {
        let ReturnType::Type(_, ty) = &self.original.sig.output else {
            return None;
        };
        let Type::Path(path) = &**ty else {
            return None;
        };
        let last = path.path.segments.last()?;
        if path.path.is_ident("bool") {
            Some(Returns::Bool)
        } else if last.ident == "Result" {
            Some(Returns::Result)
        } else {
            None
        }
    }
}
