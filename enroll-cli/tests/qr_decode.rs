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
