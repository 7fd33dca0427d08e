//! Avro `decimal` (bytes, two's-complement big-endian unscaled value) ↔ `rust_decimal::Decimal`.
//! Money is (18,2) and meters (18,3) on the wire; a value that would lose digits is an error, never
//! silently rounded.

use rust_decimal::Decimal;

/// Why a decimal cannot be put on the wire or read back.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecimalError {
    /// More fractional digits than the field's scale: rounding money silently is never acceptable.
    #[error("{value} has more than {scale} decimal places")]
    TooManyDecimals { value: Decimal, scale: u32 },
    /// More significant digits than the field's precision.
    #[error("{value} exceeds precision {precision}")]
    TooManyDigits { value: Decimal, precision: u32 },
    /// The bytes are longer than any value of this precision can be.
    #[error("decimal bytes of length {0} do not fit 16 bytes")]
    TooLong(usize),
}

/// Encodes `value` as the unscaled two's-complement big-endian bytes of an Avro decimal.
pub fn to_avro_bytes(value: Decimal, precision: u32, scale: u32) -> Result<Vec<u8>, DecimalError> {
    let mut scaled = value;
    scaled.rescale(scale);
    if scaled != value {
        return Err(DecimalError::TooManyDecimals { value, scale });
    }
    let unscaled = scaled.mantissa();
    if unscaled.unsigned_abs() >= 10u128.pow(precision) {
        return Err(DecimalError::TooManyDigits { value, precision });
    }
    let bytes = unscaled.to_be_bytes();
    // Drop leading bytes that only repeat the sign.
    let mut start = 0;
    while start < 15 {
        let (b, next) = (bytes[start], bytes[start + 1]);
        let redundant = (b == 0x00 && next & 0x80 == 0) || (b == 0xff && next & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    Ok(bytes[start..].to_vec())
}

/// Decodes the unscaled two's-complement big-endian bytes of an Avro decimal with `scale`.
pub fn from_avro_bytes(bytes: &[u8], scale: u32) -> Result<Decimal, DecimalError> {
    if bytes.len() > 16 {
        return Err(DecimalError::TooLong(bytes.len()));
    }
    let fill = if bytes.first().is_some_and(|b| b & 0x80 != 0) { 0xff } else { 0x00 };
    let mut buf = [fill; 16];
    buf[16 - bytes.len()..].copy_from_slice(bytes);
    let unscaled = i128::from_be_bytes(buf);
    Decimal::try_from_i128_with_scale(unscaled, scale).map_err(|_| DecimalError::TooLong(bytes.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::str::FromStr;

    #[rstest]
    #[case("0", 3)]
    #[case("20.5", 3)]
    #[case("-0.001", 3)]
    #[case("-128", 0)]
    #[case("127", 0)]
    #[case("128", 0)]
    #[case("-129", 0)]
    #[case("999999999999999.999", 3)]
    #[case("-999999999999999.999", 3)]
    #[case("1234567890123456.78", 2)]
    fn round_trips_at_the_edges(#[case] text: &str, #[case] scale: u32) {
        let value = Decimal::from_str(text).unwrap();
        let bytes = to_avro_bytes(value, 18, scale).unwrap();
        let back = from_avro_bytes(&bytes, scale).unwrap();
        assert_eq!(back, value);
        assert_eq!(back.scale(), scale, "comes back at the field's scale");
    }

    #[rstest]
    #[case("127", &[0x7f])]
    #[case("128", &[0x00, 0x80])]
    #[case("-1", &[0xff])]
    #[case("-128", &[0x80])]
    #[case("-129", &[0xff, 0x7f])]
    fn minimal_twos_complement(#[case] text: &str, #[case] expected: &[u8]) {
        assert_eq!(to_avro_bytes(Decimal::from_str(text).unwrap(), 18, 0).unwrap(), expected);
    }

    #[test]
    fn refuses_to_round_money() {
        let err = to_avro_bytes(Decimal::from_str("1.005").unwrap(), 18, 2).unwrap_err();
        assert!(matches!(err, DecimalError::TooManyDecimals { .. }));
    }

    #[test]
    fn refuses_more_digits_than_precision() {
        let err = to_avro_bytes(Decimal::from_str("10000000000000000.00").unwrap(), 18, 2).unwrap_err();
        assert!(matches!(err, DecimalError::TooManyDigits { .. }));
    }
}
