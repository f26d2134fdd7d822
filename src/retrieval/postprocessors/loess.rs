//! The `loess` estimator: Commons-Math `LoessInterpolator` (bandwidth 0.3,
//! 2 robustness iterations, accuracy 1e-12, unit weights) followed by a
//! natural cubic spline (`SplineInterpolator`) through the smoothed points,
//! evaluated at one abscissa. Every Commons failure maps to `None` and the
//! caller falls back to the bin's first value.

const BANDWIDTH: f64 = 0.3;
const ROBUSTNESS_ITERS: usize = 2;
const ACCURACY: f64 = 1e-12;

/// The LOESS + spline value at `xm`, or `None` where Commons would throw:
/// non-finite input, x not strictly increasing, fewer than 3 points (the
/// spline needs 3), `(int)(0.3 n) < 2`, or `xm` outside `[x0, x_last]`.
pub(crate) fn loess_at(xs: &[f64], ys: &[f64], xm: f64) -> Option<f64> {
    let smoothed = smooth(xs, ys)?;
    spline_at(xs, &smoothed, xm)
}

fn tricube(x: f64) -> f64 {
    let a = x.abs();
    if a >= 1.0 {
        return 0.0;
    }
    let t = 1.0 - a * a * a;
    t * t * t
}

/// `LoessInterpolator.smooth` with unit weights.
fn smooth(xs: &[f64], ys: &[f64]) -> Option<Vec<f64>> {
    let n = xs.len();
    if n == 0 || n != ys.len() {
        return None;
    }
    if xs.iter().chain(ys).any(|v| !v.is_finite()) {
        return None;
    }
    if xs.windows(2).any(|w| w[1] <= w[0]) {
        return None;
    }
    if n <= 2 {
        return Some(ys.to_vec());
    }
    let bw_points = (BANDWIDTH * n as f64) as usize;
    if bw_points < 2 {
        return None;
    }
    let mut res = vec![0.0; n];
    let mut residuals = vec![0.0; n];
    let mut sorted = vec![0.0; n];
    let mut robustness = vec![1.0; n];
    for iter in 0..=ROBUSTNESS_ITERS {
        let (mut left, mut right) = (0usize, bw_points - 1);
        for i in 0..n {
            let x = xs[i];
            if i > 0 {
                // With unit weights the next non-zero index is simply +1.
                let next_right = right + 1;
                if next_right < n && xs[next_right] - xs[i] < xs[i] - xs[left] {
                    left += 1;
                    right = next_right;
                }
            }
            let edge = if xs[i] - xs[left] > xs[right] - xs[i] {
                left
            } else {
                right
            };
            let (mut sw, mut sx, mut sxx, mut sy, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
            let denom = (1.0 / (xs[edge] - x)).abs();
            for k in left..=right {
                let xk = xs[k];
                let yk = ys[k];
                let dist = if k < i { x - xk } else { xk - x };
                let w = tricube(dist * denom) * robustness[k];
                let xkw = xk * w;
                sw += w;
                sx += xkw;
                sxx += xk * xkw;
                sy += yk * w;
                sxy += yk * xkw;
            }
            let mean_x = sx / sw;
            let mean_y = sy / sw;
            let mean_xy = sxy / sw;
            let mean_xx = sxx / sw;
            let beta = if (mean_xx - mean_x * mean_x).abs().sqrt() < ACCURACY {
                0.0
            } else {
                (mean_xy - mean_x * mean_y) / (mean_xx - mean_x * mean_x)
            };
            let alpha = mean_y - beta * mean_x;
            res[i] = beta * x + alpha;
            residuals[i] = (ys[i] - res[i]).abs();
        }
        if iter == ROBUSTNESS_ITERS {
            break;
        }
        sorted.copy_from_slice(&residuals);
        sorted.sort_by(f64::total_cmp);
        let median_residual = sorted[n / 2];
        if median_residual.abs() < ACCURACY {
            break;
        }
        for i in 0..n {
            let arg = residuals[i] / (6.0 * median_residual);
            robustness[i] = if arg >= 1.0 {
                0.0
            } else {
                let w = 1.0 - arg * arg;
                w * w
            };
        }
    }
    Some(res)
}

/// `SplineInterpolator.interpolate(x, y).value(xm)`: natural cubic spline.
fn spline_at(x: &[f64], y: &[f64], xm: f64) -> Option<f64> {
    if x.len() < 3 || x.len() != y.len() {
        return None;
    }
    if x.windows(2).any(|w| w[1] <= w[0]) {
        return None;
    }
    let n = x.len() - 1;
    let h: Vec<f64> = (0..n).map(|i| x[i + 1] - x[i]).collect();
    let mut mu = vec![0.0; n];
    let mut z = vec![0.0; n + 1];
    for i in 1..n {
        let g = 2.0 * (x[i + 1] - x[i - 1]) - h[i - 1] * mu[i - 1];
        mu[i] = h[i] / g;
        z[i] = (3.0 * (y[i + 1] * h[i - 1] - y[i] * (x[i + 1] - x[i - 1]) + y[i - 1] * h[i])
            / (h[i - 1] * h[i])
            - h[i - 1] * z[i - 1])
            / g;
    }
    let mut b = vec![0.0; n];
    let mut c = vec![0.0; n + 1];
    let mut d = vec![0.0; n];
    for j in (0..n).rev() {
        c[j] = z[j] - mu[j] * c[j + 1];
        b[j] = (y[j + 1] - y[j]) / h[j] - h[j] * (c[j + 1] + 2.0 * c[j]) / 3.0;
        d[j] = (c[j + 1] - c[j]) / (3.0 * h[j]);
    }
    // PolynomialSplineFunction.value: no extrapolation; the last knot uses
    // the last polynomial.
    if xm < x[0] || xm > x[n] {
        return None;
    }
    let i = match x.binary_search_by(|v| v.total_cmp(&xm)) {
        Ok(i) => i,
        Err(ins) => ins - 1,
    }
    .min(n - 1);
    // PolynomialFunction drops trailing zero coefficients, then Horner.
    let mut coeffs = vec![y[i], b[i], c[i], d[i]];
    while coeffs.len() > 1 && coeffs.last() == Some(&0.0) {
        coeffs.pop();
    }
    let t = xm - x[i];
    let mut r = coeffs[coeffs.len() - 1];
    for &ck in coeffs[..coeffs.len() - 1].iter().rev() {
        r = t * r + ck;
    }
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_few_points_or_bad_input_fail() {
        let xs: Vec<f64> = (0..6).map(f64::from).collect();
        let ys = vec![1.0; 6];
        // (int)(0.3 * 6) = 1 < 2
        assert_eq!(loess_at(&xs, &ys, 2.5), None);
        assert_eq!(loess_at(&xs[..2], &ys[..2], 0.5), None);
        let xs: Vec<f64> = (0..10).map(f64::from).collect();
        let mut ys = vec![1.0; 10];
        ys[3] = f64::NAN;
        assert_eq!(loess_at(&xs, &ys, 4.5), None);
        assert_eq!(loess_at(&xs, &[1.0; 10], 9.5), None);
    }

    #[test]
    fn straight_line_is_reproduced() {
        // A local linear fit of exact line data returns the line, and the
        // natural spline through collinear points is the line itself.
        let xs: Vec<f64> = (0..20).map(|i| 100.0 + f64::from(i)).collect();
        let ys: Vec<f64> = xs.iter().map(|x| 2.0 * x - 50.0).collect();
        let v = loess_at(&xs, &ys, 109.5).expect("value");
        assert!((v - (2.0 * 109.5 - 50.0)).abs() < 1e-9, "{v}");
    }

    #[test]
    fn spline_through_three_points() {
        // Natural cubic spline through (0,0), (1,1), (2,0): on [0,1]
        // S(t) = 1.5 t - 0.5 t³, so S(0.5) = 0.6875.
        let v = spline_at(&[0.0, 1.0, 2.0], &[0.0, 1.0, 0.0], 0.5).expect("value");
        assert!((v - 0.6875).abs() < 1e-15, "{v}");
        assert_eq!(spline_at(&[0.0, 1.0, 2.0], &[0.0, 1.0, 0.0], 2.0), Some(0.0));
        assert_eq!(spline_at(&[0.0, 1.0, 2.0], &[0.0, 1.0, 0.0], 2.5), None);
    }
}
