//! The Luhn (modulus 10) check digit of organisationsnummer and personnummer.

const DIGITS: &[u8; 10] = b"0123456789";

/// The check digit (an ASCII digit) for `payload`, a slice of ASCII digits: from the right,
/// every other digit starting with the last is doubled (a two-digit product counts as the
/// sum of its digits), and the check digit brings the total to a multiple of ten.
pub(super) fn check_digit(payload: &[u8]) -> u8 {
    debug_assert!(payload.iter().all(u8::is_ascii_digit));
    let sum: usize = payload
        .iter()
        .rev()
        .enumerate()
        .map(|(position, digit)| {
            let value = usize::from(digit - b'0');
            if position % 2 == 0 {
                let doubled = value * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                value
            }
        })
        .sum();
    DIGITS[(10 - sum % 10) % 10]
}

/// Whether the last of `digits` (ASCII digits) is the check digit of the others.
pub(super) fn is_valid(digits: &[u8]) -> bool {
    digits
        .split_last()
        .is_some_and(|(last, payload)| check_digit(payload) == *last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classic_luhn_example_has_check_digit_three() {
        assert_eq!(check_digit(b"7992739871"), b'3');
        assert!(is_valid(b"79927398713"));
        assert!(!is_valid(b"79927398710"));
    }

    #[test]
    fn published_swedish_numbers_have_valid_check_digits() {
        assert_eq!(check_digit(b"811218987"), b'6');
        assert_eq!(check_digit(b"121212121"), b'2');
        assert_eq!(check_digit(b"232100018"), b'0');
        assert!(is_valid(b"5705749959"));
    }

    #[test]
    fn an_empty_number_is_not_valid() {
        assert!(!is_valid(b""));
    }
}
