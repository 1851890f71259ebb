//! Money as integer öre (1 SEK = 100 öre), never floats.

use std::fmt;
use std::ops::{Add, Mul};

use serde::{Deserialize, Serialize};

/// An amount of Swedish money in öre, excluding VAT.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Ore(pub i64);

impl Ore {
    pub const fn from_kronor(kronor: i64) -> Self {
        Self(kronor * 100)
    }

    pub const fn get(self) -> i64 {
        self.0
    }
}

impl Add for Ore {
    type Output = Self;
    fn add(self, rhs: Self) -> Self {
        Self(self.0 + rhs.0)
    }
}

impl Mul<i64> for Ore {
    type Output = Self;
    fn mul(self, rhs: i64) -> Self {
        Self(self.0 * rhs)
    }
}

impl std::iter::Sum for Ore {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self(0), Add::add)
    }
}

impl fmt::Display for Ore {
    /// Formats as kronor with two decimals and a comma, the Swedish way: `1200,00 kr`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{},{:02} kr", abs / 100, abs % 100)
    }
}

/// Groups of registered workstations (grupper av registrerade klientarbetsplatser,
/// Jämtland §2.8): each group covers up to `group_size` workstations, so a unit with `n`
/// workstations needs `ceil(n / group_size)` groups.
pub const fn workstation_groups(workstations: u32, group_size: u32) -> u32 {
    if group_size == 0 {
        return 0;
    }
    workstations.div_ceil(group_size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_round_up_to_whole_groups_of_ten() {
        assert_eq!(workstation_groups(0, 10), 0);
        assert_eq!(workstation_groups(1, 10), 1);
        assert_eq!(workstation_groups(10, 10), 1);
        assert_eq!(workstation_groups(11, 10), 2);
        assert_eq!(workstation_groups(40, 10), 4);
    }

    #[test]
    fn money_prints_in_kronor_and_ore() {
        assert_eq!(Ore(120_000).to_string(), "1200,00 kr");
        assert_eq!(Ore(253).to_string(), "2,53 kr");
        assert_eq!(Ore(-5).to_string(), "-0,05 kr");
    }
}
