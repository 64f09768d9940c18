//! The rules a gate function follows; each violation is reported on the
//! offending token, with the fix.

use quote::ToTokens;
use syn::spanned::Spanned;
use syn::{FnArg, Type};

use super::ast::Gate;
use crate::util::Errors;

/// The accepted signatures, for messages.
const SIGNATURES: &str = "`fn(ctx: &Ctx, event: &Machine)` (a `Copy` context may come by \
    value), optionally with the state (`state: MachineState`) and the data (`data: \
    &MachineData`) between the two, returning `Result<(), Denial>` or `bool`";

/// Runs every rule.
pub(crate) fn check(gate: &Gate<'_>, errors: &mut Errors) {
    shape(gate, errors);
    parameters(gate, errors);
    returns(gate, errors);
    filter_matches_event(gate, errors);
}

/// A gate is a plain sync function: `async fn`, generics or `self` are
/// refused (the machine calls it by name with fixed arguments).
fn shape(gate: &Gate<'_>, errors: &mut Errors) {
    let sig = &gate.original.sig;
    if let Some(token) = &sig.asyncness {
        errors.at(token.span(), "a gate is synchronous: remove `async`");
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        errors.spanned(
            &sig.generics,
            "a gate cannot be generic: name the context and event types, as in \
             `fn(ctx: &Shop, event: &Order) -> bool`",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.at(variadic.span(), format!("a gate takes {SIGNATURES}"));
    }
}

/// Two to four parameters: the context (by shared reference, or by value
/// when it is `Copy`, checked through `CopyContext`) and the event (by
/// shared reference), and between them at most the state and the data (by
/// value or shared reference; which types fit is the machine's to say,
/// through `GateArg`). `fn(event: &Order)` is refused on its parameter
/// list, `fn(ctx: &mut Shop, ..)` on `&mut Shop`, `fn(.., file: &mut
/// LoanFile, ..)` on `&mut LoanFile`, `fn(&self, ..)` on `self`.
fn parameters(gate: &Gate<'_>, errors: &mut Errors) {
    let sig = &gate.original.sig;
    if !(2..=4).contains(&gate.params.len()) {
        let span = if gate.params.is_empty() {
            sig.paren_token.span.join()
        } else {
            sig.inputs.span()
        };
        errors.at(
            span,
            format!(
                "a gate takes {SIGNATURES}; this one takes {} parameter(s)",
                gate.params.len()
            ),
        );
        return;
    }
    for (index, param) in gate.params.iter().enumerate() {
        let role = if index == 0 {
            "context"
        } else if index + 1 == gate.params.len() {
            "event"
        } else {
            // The state may come by value; only a mutable borrow is wrong.
            if let Some(Type::Reference(r)) = Gate::ty(param)
                && r.mutability.is_some()
            {
                let fix = r.elem.to_token_stream().to_string();
                errors.spanned(
                    r,
                    format!(
                        "a gate only reads the state and the data: write `&{fix}` (or the \
                         state by value)"
                    ),
                );
            }
            if let FnArg::Receiver(receiver) = param {
                errors.at(receiver.span(), "a gate is a free function, not a method");
            }
            continue;
        };
        match param {
            FnArg::Receiver(receiver) => errors.at(
                receiver.span(),
                "a gate is a free function, not a method: remove `self` and take the context \
                 as the first parameter",
            ),
            // A `Copy` context may come by value (checked by `CopyContext`).
            FnArg::Typed(typed)
                if role == "context" && !matches!(&*typed.ty, Type::Reference(_)) => {}
            FnArg::Typed(typed) if Gate::referent(param).is_none() => {
                let ty = &typed.ty;
                let fix = match &**ty {
                    Type::Reference(r) => r.elem.to_token_stream().to_string(),
                    other => other.to_token_stream().to_string(),
                };
                errors.spanned(
                    ty,
                    format!(
                        "the {role} parameter of a gate is a shared reference: write `&{fix}` \
                         (gates only read)"
                    ),
                );
            }
            FnArg::Typed(_) => {}
        }
    }
}

/// `-> bool` or `-> Result<(), Denial>`; `-> u8` or no return type is
/// refused on the return type (or the name).
fn returns(gate: &Gate<'_>, errors: &mut Errors) {
    if gate.returns().is_some() {
        return;
    }
    errors.wrong_return(
        &gate.original.sig,
        "a gate returns `Result<(), Denial>` (to say why it refuses) or `bool` (a generated \
         denial); add one of these return types",
    );
}

/// `#[gate(Invoice::Paid)]` on `fn(.., event: &Order)` is refused: the
/// filter names a variant of the event's enum.
fn filter_matches_event(gate: &Gate<'_>, errors: &mut Errors) {
    errors.filter_of_another_enum(gate.event(), &gate.filter, |event| {
        format!(
            "this gate's event is `{event}`, so it can only be limited to \
             `{event}::..` variants; change the filter or the event parameter"
        )
    });
}
