//! Personnummer and samordningsnummer: the numbers of natural persons. Personal data.

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    IdentifierKind, IdentityError, deserialize_parsed, digits_and_separator, luhn, number,
};

const KIND: IdentifierKind = IdentifierKind::Personnummer;

/// What a samordningsnummer adds to the day of birth.
const COORDINATION_DAY_OFFSET: u32 = 60;

/// A personnummer or samordningsnummer (coordination number: the day of birth plus 60).
///
/// This is personal data. `Debug` and `Display` mask the last four digits
/// (`Personnummer(19121212-****)`, `19121212-****`; a samordningsnummer shows the day as
/// written, `19570574-****`). Only [`Personnummer::canonical`] and `Serialize` give the
/// whole number, `YYYYMMDDNNNN`; `Deserialize` reads that form back with
/// [`Personnummer::parse_canonical`].
///
/// Deliberately not `Ord`: numbers of people have no order worth sorting by, and sorted
/// collections of them invite logging.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Personnummer {
    /// `YYYYMMDDNNNN`, the day as written (with the 60 of a samordningsnummer).
    canonical: String,
    birth_date: NaiveDate,
}

impl Personnummer {
    /// Parses a personnummer or samordningsnummer as people write it: `YYMMDD-NNNN`,
    /// `YYMMDD+NNNN`, `YYMMDDNNNN`, `YYYYMMDD-NNNN` or `YYYYMMDDNNNN`, with surrounding
    /// whitespace and nothing else.
    ///
    /// The ten-digit forms leave the century out; it follows from `today` (the domain has no
    /// clock, so callers pass one). With `-` or no separator the person is under 100: the
    /// birth year is the latest one ending in `YY` that puts the birth date on or before
    /// `today`. With `+` the person is 100 or older: one century earlier still. The
    /// twelve-digit forms give the century, and a birth date after `today` is refused.
    ///
    /// The birth date (after removing a samordningsnummer's 60) must exist, and the last
    /// digit must be the Luhn check digit of `YYMMDDNNN`.
    pub fn parse(raw: &str, today: NaiveDate) -> Result<Self, IdentityError> {
        let (digits, separator) = split(raw, b"-+")?;
        match digits.len() {
            10 => {
                let year = implied_year(&digits, today, separator == Some(b'+'));
                Self::from_ten_digits(year, &digits)
            }
            12 => {
                if separator == Some(b'+') {
                    return Err(IdentityError::Malformed {
                        kind: KIND,
                        reason: "'+' belongs only to the ten-digit form",
                    });
                }
                let parsed = Self::from_twelve_digits(&digits)?;
                if parsed.birth_date > today {
                    return Err(IdentityError::FutureBirthDate {
                        birth_date: parsed.birth_date,
                    });
                }
                Ok(parsed)
            }
            found => Err(IdentityError::WrongLength {
                kind: KIND,
                expected: "10 or 12 digits",
                found,
            }),
        }
    }

    /// Parses the canonical twelve-digit form, `YYYYMMDDNNNN` or `YYYYMMDD-NNNN`: what this
    /// system writes. It needs no reference date, so it does not check that the birth date
    /// has passed; use [`Personnummer::parse`] for input from people.
    pub fn parse_canonical(raw: &str) -> Result<Self, IdentityError> {
        let (digits, _) = split(raw, b"-")?;
        if digits.len() != 12 {
            return Err(IdentityError::WrongLength {
                kind: KIND,
                expected: "12 digits (YYYYMMDDNNNN)",
                found: digits.len(),
            });
        }
        Self::from_twelve_digits(&digits)
    }

    /// The whole number, `YYYYMMDDNNNN`. Personal data: do not log it.
    pub fn canonical(&self) -> String {
        self.canonical.clone()
    }

    /// The date of birth (for a samordningsnummer, without the 60 added to the day).
    pub const fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// Whether this is a samordningsnummer (the day of birth plus 60).
    pub fn is_coordination_number(&self) -> bool {
        // The tens digit of the day as written: 0..=3 for a personnummer, 6..=9 otherwise.
        self.canonical.as_bytes()[6] >= b'6'
    }

    fn from_twelve_digits(digits: &[u8]) -> Result<Self, IdentityError> {
        Self::from_ten_digits(i32::from(number(&digits[..4])), &digits[2..])
    }

    /// Builds the value from `YYMMDDNNNC` and the full birth year, whose last two digits
    /// are `YY`.
    fn from_ten_digits(year: i32, ten: &[u8]) -> Result<Self, IdentityError> {
        let month = u32::from(number(&ten[2..4]));
        let written_day = u32::from(number(&ten[4..6]));
        let birth_date = (0..=9999)
            .contains(&year)
            .then(|| NaiveDate::from_ymd_opt(year, month, real_day(written_day)))
            .flatten()
            .ok_or_else(|| IdentityError::ImpossibleDate {
                date: format!("{year:04}{month:02}{written_day:02}"),
            })?;
        if !luhn::is_valid(ten) {
            return Err(IdentityError::CheckDigit { kind: KIND });
        }
        let mut canonical = format!("{:02}", year / 100);
        canonical.extend(ten.iter().copied().map(char::from));
        Ok(Self {
            canonical,
            birth_date,
        })
    }
}

/// Trims `raw` and splits it into digits and the separator before the last four.
fn split(raw: &str, separators: &[u8]) -> Result<(Vec<u8>, Option<u8>), IdentityError> {
    digits_and_separator(
        raw.trim(),
        KIND,
        separators,
        "only digits, with at most a separator before the last four",
    )
}

/// The day of the month: a samordningsnummer's written day (61..=91) less 60.
fn real_day(written_day: u32) -> u32 {
    if (61..=91).contains(&written_day) {
        written_day - COORDINATION_DAY_OFFSET
    } else {
        written_day
    }
}

/// The birth year of a ten-digit number `YYMMDDNNNC` written on `today`: the latest year
/// ending in `YY` whose `MMDD` is on or before `today`, and a century earlier for `+`.
fn implied_year(ten: &[u8], today: NaiveDate, centenarian: bool) -> i32 {
    let yy = i32::from(number(&ten[..2]));
    let month = u32::from(number(&ten[2..4]));
    let day = real_day(u32::from(number(&ten[4..6])));
    let this_year = today.year();
    let mut year = this_year - (this_year - yy).rem_euclid(100);
    if year == this_year && (month, day) > (today.month(), today.day()) {
        year -= 100;
    }
    if centenarian {
        year -= 100;
    }
    year
}

impl fmt::Display for Personnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-****", &self.canonical[..8])
    }
}

impl fmt::Debug for Personnummer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Personnummer({self})")
    }
}

impl Serialize for Personnummer {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.canonical)
    }
}

impl<'de> Deserialize<'de> for Personnummer {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_parsed(
            deserializer,
            "a personnummer string of twelve digits, YYYYMMDDNNNN",
            Self::parse_canonical,
        )
    }
}

#[cfg(test)]
mod tests {
    use chrono::Days;
    use proptest::prelude::*;

    use super::*;

    fn date(year: i32, month: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(year, month, day).unwrap()
    }

    /// The reference date of the tests.
    fn today() -> NaiveDate {
        date(2026, 11, 23)
    }

    fn parse(raw: &str) -> Result<Personnummer, IdentityError> {
        Personnummer::parse(raw, today())
    }

    /// `YYMMDDNNN` followed by its check digit.
    fn ten(nine: &str) -> String {
        let check = char::from(luhn::check_digit(nine.as_bytes()));
        format!("{nine}{check}")
    }

    /// `YYMMDDNNN` with its check digit, written `YYMMDD<separator>NNNC`.
    fn written(nine: &str, separator: &str) -> String {
        let ten = ten(nine);
        format!("{}{separator}{}", &ten[..6], &ten[6..])
    }

    fn impossible(date: &str) -> Result<Personnummer, IdentityError> {
        Err(IdentityError::ImpossibleDate { date: date.into() })
    }

    #[test]
    fn skatteverkets_test_number_parses_in_every_form() {
        for raw in ["19121212-1212", "191212121212", "121212+1212"] {
            let pnr = parse(raw).unwrap();
            assert_eq!(pnr.canonical(), "191212121212", "{raw}");
            assert_eq!(pnr.birth_date(), date(1912, 12, 12));
            assert!(!pnr.is_coordination_number());
        }
        for raw in [
            "121212-1212",
            "1212121212",
            "20121212-1212",
            " 201212121212\t",
        ] {
            let pnr = parse(raw).unwrap();
            assert_eq!(pnr.canonical(), "201212121212", "{raw}");
            assert_eq!(pnr.birth_date(), date(2012, 12, 12));
        }
    }

    #[test]
    fn a_published_personnummer_parses() {
        let pnr = parse("811218-9876").unwrap();
        assert_eq!(pnr.canonical(), "198112189876");
        assert_eq!(pnr.birth_date(), date(1981, 12, 18));
    }

    #[test]
    fn a_samordningsnummer_has_sixty_added_to_the_day() {
        let pnr = parse("570574-9959").unwrap();
        assert!(pnr.is_coordination_number());
        assert_eq!(pnr.birth_date(), date(1957, 5, 14));
        assert_eq!(pnr.canonical(), "195705749959");
        assert_eq!(pnr.to_string(), "19570574-****");
        assert_eq!(format!("{pnr:?}"), "Personnummer(19570574-****)");
        assert_eq!(parse("19570574-9959"), Ok(pnr));
    }

    #[test]
    fn display_and_debug_mask_the_last_four_digits() {
        let pnr = parse("811218-9876").unwrap();
        assert_eq!(pnr.to_string(), "19811218-****");
        assert_eq!(format!("{pnr:?}"), "Personnummer(19811218-****)");
        assert_eq!(
            format!("{:?}", Some(&pnr)),
            "Some(Personnummer(19811218-****))"
        );
    }

    #[test]
    fn a_wrong_check_digit_is_refused() {
        let refused = Err(IdentityError::CheckDigit { kind: KIND });
        assert_eq!(parse("19121212-1213"), refused);
        assert_eq!(parse("121212-1213"), refused);
        assert_eq!(parse("570574-9958"), refused);
    }

    #[test]
    fn impossible_birth_dates_are_refused() {
        assert_eq!(
            parse(&format!("19{}", written("121312121", "-"))),
            impossible("19121312")
        );
        assert_eq!(parse(&written("120230121", "-")), impossible("20120230"));
        assert_eq!(parse(&written("121292121", "-")), impossible("20121292"));
        assert_eq!(parse(&written("121200121", "-")), impossible("20121200"));
        assert_eq!(parse(&written("121260121", "-")), impossible("20121260"));
        assert_eq!(parse(&written("121232121", "-")), impossible("20121232"));
        assert_eq!(parse(&written("120931121", "-")), impossible("20120931"));
        assert_eq!(parse(&written("120991121", "-")), impossible("20120991"));
    }

    #[test]
    fn the_29th_of_february_exists_only_in_leap_years() {
        assert_eq!(
            parse(&format!("19{}", ten("130229123"))),
            impossible("19130229")
        );
        assert_eq!(
            parse(&format!("19{}", written("000229123", "-"))),
            impossible("19000229")
        );
        assert_eq!(
            parse(&format!("20{}", ten("000229123"))).map(|p| p.birth_date()),
            Ok(date(2000, 2, 29))
        );
        assert_eq!(
            parse(&written("120289123", "-")).map(|p| p.birth_date()),
            Ok(date(2012, 2, 29))
        );
        assert_eq!(parse(&written("130289123", "-")), impossible("20130289"));
    }

    #[test]
    fn a_plus_that_puts_the_birth_date_on_a_day_that_never_was_is_refused() {
        assert_eq!(
            parse(&written("000229123", "-")).map(|p| p.birth_date()),
            Ok(date(2000, 2, 29))
        );
        assert_eq!(parse(&written("000229123", "+")), impossible("19000229"));
    }

    #[test]
    fn letters_and_stray_characters_are_refused() {
        for raw in [
            "19121212-12A2",
            "ABCDEF-1234",
            "121212 1212",
            "1212-12-1212",
            "121212--1212",
            "121212-1212x",
            "121212-121",
            "P121212-1212",
            "１２１２１２-１２１２",
            "121212−1212",
        ] {
            assert!(
                matches!(parse(raw), Err(IdentityError::Malformed { kind: KIND, .. })),
                "{raw}"
            );
        }
        assert!(matches!(
            parse("19121212+1212"),
            Err(IdentityError::Malformed { kind: KIND, .. })
        ));
    }

    #[test]
    fn wrong_lengths_are_refused() {
        for (raw, found) in [
            ("", 0),
            ("121212121", 9),
            ("12121-1212", 9),
            ("12121212121", 11),
            ("1912121212121", 13),
            ("1212121-1212", 11),
        ] {
            assert_eq!(
                parse(raw),
                Err(IdentityError::WrongLength {
                    kind: KIND,
                    expected: "10 or 12 digits",
                    found,
                }),
                "{raw}"
            );
        }
    }

    #[test]
    fn a_twelve_digit_birth_date_after_today_is_refused() {
        let tomorrow = format!("20{}", ten("261124123"));
        assert_eq!(
            parse(&tomorrow),
            Err(IdentityError::FutureBirthDate {
                birth_date: date(2026, 11, 24)
            })
        );
        let born_today = format!("20{}", ten("261123123"));
        assert_eq!(
            parse(&born_today).map(|p| p.birth_date()),
            Ok(date(2026, 11, 23))
        );
        assert!(matches!(
            parse(&format!("20{}", ten("271212123"))),
            Err(IdentityError::FutureBirthDate { .. })
        ));
    }

    #[test]
    fn a_ten_digit_birthday_later_this_year_belongs_to_the_last_century() {
        assert_eq!(
            parse(&written("261124123", "-")).map(|p| p.birth_date()),
            Ok(date(1926, 11, 24))
        );
        assert_eq!(
            parse(&ten("261124123")).map(|p| p.birth_date()),
            Ok(date(1926, 11, 24))
        );
        assert_eq!(
            parse(&written("261124123", "+")).map(|p| p.birth_date()),
            Ok(date(1826, 11, 24))
        );
    }

    #[test]
    fn a_ten_digit_birthday_earlier_this_year_belongs_to_this_century() {
        assert_eq!(
            parse(&written("261122123", "-")).map(|p| p.birth_date()),
            Ok(date(2026, 11, 22))
        );
        assert_eq!(
            parse(&written("260101123", "")).map(|p| p.birth_date()),
            Ok(date(2026, 1, 1))
        );
        assert_eq!(
            parse(&written("261122123", "+")).map(|p| p.birth_date()),
            Ok(date(1926, 11, 22))
        );
    }

    #[test]
    fn a_ten_digit_birthday_today_is_born_today_or_turns_a_hundred_today() {
        assert_eq!(
            parse(&written("261123123", "-")).map(|p| p.birth_date()),
            Ok(date(2026, 11, 23))
        );
        assert_eq!(
            parse(&written("261123123", "+")).map(|p| p.birth_date()),
            Ok(date(1926, 11, 23))
        );
    }

    #[test]
    fn a_ten_digit_year_after_this_one_belongs_to_the_last_century() {
        assert_eq!(
            parse(&written("270101123", "-")).map(|p| p.birth_date()),
            Ok(date(1927, 1, 1))
        );
        assert_eq!(
            parse(&written("270101123", "+")).map(|p| p.birth_date()),
            Ok(date(1827, 1, 1))
        );
    }

    #[test]
    fn the_century_rule_uses_the_real_day_of_a_samordningsnummer() {
        // Written day 84 is the 24th: tomorrow, so last century.
        assert_eq!(
            parse(&written("261184123", "-")).map(|p| p.birth_date()),
            Ok(date(1926, 11, 24))
        );
        assert_eq!(
            parse(&written("261182123", "-")).map(|p| p.birth_date()),
            Ok(date(2026, 11, 22))
        );
    }

    #[test]
    fn parse_canonical_reads_only_the_twelve_digit_form() {
        let pnr = Personnummer::parse_canonical("191212121212").unwrap();
        assert_eq!(pnr.birth_date(), date(1912, 12, 12));
        assert_eq!(Personnummer::parse_canonical("19121212-1212"), Ok(pnr));
        assert!(matches!(
            Personnummer::parse_canonical("121212-1212"),
            Err(IdentityError::WrongLength { found: 10, .. })
        ));
        assert!(Personnummer::parse_canonical("19121212+1212").is_err());
        assert!(Personnummer::parse_canonical("19121212-1213").is_err());
        assert!(Personnummer::parse_canonical("19130229-1234").is_err());
    }

    #[test]
    fn serde_writes_twelve_digits_and_reads_them_back() {
        let pnr = parse("570574-9959").unwrap();
        let json = serde_json::to_string(&pnr).unwrap();
        assert_eq!(json, "\"195705749959\"");
        assert_eq!(serde_json::from_str::<Personnummer>(&json).unwrap(), pnr);
        assert!(serde_json::from_str::<Personnummer>("\"570574-9959\"").is_err());
    }

    #[test]
    fn no_output_or_error_ever_contains_the_last_four_digits() {
        // Inputs whose last four digits appear nowhere else in them.
        let inputs = [
            "811218-9876",
            "19811218-9876",
            "8112189876",
            "570574-9959",
            "811218-9875",
            "811318-9876",
            "811292-9876",
            "810229-9876",
            "811218-987",
            "811218*9876",
            "811218 9876",
            "19811218+9876",
            "20811218-9876",
            "8I1218-9876",
        ];
        for raw in inputs {
            let last_four = &raw[raw.len() - 4..];
            let texts = match parse(raw) {
                Ok(pnr) => vec![pnr.to_string(), format!("{pnr:?}")],
                Err(error) => vec![error.to_string(), format!("{error:?}")],
            };
            let json = format!("\"{}\"", raw.trim());
            let serde_error = serde_json::from_str::<Personnummer>(&json)
                .err()
                .map(|e| e.to_string());
            let canonical_error = Personnummer::parse_canonical(raw)
                .err()
                .map(|e| e.to_string());
            for text in texts.into_iter().chain(serde_error).chain(canonical_error) {
                assert!(!text.contains(last_four), "{raw}: {text}");
            }
        }
        let number_error = serde_json::from_str::<Personnummer>("198112189876").unwrap_err();
        assert!(!number_error.to_string().contains("9876"), "{number_error}");
    }

    /// `YYMMDDNNNC` of a person born on `birth` with `serial` (0..1000).
    fn ten_digits(birth: NaiveDate, serial: u16, coordination: bool) -> String {
        let day = birth.day() + if coordination { 60 } else { 0 };
        ten(&format!(
            "{:02}{:02}{day:02}{serial:03}",
            birth.year() % 100,
            birth.month()
        ))
    }

    /// Every way of writing `ten` (born on `birth`) that `parse` accepts on `today`.
    fn every_form(birth: NaiveDate, ten: &str, today: NaiveDate) -> Vec<String> {
        let century = birth.year() / 100;
        let (date, last) = (&ten[..6], &ten[6..]);
        let mut forms = vec![
            format!("{century:02}{ten}"),
            format!("{century:02}{date}-{last}"),
        ];
        let under_100 = (birth.year(), birth.month(), birth.day())
            > (today.year() - 100, today.month(), today.day());
        if under_100 {
            forms.push(ten.to_owned());
            forms.push(format!("{date}-{last}"));
        } else {
            forms.push(format!("{date}+{last}"));
        }
        forms
    }

    prop_compose! {
        /// A birth date within 120 years before `today()`, a serial and the kind.
        fn person()(
            days_ago in 0u64..=43_830,
            serial in 0u16..1000,
            coordination in any::<bool>(),
        ) -> (NaiveDate, u16, bool) {
            (today().checked_sub_days(Days::new(days_ago)).unwrap(), serial, coordination)
        }
    }

    proptest! {
        #[test]
        fn every_valid_number_parses_back_to_the_same_canonical_value_in_every_form(
            (birth, serial, coordination) in person(),
        ) {
            let ten = ten_digits(birth, serial, coordination);
            let canonical = format!("{:02}{ten}", birth.year() / 100);
            for raw in every_form(birth, &ten, today()) {
                let pnr = parse(&raw).unwrap();
                prop_assert_eq!(pnr.canonical(), canonical.clone(), "{}", raw);
                prop_assert_eq!(pnr.birth_date(), birth);
                prop_assert_eq!(pnr.is_coordination_number(), coordination);
                prop_assert_eq!(pnr.to_string(), format!("{}-****", &canonical[..8]));
                prop_assert_eq!(
                    format!("{pnr:?}"),
                    format!("Personnummer({}-****)", &canonical[..8])
                );
                prop_assert_eq!(Personnummer::parse_canonical(&canonical).unwrap(), pnr);
            }
        }

        #[test]
        fn every_valid_number_round_trips_through_json(
            (birth, serial, coordination) in person(),
        ) {
            let ten = ten_digits(birth, serial, coordination);
            let pnr = parse(&ten_digits_with_century(birth, &ten)).unwrap();
            let json = serde_json::to_string(&pnr).unwrap();
            prop_assert_eq!(&json, &format!("\"{}\"", pnr.canonical()));
            prop_assert_eq!(serde_json::from_str::<Personnummer>(&json).unwrap(), pnr);
        }

        #[test]
        fn changing_the_check_digit_always_fails(
            (birth, serial, coordination) in person(),
            change in 1u8..10,
        ) {
            let ten = ten_digits(birth, serial, coordination);
            let check = ten.as_bytes()[9] - b'0';
            let wrong = format!("{}{}", &ten[..9], (check + change) % 10);
            for raw in every_form(birth, &wrong, today()) {
                prop_assert_eq!(parse(&raw), Err(IdentityError::CheckDigit { kind: KIND }));
            }
        }

        #[test]
        fn the_century_rule_holds_for_any_reference_date(
            today_offset in 0u64..=73_000,
            (days_ago, serial) in (0u64..=43_830, 0u16..1000),
        ) {
            let today = date(1930, 1, 1).checked_add_days(Days::new(today_offset)).unwrap();
            let birth = today.checked_sub_days(Days::new(days_ago)).unwrap();
            let ten = ten_digits(birth, serial, false);
            for raw in every_form(birth, &ten, today) {
                let pnr = Personnummer::parse(&raw, today).unwrap();
                prop_assert_eq!(pnr.birth_date(), birth, "{} on {}", raw, today);
            }
        }
    }

    fn ten_digits_with_century(birth: NaiveDate, ten: &str) -> String {
        format!("{:02}{ten}", birth.year() / 100)
    }
}
