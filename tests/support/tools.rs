//! External tools for the tests that use real clients (`curl`, `wrk`): whether one is
//! installed (a test skips with a printed reason when not) and what wrk's report says.
#![allow(dead_code)]

use std::process::{Command, Stdio};

/// Whether `tool --version` runs; prints why the caller skips when it does not.
pub fn installed(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        println!("SKIPPED: `{tool}` is not installed (apt-get install {tool})");
    }
    found
}

/// The HTTP status code curl gets for `url` (e.g. `b"404"`), discarding the body.
pub fn curl_status(url: &str) -> Vec<u8> {
    Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--max-time",
            "10",
        ])
        .arg(url)
        .output()
        .expect("curl runs")
        .stdout
}

/// The numbers from wrk's report that say whether every request succeeded.
#[derive(Debug, PartialEq)]
pub struct WrkReport {
    pub requests: u64,
    pub socket_errors: u64,
    pub non_2xx: u64,
}

/// Reads the request count and the error counts from wrk's report (panics without a count).
pub fn parse_wrk(report: &str) -> WrkReport {
    let requests = report
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk's report:\n{report}"));
    // "Socket errors: connect 0, read 0, write 0, timeout 0" (only printed when non-zero).
    let socket_errors = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Socket errors:"))
        .map_or(0, |l| {
            l.split(',')
                .filter_map(|part| part.split_whitespace().last()?.parse::<u64>().ok())
                .sum()
        });
    // "Non-2xx or 3xx responses: N" (only printed when non-zero).
    let non_2xx = report
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .map_or(0, |n| n.trim().parse().unwrap());
    WrkReport {
        requests,
        socket_errors,
        non_2xx,
    }
}
