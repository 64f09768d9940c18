//! Our model of a reactor function: its name, doc, parameters, and the
//! machines it connects (the source from `&StoredEvent<Source>`, the target
//! from `Reaction<Target>`), borrowing the `ItemFn` for spans.

use syn::{FnArg, GenericArgument, Ident, ItemFn, Path, PathArguments, ReturnType, Type};

use super::attr::ReactAttr;
use crate::util::doc_text;

/// One `#[react]` function.
pub(crate) struct Reactor<'a> {
    /// The function as written.
    pub(crate) original: &'a ItemFn,
    /// Its name (also the companion's and the reactor's).
    pub(crate) ident: &'a Ident,
    /// Its doc comment, the reactor's description.
    pub(crate) description: String,
    /// The variants it reacts to (empty: all).
    pub(crate) filter: Vec<Path>,
    /// Root path of the runtime crate.
    pub(crate) krate: Path,
    /// The parameters, in order.
    pub(crate) params: Vec<&'a FnArg>,
}

impl<'a> Reactor<'a> {
    /// Reads the function into the model (never fails: rules are in
    /// `check.rs`).
    pub(crate) fn from_syn(original: &'a ItemFn, attr: ReactAttr) -> Self {
        Self {
            original,
            ident: &original.sig.ident,
            description: doc_text(&original.attrs),
            filter: attr.filter,
            krate: attr.krate,
            params: original.sig.inputs.iter().collect(),
        }
    }

    /// A parameter's type as written.
    pub(crate) fn ty(arg: &FnArg) -> Option<&Type> {
        match arg {
            FnArg::Typed(typed) => Some(&typed.ty),
            FnArg::Receiver(_) => None,
        }
    }

    /// The context parameter's type as written (`&Warehouse`, or `()` by
    /// value).
    pub(crate) fn context(&self) -> Option<&Type> {
        self.params.first().and_then(|p| Self::ty(p))
    }

    /// Whether the context is taken by value (a copy).
    pub(crate) fn context_by_value(&self) -> bool {
        self.context()
            .is_some_and(|ty| !matches!(ty, Type::Reference(_)))
    }

    /// The source machine: `Order` in `event: &StoredEvent<Order>`.
    pub(crate) fn source(&self) -> Option<&Type> {
        let Some(Type::Reference(event)) = self.params.get(1).and_then(|p| Self::ty(p)) else {
            return None;
        };
        if event.mutability.is_some() {
            return None;
        }
        generic_of(&event.elem, "StoredEvent")
    }

    /// The target machine: `Shipment` in `-> Reaction<Shipment>`.
    pub(crate) fn target(&self) -> Option<&Type> {
        let ReturnType::Type(_, ty) = &self.original.sig.output else {
            return None;
        };
        generic_of(ty, "Reaction")
    }
}

/// `T` in `ty` = `..::Name<T>`.
fn generic_of<'t>(ty: &'t Type, name: &str) -> Option<&'t Type> {
    let Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.first()? {
        GenericArgument::Type(ty) if args.args.len() == 1 => Some(ty),
        _ => None,
    }
}
