//! Shape checks for the dates and timestamps packets carry (`yyyy/MM/dd`,
//! `yyyy/MM/dd HH:mm:ss`, Vietnam local time without a zone). Owns the shapes only: the
//! model keeps dates as text because real packets carry impossible ones (`2014/02/30`),
//! and whether a date is acceptable (not in the future, say) is the workflow's call.

/// True when `text` has the shape `yyyy/MM/dd` with a month 01–12 and a day 01–31.
/// It does not check the calendar: real packets carry dates such as `2014/02/30`.
pub fn is_valid_date(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 10
        && bytes[4] == b'/'
        && bytes[7] == b'/'
        && all_digits(&bytes[0..4])
        && number_in(&bytes[5..7], 1, 12)
        && number_in(&bytes[8..10], 1, 31)
}

/// True when `text` has the shape `yyyy/MM/dd HH:mm:ss` with a valid date shape (see
/// [`is_valid_date`]), hours 00–23, minutes and seconds 00–59.
pub fn is_valid_timestamp(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == 19
        && text.get(..10).is_some_and(is_valid_date)
        && bytes[10] == b' '
        && bytes[13] == b':'
        && bytes[16] == b':'
        && number_in(&bytes[11..13], 0, 23)
        && number_in(&bytes[14..16], 0, 59)
        && number_in(&bytes[17..19], 0, 59)
}

fn all_digits(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_digit)
}

fn number_in(bytes: &[u8], low: u32, high: u32) -> bool {
    all_digits(bytes)
        && bytes
            .iter()
            .try_fold(0u32, |value, digit| {
                value.checked_mul(10)?.checked_add(u32::from(digit - b'0'))
            })
            .is_some_and(|value| (low..=high).contains(&value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_shapes() {
        assert!(is_valid_date("2014/02/30"));
        assert!(is_valid_date("2018/09/28"));
        assert!(!is_valid_date("2018-09-28"));
        assert!(!is_valid_date("2018/13/01"));
        assert!(!is_valid_date("2018/1/01"));
        assert!(!is_valid_date("2018/01/01 "));
        assert!(is_valid_timestamp("2018/09/28 17:25:11"));
        assert!(!is_valid_timestamp("2018/09/28 24:00:00"));
        assert!(!is_valid_timestamp("2018/09/28T17:25:11"));
        assert!(!is_valid_timestamp("2018/09/28 17:25:1"));
        assert!(!is_valid_timestamp("2018/09/2é 17:25:11"));
    }
}
