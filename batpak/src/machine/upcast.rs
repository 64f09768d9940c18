//! What the derive's version-aware `Deserialize` calls to read an event
//! stored at an older payload version: the variant's body as the type an
//! upcaster takes.
//!
//! A stored machine event is the enum externally tagged, `{"Approved":
//! {..}}` (or `"Approved"` for a unit variant); an upcaster reads the body
//! as its own old type (`ApprovedV1`) and returns the next version. Reading
//! never writes: the stored bytes stay as they were and the hash chain
//! covers them unchanged.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};

/// The body of one externally tagged variant, read as `O` whatever the
/// tag: the old payload an upcaster takes.
#[derive(Debug)]
pub struct VariantBody<O>(pub O);

impl<'de, O: Deserialize<'de>> Deserialize<'de> for VariantBody<O> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BodyVisitor(PhantomData))
    }
}

/// Reads `{tag: body}` (or a bare tag, for a unit variant) into the body.
struct BodyVisitor<O>(PhantomData<fn() -> O>);

impl<'de, O: Deserialize<'de>> Visitor<'de> for BodyVisitor<O> {
    type Value = VariantBody<O>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an enum variant stored as {name: body} or as its name")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let Some(IgnoredAny) = map.next_key()? else {
            return Err(de::Error::invalid_length(0, &self));
        };
        let body = map.next_value::<O>()?;
        if map.next_key::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom(
                "a stored variant holds one entry, its name and body",
            ));
        }
        Ok(VariantBody(body))
    }

    fn visit_str<E: de::Error>(self, _tag: &str) -> Result<Self::Value, E> {
        O::deserialize(de::value::UnitDeserializer::new()).map(VariantBody)
    }

    fn visit_borrowed_str<E: de::Error>(self, tag: &'de str) -> Result<Self::Value, E> {
        self.visit_str(tag)
    }

    fn visit_string<E: de::Error>(self, tag: String) -> Result<Self::Value, E> {
        self.visit_str(&tag)
    }
}

/// Reads a stored variant body as the upcaster's input and applies it.
/// `N` is the machine's enum: generated code names it, so an upcaster chain
/// that ends elsewhere is an error on the upcaster.
///
/// # Errors
/// The deserializer's, when the body is not the upcaster's input type.
pub fn upcast_from<'de, D, O, N, F>(deserializer: D, upcaster: F) -> Result<N, D::Error>
where
    D: Deserializer<'de>,
    O: Deserialize<'de>,
    F: FnOnce(O) -> N,
{
    VariantBody::<O>::deserialize(deserializer).map(|VariantBody(old)| upcaster(old))
}
