//! A member's credential as a card reader sends it to an access-control
//! panel: the Wiegand bits of a card number, in the panel's format. Both
//! panel outputs (OSDP's osdp_RAW and the two Wiegand lines) send these.

use serde::Deserialize;

/// The card formats panels are set up for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardFormat {
    /// H10301: even parity, 8-bit facility code, 16-bit card, odd parity.
    Wiegand26 { facility_code: u8 },
    /// 34 bits: even parity, 16-bit facility code, 16-bit card, odd parity.
    Wiegand34 { facility_code: u16 },
    /// The card number alone in this many bits, most significant first.
    Raw { bits: u8 },
}

/// How the config names a format (`format`, `facility_code`, `bits`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardFormatConfig {
    pub format: String,
    pub facility_code: u32,
    pub bits: u32,
    /// The member label holding the card number.
    pub card_label: String,
}

/// The most bits a raw card read carries: a 64-bit card number.
const MAX_RAW_BITS: u32 = 64;

impl CardFormatConfig {
    /// The format, or what is wrong with it, naming `section`'s key.
    pub fn parse(&self, section: &str) -> Result<CardFormat, String> {
        let facility = |max: u32| match self.facility_code <= max {
            true => Ok(self.facility_code),
            false => Err(format!(
                "invalid config: {section}.facility_code = {} does not fit {} (0..={max})",
                self.facility_code, self.format
            )),
        };
        if self.card_label.is_empty() {
            return Err(format!("invalid config: {section}.card_label is empty"));
        }
        match self.format.as_str() {
            "wiegand26" => Ok(CardFormat::Wiegand26 {
                facility_code: facility(0xFF)? as u8,
            }),
            "wiegand34" => Ok(CardFormat::Wiegand34 {
                facility_code: facility(0xFFFF)? as u16,
            }),
            "raw" if (1..=MAX_RAW_BITS).contains(&self.bits) => Ok(CardFormat::Raw {
                bits: self.bits as u8,
            }),
            "raw" => Err(format!(
                "invalid config: {section}.bits = {} is outside 1..={MAX_RAW_BITS}",
                self.bits
            )),
            other => Err(format!(
                "invalid config: {section}.format = {other:?} is not \"wiegand26\", \"wiegand34\" or \"raw\""
            )),
        }
    }
}

/// A credential: the bits on the wire, first sent first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub bits: Vec<bool>,
}

impl Credential {
    /// The card number `card` (a member label's decimal text) in `format`,
    /// or why it cannot be sent.
    pub fn encode(format: CardFormat, card: &str) -> Result<Credential, String> {
        let number: u64 = card
            .trim()
            .parse()
            .map_err(|_| format!("card number {card:?} is not a whole number"))?;
        let too_big = |bits: u32| format!("card number {number} does not fit {bits} bits");
        let bits = match format {
            CardFormat::Wiegand26 { facility_code } => {
                let card = u16::try_from(number).map_err(|_| too_big(16))?;
                with_parity(&[
                    number_bits(facility_code.into(), 8),
                    number_bits(card.into(), 16),
                ])
            }
            CardFormat::Wiegand34 { facility_code } => {
                let card = u16::try_from(number).map_err(|_| too_big(16))?;
                with_parity(&[
                    number_bits(facility_code.into(), 16),
                    number_bits(card.into(), 16),
                ])
            }
            CardFormat::Raw { bits } => {
                if bits < 64 && number >> bits != 0 {
                    return Err(too_big(bits.into()));
                }
                number_bits(number, bits.into())
            }
        };
        Ok(Credential { bits })
    }

    /// The bits packed into bytes, first bit in the top of the first byte,
    /// as osdp_RAW carries them.
    pub fn bytes(&self) -> Vec<u8> {
        self.bits
            .chunks(8)
            .map(|chunk| {
                chunk
                    .iter()
                    .enumerate()
                    .fold(0u8, |byte, (i, bit)| byte | (u8::from(*bit) << (7 - i)))
            })
            .collect()
    }
}

/// `value` in `width` bits, most significant first.
fn number_bits(value: u64, width: u32) -> Vec<bool> {
    (0..width).rev().map(|i| (value >> i) & 1 == 1).collect()
}

/// The data bits framed by Wiegand's parity: the leading bit makes the
/// first half's ones even, the trailing bit the second half's odd.
fn with_parity(parts: &[Vec<bool>]) -> Vec<bool> {
    let data: Vec<bool> = parts.concat();
    let (first, second) = data.split_at(data.len() / 2);
    let ones = |half: &[bool]| half.iter().filter(|bit| **bit).count();
    let mut framed = Vec::with_capacity(data.len() + 2);
    framed.push(ones(first) % 2 == 1);
    framed.extend_from_slice(&data);
    framed.push(ones(second) % 2 == 0);
    framed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bits: &[bool]) -> String {
        bits.iter().map(|b| if *b { '1' } else { '0' }).collect()
    }

    #[test]
    fn a_26_bit_card_has_its_facility_code_card_number_and_both_parities() {
        let card =
            Credential::encode(CardFormat::Wiegand26 { facility_code: 18 }, "12345").unwrap();
        // 18 = 00010010, 12345 = 0011000000111001; the first twelve data
        // bits hold 4 ones (even parity: 0), the last twelve 4 (odd: 1).
        assert_eq!(
            text(&card.bits),
            "0000100100011000000111001".to_string() + "1"
        );
        assert_eq!(card.bits.len(), 26);
        // Packed MSB first, as osdp_RAW carries it.
        assert_eq!(
            card.bytes(),
            vec![0b0000_1001, 0b0001_1000, 0b0001_1100, 0b1100_0000]
        );
    }

    #[test]
    fn parity_bits_follow_the_ones_of_each_half() {
        // Facility 255 and card 65535: every data bit is one, so twelve
        // ones in each half: the even parity bit is 0, the odd one is 1.
        let all =
            Credential::encode(CardFormat::Wiegand26 { facility_code: 255 }, "65535").unwrap();
        assert_eq!(text(&all.bits), format!("0{}1", "1".repeat(24)));
        // Facility 1 and card 0: one 1 in the first half, none in the second.
        let one = Credential::encode(CardFormat::Wiegand26 { facility_code: 1 }, "0").unwrap();
        assert_eq!(
            text(&one.bits),
            format!("1{}1{}1", "0".repeat(7), "0".repeat(16))
        );
    }

    #[test]
    fn a_34_bit_card_has_a_16_bit_facility_code() {
        let card = Credential::encode(
            CardFormat::Wiegand34 {
                facility_code: 0x1234,
            },
            "4660",
        )
        .unwrap();
        assert_eq!(card.bits.len(), 34);
        // 0x1234 has 5 ones (parity 1), 4660 = 0x1234 too: 5 ones (odd: 0).
        assert_eq!(
            text(&card.bits),
            format!(
                "1{}{}0",
                text(&number_bits(0x1234, 16)),
                text(&number_bits(0x1234, 16))
            )
        );
    }

    #[test]
    fn a_raw_card_is_its_number_in_its_bits() {
        let card = Credential::encode(CardFormat::Raw { bits: 12 }, "2049").unwrap();
        assert_eq!(text(&card.bits), "100000000001");
        assert_eq!(card.bytes(), vec![0x80, 0x10]);
        let wide = Credential::encode(CardFormat::Raw { bits: 64 }, &u64::MAX.to_string()).unwrap();
        assert_eq!(wide.bits, vec![true; 64]);
    }

    #[test]
    fn a_card_number_the_format_cannot_hold_is_refused() {
        let w26 = CardFormat::Wiegand26 { facility_code: 1 };
        assert!(Credential::encode(w26, "65536")
            .unwrap_err()
            .contains("16 bits"));
        assert!(Credential::encode(w26, "12a")
            .unwrap_err()
            .contains("whole number"));
        assert!(Credential::encode(w26, "-1").is_err());
        let raw = CardFormat::Raw { bits: 8 };
        assert!(Credential::encode(raw, "256")
            .unwrap_err()
            .contains("8 bits"));
    }

    #[test]
    fn a_format_that_cannot_be_built_is_refused_naming_the_key() {
        let config = |format: &str, facility_code, bits| CardFormatConfig {
            format: format.into(),
            facility_code,
            bits,
            card_label: "cardNumber".into(),
        };
        assert_eq!(
            config("wiegand26", 18, 0).parse("osdp"),
            Ok(CardFormat::Wiegand26 { facility_code: 18 })
        );
        for (bad, key) in [
            (config("wiegand26", 256, 0), "osdp.facility_code"),
            (config("wiegand34", 65536, 0), "osdp.facility_code"),
            (config("raw", 0, 65), "osdp.bits"),
            (config("hid37", 0, 0), "osdp.format"),
        ] {
            let err = bad.parse("osdp").unwrap_err();
            assert!(err.contains(key), "{err}");
        }
    }
}
