//! Small text helpers written without `core::fmt` (which would add kilobytes to the wasm):
//! decimal numbers, query-string escaping and JSON strings.

use alloc::string::String;

/// `n` in decimal.
pub(crate) fn decimal(n: u64) -> String {
    // The digits before the last one first: no buffer to index (bounds-check panics bring their
    // formatting code) or to reverse.
    let mut text = if n >= 10 {
        decimal(n / 10)
    } else {
        String::new()
    };
    text.push(char::from(b'0' + (n % 10) as u8));
    text
}

/// Appends `value` to `out`, percent-escaping everything but RFC 3986 unreserved characters.
pub(crate) fn push_query_value(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 15)]));
        }
    }
}

/// Appends `value` to `out` as a JSON string literal, quotes included: `"` and `\` escaped, and
/// control characters as `\u00XX` (everything else, non-ASCII too, is valid JSON as it is).
pub(crate) fn push_json_string(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\u{0}'..='\u{1f}' => {
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(c as u8 >> 4)]));
                out.push(char::from(HEX[usize::from(c as u8 & 15)]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    #[test]
    fn decimal_matches_to_string() {
        for n in [0, 7, 10, 99, 1_700_000_000_000, u64::MAX] {
            assert_eq!(decimal(n), n.to_string());
        }
    }

    #[test]
    fn query_values_are_escaped() {
        let mut out = String::new();
        push_query_value(&mut out, "a-Z_0.~ /&=é");
        assert_eq!(out, "a-Z_0.~%20%2F%26%3D%C3%A9");
    }

    #[test]
    fn json_strings_are_escaped_as_serde_json_reads_them() {
        for value in [
            "product:42",
            "a\"b\\c",
            "tab\there\nnew\u{1}\u{1f}",
            "é ü 🎉",
            "",
        ] {
            let mut out = String::new();
            push_json_string(&mut out, value);
            assert_eq!(
                serde_json::from_str::<String>(&out).unwrap(),
                value,
                "{out}"
            );
        }
        let mut out = String::new();
        push_json_string(&mut out, "q\"\u{7}");
        assert_eq!(out, r#""q\"\u0007""#);
    }
}
