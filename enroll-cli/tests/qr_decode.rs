//! The QR codes decode back to exactly the printed otpauth URI. The terminal output (UTF-8 half blocks and
//! ANSI colour cells, as printed by the binary) is parsed back into a bitmap, written as a PGM image and read
//! with `zbarimg` (zbar-tools). zbarimg here cannot read SVG (it has no SVG delegate), so the SVG is rasterised
//! by this test from its own geometry (viewBox, background rect, unit squares of the path) into a PGM, which
//! zbarimg then decodes. The UTF-8 rendering of the usual URI must also fit an 80x24 terminal.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::process::Command;

type Bitmap = Vec<Vec<bool>>;

/// The lines of the QR block: between the URI line and "Your new secret key".
fn qr_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .skip_while(|l| !l.starts_with("otpauth://"))
        .skip(1)
        .take_while(|l| !l.starts_with("Your new secret key"))
        .collect()
}

/// Parses UTF-8 half blocks (escape sequences removed) into module rows.
fn parse_utf8(lines: &[&str]) -> Bitmap {
    let mut rows = Vec::new();
    for line in lines {
        let text = strip_escapes(line);
        let (mut top, mut bottom) = (Vec::new(), Vec::new());
        for c in text.chars() {
            let (t, b) = match c {
                '█' => (true, true),
                '▀' => (true, false),
                '▄' => (false, true),
                ' ' => (false, false),
                other => panic!("unexpected character {other:?} in {line:?}"),
            };
            top.push(t);
            bottom.push(b);
        }
        rows.push(top);
        rows.push(bottom);
    }
    rows
}

fn strip_escapes(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses ANSI cells: each `ESC[40m` (black) / `ESC[107m` (white) background is followed by two spaces.
fn parse_ansi(lines: &[&str]) -> Bitmap {
    lines
        .iter()
        .map(|line| {
            let mut row = Vec::new();
            for cell in line.split('\x1b').skip(1) {
                match cell {
                    "[40m  " => row.push(true),
                    "[107m  " => row.push(false),
                    "[0m" => {}
                    other => panic!("unexpected cell {other:?}"),
                }
            }
            row
        })
        .collect()
}

/// Rasterises the SVG written by --qr-svg: a viewBox of N units, a white background, and a path of
/// `M x y h1v1h-1z` unit squares.
fn parse_svg(svg: &str) -> Bitmap {
    let after = svg.split("viewBox=\"0 0 ").nth(1).unwrap();
    let n: usize = after.split(' ').next().unwrap().parse().unwrap();
    assert!(svg.contains(&format!("<rect width=\"{n}\" height=\"{n}\" fill=\"#ffffff\"/>")));
    let d = svg.split(" d=\"").nth(1).unwrap().split('"').next().unwrap();
    let mut bitmap = vec![vec![false; n]; n];
    for square in d.split('M').filter(|s| !s.is_empty()) {
        let (xy, rest) = square.split_once('h').unwrap();
        assert_eq!(rest, "1v1h-1z", "unit squares only");
        let (x, y) = xy.split_once(' ').unwrap();
        bitmap[y.parse::<usize>().unwrap()][x.parse::<usize>().unwrap()] = true;
    }
    bitmap
}

/// Writes the bitmap as a binary PGM, 6 pixels per module, with `border` light modules added around it (the
/// terminal's surroundings; 0 decodes with the printed quiet zone alone).
fn write_pgm(bitmap: &Bitmap, border: usize, path: &Path) {
    let scale = 6;
    let (h, w) = (bitmap.len(), bitmap[0].len());
    for row in bitmap {
        assert_eq!(row.len(), w, "every line is as wide as the first");
    }
    let (pw, ph) = ((w + 2 * border) * scale, (h + 2 * border) * scale);
    let mut data = format!("P5\n{pw} {ph}\n255\n").into_bytes();
    for py in 0..ph {
        for qx in 0..pw {
            let (mx, my) = ((qx / scale).checked_sub(border), (py / scale).checked_sub(border));
            let dark = matches!((mx, my), (Some(x), Some(y)) if y < h && x < w && bitmap[y][x]);
            data.push(if dark { 0 } else { 255 });
        }
    }
    fs::write(path, data).unwrap();
}

fn zbar(path: &Path) -> String {
    let out = Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "zbarimg found no code in {}",
        path.display()
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .trim_end_matches('\n')
        .to_owned()
}

#[test]
fn the_utf8_and_ansi_terminal_codes_decode_to_exactly_the_printed_uri() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let flags = [
        "-t",
        "-D",
        "-u",
        "-W",
        "-f",
        "-C",
        "-s",
        f.to_str().unwrap(),
        "-l",
        "alice@Application Server",
        "-i",
        "Example Co",
    ];
    for (mode, parse) in [
        ("UTF8", parse_utf8 as fn(&[&str]) -> Bitmap),
        ("ANSI", parse_ansi),
    ] {
        let r = run_in(dir.path(), &[&flags[..], &["-Q", mode]].concat(), "").ok();
        let uri = r.uri();
        assert!(uri.contains(&secret_of(&f)));
        let lines = qr_lines(&r.stdout);
        let bitmap = parse(&lines);
        // The quiet zone is there: two light columns each side; two light rows (ANSI) or one (UTF8, where
        // a line is two rows and the usual URI must fit 24 lines).
        let rows = if mode == "UTF8" { 1 } else { 2 };
        for i in 0..rows {
            assert!(!bitmap[i].iter().any(|&b| b) && !bitmap[bitmap.len() - 1 - i].iter().any(|&b| b));
        }
        assert!(
            bitmap[rows].iter().any(|&b| b),
            "the symbol starts after the quiet zone"
        );
        for i in 0..2 {
            assert!(bitmap.iter().all(|row| !row[i] && !row[row.len() - 1 - i]));
        }
        assert!(bitmap.iter().any(|row| row[2]));
        for border in [4, 0] {
            let pgm = dir.path().join(format!("{mode}-{border}.pgm"));
            write_pgm(&bitmap, border, &pgm);
            assert_eq!(zbar(&pgm), uri, "{mode}, {border} modules around");
        }
        if mode == "UTF8" {
            let width = strip_escapes(lines[0]).chars().count();
            assert!(
                lines.len() <= 24 && width <= 80,
                "{width}x{} does not fit 80x24",
                lines.len()
            );
        }
    }
}

#[test]
fn the_svg_decodes_to_exactly_the_printed_uri_and_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    let svg = dir.path().join("qr.svg");
    let r = run_in(
        dir.path(),
        &[
            "-c",
            "-u",
            "-W",
            "-f",
            "-C",
            "-Q",
            "NONE",
            "-s",
            f.to_str().unwrap(),
            "--qr-svg",
            svg.to_str().unwrap(),
            "--digits",
            "8",
        ],
        "",
    )
    .ok();
    let uri = r.uri();
    assert!(
        uri.starts_with("otpauth://hotp/") && uri.ends_with("&digits=8&counter=1"),
        "{uri}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs::metadata(&svg).unwrap().permissions().mode() & 0o777, 0o600);
    let bitmap = parse_svg(&fs::read_to_string(&svg).unwrap());
    let pgm = dir.path().join("svg.pgm");
    write_pgm(&bitmap, 0, &pgm);
    assert_eq!(zbar(&pgm), uri);
}

/// Splits an otpauth URI into its kind, its percent-decoded label and its percent-decoded parameters.
fn parse_uri(uri: &str) -> (String, String, Vec<(String, String)>) {
    let rest = uri.strip_prefix("otpauth://").unwrap();
    let (kind, rest) = rest.split_once('/').unwrap();
    let (label, query) = rest.split_once('?').unwrap();
    let params = query
        .split('&')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_owned(), unescape(v))
        })
        .collect();
    (kind.to_owned(), unescape(label), params)
}

fn unescape(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// Enrolls with the confirmation prompt (answered `-1`) and returns the run, the secret and the screen
/// from the first line of the QR code to the prompt.
fn enroll_to_prompt(dir: &Path, label_issuer: &[&str], env: &[(&str, &str)]) -> (Run, String, Vec<String>) {
    let f = dir.join("f");
    let args = [
        &[
            "-t",
            "-D",
            "-u",
            "-W",
            "-f",
            "-Q",
            "UTF8",
            "-s",
            f.to_str().unwrap(),
        ][..],
        label_issuer,
    ]
    .concat();
    let r = run_env(dir, &args, "-1\n", env).ok();
    let screen: Vec<String> = r
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("otpauth://"))
        .skip(1)
        .take_while(|l| !l.starts_with("Enter code from app"))
        .map(|l| l.to_owned())
        .chain(std::iter::once("Enter code from app (-1 to skip): ".to_owned()))
        .collect();
    // The prompt waits on its line (the answer is not echoed: "Code confirmation skipped" follows it).
    assert!(
        r.stdout
            .contains("\nEnter code from app (-1 to skip): Code confirmation skipped\n"),
        "{}",
        r.stdout
    );
    (r, secret_of(&f), screen)
}

#[test]
fn the_qr_code_of_usual_host_names_and_a_long_label_fits_80x24_with_the_lines_up_to_the_prompt() {
    // USER@HOSTNAME and HOSTNAME are the defaults; given here so the host name is the test's.
    let cases: Vec<(String, String)> = ["vm", "web01", "db-01.example.com", "bastion.corp.example.com"]
        .iter()
        .map(|h| (format!("alice@{h}"), (*h).to_owned()))
        .chain([("alice@Application Server".to_owned(), "ACME Corp".to_owned())])
        .collect();
    for (label, issuer) in &cases {
        let dir = tempfile::tempdir().unwrap();
        let (r, secret, screen) = enroll_to_prompt(dir.path(), &["-l", label, "-i", issuer], &[]);
        // The screen when the prompt waits: the code, the secret key line, the prompt; nothing else.
        let qr: Vec<&str> = screen
            .iter()
            .map(String::as_str)
            .take_while(|l| !l.starts_with("Your new secret key"))
            .collect();
        assert_eq!(screen.len(), qr.len() + 2, "{label}: {screen:#?}");
        assert!(
            screen.len() <= 24,
            "{label}: {} lines from the top of the code to the prompt",
            screen.len()
        );
        let width = strip_escapes(qr[0]).chars().count();
        assert!(width <= 80, "{label}: {width} columns");
        assert!(!r.stdout.contains("off screen"), "{}", r.stdout);
        // What is on screen decodes to the printed URI, which means the same as the file and the flags.
        let pgm = dir.path().join("screen.pgm");
        write_pgm(&parse_utf8(&qr), 0, &pgm);
        let uri = r.uri();
        assert_eq!(zbar(&pgm), uri);
        let (kind, decoded_label, params) = parse_uri(&uri);
        assert_eq!((kind.as_str(), decoded_label.as_str()), ("totp", label.as_str()));
        let expect = [("secret", secret.as_str()), ("issuer", issuer.as_str())];
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(params, expect, "{uri}");
    }
}

#[test]
fn a_label_with_an_issuer_prefix_is_kept_as_given_and_names_the_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let (r, secret, _) = enroll_to_prompt(dir.path(), &["-l", "ACME:carol"], &[]);
    assert_eq!(
        r.uri(),
        format!("otpauth://totp/ACME:carol?secret={secret}&issuer=ACME")
    );
    let (r, secret, _) = enroll_to_prompt(dir.path(), &["-l", "ACME:carol", "-i", "Other"], &[]);
    assert_eq!(
        r.uri(),
        format!("otpauth://totp/ACME:carol?secret={secret}&issuer=Other")
    );
}

#[test]
fn a_qr_code_taller_than_the_terminal_is_reported_with_the_ways_out() {
    let dir = tempfile::tempdir().unwrap();
    let label = [
        "-l",
        "alice@bastion.corp.example.com",
        "-i",
        "bastion.corp.example.com",
    ];
    let (r, _, screen) = enroll_to_prompt(dir.path(), &label, &[("LINES", "20")]);
    let advice =
        "The QR code needs 45x24 (columns x lines, with the lines below it) but the terminal is 80x20";
    assert!(r.stdout.contains(advice), "{}", r.stdout);
    for way in ["-l LABEL", "--qr-svg FILE", "type the secret key"] {
        assert!(r.stdout.contains(way), "{way}: {}", r.stdout);
    }
    // The advice comes after the code, right above the prompt, where it is seen.
    assert!(screen
        .iter()
        .rev()
        .nth(1)
        .is_some_and(|l| l.contains("type the secret key")));
    let (r, _, _) = enroll_to_prompt(dir.path(), &label, &[("COLUMNS", "40")]);
    assert!(r.stdout.contains("terminal is 40x24"), "{}", r.stdout);
}
