//! OAuth request parameters, from a query or an `application/x-www-form-urlencoded` body. A
//! parameter sent twice is an error (RFC 6749 §3.1), and an empty one counts as absent.

use pingora::proxy::Session;

use crate::authn::login_steps::read_body;

pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in form_urlencoded::parse(bytes) {
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(format!("parameter {:.40} sent more than once", name));
            }
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(Self(pairs))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// The request's query parameters.
pub fn query(session: &Session) -> Result<Params, String> {
    Params::parse(session.req_header().uri.query().unwrap_or("").as_bytes())
}

/// The request's form body.
pub async fn body(session: &mut Session) -> Result<Params, String> {
    let content_type = session
        .req_header()
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err("expected an application/x-www-form-urlencoded body".into());
    }
    let bytes = read_body(session).await.map_err(str::to_owned)?;
    Params::parse(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_and_empty_values_are_absent() {
        let p = Params::parse(b"a=1&b=&c=x%20y").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
        assert!(Params::parse(b"code=1&code=2").is_err());
    }
}
