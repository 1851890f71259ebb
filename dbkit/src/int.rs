//! The checked codec between the unsigned numbers the code counts with (positions, versions,
//! tree sizes, attempts) and the databases' signed 64-bit BIGINT. A negative or too large
//! value is refused with an error that names it, never read as 0 or clamped.

/// A number that does not fit the other side: a negative BIGINT read where a count belongs,
/// or a count beyond `i64::MAX` to store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {value} is out of range")]
pub struct OutOfRange {
    pub what: &'static str,
    pub value: String,
}

/// A value stored as BIGINT.
pub trait BigInt: Sized {
    /// What the value is, for the error message.
    const WHAT: &'static str;

    /// The value as the database stores it.
    fn to_bigint(self) -> Result<i64, OutOfRange>;

    /// The value a database BIGINT holds.
    fn from_bigint(value: i64) -> Result<Self, OutOfRange>;
}

fn out_of_range(what: &'static str, value: impl std::fmt::Display) -> OutOfRange {
    OutOfRange {
        what,
        value: value.to_string(),
    }
}

impl BigInt for u64 {
    const WHAT: &'static str = "an unsigned 64-bit number";

    fn to_bigint(self) -> Result<i64, OutOfRange> {
        i64::try_from(self).map_err(|_| out_of_range(Self::WHAT, self))
    }

    fn from_bigint(value: i64) -> Result<Self, OutOfRange> {
        u64::try_from(value).map_err(|_| out_of_range(Self::WHAT, value))
    }
}

impl BigInt for u32 {
    const WHAT: &'static str = "an unsigned 32-bit number";

    fn to_bigint(self) -> Result<i64, OutOfRange> {
        Ok(i64::from(self))
    }

    fn from_bigint(value: i64) -> Result<Self, OutOfRange> {
        u32::try_from(value).map_err(|_| out_of_range(Self::WHAT, value))
    }
}

impl BigInt for u16 {
    const WHAT: &'static str = "an unsigned 16-bit number";

    fn to_bigint(self) -> Result<i64, OutOfRange> {
        Ok(i64::from(self))
    }

    fn from_bigint(value: i64) -> Result<Self, OutOfRange> {
        u16::try_from(value).map_err(|_| out_of_range(Self::WHAT, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_in_range_round_trip() {
        for value in [0_u64, 1, 42, i64::MAX as u64] {
            assert_eq!(u64::from_bigint(value.to_bigint().unwrap()), Ok(value));
        }
        assert_eq!(u32::from_bigint(i64::from(u32::MAX)), Ok(u32::MAX));
    }

    #[test]
    fn a_negative_bigint_is_refused_not_read_as_zero() {
        let error = u64::from_bigint(-1).unwrap_err();
        assert_eq!(error.value, "-1");
        assert!(u32::from_bigint(-5).is_err());
        assert!(u16::from_bigint(70_000).is_err());
    }

    #[test]
    fn a_count_beyond_bigint_is_refused_not_clamped() {
        assert!(u64::MAX.to_bigint().is_err());
        assert!((i64::MAX as u64 + 1).to_bigint().is_err());
    }
}
