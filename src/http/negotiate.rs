//! The grammar every weighted list shares (RFC 9110 section 12.4.2):
//! `Accept-Encoding` ([`super::encoding`]) and `Accept` ([`prefers_json`])
//! both split their value into elements, an element into a name and its
//! parameters, and read the weight (`q`) with one [`parse_qvalue`].
//!
//! Pure code: no IO, no allocation.

use super::trim_ows;

/// One element of a weighted list: its name (a coding, or a media range)
/// and what follows its first `;`.
#[derive(Debug, Clone, Copy)]
pub struct Element<'a> {
    /// Trimmed of optional whitespace; never empty.
    pub name: &'a [u8],
    /// The parameters, untrimmed; `None` when the element has none.
    params: Option<&'a [u8]>,
}

/// The non-empty elements of a comma-separated list value.
pub fn elements(value: &[u8]) -> impl Iterator<Item = Element<'_>> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|element| !element.is_empty())
        .map(|element| match element.iter().position(|&b| b == b';') {
            Some(semi) => Element {
                name: trim_ows(&element[..semi]),
                params: Some(&element[semi + 1..]),
            },
            None => Element {
                name: element,
                params: None,
            },
        })
}

impl Element<'_> {
    /// The weight when `q` is the only parameter allowed (a content
    /// coding): 1000 without parameters; `None` when the parameters are
    /// anything but one valid `q` (a trailing `;` included).
    pub fn sole_weight(&self) -> Option<u16> {
        match self.params {
            None => Some(1000),
            Some(params) => q_param(trim_ows(params)),
        }
    }

    /// The weight of a media range, whose own parameters may come before
    /// `q`: the first `q` parameter's, 1000 without one, 0 when it is
    /// malformed.
    pub fn weight(&self) -> u16 {
        let Some(params) = self.params else {
            return 1000;
        };
        params
            .split(|&b| b == b';')
            .map(trim_ows)
            .find(|param| matches!(param, [b'q' | b'Q', b'=', ..]))
            .map_or(1000, |param| q_param(param).unwrap_or(0))
    }
}

/// `q=qvalue` (the name case-insensitive), in thousandths.
fn q_param(param: &[u8]) -> Option<u16> {
    match param {
        [b'q' | b'Q', b'=', value @ ..] => parse_qvalue(value),
        _ => None,
    }
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in
/// thousandths.
pub fn parse_qvalue(value: &[u8]) -> Option<u16> {
    let (int, frac) = match value {
        [int, b'.', frac @ ..] => (*int, frac),
        [int] => (*int, &[][..]),
        _ => return None,
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    match int {
        b'0' => {
            let mut thousandths = 0u16;
            for i in 0..3 {
                let digit = frac.get(i).map_or(0, |d| u16::from(d - b'0'));
                thousandths = thousandths * 10 + digit;
            }
            Some(thousandths)
        }
        b'1' if frac.iter().all(|&d| d == b'0') => Some(1000),
        _ => None,
    }
}

/// Whether an `Accept` value ranks `application/json` above `text/html`
/// (a JSON client such as `curl -H 'Accept: application/json'`, not a
/// browser, which sends `text/html` first and `*/*` last).
pub fn prefers_json(accept: &[u8]) -> bool {
    let mut json_q = 0u16;
    let mut html_q = 0u16;
    for element in elements(accept) {
        let q = element.weight();
        if element.name.eq_ignore_ascii_case(b"application/json") {
            json_q = json_q.max(q);
        } else if element.name.eq_ignore_ascii_case(b"text/html") {
            html_q = html_q.max(q);
        }
    }
    json_q > 0 && json_q > html_q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qvalue_table() {
        let cases: &[(&str, Option<u16>)] = &[
            ("0", Some(0)),
            ("0.", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("0.005", Some(5)),
            ("0.999", Some(999)),
            ("1", Some(1000)),
            ("1.", Some(1000)),
            ("1.000", Some(1000)),
            ("1.0000", None),
            ("1.001", None),
            ("0.1234", None),
            ("", None),
            (".", None),
            ("00", None),
            ("01", None),
            ("0.a", None),
            ("9", None),
            ("1e0", None),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_qvalue(value.as_bytes()), *expected, "{value:?}");
        }
    }

    #[test]
    fn accept_prefers_json_only_when_ranked_above_html() {
        let cases: &[(&str, bool)] = &[
            ("application/json", true),
            ("Application/JSON", true),
            ("text/html,application/json", false),
            ("text/html;q=0.5, application/json", true),
            ("application/json;q=0.5, text/html;q=0.9", false),
            (
                "application/json;charset=utf-8;q=0.9, text/html;q=0.8",
                true,
            ),
            ("application/json;Q=0.9, text/html;q=0.8", true),
            ("application/json;q=0", false),
            ("application/json;q=nonsense", false),
            ("text/html,application/xhtml+xml,*/*;q=0.8", false),
            ("*/*", false),
            ("", false),
        ];
        for (accept, expected) in cases {
            assert_eq!(prefers_json(accept.as_bytes()), *expected, "{accept:?}");
        }
    }

    #[test]
    fn elements_are_trimmed_and_empty_ones_skipped() {
        let names: Vec<&[u8]> = elements(b" br ;q=1, ,gzip,\t").map(|e| e.name).collect();
        assert_eq!(names, [&b"br"[..], b"gzip"]);
        let trailing = elements(b"gzip;").next().map(|e| e.sole_weight());
        assert_eq!(trailing, Some(None));
    }
}
