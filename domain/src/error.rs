//! What every refusal of the domain tells the edge: a stable, machine-readable code and a
//! class (forbidden, conflict, unprocessable). The API turns any [`DomainError`] into its
//! problem answer in one place (`api/src/problem.rs`), where each code must be a variant of
//! the API's `ProblemCode` (a test there reads [`DomainError::CODES`]).

pub use crate::case::ErrorClass;

/// A refusal of one of the domain's aggregates.
pub trait DomainError: std::error::Error + serde::Serialize {
    /// Every code an error of this type can carry. A test beside each implementation ties
    /// this list to the variants (one instance of each, by an exhaustive match).
    const CODES: &'static [&'static str];

    /// The stable, machine-readable code: one of [`Self::CODES`].
    fn code(&self) -> &'static str;

    /// How the refusal is to be answered.
    fn class(&self) -> ErrorClass;
}

/// For the tests that tie `CODES` to the variants: every listed code is produced by one of
/// `produced`, and every code produced is listed.
#[cfg(test)]
pub(crate) fn assert_codes_match<E: DomainError>(produced: &[E]) {
    use std::collections::BTreeSet;
    let listed: BTreeSet<&str> = E::CODES.iter().copied().collect();
    assert_eq!(listed.len(), E::CODES.len(), "a code is listed twice");
    let made: BTreeSet<&str> = produced.iter().map(DomainError::code).collect();
    assert_eq!(made, listed, "CODES and the variants' codes differ");
}
