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
    if one_digit(shortest) {
        // Java considers two-digit decimals too when the shortest has one
        // digit, and picks the closest (4.9E-324, not 5E-324).
        let two = format!("{v:.1e}");
        if two.parse::<f64>().ok() == Some(v) {
            return layout(out, &two);
        }
    }
    layout(out, shortest);
}

/// True if ryu's output has a single significant digit.
fn one_digit(s: &str) -> bool {
    let mant = s.split(['e', 'E']).next().unwrap_or(s);
    mant.bytes()
        .filter(u8::is_ascii_digit)
        .skip_while(|c| *c == b'0')
        .collect::<Vec<u8>>()
        .iter()
        .rev()
        .skip_while(|c| **c == b'0')
        .count()
        == 1
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
    if one_digit(shortest) {
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

/// Re-lays ryu's shortest digits the way Java prints them.
fn layout(out: &mut String, ryu: &str) {
    let (neg, body) = match ryu.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, ryu),
    };
    let (mant, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i32>().unwrap_or(0)),
        None => (body, 0),
    };
    let (int_part, frac_part) = match mant.find('.') {
        Some(i) => (&mant[..i], &mant[i + 1..]),
        None => (mant, ""),
    };
    // value = 0.<digits> adjusted: first significant digit at 10^p.
    let mut p = int_part.len() as i32 - 1 + exp;
    let mut digits: Vec<u8> = Vec::with_capacity(20);
    let mut leading = true;
    for &c in int_part.as_bytes().iter().chain(frac_part.as_bytes()) {
        if leading && c == b'0' {
            p -= 1;
            continue;
        }
        leading = false;
        digits.push(c);
    }
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    if neg {
        out.push('-');
    }
    let d = |r: std::ops::Range<usize>| -> &str { std::str::from_utf8(&digits[r]).unwrap_or("0") };
    if (-3..7).contains(&p) {
        if p >= 0 {
            let int_len = p as usize + 1;
            if digits.len() <= int_len {
                out.push_str(d(0..digits.len()));
                for _ in digits.len()..int_len {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                out.push_str(d(0..int_len));
                out.push('.');
                out.push_str(d(int_len..digits.len()));
            }
        } else {
            out.push_str("0.");
            for _ in 0..(-p - 1) {
                out.push('0');
            }
            out.push_str(d(0..digits.len()));
        }
    } else {
        out.push_str(d(0..1));
        out.push('.');
        if digits.len() > 1 {
            out.push_str(d(1..digits.len()));
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
