//! The otpauth key URI and its QR code: the URI (as short as its meaning allows), the module matrix with its
//! quiet zone, and the three renderings (UTF-8 half blocks, ANSI colour cells, SVG).
//!
//! The matrix comes from the `qrcode` crate (default features off: no image crate). The SVG is written here
//! from the same matrix rather than by qrcode's `svg` renderer, so the terminal and the SVG share one quiet
//! zone and one code path, and the workspace keeps qrcode's features off; it is a dozen lines. The error
//! correction level is L: the code is shown on a screen, and L keeps the usual URI (75 to 120 bytes) at
//! version 4 to 6 (33 to 41 modules), at most 45 columns by 22 lines of half blocks.

use qrcode::{Color, EcLevel, QrCode};
use std::fmt::Write as _;

/// Quiet zone of the terminal renderings, in modules: left and right (UTF8), every side (ANSI).
pub const QUIET: usize = 2;

/// Percent-encodes everything but RFC 3986 unreserved characters and `@` and `:` (path and query
/// characters that need no escape: `alice@host` and `ACME:carol` stay as typed, as google-authenticator
/// keeps them).
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@' | b':') {
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

/// The Key Uri Format defaults: a parameter equal to its default is left out of the URI.
const DEFAULT_ALGORITHM: &str = "SHA1";
const DEFAULT_DIGITS: u8 = 6;
const DEFAULT_PERIOD: u64 = 30;

/// `otpauth://totp/LABEL?secret=...&issuer=...`, as short as its meaning allows: the label as given (no
/// issuer prefix added: the issuer is said once, by `issuer=`, which every current app reads), and
/// `algorithm`, `digits` and `period` only when they differ from SHA1, 6 and 30 (HOTP: `counter=` always).
pub fn otpauth_uri(p: &UriParams<'_>) -> String {
    let kind = if p.counter.is_some() { "hotp" } else { "totp" };
    let mut uri = format!(
        "otpauth://{kind}/{}?secret={}&issuer={}",
        percent_encode(p.account),
        p.secret_b32,
        percent_encode(p.issuer),
    );
    if p.algorithm != DEFAULT_ALGORITHM {
        let _ = write!(uri, "&algorithm={}", p.algorithm);
    }
    if p.digits != DEFAULT_DIGITS {
        let _ = write!(uri, "&digits={}", p.digits);
    }
    if let Some(period) = p.period.filter(|&s| s != DEFAULT_PERIOD) {
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

/// Columns and lines of [`render_utf8`]'s output.
pub fn utf8_size(m: &Matrix) -> (usize, usize) {
    (m.size + 2 * QUIET, (m.size + 2).div_ceil(2))
}

/// Columns and lines of [`render_ansi`]'s output.
pub fn ansi_size(m: &Matrix) -> (usize, usize) {
    (2 * (m.size + 2 * QUIET), m.size + 2 * QUIET)
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

    const SECRET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

    fn totp<'a>(account: &'a str, issuer: &'a str) -> UriParams<'a> {
        UriParams {
            issuer,
            account,
            secret_b32: SECRET,
            algorithm: "SHA1",
            digits: 6,
            period: Some(30),
            counter: None,
        }
    }

    #[test]
    fn percent_encoding_keeps_unreserved_at_sign_and_colon() {
        assert_eq!(
            percent_encode("alice@Application Server"),
            "alice@Application%20Server"
        );
        assert_eq!(
            percent_encode("a:b/c?d&e=f+ü#%"),
            "a:b%2Fc%3Fd%26e%3Df%2B%C3%BC%23%25"
        );
    }

    #[test]
    fn default_parameters_are_left_out_and_the_issuer_is_said_once() {
        assert_eq!(
            otpauth_uri(&totp("alice@Application Server", "Example Co")),
            format!("otpauth://totp/alice@Application%20Server?secret={SECRET}&issuer=Example%20Co")
        );
        let h = UriParams {
            period: None,
            counter: Some(1),
            ..totp("a", "b")
        };
        assert_eq!(
            otpauth_uri(&h),
            format!("otpauth://hotp/a?secret={SECRET}&issuer=b&counter=1")
        );
    }

    #[test]
    fn parameters_that_differ_from_the_defaults_are_in_the_uri() {
        let p = UriParams {
            algorithm: "SHA256",
            digits: 8,
            period: Some(60),
            ..totp("a", "b")
        };
        assert!(otpauth_uri(&p).ends_with("&issuer=b&algorithm=SHA256&digits=8&period=60"));
    }

    #[test]
    fn a_label_with_its_own_issuer_prefix_is_kept_as_given() {
        assert_eq!(
            otpauth_uri(&totp("ACME:carol", "ACME")),
            format!("otpauth://totp/ACME:carol?secret={SECRET}&issuer=ACME")
        );
    }

    #[test]
    fn default_labels_of_usual_host_names_make_at_most_version_6() {
        // QR lines of UTF8 half blocks for USER@HOSTNAME and HOSTNAME (the figures before: 20,
        // 22, 24 and 26 lines).
        for (host, lines) in [
            ("vm", 18),
            ("web01", 18),
            ("db-01.example.com", 20),
            ("bastion.corp.example.com", 22),
        ] {
            let label = format!("alice@{host}");
            let m = Matrix::encode(&otpauth_uri(&totp(&label, host))).unwrap();
            assert_eq!(utf8_size(&m).1, lines, "{host}");
            assert_eq!(render_utf8(&m).lines().count(), lines, "{host}");
            assert!(utf8_size(&m).0 <= 45);
        }
    }

    #[test]
    fn what_the_help_promises_holds_a_25_character_host_name_and_an_8_letter_user_make_22_lines() {
        // --help of -Q: "at most 45x22 for a URI up to 130 characters (USER@HOSTNAME with an 8-letter user
        // and a 25-character host name)".
        let host = "h".repeat(25);
        let label = format!("abcdefgh@{host}");
        let uri = otpauth_uri(&totp(&label, &host));
        assert!(uri.len() <= 130, "{}", uri.len());
        let m = Matrix::encode(&uri).unwrap();
        assert!(utf8_size(&m) <= (45, 22), "{:?}", utf8_size(&m));
        let m = Matrix::encode(&"a".repeat(130)).unwrap();
        assert!(utf8_size(&m) <= (45, 22), "any 130 bytes: {:?}", utf8_size(&m));
    }

    #[test]
    fn sizes_are_those_of_the_renderings() {
        let m = Matrix::encode(&otpauth_uri(&totp("alice@Application Server", "ACME Corp"))).unwrap();
        let width = |t: &str| {
            t.lines()
                .map(|l| l.replace(BLACK_ON_WHITE, "").replace(RESET, "").chars().count())
                .max()
                .unwrap()
        };
        let utf8 = render_utf8(&m);
        assert_eq!(utf8_size(&m), (width(&utf8), utf8.lines().count()));
        let ansi = render_ansi(&m);
        assert_eq!(ansi_size(&m).1, ansi.lines().count());
        assert_eq!(ansi_size(&m).0, 2 * (m.size + 2 * QUIET));
    }
}
