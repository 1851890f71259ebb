//! Why a benchmark failed: what it was doing, and the cause. A failed case fails the run
//! (`--quick` in `scripts/test` exists so that a broken case is noticed).

use std::fmt::Display;

/// A failure with what the benchmark was doing when it happened.
#[derive(Debug, thiserror::Error)]
#[error("{doing}: {cause}")]
pub struct Failure {
    doing: String,
    cause: Box<dyn std::error::Error + Send + Sync>,
}

impl Failure {
    /// A failure that has no underlying error, e.g. an unexpected answer.
    pub fn new(doing: impl Display, problem: impl Into<String>) -> Self {
        Self {
            doing: doing.to_string(),
            cause: problem.into().into(),
        }
    }
}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

/// Adds what the benchmark was doing to an error.
pub trait Context<T> {
    fn context(self, doing: impl Display) -> Result<T>;
}

impl<T, E> Context<T> for std::result::Result<T, E>
where
    E: std::error::Error + Send + Sync + 'static,
{
    fn context(self, doing: impl Display) -> Result<T> {
        self.map_err(|cause| Failure {
            doing: doing.to_string(),
            cause: Box::new(cause),
        })
    }
}
