//! Money rules shared by invoicing and the ledger: the wire scales, the one rounding rule
//! (half-up to paise, rules A5) and rupee formatting for customer messages. Decimal only —
//! the source system's "Float × Decimal GST" bug cannot happen here.

use rust_decimal::{Decimal, RoundingStrategy};
use souk_runtime::Rejection;

/// Decimals of money on the wire (Avro decimal(18,2)).
pub const MONEY_SCALE: u32 = 2;
/// Decimals of meters on the wire (Avro decimal(18,3)).
pub const METER_SCALE: u32 = 3;
/// Decimals of a GST rate on the wire (Avro decimal(6,4)).
pub const RATE_SCALE: u32 = 4;

/// Rounds half-up (away from zero at the midpoint) to paise: 0.005 → 0.01.
pub fn round_money(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(MONEY_SCALE, RoundingStrategy::MidpointAwayFromZero)
}

/// True when `value` has at most `scale` decimals once trailing zeros are ignored.
pub fn fits_scale(value: Decimal, scale: u32) -> bool {
    value.round_dp(scale) == value
}

/// `Ok` when `value` has at most `scale` decimals, else a `TOO_MANY_DECIMALS` rejection naming
/// `field`: a value the wire cannot carry is refused, never silently rounded.
pub fn check_scale(value: Decimal, scale: u32, field: &str) -> Result<(), Rejection> {
    if fits_scale(value, scale) {
        Ok(())
    } else {
        Err(Rejection::new("TOO_MANY_DECIMALS", format!("{field} {value} has more than {scale} decimals")))
    }
}

/// `₹1,23,456.70`: rupees with Indian digit grouping (last three digits, then pairs) and exactly
/// two decimals (half-up), for the texts sent to customers.
pub fn format_inr(value: Decimal) -> String {
    let rounded = round_money(value);
    let sign = if rounded.is_sign_negative() && !rounded.is_zero() { "-" } else { "" };
    let text = format!("{:.2}", rounded.abs());
    let (whole, paise) = text.split_once('.').unwrap_or((&text, "00"));
    let grouped = if whole.len() <= 3 {
        whole.to_string()
    } else {
        let (head, last3) = whole.split_at(whole.len() - 3);
        let mut pairs: Vec<&str> = Vec::new();
        let mut rest = head;
        while rest.len() > 2 {
            let (left, pair) = rest.split_at(rest.len() - 2);
            pairs.push(pair);
            rest = left;
        }
        pairs.push(rest);
        pairs.reverse();
        format!("{},{last3}", pairs.join(","))
    };
    format!("{sign}₹{grouped}.{paise}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(text: &str) -> Decimal {
        Decimal::from_str(text).unwrap()
    }

    #[test]
    fn rounds_half_up_to_paise() {
        for (value, rounded) in [("0.005", "0.01"), ("0.0049", "0.00"), ("1.665", "1.67"), ("-0.005", "-0.01"), ("2.5", "2.50")] {
            assert_eq!(round_money(d(value)), d(rounded), "{value}");
        }
    }

    #[test]
    fn formats_rupees_with_indian_grouping() {
        for (value, text) in
            [("0", "₹0.00"), ("5", "₹5.00"), ("999.9", "₹999.90"), ("2205", "₹2,205.00"), ("105", "₹105.00"), ("123456.7", "₹1,23,456.70"), ("12345678.905", "₹1,23,45,678.91"), ("-795", "-₹795.00")]
        {
            assert_eq!(format_inr(d(value)), text, "{value}");
        }
    }

    #[test]
    fn scale_ignores_trailing_zeros() {
        assert!(fits_scale(d("1.500"), 2));
        assert!(!fits_scale(d("1.505"), 2));
        assert_eq!(check_scale(d("1.505"), 2, "amount").unwrap_err().code, "TOO_MANY_DECIMALS");
    }
}
