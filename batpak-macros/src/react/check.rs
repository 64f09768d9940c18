//! The rules a reactor function follows; each violation is reported on the
//! offending token, with the fix.

use syn::spanned::Spanned;
use syn::{FnArg, Type};

use super::ast::Reactor;
use crate::util::Errors;

/// The accepted signature, for messages.
const SIGNATURE: &str = "`fn(ctx: &Ctx, event: &StoredEvent<Source>) -> Reaction<Target>`, \
    where `Ctx` is the target machine's context (a `Copy` context may come by value)";

/// Runs every rule.
pub(crate) fn check(reactor: &Reactor<'_>, errors: &mut Errors) {
    shape(reactor, errors);
    parameters(reactor, errors);
    returns(reactor, errors);
    filter_matches_source(reactor, errors);
}

/// A reactor is a plain sync function: `async fn`, generics or `self` are
/// refused (the runner calls it by name with fixed arguments).
fn shape(reactor: &Reactor<'_>, errors: &mut Errors) {
    let sig = &reactor.original.sig;
    if let Some(token) = &sig.asyncness {
        errors.at(token.span(), "a reactor is synchronous: remove `async`");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.spanned(
            &sig.generics,
            format!("a reactor cannot be generic: it takes {SIGNATURE}"),
        );
    }
}

/// Two parameters: the context and the event. `fn(event:
/// &StoredEvent<Order>)` is refused on its parameter list; `fn(ctx: &Desk,
/// event: &Order)` on `&Order`; `fn(&self, ..)` on `self`.
fn parameters(reactor: &Reactor<'_>, errors: &mut Errors) {
    let sig = &reactor.original.sig;
    if reactor.params.len() != 2 {
        let span = if reactor.params.is_empty() {
            sig.paren_token.span.join()
        } else {
            sig.inputs.span()
        };
        errors.at(
            span,
            format!(
                "a reactor takes {SIGNATURE}; this one takes {} parameter(s)",
                reactor.params.len()
            ),
        );
        return;
    }
    for param in &reactor.params {
        if let FnArg::Receiver(receiver) = param {
            errors.at(
                receiver.span(),
                "a reactor is a free function, not a method: remove `self`",
            );
            return;
        }
    }
    if let Some(Type::Reference(ctx)) = reactor.context()
        && ctx.mutability.is_some()
    {
        errors.spanned(ctx, "a reactor only reads its context: take it by `&`");
    }
    if reactor.source().is_none()
        && let Some(event) = reactor.params.get(1).and_then(|p| Reactor::ty(p))
    {
        errors.spanned(
            event,
            "a reactor's event parameter is `&StoredEvent<Source>`, the committed event with \
             its header (its id is the reaction's cause), as in `paid: &StoredEvent<Order>`",
        );
    }
}

/// `-> Reaction<Target>`; anything else is refused on the return type.
fn returns(reactor: &Reactor<'_>, errors: &mut Errors) {
    if reactor.target().is_some() {
        return;
    }
    errors.wrong_return(
        &reactor.original.sig,
        "a reactor returns `Reaction<Target>`, the step to take on the target machine \
         (`Reaction::step(coordinate, event)`) or `Reaction::Nothing`",
    );
}

/// `#[react(Invoice::Paid)]` on `fn(.., event: &StoredEvent<Order>)` is
/// refused: the filter names a variant of the source machine.
fn filter_matches_source(reactor: &Reactor<'_>, errors: &mut Errors) {
    errors.filter_of_another_enum(reactor.source(), &reactor.filter, |source| {
        format!(
            "this reactor reacts to `{source}` events, so it can only be limited \
             to `{source}::..` variants; change the filter or the event parameter"
        )
    });
}
