//! JUnit XML for CI test reports: one `<testsuite>` per case file, one `<testcase>` per case and
//! caller, a `<failure>` for each failing one. The format needs a handful of elements and XML
//! escaping, written here rather than pulled in as a dependency.

use std::fmt::Write as _;

pub struct Suite {
    pub name: String,
    pub cases: Vec<TestCase>,
}

pub struct TestCase {
    pub name: String,
    /// The case file and the case's line in it.
    pub file: String,
    pub line: usize,
    /// (message, details) of a failure.
    pub failure: Option<(String, String)>,
}

pub fn render(suites: &[Suite]) -> String {
    let count = |s: &Suite| s.cases.len();
    let failed = |s: &Suite| s.cases.iter().filter(|c| c.failure.is_some()).count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"mimir-proxy policy test\" tests=\"{}\" failures=\"{}\">",
        suites.iter().map(count).sum::<usize>(),
        suites.iter().map(failed).sum::<usize>()
    );
    for suite in suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\">",
            escape(&suite.name),
            count(suite),
            failed(suite)
        );
        for case in &suite.cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" file=\"{}\" line=\"{}\"",
                escape(&suite.name),
                escape(&case.name),
                escape(&case.file),
                case.line
            );
            match &case.failure {
                None => out.push_str("/>\n"),
                Some((message, details)) => {
                    let _ = writeln!(
                        out,
                        ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                        escape(message),
                        escape(details)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// Text for an attribute or element: markup characters escaped, characters XML 1.0 cannot
/// carry (control characters other than tab and newlines) replaced.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_counts_failures() {
        let xml = render(&[Suite {
            name: "t.toml".into(),
            cases: vec![
                TestCase {
                    name: "a <b> & \"c\" [viewer]".into(),
                    file: "t.toml".into(),
                    line: 3,
                    failure: Some(("expected allow\u{1}".into(), "got 'deny'".into())),
                },
                TestCase {
                    name: "ok".into(),
                    file: "t.toml".into(),
                    line: 9,
                    failure: None,
                },
            ],
        }]);
        assert!(xml.contains("tests=\"2\" failures=\"1\""), "{xml}");
        assert!(
            xml.contains("name=\"a &lt;b&gt; &amp; &quot;c&quot; [viewer]\""),
            "{xml}"
        );
        assert!(
            xml.contains(
                "<failure message=\"expected allow\u{FFFD}\">got &apos;deny&apos;</failure>"
            ),
            "{xml}"
        );
        assert!(
            xml.contains("name=\"ok\" file=\"t.toml\" line=\"9\"/>"),
            "{xml}"
        );
    }
}
