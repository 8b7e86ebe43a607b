//! The otpauth key URI and its QR code: the URI (complete and percent-encoded), the module matrix with its
//! quiet zone, and the three renderings (UTF-8 half blocks, ANSI colour cells, SVG).
//!
//! The matrix comes from the `qrcode` crate (default features off: no image crate). The SVG is written here
//! from the same matrix rather than by qrcode's `svg` renderer, so the terminal and the SVG share one quiet
//! zone and one code path, and the workspace keeps qrcode's features off; it is a dozen lines. The error
//! correction level is L: the code is shown on a screen, and L keeps the usual URI (about 130 bytes) at
//! version 6 (41 modules), 45 columns by 22 lines of half blocks; with a long label (version 7) 49 by 24.

use qrcode::{Color, EcLevel, QrCode};
use std::fmt::Write as _;

/// Quiet zone of the terminal renderings, in modules: left and right (UTF8), every side (ANSI).
pub const QUIET: usize = 2;

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The key URI parameters.
#[derive(Debug)]
pub struct UriParams<'a> {
    pub issuer: &'a str,
    pub account: &'a str,
    pub secret_b32: &'a str,
    pub algorithm: &'a str,
    pub digits: u8,
    /// `Some(period)` for TOTP.
    pub period: Option<u64>,
    /// `Some(counter)` for HOTP.
    pub counter: Option<u64>,
}

/// `otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=...&algorithm=...&digits=...&period=...` (or `hotp` with
/// `counter=`). A label that already starts with `ISSUER:` is not prefixed twice.
pub fn otpauth_uri(p: &UriParams<'_>) -> String {
    let account = p
        .account
        .strip_prefix(p.issuer)
        .and_then(|a| a.strip_prefix(':'))
        .unwrap_or(p.account);
    let kind = if p.counter.is_some() { "hotp" } else { "totp" };
    let mut uri = format!(
        "otpauth://{kind}/{}:{}?secret={}&issuer={}&algorithm={}&digits={}",
        percent_encode(p.issuer),
        percent_encode(account),
        p.secret_b32,
        percent_encode(p.issuer),
        p.algorithm,
        p.digits
    );
    if let Some(period) = p.period {
        let _ = write!(uri, "&period={period}");
    }
    if let Some(counter) = p.counter {
        let _ = write!(uri, "&counter={counter}");
    }
    uri
}

/// The QR symbol's modules without a quiet zone (each renderer adds its own); `true` is dark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matrix {
    pub size: usize,
    pub dark: Vec<bool>,
}

impl Matrix {
    /// Encodes `data` at level L.
    pub fn encode(data: &str) -> Result<Matrix, String> {
        let code = QrCode::with_error_correction_level(data.as_bytes(), EcLevel::L)
            .map_err(|e| format!("cannot make a QR code of the URI: {e}"))?;
        let dark = code.to_colors().into_iter().map(|c| c == Color::Dark).collect();
        Ok(Matrix {
            size: code.width(),
            dark,
        })
    }

    /// Whether module (x, y) is dark; outside the symbol (the quiet zone) is light.
    pub fn get(&self, x: isize, y: isize) -> bool {
        match (usize::try_from(x), usize::try_from(y)) {
            (Ok(x), Ok(y)) if x < self.size && y < self.size => {
                self.dark.get(y * self.size + x).copied().unwrap_or(false)
            }
            _ => false,
        }
    }

    /// Module coordinates from `-quiet` to `size + quiet` (exclusive).
    fn range(&self, quiet: usize) -> std::ops::Range<isize> {
        let q = quiet as isize;
        -q..self.size as isize + q
    }
}

const BLACK_ON_WHITE: &str = "\x1b[30;107m";
const RESET: &str = "\x1b[0m";
const WHITE_CELL: &str = "\x1b[107m  ";
const BLACK_CELL: &str = "\x1b[40m  ";

/// Two modules per character cell (upper and lower half blocks), black on bright white, so the code reads
/// the same on dark and light terminals. Quiet zone: [`QUIET`] modules left and right, one module above
/// and below (plus the empty lower half of the last line when the count is odd): the usual URI is version
/// 6 or 7, so at most 49 columns by 24 lines.
pub fn render_utf8(m: &Matrix) -> String {
    let mut out = String::new();
    let rows: Vec<isize> = m.range(1).collect();
    for pair in rows.chunks(2) {
        let (top, bottom) = match pair {
            [t, b] => (*t, Some(*b)),
            [t] => (*t, None),
            _ => continue,
        };
        out.push_str(BLACK_ON_WHITE);
        for x in m.range(QUIET) {
            let lower = bottom.is_some_and(|b| m.get(x, b));
            out.push(match (m.get(x, top), lower) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push_str(RESET);
        out.push('\n');
    }
    out
}

/// One line per module row, two spaces per module with a black or white background, [`QUIET`] modules of
/// quiet zone (google-authenticator's ANSI mode; needs no UTF-8, but twice the columns and lines of UTF8).
pub fn render_ansi(m: &Matrix) -> String {
    let mut out = String::new();
    for y in m.range(QUIET) {
        for x in m.range(QUIET) {
            out.push_str(if m.get(x, y) { BLACK_CELL } else { WHITE_CELL });
        }
        out.push_str(RESET);
        out.push('\n');
    }
    out
}

/// An SVG with one unit per module and the 4-module quiet zone of ISO/IEC 18004 (a portal page has the room),
/// 8 px per module, dark modules drawn as one path of unit squares on a white background.
pub fn render_svg(m: &Matrix) -> String {
    const SVG_QUIET: usize = 4;
    let size = m.size + 2 * SVG_QUIET;
    let mut path = String::new();
    for y in 0..m.size {
        for x in 0..m.size {
            if m.get(x as isize, y as isize) {
                let _ = write!(path, "M{} {}h1v1h-1z", x + SVG_QUIET, y + SVG_QUIET);
            }
        }
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{px}\" height=\"{px}\" \
         viewBox=\"0 0 {size} {size}\" shape-rendering=\"crispEdges\">\n\
         <rect width=\"{size}\" height=\"{size}\" fill=\"#ffffff\"/>\n\
         <path fill=\"#000000\" d=\"{path}\"/>\n</svg>\n",
        px = size * 8
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_only_unreserved() {
        assert_eq!(
            percent_encode("alice@Application Server"),
            "alice%40Application%20Server"
        );
        assert_eq!(percent_encode("a:b/c?d&e=f+ü"), "a%3Ab%2Fc%3Fd%26e%3Df%2B%C3%BC");
    }

    #[test]
    fn uri_is_complete_and_label_is_issuer_prefixed_once() {
        let p = UriParams {
            issuer: "Example Co",
            account: "Example Co:alice@host",
            secret_b32: "JBSWY3DPEHPK3PXP",
            algorithm: "SHA1",
            digits: 6,
            period: Some(30),
            counter: None,
        };
        assert_eq!(
            otpauth_uri(&p),
            "otpauth://totp/Example%20Co:alice%40host?secret=JBSWY3DPEHPK3PXP&issuer=Example%20Co&algorithm=SHA1&digits=6&period=30"
        );
        let h = UriParams {
            period: None,
            counter: Some(1),
            ..p
        };
        assert!(otpauth_uri(&h).starts_with("otpauth://hotp/"));
        assert!(otpauth_uri(&h).ends_with("&digits=6&counter=1"));
    }

    #[test]
    fn usual_uri_fits_80x24_in_utf8() {
        let uri = "otpauth://totp/web-01.lan:alice%40web-01.lan?secret=ABCDEFGHIJKLMNOPQRSTUVWXYZ234567&issuer=web-01.lan&algorithm=SHA1&digits=6&period=30";
        let m = Matrix::encode(uri).unwrap();
        assert_eq!(m.size, 41, "version 6");
        let text = render_utf8(&m);
        assert_eq!(text.lines().count(), 22);
        // The example label and issuer make version 7, which still fits.
        let long = uri.replace(
            "web-01.lan:alice%40web-01.lan",
            "Example%20Co:alice%40Application%20Server",
        );
        let m = Matrix::encode(&long).unwrap();
        assert_eq!(m.size, 45, "version 7");
        assert_eq!(render_utf8(&m).lines().count(), 24);
        assert!(render_utf8(&m)
            .lines()
            .all(|l| l.chars().filter(|c| !c.is_ascii_control()).count() < 80));
    }
}
