//! Java's `Double.toString` / `Float.toString` (shortest round-trip digits,
//! JDK 19+), which the appliance uses for JSON and CSV values:
//! `1.0`, `-0.09`, `1.0E-5`, `1.23456789E8`, `NaN`, `Infinity`.

/// Appends Java's `Double.toString(v)`.
pub fn push_double(out: &mut String, v: f64) {
    if !v.is_finite() {
        out.push_str(if v.is_nan() {
            "NaN"
        } else if v > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        });
        return;
    }
    if v == 0.0 {
        out.push_str(if v.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    // Integers below 10^7 print as "<int>.0" without the general path.
    if v.abs() < 1e7 && v == v.trunc() {
        let mut b = itoa::Buffer::new();
        out.push_str(b.format(v as i64));
        out.push_str(".0");
        return;
    }
    let mut b = ryu::Buffer::new();
    let shortest = b.format_finite(v);
    let a = v.abs();
    if (1e-3..1e7).contains(&a) {
        // ryu prints this range in plain decimal with at least one
        // fractional digit: exactly Java's text.
        out.push_str(shortest);
        return;
    }
    if a < f64::MIN_POSITIVE && one_digit(shortest) {
        // Subnormals: when the shortest has one digit Java picks the
        // closest two-digit decimal (4.9E-324, not 5E-324). For normal
        // numbers both are the same digits.
        let two = format!("{v:.1e}");
        if two.parse::<f64>().ok() == Some(v) {
            return layout(out, &two);
        }
    }
    layout(out, shortest);
}

/// Appends Java's `Float.toString(v)`.
pub fn push_float(out: &mut String, v: f32) {
    if !v.is_finite() || v == 0.0 {
        push_double(out, f64::from(v));
        return;
    }
    if v.abs() < 1e7 && v == v.trunc() {
        let mut b = itoa::Buffer::new();
        out.push_str(b.format(v as i64));
        out.push_str(".0");
        return;
    }
    let mut b = ryu::Buffer::new();
    let shortest = b.format_finite(v);
    let a = v.abs();
    if (1e-3..1e7).contains(&a) {
        out.push_str(shortest);
        return;
    }
    if a < f32::MIN_POSITIVE && one_digit(shortest) {
        let two = format!("{v:.1e}");
        if two.parse::<f32>().ok() == Some(v) {
            return layout(out, &two);
        }
    }
    layout(out, shortest);
}

/// Java's `Double.toString` as a new string.
pub fn double_to_string(v: f64) -> String {
    let mut s = String::new();
    push_double(&mut s, v);
    s
}

/// Significant digits and decimal exponent of a ryu string: value =
/// 0.d1d2… × 10^(exp+1), i.e. the first digit sits at 10^exp.
struct Digits {
    neg: bool,
    buf: [u8; 24],
    len: usize,
    exp: i32,
}

fn digits_of(ryu: &str) -> Digits {
    let b = ryu.as_bytes();
    let (neg, b) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    let (mant, e) = match b.iter().position(|c| *c == b'e' || *c == b'E') {
        Some(i) => (
            &b[..i],
            std::str::from_utf8(&b[i + 1..])
                .ok()
                .and_then(|x| x.parse::<i32>().ok())
                .unwrap_or(0),
        ),
        None => (b, 0),
    };
    let int_len = mant.iter().position(|c| *c == b'.').unwrap_or(mant.len());
    let mut d = Digits {
        neg,
        buf: [0; 24],
        len: 0,
        exp: int_len as i32 - 1 + e,
    };
    let mut leading = true;
    for &c in mant.iter().filter(|c| c.is_ascii_digit()) {
        if leading && c == b'0' {
            d.exp -= 1;
            continue;
        }
        leading = false;
        if d.len < d.buf.len() {
            d.buf[d.len] = c;
            d.len += 1;
        }
    }
    while d.len > 1 && d.buf[d.len - 1] == b'0' {
        d.len -= 1;
    }
    if d.len == 0 {
        d.buf[0] = b'0';
        d.len = 1;
    }
    d
}

/// True if ryu's output has a single significant digit.
fn one_digit(s: &str) -> bool {
    digits_of(s).len == 1
}

/// Re-lays ryu's shortest digits the way Java prints them.
fn layout(out: &mut String, ryu: &str) {
    let d = digits_of(ryu);
    let digits = &d.buf[..d.len];
    let p = d.exp;
    // Digits are ASCII by construction.
    let put = |out: &mut String, s: &[u8]| out.push_str(std::str::from_utf8(s).unwrap_or("0"));
    if d.neg {
        out.push('-');
    }
    if (-3..7).contains(&p) {
        if p >= 0 {
            let int_len = p as usize + 1;
            if digits.len() <= int_len {
                put(out, digits);
                for _ in digits.len()..int_len {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                put(out, &digits[..int_len]);
                out.push('.');
                put(out, &digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            for _ in 0..(-p - 1) {
                out.push('0');
            }
            put(out, digits);
        }
    } else {
        put(out, &digits[..1]);
        out.push('.');
        if digits.len() > 1 {
            put(out, &digits[1..]);
        } else {
            out.push('0');
        }
        out.push('E');
        let mut b = itoa::Buffer::new();
        out.push_str(b.format(p));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_java_double_to_string() {
        let cases: &[(f64, &str)] = &[
            (1.0, "1.0"),
            (1.5, "1.5"),
            (-0.09, "-0.09"),
            (1e-5, "1.0E-5"),
            (1.23456789e8, "1.23456789E8"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (1e7, "1.0E7"),
            (9_999_999.0, "9999999.0"),
            (123_456.789, "123456.789"),
            (1e300, "1.0E300"),
            (1e-310, "1.0E-310"),
            (0.1, "0.1"),
            (100.0, "100.0"),
            (-2.5e-3, "-0.0025"),
            (f64::MAX, "1.7976931348623157E308"),
            (f64::MIN_POSITIVE, "2.2250738585072014E-308"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
            (12345678.9, "1.23456789E7"),
            (0.5, "0.5"),
            (0.001_234_5, "0.0012345"),
            (9_999_999.5, "9999999.5"),
            (1234.5678, "1234.5678"),
            (-0.001, "-0.001"),
            (5e-324, "4.9E-324"),
            (2e-3, "0.002"),
        ];
        for (v, s) in cases {
            assert_eq!(double_to_string(*v), *s, "{v:e}");
        }
    }

    #[test]
    fn matches_java_float_to_string() {
        let f = |v: f32| {
            let mut s = String::new();
            push_float(&mut s, v);
            s
        };
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(1.5), "1.5");
        assert_eq!(f(3.402_823_5e38), "3.4028235E38");
        assert_eq!(f(1.4e-45), "1.4E-45");
        assert_eq!(f(-0.0), "-0.0");
        assert_eq!(f(f32::NAN), "NaN");
    }
}
